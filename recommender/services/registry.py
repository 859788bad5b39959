"""The model registry: training new versions and recording every change of status."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommender.engine.artifact import SavedArtifact, save_model
from recommender.engine.evaluation import Evaluation, evaluate_model
from recommender.engine.families import FAMILIES, Family, family_named
from recommender.engine.model import EmptyRatingsError
from recommender.engine.search import Objective, search_families
from recommender.engine.training import split_holdout
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


@dataclass(frozen=True)
class ModelSearch:
    """A search across model families and their hyperparameters (engine.search): which
    families, judged by which objective, with how many candidates each (None: the
    SEARCH_ITERATIONS setting), seeded."""

    families: tuple[str, ...] = tuple(FAMILIES)
    objective: str = Objective.RANKING.value
    candidates: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in self.families:
            family_named(name)
        if not self.families:
            raise ValueError("a model search needs at least one family")
        try:
            Objective(self.objective)
        except ValueError:
            known = ", ".join(o.value for o in Objective)
            raise ValueError(
                f"unknown search objective {self.objective!r}; known: {known}"
            ) from None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelSearch:
        """From JSON (a task's arguments): families as a list."""
        values = dict(values)
        if "families" in values:
            values["families"] = tuple(values["families"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "families": list(self.families)}


def training_plan(*, family: str | None, config: Any) -> tuple[Family, Any]:
    """The family and configuration to train: the named family (or the one `config` belongs
    to, or the MODEL_FAMILY setting's) with `config` (or the family's defaults). `config` may
    be a mapping of the family's hyperparameters (a task's JSON); an unknown name or a bad
    value is refused naming it and the family's fields, as is a config of another family."""
    if isinstance(config, Mapping):
        chosen = family_named(family or settings.RECOMMENDER["MODEL_FAMILY"])
        return chosen, family_config(chosen, config)
    if family is None and config is not None:
        owners = [f for f in FAMILIES.values() if type(config) is f.config_type]
        if not owners:
            raise ValueError(f"{type(config).__name__} is no model family's configuration")
        return owners[0], config
    chosen = family_named(family or settings.RECOMMENDER["MODEL_FAMILY"])
    if config is None:
        return chosen, chosen.config()
    if type(config) is not chosen.config_type:
        raise ValueError(
            f"family {chosen.name} is configured by {chosen.config_type.__name__}, "
            f"not {type(config).__name__}"
        )
    return chosen, config


def family_config(family: Family, values: Mapping[str, Any]) -> Any:
    """`family`'s configuration from hyperparameter values; ValueError naming the family, the
    bad field or value, and the family's fields."""
    known = ", ".join(f.name for f in fields(family.config_type))
    try:
        return family.config(values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{family.name}: {exc} (its hyperparameters: {known})") from None


def model_version_train(
    *,
    actor: str,
    family: str | None = None,
    config: Any = None,
    search: ModelSearch | None = None,
    holdout_share: float | None = None,
    progress: ProgressCallback | None = None,
    ratings: Callable[[], pd.DataFrame] = ratings_frame,
    training_window: dict | None = None,
) -> ModelVersion:
    """Train a model family on all ratings (or those `ratings` reads) with a seeded holdout
    split, benchmark on the holdout, save the artifact. The family and its configuration are
    given (see `training_plan`), or with `search` chosen by a model search on the training
    part of the split (the holdout stays unseen). The first trained version becomes champion;
    later ones become challengers.

    `ratings` is a function that reads the frame, not the frame: nothing else then holds it,
    so once split it is freed while the model trains (0.6 GB at 26M ratings)."""
    holdout_share = (
        settings.RECOMMENDER["HOLDOUT_SHARE"] if holdout_share is None else holdout_share
    )
    progress = progress or no_progress
    started = time.perf_counter()
    try:
        chosen, config = training_plan(family=family, config=config)
    except ValueError as exc:
        raise TrainingError(str(exc)) from exc

    progress("loading ratings", 0.0)
    seed = config.seed if search is None else search.seed
    train, holdout = _split(ratings(), holdout_share, seed)
    film_genres = film_genres_frame()
    if search is not None:
        chosen, config = _searched(train, film_genres, search, progress)
    window = {**(training_window or {"kind": "all"}), "holdout_share": holdout_share, "seed": seed}
    if search is not None:
        window |= {"search": True, "search_objective": search.objective}
    version = _version_started(actor, chosen, config, window)
    trained = _train_and_benchmark(
        version, actor, chosen, config, train, holdout, film_genres, progress
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


def _split(ratings: pd.DataFrame, holdout_share: float, seed: int) -> tuple[pd.DataFrame, ...]:
    if ratings.empty:
        raise TrainingError(
            "no ratings to train on: import a dataset first (manage.py import_movielens DIR)"
        )
    try:
        return split_holdout(ratings, test_size=holdout_share, seed=seed)
    except (EmptyRatingsError, ValueError) as exc:
        raise TrainingError(f"cannot hold out {holdout_share} of the ratings: {exc}") from exc


def _searched(
    train: pd.DataFrame, film_genres: pd.DataFrame, search: ModelSearch, progress
) -> tuple[Family, Any]:
    """The best family and configuration by `search` on the training ratings."""
    progress(f"searching {', '.join(search.families)} by {search.objective}", 0.05)
    try:
        result = search_families(
            train,
            search.families,
            film_genres=film_genres,
            objective=search.objective,
            n_iter=search.candidates or settings.RECOMMENDER["SEARCH_ITERATIONS"],
            seed=search.seed,
            progress=lambda done: progress("searching models", 0.05 + 0.5 * done),
        )
    except (EmptyRatingsError, ValueError) as exc:
        raise TrainingError(f"the model search failed: {exc}") from exc
    logger.info("search chose %s %s", result.best.family, result.best.config.as_dict())
    return family_named(result.best.family), result.best.config


def _version_started(actor: str, family: Family, config: Any, window: dict) -> ModelVersion:
    """The new version's row and its "training started" event, written before any work."""
    version = ModelVersion.objects.create(
        algorithm=family.name,
        hyperparameters=config.as_dict(),
        training_window=window,
        created_by=actor,
    )
    ModelVersionEvent.objects.create(
        version=version, to_status=version.status, actor=actor, reason="training started"
    )
    return version


def _train_and_benchmark(
    version: ModelVersion,
    actor: str,
    family: Family,
    config: Any,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    film_genres: pd.DataFrame,
    progress: ProgressCallback,
) -> _Trained:
    """Fit, benchmark on the holdout and save the artifact; on any failure the version is
    marked failed and the current champion keeps serving."""
    try:
        progress(f"fitting {family.name}", 0.6)
        wait_at_test_gate("training")
        model = family.train(
            train, config, film_genres=film_genres if family.uses_metadata else None
        )
        progress("evaluating on the holdout", 0.8)
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
            "family": version.algorithm,
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
