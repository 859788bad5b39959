"""Background jobs as the web page and `task_status` see them: a Celery task's state, stage and
percentage, read from the result backend (django-celery-results' TaskResult rows)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from celery import states
from django_celery_results.models import TaskResult

RUNNING_STATES = (states.STARTED, "PROGRESS")


@dataclass(frozen=True)
class TaskProgress:
    task_id: str
    name: str
    state: str  # PENDING (unknown or queued), STARTED, PROGRESS, SUCCESS, FAILURE, ...
    stage: str
    percent: int
    started_at: datetime | None
    finished_at: datetime | None
    result: object = None
    error: str = ""

    @property
    def finished(self) -> bool:
        return self.state in states.READY_STATES

    def as_dict(self) -> dict:
        return {
            "task_id": self.task_id,
            "name": self.name,
            "state": self.state,
            "stage": self.stage,
            "percent": self.percent,
            "finished": self.finished,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "result": self.result,
            "error": self.error,
        }


def _progress(row: TaskResult) -> TaskProgress:
    try:
        payload = json.loads(row.result) if row.result else None
    except ValueError:
        payload = row.result
    stage, percent, result, error = "", 0, None, ""
    if row.status == "PROGRESS" and isinstance(payload, dict):
        stage, percent = str(payload.get("stage", "")), int(payload.get("percent", 0))
    elif row.status == states.SUCCESS:
        stage, percent, result = "done", 100, payload
    elif row.status in states.PROPAGATE_STATES:
        stage = "failed"
        if isinstance(payload, dict):
            message = payload.get("exc_message", "")
            if isinstance(message, list | tuple):  # the exception's args
                message = " ".join(str(arg) for arg in message)
            error = f"{payload.get('exc_type', 'Error')}: {message}"
        else:
            error = str(payload)
    elif row.status == states.STARTED:
        stage = "started"
    return TaskProgress(
        task_id=row.task_id,
        name=row.task_name or "",
        state=row.status,
        stage=stage,
        percent=percent,
        started_at=row.date_created,
        finished_at=row.date_done if row.status in states.READY_STATES else None,
        result=result,
        error=error,
    )


def task_progress(task_id: str) -> TaskProgress:
    """The task's latest known state; PENDING for an id the backend has not heard of yet
    (queued, or never sent)."""
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        return TaskProgress(task_id, "", states.PENDING, "queued", 0, None, None)
    return _progress(row)


def running_tasks() -> list[TaskProgress]:
    """Tasks started and not finished, oldest first."""
    rows = TaskResult.objects.filter(status__in=RUNNING_STATES).order_by("date_created")
    return [_progress(row) for row in rows]
