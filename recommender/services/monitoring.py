"""Drift checks: the champion's accuracy on a round of interactions, judged by the configured
rule: against its own earlier rounds (the reference rule, the default) or against its
training benchmark (the original rule). docs/architecture.md, "Drift", explains both."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from django.conf import settings

from recommender.engine.drift import ChangeTest, DriftRule, model_change
from recommender.engine.evaluation import segment_scores
from recommender.engine.monitoring import (
    DriftResult,
    DriftThresholds,
    known_viewer_rows,
    model_drift,
)
from recommender.models import DriftReport, ModelVersion
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.monitoring import reference_round_ids
from recommender.selectors.ratings import (
    film_genres_frame,
    latest_round_id,
    round_ratings,
    rounds_ratings,
)
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


def change_test() -> ChangeTest:
    config = settings.RECOMMENDER
    return ChangeTest(
        alpha=config["DRIFT_ALPHA"],
        correction=config["DRIFT_CORRECTION"],
        bootstrap_samples=config["DRIFT_BOOTSTRAP_SAMPLES"],
        interval=config["DRIFT_INTERVAL"],
        analytic_min_viewers=config["DRIFT_ANALYTIC_MIN_VIEWERS"],
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
    rule: str | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> DriftReport:
    """Judge the champion on one round of interactions (the newest by default): existing
    viewers only (those the champion was trained on), overall and per genre, by `rule`
    (DRIFT_RULE by default)."""
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
    rule = DriftRule(settings.RECOMMENDER["DRIFT_RULE"] if rule is None else rule)
    thresholds = drift_thresholds(require_significance=require_significance)
    window = {"round": round_id, "ratings": len(ratings), "existing_viewer_ratings": len(existing)}
    progress("bootstrapping", 0.4)
    if rule is DriftRule.BENCHMARK:
        result = model_drift(
            model, version.metrics, existing, film_genres_frame(), thresholds=thresholds, seed=seed
        )
        settings_used = {**asdict(thresholds), "rule": rule.value}
    else:
        result, reference = _reference_drift(version, model, existing, round_id, thresholds, seed)
        window["reference"] = reference
        settings_used = {
            **asdict(thresholds),
            **asdict(change_test()),
            "rule": rule.value,
            "interval_used": result.interval,
        }
    progress("done", 1.0)
    return DriftReport.objects.create(
        model_version=version,
        round_id=round_id,
        window=window,
        thresholds=settings_used,
        metrics=[m.to_dict() for m in result.metrics],
        not_judged=list(result.not_judged),
        retraining_required=result.retraining_required,
        created_by=actor,
    )


def _reference_drift(
    version: ModelVersion, model, existing, round_id: int, thresholds: DriftThresholds, seed: int
) -> tuple[DriftResult, dict]:
    """The reference rule: the round against the champion's earlier clean rounds. With none
    yet (the first round it serves) nothing can be judged: every segment is not judged."""
    config = settings.RECOMMENDER
    round_ids = reference_round_ids(
        version,
        before_round_id=round_id,
        count=config["DRIFT_REFERENCE_ROUNDS"],
        rolling=config["DRIFT_REFERENCE_WINDOW"] == "rolling",
    )
    described = {
        "rounds": round_ids,
        "wanted": config["DRIFT_REFERENCE_ROUNDS"],
        "kind": config["DRIFT_REFERENCE_WINDOW"],
    }
    if not round_ids:
        return DriftResult(metrics=(), not_judged=("overall",)), {**described, "ratings": 0}
    reference = known_viewer_rows(model, rounds_ratings(round_ids))
    described["ratings"] = len(reference)
    result = model_change(
        model,
        reference,
        existing,
        film_genres_frame(),
        thresholds=thresholds,
        test=change_test(),
        seed=seed,
    )
    return result, described
