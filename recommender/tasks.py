"""Celery tasks: thin entry points. Each takes plain ids or values, calls one service and
reports progress (stage and percentage) in its state, for the web page, `task_status` and
`celery inspect`.

Model work (training, retraining, scoring, the cycle) holds the model-work lease, so it never
runs twice at once: a second task finds it busy and returns {"skipped": "<who is busy>"}.
Every task is safe to deliver twice (late acks re-deliver work whose worker died) and retries
with exponential backoff on transient database and broker errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import kombu.exceptions
import redis.exceptions
from celery import chord, group, shared_task
from celery.canvas import Signature
from django.conf import settings
from django.db import InterfaceError, OperationalError

from recommender.datasets import RatingFilter
from recommender.engine.scoring import PopularityPenalty
from recommender.progress import ProgressCallback
from recommender.services.cycle import monitor_and_retrain as monitor_and_retrain_service
from recommender.services.imports import dataset_import_movielens, dataset_import_movies_dataset
from recommender.services.leases import AlreadyRunningError, exclusive_model_work
from recommender.services.maintenance import dead_ratings_reclaim
from recommender.services.monitoring import drift_report_create
from recommender.services.pruning import scoring_runs_prune
from recommender.services.registry import ModelSearch, model_version_train
from recommender.services.retraining import AUTO_FAMILY, TrainingWindow, model_version_retrain
from recommender.services.scoring import (
    default_penalty,
    penalty_with,
    scoring_run_complete,
    scoring_run_create,
    scoring_run_fail,
    scoring_run_start,
    scoring_shard_store,
)

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
# Exponential backoff from 5 s, capped at 5 minutes, jittered so that workers which lost the
# database together do not come back together.
RETRY_OPTIONS = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


def progress_reporter(task) -> ProgressCallback:
    """Report a service's progress as the task's PROGRESS state (a no-op when run eagerly),
    through settings.TASK_PROGRESS_DATABASE: outside the service's transaction, so the page
    sees it while a simulation round (one transaction) is still running."""

    def report(stage: str, fraction: float) -> None:
        if task.request.id and not task.request.is_eager:
            task.update_state(
                state="PROGRESS",
                meta={"stage": stage, "percent": round(100 * fraction)},
                using=settings.TASK_PROGRESS_DATABASE,
            )

    return report


def task_actor(task) -> str:
    return f"task:{task.request.id or 'eager'}"


def run_by(task) -> dict[str, Any]:
    """The actor and progress arguments of a service run by `task`: who started the work, and
    where it reports how far it is."""
    return {"actor": task_actor(task), "progress": progress_reporter(task)}


def exclusively(task, purpose: str, work: Callable[[], dict]) -> dict:
    """Run `work` holding the model-work lease, owned by this task's id (so the same task
    redelivered takes it back); answer {"skipped": ...} when someone else holds it."""
    owner = task.request.id or f"eager:{uuid4()}"
    try:
        with exclusive_model_work(owner=owner, purpose=purpose):
            return work()
    except AlreadyRunningError as busy:
        logger.warning("%s not started: %s", task.name, busy)
        return {"skipped": str(busy)}


@shared_task(bind=True, name="recommender.import_dataset", **RETRY_OPTIONS)
def import_dataset(
    self,
    directory: str,
    layout: str = "movielens",
    max_rows: int | None = None,
    viewer_ids: list[int] | None = None,
    max_viewers: int | None = None,
    small: bool = False,
    lenient_metadata: bool = False,
    viewer_ranges: list[list[int]] | None = None,
) -> dict:
    """Imports are atomic and skip what is stored already, so a redelivery adds nothing twice."""
    rating_filter = RatingFilter(
        max_rows=max_rows,
        viewer_ids=None if viewer_ids is None else frozenset(viewer_ids),
        max_viewers=max_viewers,
        viewer_ranges=None if viewer_ranges is None else tuple(map(tuple, viewer_ranges)),
    )
    if layout == "movielens":
        summary = dataset_import_movielens(
            directory=Path(directory), rating_filter=rating_filter, progress=progress_reporter(self)
        )
    else:
        summary = dataset_import_movies_dataset(
            directory=Path(directory),
            rating_filter=rating_filter,
            small=small,
            lenient_metadata=lenient_metadata,
            on_skipped=lambda message: logger.warning("skipped metadata: %s", message),
            progress=progress_reporter(self),
        )
    return {"summary": summary.as_line()}


@shared_task(bind=True, name="recommender.train", **RETRY_OPTIONS)
def train(
    self, config: dict | None = None, family: str | None = None, search: dict | None = None
) -> dict:
    """`family` (MODEL_FAMILY by default) with the hyperparameters in `config` (the family's
    defaults for the rest); or, with `search` (ModelSearch.as_dict()), what a search picks."""

    def work() -> dict:
        version = model_version_train(
            **run_by(self),
            family=family,
            config=config or {},
            search=ModelSearch.from_dict(search) if search else None,
        )
        return {"model_version": version.pk, "family": version.algorithm, "status": version.status}

    return exclusively(self, "training", work)


@shared_task(bind=True, name="recommender.score", **RETRY_OPTIONS)
def score(self, transform: str | None = None, alpha: float | None = None) -> dict:
    def work() -> dict:
        penalty = default_penalty()
        penalty = PopularityPenalty(
            transform=transform or penalty.transform,
            alpha=penalty.alpha if alpha is None else alpha,
        )
        run = scoring_run_create(**run_by(self), penalty=penalty)
        return {"scoring_run": run.pk, "viewers": run.viewers}

    return exclusively(self, "scoring", work)


@shared_task(bind=True, name="recommender.monitor", **RETRY_OPTIONS)
def monitor(
    self,
    round_id: int | None = None,
    require_significance: bool | None = None,
    seed: int = 0,
    rule: str | None = None,
) -> dict:
    report = drift_report_create(
        **run_by(self),
        round_id=round_id,
        require_significance=require_significance,
        rule=rule,
        seed=seed,
    )
    draw_metric_charts()
    return {"drift_report": report.pk, "retraining_required": report.retraining_required}


@shared_task(bind=True, name="recommender.retrain", **RETRY_OPTIONS)
def retrain(
    self,
    search: bool = False,
    seed: int = 0,
    last_rounds: int | None = None,
    since: str | None = None,
    family: str = AUTO_FAMILY,
    objective: str = "ranking",
) -> dict:
    def work() -> dict:
        window = TrainingWindow(
            last_rounds=last_rounds, since=datetime.fromisoformat(since) if since else None
        )
        outcome = model_version_retrain(
            **run_by(self),
            window=window,
            search=search,
            family=family,
            objective=objective,
            seed=seed,
        )
        return {"challenger": outcome.challenger.pk, "decision": outcome.decision.value}

    return exclusively(self, "retraining", work)


@shared_task(bind=True, name="recommender.monitor_and_retrain", **RETRY_OPTIONS)
def monitor_and_retrain(self, search: bool = False) -> dict:
    """What beat runs daily: judge the champion on the newest round, retrain if required.
    A second beat, or a tick delivered twice, finds the round monitored and does nothing."""

    def work() -> dict:
        return monitor_and_retrain_service(**run_by(self), search=search).as_dict()

    outcome = exclusively(self, "the monitor-and-retrain cycle", work)
    draw_metric_charts()
    return outcome


@shared_task(name="recommender.draw_metric_charts")
def draw_metric_charts(run_id: int | None = None) -> dict:
    """Draw and store the metric page's charts for the history as it is now (every run's,
    and run `run_id`'s), unless stored. Called in place by the jobs that change the history,
    once their work is committed; a drawing error is logged, not raised."""
    # Imported here, not with the tasks: the web side (matplotlib) is loaded only by a process
    # that plays or judges a round, not by every worker.
    from recommender.web.metric_charts import metric_charts_prepare_quietly

    metric_charts_prepare_quietly(run_id)
    return {"run": run_id}


# --- sharded scoring: a chord of shard tasks and a completing callback -----------------------
#
# The lease across the chord. The chord outlives the task that starts it, so no task can hold
# the model-work lease in a `with` block for the whole run. `score_sharded` takes the lease in
# its own name (so a duplicate request is refused, and `--async` claims work as for `score`),
# reaps, creates the run and hands the lease over to the run (owner "scoring-run:<id>") with
# an expiry of the visibility timeout plus the hard time limit: the longest a live run can go
# without news. Shards renew it when they start and finish; the callback releases it after
# marking the run completed, and the error callback (run in the worker that sees a shard or
# the callback fail for good) marks the run failed and releases it. If even that never
# happens (a lost message, the database down at that moment) the lease lapses, the next model
# work reaps the run as interrupted, and shards still queued find it failed and do nothing.
# At no point is a half-stored run served: only completed runs are.


def scoring_chord(run_id: int, shards: int) -> Signature:
    """score_shard for every shard in parallel, then score_complete; score_failed if a shard
    or the completion fails for good (after its retries)."""
    complete = score_complete.si(run_id).on_error(score_failed.s(run_id=run_id))
    return chord(group(score_shard.si(run_id, shard, shards) for shard in range(shards)), complete)


@shared_task(bind=True, name="recommender.score_sharded", **RETRY_OPTIONS)
def score_sharded(
    self, shards: int = 4, transform: str | None = None, alpha: float | None = None
) -> dict:
    """Score every viewer with the champion, in `shards` tasks that may run on many workers."""
    try:
        run = scoring_run_start(
            actor=task_actor(self),
            owner=self.request.id or f"eager:{uuid4()}",
            shards=shards,
            penalty=penalty_with(transform, alpha),
        )
    except AlreadyRunningError as busy:
        logger.warning("%s not started: %s", self.name, busy)
        return {"skipped": str(busy)}
    try:
        scoring_chord(run.pk, shards).apply_async()  # eager: runs the whole chord here
    except Exception as exc:
        scoring_run_fail(run_id=run.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    return {"scoring_run": run.pk, "shards": shards}


@shared_task(bind=True, name="recommender.score_shard", **RETRY_OPTIONS)
def score_shard(self, run_id: int, shard: int, shards: int) -> dict:
    """Rank and store one shard's viewers; a redelivery replaces its own rows."""
    stored = scoring_shard_store(
        run_id=run_id, shard=shard, shards=shards, progress=progress_reporter(self)
    )
    return {"scoring_run": run_id, "shard": shard, "lists": stored}


