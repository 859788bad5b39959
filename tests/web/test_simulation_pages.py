"""The simulation pages: the form that launches a run (refusing what cannot be played), and a
run's page with its progress."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django_celery_results.models import TaskResult

from recommender.engine.model import SVDConfig
from recommender.models import Genre
from recommender.services.registry import model_version_train
from simulation.models import SimulationRun
from tests.users import client_for

pytestmark = pytest.mark.django_db


def test_the_simulation_form_refuses_unknown_genres_and_out_of_range_rounds(reviewer):
    Genre.objects.create(name="Action")

    response = client_for(reviewer).post(
        reverse("web:simulate"),
        {
            "rounds": 51,
            "truth": "model",
            "shift": "action=0.9, Horror=1.1",
            "shift_start": 1,
            "arrivals": 0.05,
            "seed": 0,
        },
    )

    assert response.status_code == 200
    errors = response.context["form"].errors.get_json_data()
    assert "rounds" in errors
    assert [e["message"] for e in errors["shift"]][:2] == [
        "unknown genre 'action' (did you mean Action?)",
        "unknown genre 'Horror'",
    ]
    assert not SimulationRun.objects.exists()


def test_the_simulation_form_says_when_there_is_no_champion(reviewer):
    response = client_for(reviewer).post(
        reverse("web:simulate"),
        {"rounds": 1, "truth": "model", "shift_start": 1, "arrivals": 0.0, "seed": 0},
    )

    assert "no champion model yet" in response.content.decode()
    assert not SimulationRun.objects.exists()


def test_launching_a_simulation_runs_the_cycle_and_its_page_shows_100_percent(
    bundled_subset, artifact_dir, reviewer, django_capture_on_commit_callbacks
):
    model_version_train(actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=3))
    client = client_for(reviewer)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            reverse("web:simulate"),
            {
                "rounds": 2,
                "truth": "model",
                "shift": "Action=0.9",
                "shift_start": 2,
                "arrivals": 0.0,
                "popularity_penalty": "on",
                "seed": 4,
            },
        )

    run = SimulationRun.objects.get()
    # Queued once, after commit (the cycle may also queue a reviewers' email on commit).
    sent = [c for c in callbacks if c.__qualname__.startswith("job_enqueue")]
    assert len(sent) == 1, "the task is sent once, after commit"
    assert response["Location"] == reverse("web:simulation-detail", kwargs={"run_id": run.pk})
    assert run.parameters["shift"] == {"Action": 0.9} and run.parameters["shift_start"] == 2
    assert run.created_by == "user:rita"
    assert run.status == "completed" and run.rounds.count() == 2
    assert all("cycle" in r.metrics for r in run.rounds.all()), "the cycle monitored each round"
    page = client.get(response["Location"])
    html = page.content.decode()
    assert 'value="100"' in html and "100 %" in html
    assert f'href="/metrics/?run={run.pk}"' in html
    assert "data-task-progress" not in html, "nothing left to poll"


def test_a_running_simulation_page_polls_its_task(reviewer):
    run = SimulationRun.objects.create(
        seed=0, rounds_planned=4, task_id="t-42", created_by="user:rita"
    )
    TaskResult.objects.create(
        task_id="t-42",
        task_name="simulation.run",
        status="PROGRESS",
        result=json.dumps({"stage": "round 2: scoring", "percent": 30}),
    )

    html = (
        client_for(reviewer)
        .get(reverse("web:simulation-detail", kwargs={"run_id": run.pk}))
        .content.decode()
    )

    assert 'data-url="/tasks/t-42/"' in html and "data-reload-when-done" in html
    assert 'value="30"' in html and "round 2: scoring" in html
