"""The reviewer web UI: who may see what, what every page shows, and that decisions go
through the lifecycle services only by a CSRF-checked POST from a reviewer."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django_celery_results.models import TaskResult

from recommender.engine.model import SVDConfig
from recommender.models import Genre, ModelVersion, Viewer
from recommender.services.lifecycle import model_version_send_to_review
from recommender.services.registry import model_version_train
from recommender.services.scoring import scoring_run_create
from simulation.models import SimulationRun
from simulation.services import (
    SimulationParameters,
    simulation_run_create,
    simulation_run_execute,
)

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"
ROUNDS = 3


# --- named users, shared by every test ----------------------------------------------------------


@pytest.fixture
def rita(db) -> User:
    """A reviewer: may approve and reject challengers, launch simulations."""
    user = User.objects.create_user("rita", password="rita-pass-Xk29")
    user.user_permissions.add(Permission.objects.get(codename="review_challengers"))
    return User.objects.get(pk=user.pk)


@pytest.fixture
def vic(db) -> User:
    """A viewer account: linked to viewer 1, no review permission."""
    user = User.objects.create_user("vic", password="vic-pass-Xk29")
    Viewer.objects.update_or_create(source_id=1, defaults={"account": user})
    return user


@pytest.fixture
def sam(db) -> User:
    """Staff without the review permission: may browse, not decide."""
    return User.objects.create_user("sam", password="sam-pass-Xk29", is_staff=True)


def client_for(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def versions(*statuses: str) -> list[ModelVersion]:
    return [ModelVersion.objects.create(status=s, created_by="test") for s in statuses]


# --- a small world: bundled data, a champion, a scoring run, a 3-round cycle, a pending review --


@pytest.fixture
def world(bundled_subset, artifact_dir):
    first = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=20, n_epochs=10, seed=3)
    )
    scoring_run_create(actor="command:test")
    run = simulation_run_create(
        parameters=SimulationParameters(
            rounds=ROUNDS, seed=1, shift={"Action": 0.6}, shift_start=2, arrivals=0.05
        ),
        actor="command:test",
    )
    simulation_run_execute(run=run, monitor=True)
    retrained = ModelVersion.objects.exclude(comparison={}).order_by("pk").first()
    assert retrained is not None, "the shifted rounds must have triggered retraining"
    pending = model_version_train(
        actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=4)
    )
    pending.comparison = retrained.comparison
    pending.save(update_fields=["comparison"])
    model_version_send_to_review(version_id=pending.pk, actor="command:test", reason="test")
    return {"first": first, "run": run, "retrained": retrained, "pending": pending}


def chart(html: str, name: str) -> ET.Element:
    """The <svg> inside the figure with data-chart=name, parsed."""
    match = re.search(rf'data-chart="{re.escape(name)}">\s*(<svg.*?</svg>)', html, re.S)
    assert match, f"no chart {name!r} on the page"
    return ET.fromstring(match.group(1))


def group(svg: ET.Element, gid: str) -> ET.Element | None:
    return svg.find(f".//{SVG}g[@id='{gid}']")


def texts(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text")]


# --- access -----------------------------------------------------------------------------------

PAGES = [
    ("web:dashboard", {}),
    ("web:task-status", {"task_id": "abc"}),
    ("web:metrics", {}),
    ("web:viewer-search", {}),
    ("web:viewer-detail", {"source_id": 1}),
    ("web:model-list", {}),
    ("web:model-detail", {"version_id": 1}),
    ("web:model-review", {"version_id": 1}),
    ("web:simulate", {}),
    ("web:simulation-detail", {"run_id": 1}),
]


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, name, kwargs):
    url = reverse(name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_it_sends_a_viewer_account_from_the_dashboard_to_its_own_page(vic):
    response = client_for(vic).get(reverse("web:dashboard"))

    assert response.status_code == 302
    assert response["Location"] == reverse("web:viewer-detail", kwargs={"source_id": 1})


def test_a_viewer_account_sees_its_own_page_with_a_friendly_note_when_nothing_is_trained(vic):
    response = client_for(vic).get(reverse("web:viewer-detail", kwargs={"source_id": 1}))

    assert response.status_code == 200
    assert "No model has been trained yet" in response.content.decode()
    assert 'href="/metrics/"' not in response.content.decode(), "no reviewer navigation"


def test_it_refuses_a_viewer_account_another_viewers_page(vic):
    Viewer.objects.create(source_id=2)

    response = client_for(vic).get(reverse("web:viewer-detail", kwargs={"source_id": 2}))

    assert response.status_code == 403
    assert "only see your own recommendations" in response.content.decode()


@pytest.mark.parametrize(
    "name", ["web:metrics", "web:model-list", "web:viewer-search", "web:task-status"]
)
def test_it_refuses_a_viewer_account_the_reviewer_pages(vic, name):
    kwargs = {"task_id": "abc"} if name == "web:task-status" else {}

    assert client_for(vic).get(reverse(name, kwargs=kwargs)).status_code == 403


def test_it_refuses_review_and_simulation_to_a_viewer_account_and_changes_nothing(vic):
    (pending,) = versions("pending_review")
    client = client_for(vic)
    review = reverse("web:model-review", kwargs={"version_id": pending.pk})

    assert client.get(review).status_code == 403
    assert client.post(review, {"decision": "approve"}).status_code == 403
    assert client.get(reverse("web:simulate")).status_code == 403
    assert client.post(reverse("web:simulate"), {"rounds": 1}).status_code == 403
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"
    assert not SimulationRun.objects.exists()


def test_it_lets_staff_browse_but_not_decide(sam):
    (pending,) = versions("pending_review")
    client = client_for(sam)

    assert client.get(reverse("web:model-list")).status_code == 200
    response = client.post(
        reverse("web:model-review", kwargs={"version_id": pending.pk}), {"decision": "approve"}
    )

    assert response.status_code == 403
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"


# --- every page, with data --------------------------------------------------------------------


def test_every_page_renders_for_a_reviewer_with_data(world, rita):
    client = client_for(rita)
    pending, run = world["pending"], world["run"]
    champion = ModelVersion.objects.get(status="champion")
    waiting = ModelVersion.objects.filter(status="pending_review").count()
    pages = {
        reverse("web:dashboard"): [
            f"v{champion.pk}",
            f"{waiting} challenger{'s' if waiting > 1 else ''}</a>",
            f"{champion.r2:.3f}",
            "Drift report",
        ],
        reverse("web:metrics"): ['data-chart="r2"', 'data-chart="genre-r2"'],
        reverse("web:viewer-search"): ["Viewer id"],
        reverse("web:viewer-detail", kwargs={"source_id": 1}): ["Current top 10", "Rating history"],
        reverse("web:model-list"): [f"v{pending.pk}", "pending review"],
        reverse("web:model-detail", kwargs={"version_id": champion.pk}): [
            "Benchmark per genre",
            "Action",
        ],
        reverse("web:model-review", kwargs={"version_id": pending.pk}): [
            "Metrics that had degraded",
            "Approve: make",
        ],
        reverse("web:simulate"): ["Start the simulation", f'href="/simulate/{run.pk}/"'],
        reverse("web:simulation-detail", kwargs={"run_id": run.pk}): ["100 %", "Rounds played"],
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for text in expected:
            assert text in html, f"{url} lacks {text!r}"


def test_the_dashboard_highlights_the_degraded_segments_of_the_latest_drift_report(world, rita):
    from recommender.models import DriftReport

    report = DriftReport.objects.first()
    html = client_for(rita).get(reverse("web:dashboard")).content.decode()

    highlighted = re.findall(r'<tr class="degraded">\s*<th scope="row">([^<]+)</th>', html)
    expected = [m.removeprefix("genre:").replace("overall", "Overall") for m in report.degraded]
    assert sorted(highlighted) == sorted(expected)


def test_the_viewer_page_lists_the_top_n_from_the_recommendation_service(world, rita):
    from recommender.services.recommendations import viewer_recommendations

    expected = viewer_recommendations(viewer_id=1, n=20)

    response = client_for(rita).get(
        reverse("web:viewer-detail", kwargs={"source_id": 1}), {"n": 20}
    )

    listing = response.context["listing"].recommendations
    assert [f.film_id for f in listing.films] == [f.film_id for f in expected.films]
    assert len(listing.films) == 20
    html = response.content.decode()
    assert f"{expected.films[0].predicted_rating:.2f} ★" in html
    assert ("model" if expected.source == "model" else "cold-start fallback") in html


def test_the_metric_charts_plot_one_point_per_round_and_mark_the_promotion(world, rita):
    html = client_for(rita).get(reverse("web:metrics")).content.decode()
    run = world["run"]
    rounds = list(run.rounds.order_by("number").select_related("scoring_run"))
    served = [r.scoring_run.model_version_id for r in rounds]
    changes = [i for i in range(1, len(served)) if served[i] != served[i - 1]]

    r2 = chart(html, "r2")
    points = group(r2, "r2-series-0").findall(f".//{SVG}use")
    assert len(points) == ROUNDS, "one marker per round for existing viewers"
    labels = texts(r2)
    assert "Overall R² per round" in labels and "R²" in labels
    assert {"existing viewers", "all viewers", "champion's holdout benchmark"} <= set(labels)
    assert {f"{run.pk}.{n}" for n in range(1, ROUNDS + 1)} <= set(labels)
    assert changes == [2], "round 2's retraining promoted a challenger that served round 3"
    assert group(r2, "r2-promotion-0") is not None and group(r2, "r2-promotion-1") is None
    assert f"v{served[2]}" in labels

    drift_rounds = sum(1 for r in rounds if r.metrics["cycle"]["degraded"])
    alerts = group(r2, "r2-series-3")
    assert drift_rounds >= 1 and len(alerts.findall(f".//{SVG}use")) == drift_rounds

    for name in ("coverage", "diversity", "personalization"):
        svg = chart(html, name)
        assert len(group(svg, f"{name}-series-0").findall(f".//{SVG}use")) == ROUNDS


def test_the_genre_heatmap_has_a_cell_per_genre_and_round_and_outlines_degraded_ones(world, rita):
    response = client_for(rita).get(reverse("web:metrics"))
    history = response.context["history"]
    svg = chart(response.content.decode(), "genre-r2")

    cells = group(svg, "genre-r2-cells").findall(f"{SVG}path")
    assert len(cells) == len(history.genres) * ROUNDS
    assert "Action" in history.genres and "Action" in texts(svg)
    action = [p.genre_r2["Action"] for p in history.rounds]
    assert f"{action[1]:.2f}" in texts(svg), "cells carry their value"
    degraded = sum(1 for p in history.rounds for g in history.genres if f"genre:{g}" in p.degraded)
    assert degraded >= 1
    assert len(group(svg, "genre-r2-flagged").findall(f"{SVG}path")) == degraded


def test_the_metric_page_says_no_rounds_yet_without_data(rita):
    html = client_for(rita).get(reverse("web:metrics")).content.decode()

    assert "No rounds yet" in html
    for name in ("r2", "rmse", "genre-r2", "coverage", "diversity", "personalization"):
        assert "No rounds yet" in texts(chart(html, name))


# --- the review ---------------------------------------------------------------------------------


def test_approving_needs_a_csrf_token(rita):
    old, pending = versions("champion", "pending_review")
    client = client_for(rita, enforce_csrf_checks=True)
    url = reverse("web:model-review", kwargs={"version_id": pending.pk})

    refused = client.post(url, {"decision": "approve"})

    assert refused.status_code == 403
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"
    client.get(url)  # the page sets the CSRF cookie, as a browser would receive it
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    accepted = client.post(url, {"decision": "approve", "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert ModelVersion.objects.get(pk=old.pk).status == "retired"


def test_a_get_request_never_approves(rita):
    (pending,) = versions("pending_review")

    response = client_for(rita).get(
        reverse("web:model-review", kwargs={"version_id": pending.pk}), {"decision": "approve"}
    )

    assert response.status_code == 200
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"


def test_approving_a_pending_challenger_makes_it_champion_and_records_who_and_why(rita):
    old, pending = versions("champion", "pending_review")

    response = client_for(rita).post(
        reverse("web:model-review", kwargs={"version_id": pending.pk}),
        {"decision": "approve", "comment": "Action fixed, Drama unchanged"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse(
        "web:model-detail", kwargs={"version_id": pending.pk}
    )
    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert ModelVersion.objects.get(pk=old.pk).status == "retired"
    event = pending.events.last()
    assert (event.from_status, event.to_status, event.actor) == (
        "pending_review",
        "champion",
        "user:rita",
    )
    assert event.reason == "approved in review: Action fixed, Drama unchanged"
    assert [str(m) for m in response.context["messages"]] == [
        f"Model v{pending.pk} approved: it is now the champion."
    ]


def test_rejecting_a_pending_challenger_keeps_the_champion(rita):
    old, pending = versions("champion", "pending_review")

    client_for(rita).post(
        reverse("web:model-review", kwargs={"version_id": pending.pk}),
        {"decision": "reject", "comment": "worse on Drama"},
    )

    assert ModelVersion.objects.get(pk=pending.pk).status == "rejected"
    assert ModelVersion.objects.get(pk=old.pk).status == "champion"
    assert pending.events.last().reason == "rejected in review: worse on Drama"


@pytest.mark.parametrize("status", ["challenger", "champion", "rejected", "retired"])
def test_approving_a_version_that_is_not_pending_is_refused_with_a_message(rita, status):
    (version,) = versions(status)
    events = version.events.count()

    response = client_for(rita).post(
        reverse("web:model-review", kwargs={"version_id": version.pk}),
        {"decision": "approve"},
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"Nothing changed: cannot approve model v{version.pk}: it is {status}, not pending_review."
    ]
    assert ModelVersion.objects.get(pk=version.pk).status == status
    assert version.events.count() == events


def test_the_review_page_shows_champion_and_challenger_side_by_side_per_metric(world, rita):
    pending = world["pending"]
    response = client_for(rita).get(reverse("web:model-review", kwargs={"version_id": pending.pk}))

    review = response.context["review"]
    compared = pending.comparison["metrics"]
    assert len(review.degraded) + len(review.stable) == len(compared)
    assert {r.metric for r in review.degraded} == {
        m["metric"] for m in compared if m["was_degraded"]
    }
    html = response.content.decode()
    for m in compared:
        assert f"{m['champion_r2']:.3f}" in html and f"{m['challenger_r2']:.3f}" in html
        assert m["outcome"] in html


# --- viewers ----------------------------------------------------------------------------------


def test_the_viewer_search_opens_the_viewer_or_says_it_is_not_found(rita):
    Viewer.objects.create(source_id=15)
    client = client_for(rita)

    found = client.get(reverse("web:viewer-search"), {"q": "15"})
    missing = client.get(reverse("web:viewer-search"), {"q": "16"})
    nonsense = client.get(reverse("web:viewer-search"), {"q": "abc"})

    assert found.status_code == 302
    assert found["Location"] == reverse("web:viewer-detail", kwargs={"source_id": 15})
    assert missing.status_code == 200 and "No viewer has the id 16." in missing.content.decode()
    assert nonsense.status_code == 200 and "Enter a whole number" in nonsense.content.decode()


def test_an_unknown_viewer_page_is_404_for_a_reviewer(rita):
    response = client_for(rita).get(reverse("web:viewer-detail", kwargs={"source_id": 999}))

    assert response.status_code == 404


# --- simulations and task progress ------------------------------------------------------------


def test_the_simulation_form_refuses_unknown_genres_and_out_of_range_rounds(rita):
    Genre.objects.create(name="Action")

    response = client_for(rita).post(
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


def test_the_simulation_form_says_when_there_is_no_champion(rita):
    response = client_for(rita).post(
        reverse("web:simulate"),
        {"rounds": 1, "truth": "model", "shift_start": 1, "arrivals": 0.0, "seed": 0},
    )

    assert "no champion model yet" in response.content.decode()
    assert not SimulationRun.objects.exists()


def test_launching_a_simulation_runs_the_cycle_and_its_page_shows_100_percent(
    bundled_subset, artifact_dir, rita, django_capture_on_commit_callbacks
):
    model_version_train(actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=3))
    client = client_for(rita)

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
    assert len(callbacks) == 1, "the task is sent once, after commit"
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


def test_a_running_simulation_page_polls_its_task(rita):
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
        client_for(rita)
        .get(reverse("web:simulation-detail", kwargs={"run_id": run.pk}))
        .content.decode()
    )

    assert 'data-url="/tasks/t-42/"' in html and "data-reload-when-done" in html
    assert 'value="30"' in html and "round 2: scoring" in html


def test_the_task_endpoint_returns_stage_and_percent_and_the_dashboard_lists_running_tasks(rita):
    TaskResult.objects.create(
        task_id="t-7",
        task_name="recommender.retrain",
        status="PROGRESS",
        result=json.dumps({"stage": "training the challenger", "percent": 40}),
    )
    client = client_for(rita)

    progress = client.get(reverse("web:task-status", kwargs={"task_id": "t-7"})).json()
    unknown = client.get(reverse("web:task-status", kwargs={"task_id": "nope"})).json()
    dashboard = client.get(reverse("web:dashboard")).content.decode()

    assert (progress["state"], progress["stage"], progress["percent"]) == (
        "PROGRESS",
        "training the challenger",
        40,
    )
    assert progress["finished"] is False
    assert (unknown["state"], unknown["percent"]) == ("PENDING", 0)
    assert 'data-url="/tasks/t-7/"' in dashboard and "recommender.retrain" in dashboard
    assert "/static/web/progress.js" in dashboard


# --- login and logout -------------------------------------------------------------------------


def test_the_login_page_logs_a_reviewer_in_and_the_nav_logs_out_by_post(rita):
    client = Client()
    login_page = client.get(reverse("login"))
    assert login_page.status_code == 200 and 'name="password"' in login_page.content.decode()

    response = client.post(reverse("login"), {"username": "rita", "password": "rita-pass-Xk29"})

    assert response.status_code == 302 and response["Location"] == reverse("web:dashboard")
    html = client.get(reverse("web:dashboard")).content.decode()
    form = re.search(
        r'<form class="logout" method="post" action="/logout/">(.*?)</form>', html, re.S
    )
    assert form and 'name="csrfmiddlewaretoken"' in form.group(1)
    assert client.get(reverse("logout")).status_code == 405, "logging out is POST only"
    client.post(reverse("logout"))
    assert client.get(reverse("web:dashboard")).status_code == 302


def test_login_is_locked_after_the_failure_limit(rita, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        failed = client.post(reverse("login"), {"username": "rita", "password": "wrong"})
        assert failed.status_code in (200, 429)

    locked = client.post(reverse("login"), {"username": "rita", "password": "rita-pass-Xk29"})

    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("web:dashboard")).status_code == 302