@shared_task(bind=True, name="recommender.score_complete", **RETRY_OPTIONS)
def score_complete(self, run_id: int) -> dict:
    """The chord's callback: runs once every shard succeeded."""
    run = scoring_run_complete(run_id=run_id)
    return {"scoring_run": run_id, "status": run.status if run else "missing"}


@shared_task(name="recommender.score_failed")
def score_failed(request=None, exc=None, traceback=None, *, run_id: int) -> dict:
    """The chord's error callback. Celery calls it in place with the failed request and the
    exception (ChordError naming the shard that raised); queued as a task it gets a task id."""
    reason = f"{type(exc).__name__}: {exc}" if exc is not None else f"task {request} failed"
    run = scoring_run_fail(run_id=run_id, error=f"sharded scoring failed: {reason}")
    return {"scoring_run": run_id, "status": run.status if run else "missing"}


@shared_task(bind=True, name="recommender.prune_runs", **RETRY_OPTIONS)
def prune_runs(self, keep: int | None = None) -> dict:
    """Delete scoring runs nobody is served from (beat runs it daily; services.pruning)."""
    outcome = scoring_runs_prune(keep=keep, actor=task_actor(self))
    return {"served_run": outcome.served_run_id, "deleted_runs": outcome.deleted_run_ids}


@shared_task(name="recommender.reclaim_dead_ratings", **RETRY_OPTIONS)
def reclaim_dead_ratings() -> dict:
    """Beat, every 10 minutes: vacuum the rating table when a process killed outright (a
    command stopped by the OOM killer, say) left its rolled-back ratings behind as dead rows
    and no model work has started since to reclaim them (services.maintenance). When there are
    none it reads PostgreSQL's statistics and nothing more."""
    return {"dead_ratings_vacuumed": dead_ratings_reclaim(reason="the periodic check")}
