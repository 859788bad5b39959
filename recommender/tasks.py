"""Celery tasks: thin entry points. Each takes plain ids or values, calls one service and
reports progress (stage and percentage) in its state, for the web page and `celery inspect`."""

from __future__ import annotations

from celery import shared_task

from recommender.datasets import RatingFilter
from recommender.engine.model import SVDConfig
from recommender.progress import ProgressCallback
from recommender.services.imports import dataset_import_movielens, dataset_import_movies_dataset
from recommender.services.monitoring import drift_report_create
from recommender.services.registry import model_version_train
from recommender.services.retraining import model_version_retrain
from recommender.services.scoring import scoring_run_create


def progress_reporter(task) -> ProgressCallback:
    """Report a service's progress as the task's PROGRESS state (a no-op when run eagerly)."""

    def report(stage: str, fraction: float) -> None:
        if task.request.id and not task.request.is_eager:
            task.update_state(
                state="PROGRESS", meta={"stage": stage, "percent": round(100 * fraction)}
            )

    return report


@shared_task(bind=True, name="recommender.import_dataset")
def import_dataset(
    self, directory: str, layout: str = "movielens", max_rows: int | None = None
) -> dict:
    service = dataset_import_movielens if layout == "movielens" else dataset_import_movies_dataset
    summary = service(
        directory=directory,
        rating_filter=RatingFilter(max_rows=max_rows),
        progress=progress_reporter(self),
    )
    return {"summary": summary.as_line()}


@shared_task(bind=True, name="recommender.train")
def train(self, seed: int = 0) -> int:
    actor = f"task:{self.request.id or 'eager'}"
    return model_version_train(
        actor=actor, config=SVDConfig(seed=seed), progress=progress_reporter(self)
    ).pk


@shared_task(bind=True, name="recommender.score")
def score(self) -> int:
    return scoring_run_create(
        actor=f"task:{self.request.id or 'eager'}", progress=progress_reporter(self)
    ).pk


@shared_task(bind=True, name="recommender.monitor")
def monitor(self, round_id: int | None = None) -> int:
    report = drift_report_create(
        actor=f"task:{self.request.id or 'eager'}",
        round_id=round_id,
        progress=progress_reporter(self),
    )
    return report.pk


@shared_task(bind=True, name="recommender.retrain")
def retrain(self, search: bool = False, seed: int = 0) -> int:
    outcome = model_version_retrain(
        actor=f"task:{self.request.id or 'eager'}",
        search=search,
        seed=seed,
        progress=progress_reporter(self),
    )
    return outcome.challenger.pk
