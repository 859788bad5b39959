"""Drift checks: the champion's accuracy on recent interactions against its training benchmark."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from django.conf import settings

from recommender.engine.evaluation import segment_scores
from recommender.engine.monitoring import DriftThresholds, known_viewer_rows, model_drift
from recommender.models import DriftReport
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import film_genres_frame, latest_round_id, round_ratings
from recommender.services.scoring import champion_model


class NothingToMonitorError(RuntimeError):
    """No recent interactions to judge the champion on."""


def drift_thresholds(*, require_significance: bool | None = None) -> DriftThresholds:
    config = settings.RECOMMENDER
    return DriftThresholds(
        overall_r2_drop=config["DRIFT_OVERALL_R2_DROP"],
        genre_r2_drop=config["DRIFT_GENRE_R2_DROP"],
        min_segment_size=config["MIN_SEGMENT_SIZE"],
        require_significance=(
            config["DRIFT_REQUIRE_SIGNIFICANCE"]
            if require_significance is None
            else require_significance
        ),
    )


def accuracy_by_segment(
    y_true: np.ndarray, y_pred: np.ndarray, membership: np.ndarray, genre_names: list[str]
) -> dict:
    """RMSE and R² overall and per genre; segments under MIN_SEGMENT_SIZE are not judged."""
    overall, per_genre = segment_scores(
        y_true,
        y_pred,
        membership,
        genre_names,
        min_segment_size=settings.RECOMMENDER["MIN_SEGMENT_SIZE"],
    )
    return {
        "overall": overall.to_dict(),
        "per_genre": {g: score.to_dict() for g, score in per_genre.items()},
    }


def drift_report_create(
    *,
    actor: str,
    round_id: int | None = None,
    require_significance: bool | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> DriftReport:
    """Judge the champion on one round of interactions (the newest by default): existing
    viewers only (those the champion was trained on), overall and per genre."""
    progress = progress or no_progress
    progress("loading the champion", 0.0)
    version, model = champion_model()
    round_id = latest_round_id() if round_id is None else round_id
    if round_id is None:
        raise NothingToMonitorError(
            "no recent interactions to monitor: run a simulation round first"
        )
    ratings = round_ratings(round_id)
    existing = known_viewer_rows(model, ratings)
    if existing.empty:
        raise NothingToMonitorError(
            f"round {round_id} has no ratings by viewers the champion v{version.pk} knows"
        )
    film_genres = film_genres_frame()
    thresholds = drift_thresholds(require_significance=require_significance)
    progress("bootstrapping the drops", 0.4)
    result = model_drift(
        model, version.metrics, existing, film_genres, thresholds=thresholds, seed=seed
    )
    progress("done", 1.0)
    return DriftReport.objects.create(
        model_version=version,
        round_id=round_id,
        window={
            "round": round_id,
            "ratings": len(ratings),
            "existing_viewer_ratings": len(existing),
        },
        thresholds=asdict(thresholds),
        metrics=[m.to_dict() for m in result.metrics],
        not_judged=list(result.not_judged),
        retraining_required=result.retraining_required,
        created_by=actor,
    )
