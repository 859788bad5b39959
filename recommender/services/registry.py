"""The model registry: training new versions and recording every change of status."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommender.engine.artifact import SavedArtifact, save_model
from recommender.engine.evaluation import Evaluation, evaluate_model
from recommender.engine.model import EmptyRatingsError, SVDConfig
from recommender.engine.training import fit_svd, split_holdout
from recommender.models import ModelVersion, ModelVersionEvent
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import film_genres_frame, ratings_frame
from recommender.selectors.registry import current_champion
from recommender.services.gate import wait_at_test_gate
from recommender.tracking import track_run

logger = logging.getLogger(__name__)


# Any fixed 64-bit number, unique to this lock within the database.
REGISTRY_LOCK_KEY = 0x5EC5_0001


class TrainingError(RuntimeError):
    """Training could not start or finish; the current champion keeps serving."""


def model_version_transition(
    *, version: ModelVersion, to_status: str, actor: str, reason: str
) -> ModelVersion:
    """Change a version's status and record who or what did it, when and why.
    Callers hold the transaction (and any lock) that makes the change safe."""
    event = ModelVersionEvent.objects.create(
        version=version, from_status=version.status, to_status=to_status, actor=actor, reason=reason
    )
    version.status = to_status
    version.decided_at = event.at
    version.decided_by = actor
    version.decision_reason = reason
    version.save(update_fields=["status", "decided_at", "decided_by", "decision_reason"])
    return version


def model_version_train(
    *,
    actor: str,
    config: SVDConfig | None = None,
    holdout_share: float | None = None,
    progress: ProgressCallback | None = None,
    ratings: pd.DataFrame | None = None,
    training_window: dict | None = None,
) -> ModelVersion:
    """Train on all ratings (or the given ones) with a seeded holdout split, benchmark on the
    holdout, save the artifact. The first trained version becomes champion; later ones
    become challengers."""
    config = config or SVDConfig()
    holdout_share = (
        settings.RECOMMENDER["HOLDOUT_SHARE"] if holdout_share is None else holdout_share
    )
    progress = progress or no_progress
    started = time.perf_counter()

    progress("loading ratings", 0.0)
    ratings = ratings_frame() if ratings is None else ratings
    if ratings.empty:
        raise TrainingError(
            "no ratings to train on: import a dataset first (manage.py import_movielens DIR)"
        )
    film_genres = film_genres_frame()
    version = _version_started(actor, config, holdout_share, training_window)
    trained = _train_and_benchmark(
        version, actor, ratings, film_genres, config, holdout_share, progress
    )
    _record_training(version, trained, seconds=time.perf_counter() - started)
    _enter_registry(version, actor)
    _track_training(version, actor, trained.artifact.path)
    progress("done", 1.0)
    return version


@dataclass(frozen=True)
class _Trained:
    """What a training produced, before it is recorded on its version."""

    evaluation: Evaluation
    artifact: SavedArtifact
    training_rows: int
    holdout_rows: int


def _version_started(
    actor: str, config: SVDConfig, holdout_share: float, training_window: dict | None
) -> ModelVersion:
    """The new version's row and its "training started" event, written before any work."""
    version = ModelVersion.objects.create(
        hyperparameters=asdict(config),
        training_window={
            **(training_window or {"kind": "all"}),
            "holdout_share": holdout_share,
            "seed": config.seed,
        },
        created_by=actor,
    )
    ModelVersionEvent.objects.create(
        version=version, to_status=version.status, actor=actor, reason="training started"
    )
    return version


def _train_and_benchmark(
    version: ModelVersion,
    actor: str,
    ratings: pd.DataFrame,
    film_genres: pd.DataFrame,
    config: SVDConfig,
    holdout_share: float,
    progress: ProgressCallback,
) -> _Trained:
    """Split, fit, benchmark on the holdout and save the artifact; on any failure the version
    is marked failed and the current champion keeps serving."""
    try:
        progress("splitting", 0.05)
        train, holdout = split_holdout(ratings, test_size=holdout_share, seed=config.seed)
        progress("fitting SVD", 0.1)
        wait_at_test_gate("training")
        model = fit_svd(train, config)
        progress("evaluating on the holdout", 0.7)
        evaluation = evaluate_model(
            model,
            holdout,
            film_genres=film_genres,
            min_segment_size=settings.RECOMMENDER["MIN_SEGMENT_SIZE"],
            train=train,
        )
        progress("saving the artifact", 0.95)
        artifact = save_model(model, Path(settings.RECOMMENDER["ARTIFACT_DIR"]))
    except (EmptyRatingsError, ValueError, OSError) as exc:
        _mark_failed(version, actor, f"training failed: {exc}")
        raise TrainingError(f"training of v{version.pk} failed: {exc}") from exc
    except Exception as exc:  # a time limit, a lost database: the champion keeps serving
        _mark_failed(version, actor, f"training stopped: {type(exc).__name__}: {exc}")
        raise
    return _Trained(evaluation, artifact, training_rows=len(train), holdout_rows=len(holdout))


def _record_training(version: ModelVersion, trained: _Trained, *, seconds: float) -> None:
    version.artifact_path = str(trained.artifact.path)
    version.artifact_sha256 = trained.artifact.sha256
    version.metrics = trained.evaluation.to_dict()
    version.training_rows = trained.training_rows
    version.holdout_rows = trained.holdout_rows
    version.trained_seconds = seconds
    version.save(
        update_fields=[
            "artifact_path",
            "artifact_sha256",
            "metrics",
            "training_rows",
            "holdout_rows",
            "trained_seconds",
        ]
    )


def _track_training(version: ModelVersion, actor: str, artifact_path: Path) -> None:
    track_run(
        job_type="train",
        name=f"model-v{version.pk}",
        config={
            **version.hyperparameters,
            "training_window": version.training_window,
            "actor": actor,
        },
        metrics={
            **version.metrics,
            "training_rows": version.training_rows,
            "seconds": version.trained_seconds,
        },
        artifact=artifact_path,
        artifact_name=f"model-v{version.pk}",
    )


def _mark_failed(version: ModelVersion, actor: str, reason: str) -> None:
    try:
        with transaction.atomic():
            model_version_transition(
                version=version, to_status=ModelVersion.Status.FAILED, actor=actor, reason=reason
            )
    except Exception:  # the database itself may be what failed: the reaper marks it later
        logger.warning("could not mark v%s failed", version.pk, exc_info=True)


def lock_registry() -> None:
    """Serialise changes of the champion for the rest of the current transaction: a
    transaction-level advisory lock on PostgreSQL (released at commit or rollback, safe behind
    transaction-pooling PgBouncer). SQLite serialises writers by itself. The partial unique
    index on status='champion' stays the last line of defence."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRY_LOCK_KEY])


def _enter_registry(version: ModelVersion, actor: str) -> None:
    with transaction.atomic():
        lock_registry()
        if current_champion() is None:
            model_version_transition(
                version=version,
                to_status=ModelVersion.Status.CHAMPION,
                actor=actor,
                reason="first trained model: no champion yet",
            )
        else:
            model_version_transition(
                version=version,
                to_status=ModelVersion.Status.CHALLENGER,
                actor=actor,
                reason=f"trained at {timezone.now():%Y-%m-%d %H:%M}; awaiting comparison with the champion",
            )
