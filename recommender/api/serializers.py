"""What the API returns: plain dicts built from the selectors' and services' dataclasses, the
same objects the web pages show.

Read-only output only (the API takes no bodies), so plain functions rather than DRF
serializer classes: each says in one place which fields a client sees. Field by field rather
than dataclasses.asdict, which deep-copies every value (a tenth of a request's time for a list
of 10 films).
"""

from __future__ import annotations

from typing import Any

from recommender.engine.segments import VIEWER_GROUPS
from recommender.selectors.monitoring import DriftReportRecord
from recommender.selectors.registry import VersionEvent, VersionRecord
from recommender.services.recommendations import Recommendations
from simulation.metrics import GroupAccuracy, ListFigures
from simulation.selectors import RoundRecord

RANKING_KEYS = (
    "k",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "relevance_threshold",
    "ranked_viewers",
)


def recommendations(result: Recommendations) -> dict[str, Any]:
    return {
        "viewer_id": result.viewer_id,
        "source": result.source,
        "computed": result.computed,
        "scoring_run_id": result.scoring_run_id,
        "model_version_id": result.model_version_id,
        "films": [
            {
                "rank": film.rank,
                "film_id": film.film_id,
                "title": film.title,
                "year": film.year,
                "genres": film.genres,
                "predicted_rating": film.predicted_rating,
                "score": film.score,
            }
            for film in result.films
        ],
    }


def champion(version: VersionRecord) -> dict[str, Any]:
    metrics = version.metrics
    return {
        "id": version.id,
        "status": version.status,
        "algorithm": version.algorithm,
        "trained_at": version.created_at,
        "trained_by": version.created_by,
        "training_seconds": version.trained_seconds,
        "champion_since": version.decided_at,
        "made_champion_by": version.decided_by,
        "reason": version.decision_reason,
        "config": version.hyperparameters,
        "training_window": version.training_window,
        "training_rows": version.training_rows,
        "holdout_rows": version.holdout_rows,
        "artifact_sha256": version.artifact_sha256,
        "benchmark": {
            "overall": metrics.get("overall"),
            "per_genre": metrics.get("per_genre", {}),
            "ranking": {key: metrics.get(key) for key in RANKING_KEYS},
            "min_segment_size": metrics.get("min_segment_size"),
        },
    }


def metric_history(rounds: list[RoundRecord], promotions: list[VersionEvent]) -> dict[str, Any]:
    """rounds and promotions oldest first."""
    return {
        "rounds": [simulation_round(round_) for round_ in rounds],
        "promotions": [promotion(event) for event in promotions],
    }


def simulation_round(round_: RoundRecord) -> dict[str, Any]:
    accuracy, lists, cycle = round_.metrics.accuracy, round_.metrics.lists, round_.metrics.cycle
    return {
        "round_id": round_.id,
        "simulation_run_id": round_.run_id,
        "round": round_.number,
        "played_at": round_.played_at,
        "shift_active": round_.shift_active,
        "interactions": round_.interactions,
        "arrivals": round_.arrivals,
        "scoring_run_id": round_.scoring_run_id,
        # The version whose lists the viewers chose from: the champion serving in that round.
        "champion_version_id": round_.served_by,
        "accuracy": {g: _accuracy(accuracy[g]) for g in VIEWER_GROUPS if g in accuracy},
        "lists": {g: _lists(lists[g]) for g in VIEWER_GROUPS if g in lists},
        # The round's verdict: the first report on it (a later re-check does not change it).
        "drift": _drift_summary(round_.verdict) if round_.verdict is not None else None,
        "retraining": {
            "challenger_id": cycle.challenger,
            "decision": cycle.decision,
            "reason": cycle.reason,
        }
        if cycle is not None and cycle.retrained
        else None,
    }


def _accuracy(group: GroupAccuracy) -> dict[str, Any]:
    return {
        "n": group.overall.n,
        "rmse": group.overall.rmse,
        "r2": group.overall.r2,
        # r2 is null for a genre with too few interactions to judge; n says how few.
        "per_genre": {
            genre: {"n": score.n, "r2": score.r2} for genre, score in group.per_genre.items()
        },
    }


def _lists(figures: ListFigures) -> dict[str, Any]:
    return {
        "viewers": figures.viewers,
        "coverage": figures.coverage,
        "diversity": figures.diversity,
        "personalization": figures.personalization,
    }


def promotion(event: VersionEvent) -> dict[str, Any]:
    return {
        "version_id": event.version_id,
        "at": event.at,
        "from_status": event.from_status,
        "actor": event.actor,
        "reason": event.reason,
    }


def _drift_summary(report: DriftReportRecord) -> dict[str, Any]:
    return {
        "report_id": report.id,
        "retraining_required": report.retraining_required,
        "degraded": report.degraded,
    }


def drift_report_summary(report: DriftReportRecord) -> dict[str, Any]:
    return {
        "id": report.id,
        "model_version_id": report.model_version_id,
        "round_id": report.round_id,
        "created_at": report.created_at,
        "created_by": report.created_by,
        "retraining_required": report.retraining_required,
        "degraded": report.degraded,
        "judged": len(report.metrics),
        "not_judged": len(report.not_judged),
    }


def drift_report(report: DriftReportRecord) -> dict[str, Any]:
    return {
        **drift_report_summary(report),
        "window": report.window,
        "thresholds": report.thresholds,
        "metrics": report.metrics,
        "not_judged": report.not_judged,
    }
