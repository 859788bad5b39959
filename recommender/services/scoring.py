"""Scoring runs: rank every viewer with the champion and store the lists compactly."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender import selectors
from recommender.engine.artifact import load_model
from recommender.engine.model import TrainedModel
from recommender.engine.scoring import PopularityPenalty, Ranking
from recommender.engine.serving import FilmStats, list_metrics, rank_every_viewer
from recommender.models import ModelVersion, ScoredList, ScoringRun
from recommender.progress import ProgressCallback, no_progress
from recommender.services.gate import wait_at_test_gate

logger = logging.getLogger(__name__)

# Lists per INSERT: 2,000 rows of ~1.4 kB stay well under any statement-size limit.
LIST_BATCH = 2_000


class NoChampionError(RuntimeError):
    """Nothing to score with."""


def default_penalty() -> PopularityPenalty:
    return PopularityPenalty(
        transform=settings.RECOMMENDER["POPULARITY_TRANSFORM"],
        alpha=settings.RECOMMENDER["POPULARITY_ALPHA"],
    )


def champion_model() -> tuple[ModelVersion, TrainedModel]:
    """The champion and its verified arrays. Raises NoChampionError or ArtifactIntegrityError."""
    version = selectors.champion()
    if version is None:
        raise NoChampionError("no champion model yet: train one first (manage.py train)")
    return version, load_model(Path(version.artifact_path), sha256=version.artifact_sha256)


@dataclass(frozen=True)
class ScoringOutcome:
    run: ScoringRun
    version: ModelVersion
    ranking: Ranking


def scoring_run_create(
    *,
    actor: str,
    penalty: PopularityPenalty | None = None,
    progress: ProgressCallback | None = None,
) -> ScoringRun:
    """Score every viewer with the champion. The run is served only once it is completed;
    if anything fails it is marked failed and the previous completed run keeps serving."""
    return score_and_store(actor=actor, penalty=penalty, progress=progress).run


def score_and_store(
    *,
    actor: str,
    penalty: PopularityPenalty | None = None,
    progress: ProgressCallback | None = None,
) -> ScoringOutcome:
    """scoring_run_create, also handing back the ranking (a simulation round chooses from it)."""
    progress = progress or no_progress
    penalty = default_penalty() if penalty is None else penalty
    version, model = champion_model()
    config = settings.RECOMMENDER
    parameters = {
        "list_length": config["LIST_LENGTH"],
        "buffer": config["LIST_BUFFER"],
        "new_user_threshold": config["NEW_USER_THRESHOLD"],
        "penalty": {"transform": penalty.transform, "alpha": penalty.alpha},
    }
    run = ScoringRun.objects.create(model_version=version, parameters=parameters, created_by=actor)
    try:
        progress("loading ratings", 0.0)
        wait_at_test_gate("scoring")
        ratings = selectors.ratings_frame()
        viewers = selectors.viewers_frame()
        ranking = rank_every_viewer(
            model,
            ratings,
            viewers["viewer_id"].to_numpy(),
            new_user_threshold=config["NEW_USER_THRESHOLD"],
            n=config["LIST_LENGTH"] + config["LIST_BUFFER"],
            penalty=penalty,
            progress=lambda f: progress("scoring", 0.05 + 0.75 * f),
        )
        progress("metrics", 0.8)
        metrics = list_metrics(
            ranking,
            model=model,
            film_genres=selectors.film_genres_frame(),
            catalogue_ids=FilmStats.from_ratings(ratings).film_ids,
            top=config["LIST_LENGTH"],
        )
        progress("storing lists", 0.9)
        with transaction.atomic():
            _store_lists(run, ranking, viewers)
            run.status = ScoringRun.Status.COMPLETED
            run.finished_at = timezone.now()
            run.viewers = len(ranking.viewer_ids)
            run.metrics = metrics
            run.save(update_fields=["status", "finished_at", "viewers", "metrics"])
    except Exception as exc:
        ScoringRun.objects.filter(pk=run.pk).update(
            status=ScoringRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    progress("done", 1.0)
    return ScoringOutcome(run=run, version=version, ranking=ranking)


def _store_lists(run: ScoringRun, ranking: Ranking, viewers: pd.DataFrame) -> None:
    pks = (
        pd.Series(viewers["pk"].to_numpy(), index=viewers["viewer_id"].to_numpy())
        .loc[ranking.viewer_ids]
        .to_numpy()
    )
    if ranking.film_ids.size and ranking.film_ids.max() >= 2**31:
        raise ValueError("film ids above 2^31 cannot be stored in the int32 list format")
    film_ids = ranking.film_ids.astype("<i4")
    scores = ranking.scores.astype("<f4")
    predicted = ranking.predicted.astype("<f4")
    # Lists are padded with -1 at the end; the stored list drops the padding.
    lengths = np.count_nonzero(ranking.film_ids >= 0, axis=1)
    ScoredList.objects.bulk_create(
        (
            ScoredList(
                run=run,
                viewer_id=int(pks[i]),
                from_model=bool(ranking.from_model[i]),
                film_ids=film_ids[i, :length].tobytes(),
                scores=scores[i, :length].tobytes(),
                predicted=predicted[i, :length].tobytes(),
            )
            for i, length in enumerate(lengths)
        ),
        batch_size=LIST_BATCH,
    )
