"""Retraining: train a challenger, judge champion and challenger on the same recent holdout,
and promote, reject or send the challenger to human review by the decision matrix."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.conf import settings

from recommender.engine.artifact import load_model
from recommender.engine.model import SVDConfig, TrainedModel
from recommender.engine.monitoring import Decision, compare_models, decide, decision_reason
from recommender.engine.search import search_svd_config
from recommender.engine.serving import genre_matrix
from recommender.models import DriftReport, ModelVersion, Rating
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import film_genres_frame, ratings_frame
from recommender.services.lifecycle import (
    model_version_promote,
    model_version_reject,
    model_version_send_to_review,
)
from recommender.services.monitoring import (
    NothingToMonitorError,
    accuracy_by_segment,
    drift_report_create,
    ratings_since_training,
    round_ratings,
)
from recommender.services.registry import model_version_train
from recommender.services.scoring import champion_model
from recommender.tracking import track_run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingWindow:
    """Which ratings a challenger learns from: all of them; the original ones plus the last
    `last_rounds` rounds of simulated ones; or the original ones plus those rated since `since`."""

    last_rounds: int | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.last_rounds is not None and self.since is not None:
            raise ValueError("window: give last_rounds or since, not both")
        if self.last_rounds is not None and self.last_rounds < 1:
            raise ValueError(f"window: last_rounds must be at least 1, got {self.last_rounds}")

    def describe(self) -> dict:
        if self.last_rounds is not None:
            return {"kind": "last rounds", "rounds": self.last_rounds}
        if self.since is not None:
            return {"kind": "since", "since": self.since.isoformat()}
        return {"kind": "all"}

    def ratings(self) -> pd.DataFrame:
        queryset = Rating.objects.all()
        if self.last_rounds is not None:
            rounds = (
                Rating.objects.filter(origin=Rating.Origin.SIMULATED)
                .order_by("-round_id")
                .values_list("round_id", flat=True)
                .distinct()[: self.last_rounds]
            )
            queryset = queryset.filter(origin=Rating.Origin.ORIGINAL) | queryset.filter(
                round_id__in=list(rounds)
            )
        elif self.since is not None:
            queryset = queryset.filter(origin=Rating.Origin.ORIGINAL) | queryset.filter(
                rated_at__gte=self.since
            )
        return ratings_frame(queryset=queryset)


@dataclass(frozen=True)
class RetrainingOutcome:
    challenger: ModelVersion
    champion: ModelVersion
    drift_report: DriftReport
    decision: Decision
    reason: str
    comparisons: list[dict]


def metric_r2(
    y_true: np.ndarray, y_pred: np.ndarray, membership: np.ndarray, genre_names: list[str]
) -> dict:
    """R² per metric name ("overall", "genre:NAME"); None where the segment is not judged."""
    accuracy = accuracy_by_segment(y_true, y_pred, membership, genre_names)
    return {
        "overall": accuracy["overall"]["r2"],
        **{f"genre:{genre}": score["r2"] for genre, score in accuracy["per_genre"].items()},
    }


def model_version_retrain(
    *,
    actor: str,
    window: TrainingWindow | None = None,
    search: bool = False,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> RetrainingOutcome:
    """Train a challenger and decide. The champion keeps serving throughout; a failure at any
    point leaves it in place (a failed challenger is marked failed)."""
    progress = progress or no_progress
    window = window or TrainingWindow()
    champion, champion_arrays = champion_model()
    report = champion.drift_reports.order_by("-created_at").first()
    if report is None:
        report = drift_report_create(actor=actor, seed=seed)
    if report.round_id is None:
        raise NothingToMonitorError(
            "the drift report has no round of recent interactions to hold out"
        )

    progress("holding out recent interactions", 0.05)
    recent = ratings_since_training(champion)
    if recent.empty:
        recent = round_ratings(report.round_id)
    rng = np.random.default_rng([seed, report.round_id])
    held_out = rng.random(len(recent)) < settings.RECOMMENDER["RECENT_HOLDOUT_SHARE"]
    holdout = recent[held_out]
    training = window.ratings()
    training = training.merge(holdout[["viewer_id", "film_id"]], how="left", indicator=True)
    training = training[training["_merge"] == "left_only"].drop(columns="_merge")

    config = SVDConfig(seed=seed)
    if search:
        progress("searching hyperparameters", 0.1)
        config = search_svd_config(
            training, config, n_iter=settings.RECOMMENDER["SEARCH_ITERATIONS"]
        )
    progress("training the challenger", 0.3)
    challenger = model_version_train(
        actor=actor,
        config=config,
        ratings=training,
        training_window={
            **window.describe(),
            "recent_holdout_round": report.round_id,
            "search": search,
        },
    )
    challenger_arrays = load_model(challenger.artifact_path, sha256=challenger.artifact_sha256)

    progress("comparing on the recent holdout", 0.85)
    comparisons = _compare(champion_arrays, challenger_arrays, holdout, set(report.degraded))
    decision = decide(comparisons)
    reason = decision_reason(comparisons, decision)
    challenger.comparison = {
        "champion": champion.pk,
        "drift_report": report.pk,
        "holdout": {
            "rounds_since": champion.created_at.isoformat(),
            "ratings": int(held_out.sum()),
        },
        "metrics": [c.to_dict() for c in comparisons],
        "decision": decision.value,
        "reason": reason,
    }
    challenger.save(update_fields=["comparison"])
    if decision == Decision.PROMOTE:
        model_version_promote(version_id=challenger.pk, actor=actor, reason=reason)
    elif decision == Decision.HUMAN_REVIEW:
        model_version_send_to_review(
            version_id=challenger.pk, actor=actor, reason=reason, degraded=report.degraded
        )
    else:
        model_version_reject(version_id=challenger.pk, actor=actor, reason=reason)
    challenger.refresh_from_db()
    track_run(
        job_type="retrain",
        name=f"model-v{challenger.pk}-decision",
        config={
            **challenger.comparison,
            "actor": actor,
            "window": window.describe(),
            "search": search,
        },
        metrics={
            c["metric"]: {"champion_r2": c["champion_r2"], "challenger_r2": c["challenger_r2"]}
            for c in challenger.comparison["metrics"]
        },
    )
    progress("done", 1.0)
    return RetrainingOutcome(
        challenger=challenger,
        champion=champion,
        drift_report=report,
        decision=decision,
        reason=reason,
        comparisons=challenger.comparison["metrics"],
    )


def _compare(
    champion: TrainedModel, challenger: TrainedModel, holdout: pd.DataFrame, degraded: set[str]
):
    # Judged on the viewers the champion knows, as the drift check was.
    known = holdout[champion.viewer_index(holdout["viewer_id"].to_numpy()) >= 0]
    viewers, films = known["viewer_id"].to_numpy(), known["film_id"].to_numpy()
    membership, genre_names = genre_matrix(film_genres_frame(), films)
    y_true = known["rating"].to_numpy(np.float64)
    return compare_models(
        metric_r2(y_true, champion.predict(viewers, films), membership, genre_names),
        metric_r2(y_true, challenger.predict(viewers, films), membership, genre_names),
        degraded,
        tolerance=settings.RECOMMENDER["PROMOTION_TOLERANCE"],
    )
