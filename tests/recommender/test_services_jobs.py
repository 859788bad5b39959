"""Queueing background jobs (recommender.services.jobs): a second request for model work is
refused before anything is queued, and an async command in eager mode runs its task and
reports how it went."""

import pytest
from django.core.management import CommandError, call_command

from recommender import tasks
from recommender.models import Lease, ModelVersion
from recommender.services.jobs import job_enqueue
from recommender.services.leases import AlreadyRunningError, lease_acquire

pytestmark = pytest.mark.django_db


def test_a_second_async_request_is_refused_and_queues_nothing(
    bundled_subset, django_capture_on_commit_callbacks
):
    lease_acquire(owner="task-a", purpose="retraining", seconds=60)

    with django_capture_on_commit_callbacks() as sent, pytest.raises(AlreadyRunningError):
        job_enqueue(tasks.retrain, kwargs={}, purpose="retraining")
    assert sent == [], "nothing was queued"

    with pytest.raises(CommandError, match="not queued: retraining already running since"):
        call_command("retrain", "--async")
    with pytest.raises(CommandError, match="not started: retraining already running since"):
        call_command("train", "--no-progress")


def test_an_async_command_in_eager_mode_runs_the_task_and_prints_how_to_follow_it(
    bundled_subset, artifact_dir, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train", "--async", "--family", "svd", "--factors", "5", "--epochs", "2")

    out = capsys.readouterr().out
    task_id = out.split()[1]
    assert "follow it with: python manage.py task_status " + task_id in out
    version = ModelVersion.objects.get()
    assert (
        version.status == ModelVersion.Status.CHAMPION and version.created_by == f"task:{task_id}"
    )
    assert version.hyperparameters["n_factors"] == 5
    assert Lease.objects.count() == 0, "the task released its lease"


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a command runs
def test_an_async_command_whose_eager_task_fails_reports_it_as_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="links.csv: file not found") as failed:
        call_command("import_movies_dataset", str(tmp_path), "--async")
    assert "recommender.import_dataset failed (it ran in this process" in str(failed.value)
