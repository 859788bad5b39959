"""What every long-running command shares: `--async` (queue a Celery task, print its id) and,
when run in the foreground, holding the model-work lease like the task would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management import CommandError

from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.progress import progress_bar
from recommender.progress import ProgressCallback
from recommender.services.jobs import job_enqueue
from recommender.services.leases import AlreadyRunningError, command_owner, exclusive_model_work
from recommender.services.monitoring import NothingToMonitorError
from recommender.services.registry import TrainingError
from recommender.services.scoring import NoChampionError

# What judging and retraining the champion may fail with, each a message for the user: no
# champion yet, its model file altered, nothing new to judge, a training that failed.
MODEL_WORK_ERRORS: tuple[type[Exception], ...] = (
    NoChampionError,
    ArtifactIntegrityError,
    NothingToMonitorError,
    TrainingError,
)


def add_async_argument(parser) -> None:
    parser.add_argument(
        "--async",
        dest="run_async",
        action="store_true",
        help="queue the work for a Celery worker, print the task id and return",
    )


def launch(command, task, *, kwargs: dict, purpose: str | None = None) -> str:
    """Queue `task` and tell the user how to follow it. `purpose` marks model work."""
    try:
        task_id = job_enqueue(task, kwargs=kwargs, purpose=purpose)
    except AlreadyRunningError as busy:
        raise CommandError(f"not queued: {busy}") from busy
    except Exception as exc:
        if not task.app.conf.task_always_eager:
            raise
        # Eager: the task ran (and failed) right here; report it like the command would.
        raise CommandError(
            f"{task.name} failed (it ran in this process: CELERY_TASK_ALWAYS_EAGER is on): {exc}"
        ) from exc
    if task.app.conf.task_always_eager:
        command.stdout.write(
            f"task {task_id} ({task.name}) runs in this process: CELERY_TASK_ALWAYS_EAGER is on"
        )
    else:
        command.stdout.write(f"queued task {task_id} ({task.name})")
    command.stdout.write(f"follow it with: python manage.py task_status {task_id}")
    return task_id


@contextmanager
def model_work(purpose: str) -> Iterator[None]:
    """Run the block holding the model-work lease; CommandError when someone else holds it."""
    try:
        with exclusive_model_work(owner=command_owner(), purpose=purpose):
            yield
    except AlreadyRunningError as busy:
        raise CommandError(f"not started: {busy}") from busy


@contextmanager
def model_work_with_progress(
    purpose: str, *, bar: str, options: dict
) -> Iterator[ProgressCallback]:
    """Run the block holding the model-work lease (see model_work), reporting to a progress bar
    named `bar` unless the command was given --no-progress."""
    with model_work(purpose), progress_bar(bar, enabled=not options["no_progress"]) as progress:
        yield progress
