"""Retraining: train a challenger, judge champion and challenger on the same recent holdout,
and promote, reject or send the challenger to human review by the decision matrix.

The challenger's family is the champion's (`auto`) or a named one; with a search, the best
family and configuration (every family with `auto`) by the chosen objective. Both models are
judged by R² per segment and by their lists (P@10, NDCG@10, engine.ranking_comparison); when
either predicts no ratings, the overall NDCG@10 comparison joins the decision matrix."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.conf import settings

from recommender.engine.artifact import load_model
from recommender.engine.comparison import judge_challenger
from recommender.engine.families import FAMILIES, RECENT_COLUMN, family_named
from recommender.engine.model import TrainedModel
from recommender.engine.monitoring import (
    Decision,
    MetricComparison,
    across_families,
    decide,
    decision_reason,
)
from recommender.engine.ranking_comparison import RankingComparison
from recommender.engine.training import has_pairs, split_recent_holdout, without_pairs
from recommender.models import DriftReport, ModelVersion
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.monitoring import clean_round_ids, newest_report_on
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
from recommender.services.registry import ModelSearch, model_version_train
from recommender.services.scoring import champion_model
from recommender.tracking import track_run

logger = logging.getLogger(__name__)

# `retrain --family auto`: the champion's family (with a search, every family).
AUTO_FAMILY = "auto"


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
    ranking: dict  # RankingComparison.to_dict(): both models' lists on the recent holdout


@dataclass(frozen=True)
class ChallengerPlan:
    """Which family the challenger is (AUTO_FAMILY: the champion's), whether a search picks
    its family and hyperparameters, and by which objective ("ranking" or "rmse")."""

    family: str = AUTO_FAMILY
    search: bool = False
    objective: str = "ranking"

    def __post_init__(self) -> None:
        if self.family != AUTO_FAMILY:
            family_named(self.family)  # ValueError naming the known families
        ModelSearch(objective=self.objective)  # ValueError naming the bad objective

    def describe(self) -> dict:
        return {"family": self.family, "search": self.search, "objective": self.objective}


def model_version_retrain(
    *,
    actor: str,
    window: TrainingWindow | None = None,
    search: bool = False,
    family: str = AUTO_FAMILY,
    objective: str = "ranking",
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> RetrainingOutcome:
    """Train a challenger and decide. The champion keeps serving throughout; a failure at any
    point leaves it in place (a failed challenger is marked failed)."""
    progress = progress or no_progress
    window = window or TrainingWindow()
    plan = ChallengerPlan(family=family, search=search, objective=objective)
    champion, champion_arrays = champion_model()
    report = _drift_report_to_answer(champion, actor=actor, seed=seed)

    progress("holding out recent interactions", 0.05)
    recent, period = _recent_ratings(champion, report)
    holdout = _recent_holdout(recent, report, seed=seed)

    def training() -> pd.DataFrame:
        # Read when training starts and held by nothing else: freed once split.
        window_part = window_ratings(last_rounds=window.last_rounds, since=window.since)
        return _marked_recent(without_pairs(window_part, holdout), recent)

    challenger = _train_challenger(
        actor, training, champion, plan, window=window, report=report, seed=seed, progress=progress
    )
    challenger_arrays = load_model(challenger.artifact_path, sha256=challenger.artifact_sha256)

    progress("comparing on the recent holdout", 0.85)
    comparisons, ranking = _compare(
        champion_arrays, challenger_arrays, holdout, degraded=set(report.degraded), seed=seed
    )
    decision, reason = _decided(comparisons, champion, challenger)
    _record_comparison(
        challenger,
        champion,
        report,
        {**period, "ratings": len(holdout)},
        comparisons,
        ranking,
        decision,
        reason,
    )
    _apply_decision(challenger, decision, actor=actor, reason=reason, degraded=report.degraded)
    challenger.refresh_from_db()
    _track_decision(challenger, actor=actor, window=window, plan=plan)
    progress("done", 1.0)
    return RetrainingOutcome(
        challenger=challenger,
        champion=champion,
        drift_report=report,
        decision=decision,
        reason=reason,
        comparisons=challenger.comparison["metrics"],
        ranking=challenger.comparison["ranking"],
    )


def _decided(
    comparisons: tuple[MetricComparison, ...], champion: ModelVersion, challenger: ModelVersion
) -> tuple[Decision, str]:
    """The decision matrix's verdict and its reason, with a change of family sent to review
    (engine.monitoring.across_families)."""
    decision = decide(comparisons)
    return across_families(
        decision,
        decision_reason(comparisons, decision),
        champion=champion.algorithm,
        challenger=challenger.algorithm,
    )


def _compare(
    champion: TrainedModel,
    challenger: TrainedModel,
    holdout: pd.DataFrame,
    *,
    degraded: set[str],
    seed: int,
) -> tuple[tuple[MetricComparison, ...], RankingComparison]:
    """engine.comparison.judge_challenger with the configured tolerance, segment size and
    change test."""
    return judge_challenger(
        champion,
        challenger,
        holdout,
        film_genres_frame(),
        degraded=degraded,
        tolerance=settings.RECOMMENDER["PROMOTION_TOLERANCE"],
        min_segment_size=settings.RECOMMENDER["MIN_SEGMENT_SIZE"],
        seed=seed,
        test=change_test(),
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


def _recent_ratings(champion: ModelVersion, report: DriftReport) -> tuple[pd.DataFrame, dict]:
    """The current period: the ratings of every round since the champion was trained but
    those its drift checks passed. The challenger is judged on them and its calibration
    learns them: rounds that passed describe the world the champion was validated in, and
    mixed in they would dilute the very change it must mend. When every round passed (a
    retraining no drift check asked for), all of them; with none, the report's round."""
    clean = clean_round_ids(champion)
    recent = simulated_ratings_since(champion.created_at, excluding_rounds=clean)
    if not recent.empty:
        return recent, {"rounds_since": champion.created_at.isoformat(), "clean_rounds": clean}
    recent = simulated_ratings_since(champion.created_at)
    if not recent.empty:
        return recent, {"rounds_since": champion.created_at.isoformat(), "clean_rounds": []}
    return round_ratings(report.round_id), {"rounds": [report.round_id]}


def _recent_holdout(recent: pd.DataFrame, report: DriftReport, *, seed: int) -> pd.DataFrame:
    """A seeded share of the recent ratings: both models are judged on it, neither trains on
    it."""
    # Reproducible from the seed alone: the round's number in its run, not its id (ids depend
    # on everything stored before, so the same seed would hold out different ratings).
    rng = np.random.default_rng([seed, report.round.number])
    return split_recent_holdout(recent, settings.RECOMMENDER["RECENT_HOLDOUT_SHARE"], rng)


def _marked_recent(training: pd.DataFrame, recent: pd.DataFrame) -> pd.DataFrame:
    """The training ratings with RECENT_COLUMN true on those of the current period, so a
    ranking family's calibration learns each film's offset in it (engine.families)."""
    return training.assign(**{RECENT_COLUMN: has_pairs(training, recent)})


def _train_challenger(
    actor: str,
    training: Callable[[], pd.DataFrame],
    champion: ModelVersion,
    plan: ChallengerPlan,
    *,
    window: TrainingWindow,
    report: DriftReport,
    seed: int,
    progress: ProgressCallback,
) -> ModelVersion:
    """The champion's family with its hyperparameters (retrained on the window), another
    family with its defaults, or what a search picks; all seeded with `seed`."""
    named = champion.algorithm if plan.family == AUTO_FAMILY else plan.family
    described = {
        **window.describe(),
        "recent_holdout_round": report.round_id,
        "search": plan.search,
    }
    progress("training the challenger", 0.1)
    if plan.search:
        families = tuple(FAMILIES) if plan.family == AUTO_FAMILY else (named,)
        search = ModelSearch(families=families, objective=plan.objective, seed=seed)
        return model_version_train(
            actor=actor, search=search, ratings=training, training_window=described
        )
    family = family_named(named)
    kept = champion.hyperparameters if family.name == champion.algorithm else {}
    return model_version_train(
        actor=actor,
        family=family.name,
        config=family.config(kept, seed=seed),
        ratings=training,
        training_window=described,
    )


def _record_comparison(
    challenger: ModelVersion,
    champion: ModelVersion,
    report: DriftReport,
    holdout: dict,
    comparisons: tuple[MetricComparison, ...],
    ranking: RankingComparison,
    decision: Decision,
    reason: str,
) -> None:
    challenger.comparison = {
        "champion": champion.pk,
        "drift_report": report.pk,
        "holdout": holdout,
        "metrics": [c.to_dict() for c in comparisons],
        "ranking": ranking.to_dict(),
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
    challenger: ModelVersion, *, actor: str, window: TrainingWindow, plan: ChallengerPlan
) -> None:
    track_run(
        job_type="retrain",
        name=f"model-v{challenger.pk}-decision",
        config={
            **challenger.comparison,
            "actor": actor,
            "window": window.describe(),
            **plan.describe(),
            "challenger_family": challenger.algorithm,
        },
        metrics={
            c["metric"]: {"champion_r2": c["champion_r2"], "challenger_r2": c["challenger_r2"]}
            for c in challenger.comparison["metrics"]
        },
    )
