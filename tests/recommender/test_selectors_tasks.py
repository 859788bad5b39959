"""`task_status` reads what workers write to the result backend (the real django-db backend)."""

import pytest
from django.core.management import call_command

from recommender.selectors.tasks import running_tasks, task_progress
from recsite.celery import app

pytestmark = pytest.mark.django_db


def store(task_id: str, result, state: str) -> None:
    app.backend.store_result(task_id, result, state, request=None)


def test_a_running_task_shows_stage_and_percentage_and_a_finished_one_its_result(capsys):
    store("t-running", {"stage": "fitting SVD", "percent": 40}, "PROGRESS")
    store("t-done", {"model_version": 3, "status": "challenger"}, "SUCCESS")

    call_command("task_status", "t-running")
    call_command("task_status", "t-done")
    call_command("task_status")

    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("task t-running: PROGRESS, fitting SVD, 40 %")
    assert out[1].startswith("task t-done: SUCCESS, done, 100 %")
    assert out[2] == "result: {'model_version': 3, 'status': 'challenger'}"
    assert out[3].startswith("task t-running: PROGRESS"), "only running tasks are listed"
    assert [p.task_id for p in running_tasks()] == ["t-running"]


def test_a_failed_task_shows_its_error_and_an_unknown_id_is_pending(capsys):
    store("t-failed", ValueError("no ratings to train on"), "FAILURE")

    failed = task_progress("t-failed")
    unknown = task_progress("never-sent")

    assert failed.finished and failed.error == "ValueError: no ratings to train on"
    assert unknown.state == "PENDING" and not unknown.finished
    call_command("task_status", "never-sent")
    assert "queued and not started yet" in capsys.readouterr().out
