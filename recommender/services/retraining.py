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
from recommender.engine.comparison import paired_on_holdout
from recommender.engine.model import SVDConfig
from recommender.engine.monitoring import (
    Decision,
    MetricComparison,
    decide,
    decision_reason,
)
from recommender.engine.search import search_svd_config
from recommender.engine.training import split_recent_holdout, without_pairs
from recommender.models import DriftReport, ModelVersion
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.monitoring import newest_report_on
from recommender.selectors.ratings import (
    film_genres_frame,
    round_ratings,
    simulated_ratings_since,
    window_ratings,
)
from recommender.services.lifecycle import (
    model_version_promote,
    model_version_reject,
    model_version_send_to_review,
)
from recommender.services.monitoring import (
    NothingToMonitorError,
    change_test,
    drift_report_create,
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


@dataclass(frozen=True)
class RetrainingOutcome:
    challenger: ModelVersion
    champion: ModelVersion
    drift_report: DriftReport
    decision: Decision
    reason: str
    comparisons: list[dict]


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
    report = _drift_report_to_answer(champion, actor=actor, seed=seed)

    progress("holding out recent interactions", 0.05)
    holdout = _recent_holdout(champion, report, seed=seed)
    training = without_pairs(
        window_ratings(last_rounds=window.last_rounds, since=window.since), holdout
    )
    challenger = _train_challenger(
        actor, training, window=window, report=report, search=search, seed=seed, progress=progress
    )
    challenger_arrays = load_model(challenger.artifact_path, sha256=challenger.artifact_sha256)

    progress("comparing on the recent holdout", 0.85)
    # Paired: both models on the same held-out ratings, each difference with its interval.
    comparisons = paired_on_holdout(
        champion_arrays,
        challenger_arrays,
        holdout,
        film_genres_frame(),
        degraded=set(report.degraded),
        tolerance=settings.RECOMMENDER["PROMOTION_TOLERANCE"],
        min_segment_size=settings.RECOMMENDER["MIN_SEGMENT_SIZE"],
        seed=seed,
        test=change_test(),
    )
    decision = decide(comparisons)
    reason = decision_reason(comparisons, decision)
    _record_comparison(challenger, champion, report, len(holdout), comparisons, decision, reason)
    _apply_decision(challenger, decision, actor=actor, reason=reason, degraded=report.degraded)
    challenger.refresh_from_db()
    _track_decision(challenger, actor=actor, window=window, search=search)
    progress("done", 1.0)
    return RetrainingOutcome(
        challenger=challenger,
        champion=champion,
        drift_report=report,
        decision=decision,
        reason=reason,
        comparisons=challenger.comparison["metrics"],
    )


def _drift_report_to_answer(champion: ModelVersion, *, actor: str, seed: int) -> DriftReport:
    """The champion's newest drift report (one is made when it has none): its round is the
    recent holdout's fallback and seed, its degraded metrics what the challenger must mend."""
    report = newest_report_on(champion)
    if report is None:
        report = drift_report_create(actor=actor, seed=seed)
    if report.round_id is None:
        raise NothingToMonitorError(
            "the drift report has no round of recent interactions to hold out"
        )
    return report


def _recent_holdout(champion: ModelVersion, report: DriftReport, *, seed: int) -> pd.DataFrame:
    """A seeded share of the ratings of every round since the champion was trained (of the
    report's round when there are none): both models are judged on it, neither trains on it."""
    recent = simulated_ratings_since(champion.created_at)
    if recent.empty:
        recent = round_ratings(report.round_id)
    # Reproducible from the seed alone: the round's number in its run, not its id (ids depend
    # on everything stored before, so the same seed would hold out different ratings).
    rng = np.random.default_rng([seed, report.round.number])
    return split_recent_holdout(recent, settings.RECOMMENDER["RECENT_HOLDOUT_SHARE"], rng)


def _train_challenger(
    actor: str,
    training: pd.DataFrame,
    *,
    window: TrainingWindow,
    report: DriftReport,
    search: bool,
    seed: int,
    progress: ProgressCallback,
) -> ModelVersion:
    config = SVDConfig(seed=seed)
    if search:
        progress("searching hyperparameters", 0.1)
        config = search_svd_config(
            training, config, n_iter=settings.RECOMMENDER["SEARCH_ITERATIONS"]
        )
    progress("training the challenger", 0.3)
    return model_version_train(
        actor=actor,
        config=config,
        ratings=training,
        training_window={
            **window.describe(),
            "recent_holdout_round": report.round_id,
            "search": search,
        },
    )


def _record_comparison(
    challenger: ModelVersion,
    champion: ModelVersion,
    report: DriftReport,
    holdout_ratings: int,
    comparisons: tuple[MetricComparison, ...],
    decision: Decision,
    reason: str,
) -> None:
    challenger.comparison = {
        "champion": champion.pk,
        "drift_report": report.pk,
        "holdout": {
            "rounds_since": champion.created_at.isoformat(),
            "ratings": holdout_ratings,
        },
        "metrics": [c.to_dict() for c in comparisons],
        "decision": decision.value,
        "reason": reason,
    }
    challenger.save(update_fields=["comparison"])


def _apply_decision(
    challenger: ModelVersion, decision: Decision, *, actor: str, reason: str, degraded: list[str]
) -> None:
    if decision == Decision.PROMOTE:
        model_version_promote(version_id=challenger.pk, actor=actor, reason=reason)
    elif decision == Decision.HUMAN_REVIEW:
        model_version_send_to_review(
            version_id=challenger.pk, actor=actor, reason=reason, degraded=degraded
        )
    else:
        model_version_reject(version_id=challenger.pk, actor=actor, reason=reason)


def _track_decision(
    challenger: ModelVersion, *, actor: str, window: TrainingWindow, search: bool
) -> None:
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
