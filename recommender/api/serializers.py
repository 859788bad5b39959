"""What the API returns: plain dicts built from the services' dataclasses and the stored rows.

Read-only output only (the API takes no bodies), so plain functions rather than DRF
serializer classes: each says in one place which fields a client sees, and the JSON metrics
the product stores are passed through with only the keys a client needs.
"""

from __future__ import annotations

from typing import Any

from recommender.models import DriftReport, ModelVersion, ModelVersionEvent
from recommender.services.recommendations import Recommendations

GROUPS = ("all", "existing", "new")
RANKING_KEYS = (
    "k",
    "precision_at_k",
    "recall_at_k",
    "ndcg_at_k",
    "relevance_threshold",
    "ranked_viewers",
)
LIST_KEYS = ("viewers", "coverage", "diversity", "personalization")


def recommendations(result: Recommendations) -> dict[str, Any]:
    # Field by field rather than dataclasses.asdict, which deep-copies every value: a tenth
    # of a request's time for a list of 10 films.
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


def champion(version: ModelVersion) -> dict[str, Any]:
    metrics = version.metrics or {}
    return {
        "id": version.pk,
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


def metric_history(rounds, promotions) -> dict[str, Any]:
    """rounds: SimulationRound rows, oldest first, with scoring_run and drift_reports loaded."""
    return {
        "rounds": [simulation_round(round_) for round_ in rounds],
        "promotions": [promotion(event) for event in promotions],
    }


def simulation_round(round_) -> dict[str, Any]:
    metrics = round_.metrics or {}
    accuracy = metrics.get("accuracy", {})
    lists = metrics.get("lists", {})
    # Monitoring the same round twice leaves two reports; the newest is the verdict.
    reports = sorted(round_.drift_reports.all(), key=lambda r: (r.created_at, r.pk))
    cycle = metrics.get("cycle") or {}
    return {
        "round_id": round_.pk,
        "simulation_run_id": round_.run_id,
        "round": round_.number,
        "played_at": round_.created_at,
        "shift_active": round_.shift_active,
        "interactions": round_.interactions,
        "arrivals": round_.arrivals,
        "scoring_run_id": round_.scoring_run_id,
        # The version whose lists the viewers chose from: the champion serving in that round.
        "champion_version_id": round_.scoring_run.model_version_id
        if round_.scoring_run is not None
        else None,
        "accuracy": {group: _accuracy(accuracy[group]) for group in GROUPS if group in accuracy},
        "lists": {
            group: {key: lists[group].get(key) for key in LIST_KEYS}
            for group in GROUPS
            if group in lists
        },
        "drift": _drift_summary(reports[-1]) if reports else None,
        "retraining": {
            "challenger_id": cycle.get("challenger"),
            "decision": cycle.get("decision"),
            "reason": cycle.get("reason"),
        }
        if cycle.get("retrained")
        else None,
    }


def _accuracy(group: dict) -> dict[str, Any]:
    overall = group.get("overall") or {}
    return {
        "n": overall.get("n"),
        "rmse": overall.get("rmse"),
        "r2": overall.get("r2"),
        # r2 is null for a genre with too few interactions to judge; n says how few.
        "per_genre": {
            genre: {"n": score.get("n"), "r2": score.get("r2")}
            for genre, score in (group.get("per_genre") or {}).items()
        },
    }


def promotion(event: ModelVersionEvent) -> dict[str, Any]:
    return {
        "version_id": event.version_id,
        "at": event.at,
        "from_status": event.from_status,
        "actor": event.actor,
        "reason": event.reason,
    }


def _drift_summary(report: DriftReport) -> dict[str, Any]:
    return {
        "report_id": report.pk,
        "retraining_required": report.retraining_required,
        "degraded": report.degraded,
    }


def drift_report_summary(report: DriftReport) -> dict[str, Any]:
    return {
        "id": report.pk,
        "model_version_id": report.model_version_id,
        "round_id": report.round_id,
        "created_at": report.created_at,
        "created_by": report.created_by,
        "retraining_required": report.retraining_required,
        "degraded": report.degraded,
        "judged": len(report.metrics),
        "not_judged": len(report.not_judged),
    }


def drift_report(report: DriftReport) -> dict[str, Any]:
    return {
        **drift_report_summary(report),
        "window": report.window,
        "thresholds": report.thresholds,
        "metrics": report.metrics,
        "not_judged": report.not_judged,
    }
