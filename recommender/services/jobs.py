"""Queueing background jobs: a task is sent once the transaction commits, and model work takes
the model-work lease in the task's name first. Their progress is read through
recommender.selectors.tasks."""

from __future__ import annotations

from uuid import uuid4

from django.db import transaction

from recommender.services.leases import lease_acquire, lease_release

# How long a queued task keeps its claim on the model work before it starts; once running, its
# heartbeat keeps the lease. A task still queued after this may find someone else started.
QUEUED_LEASE_SECONDS = 600


def job_enqueue(task, *, kwargs: dict, purpose: str | None = None) -> str:
    """Send `task` to the workers once the current transaction commits; return its id.

    With `purpose` the task is model work: the lease is taken now in the task's name, so a
    second request is refused at once with AlreadyRunningError ("retraining already running
    since 03:12, task ...") instead of queueing a duplicate. The task takes the lease back
    when it starts (same owner)."""
    task_id = str(uuid4())
    if purpose:
        lease_acquire(owner=task_id, purpose=purpose, seconds=QUEUED_LEASE_SECONDS)

    def send() -> None:
        try:
            task.apply_async(kwargs=kwargs, task_id=task_id)
        except Exception:
            if purpose:
                lease_release(owner=task_id)
            raise

    transaction.on_commit(send)
    return task_id
