"""What the API returns: plain dicts built from the selectors' and services' dataclasses, the
same objects the web pages show.

Read-only output only (the API takes no bodies), so plain functions rather than DRF
serializer classes: each says in one place which fields a client sees. Field by field rather
than dataclasses.asdict, which deep-copies every value (a tenth of a request's time for a list
of 10 films).
"""

from __future__ import annotations

from typing import Any

from recommender.attributes import fields
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
        **fields(result, "viewer_id", "source", "computed", "scoring_run_id", "model_version_id"),
        "films": [
            fields(film, "rank", "film_id", "title", "year", "genres", "predicted_rating", "score")
            for film in result.films
        ],
    }


# The API's names for VersionRecord's attributes, where they differ.
CHAMPION_RENAMED = {
    "trained_at": "created_at",
    "trained_by": "created_by",
    "training_seconds": "trained_seconds",
    "champion_since": "decided_at",
    "made_champion_by": "decided_by",
    "reason": "decision_reason",
    "config": "hyperparameters",
}


def champion(version: VersionRecord) -> dict[str, Any]:
    metrics = version.metrics
    return {
        **fields(
            version,
            *("id", "status", "algorithm", "trained_at", "trained_by", "training_seconds"),
            *("champion_since", "made_champion_by", "reason", "config", "training_window"),
            *("training_rows", "holdout_rows", "artifact_sha256"),
            renamed=CHAMPION_RENAMED,
        ),
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
        **fields(
            round_,
            *("round_id", "simulation_run_id", "round", "played_at", "shift_active"),
            *("interactions", "arrivals", "scoring_run_id"),
            renamed={"round_id": "id", "simulation_run_id": "run_id", "round": "number"},
        ),
        # The version whose lists the viewers chose from: the champion serving in that round.
        "champion_version_id": round_.served_by,
        "accuracy": {g: _accuracy(accuracy[g]) for g in VIEWER_GROUPS if g in accuracy},
        "lists": {g: _lists(lists[g]) for g in VIEWER_GROUPS if g in lists},
        "experience": round_.metrics.experience,
        # The round's verdict: the first report on it (a later re-check does not change it).
        "drift": _drift_summary(round_.verdict) if round_.verdict is not None else None,
        "retraining": fields(
            cycle, "challenger_id", "decision", "reason", renamed={"challenger_id": "challenger"}
        )
        if cycle is not None and cycle.retrained
        else None,
    }


def _accuracy(group: GroupAccuracy) -> dict[str, Any]:
    return {
        **fields(group.overall, "n", "rmse", "r2"),
        # r2 is null for a genre with too few interactions to judge; n says how few.
        "per_genre": {genre: fields(score, "n", "r2") for genre, score in group.per_genre.items()},
    }


def _lists(figures: ListFigures) -> dict[str, Any]:
    return fields(figures, "viewers", "coverage", "diversity", "personalization")


def promotion(event: VersionEvent) -> dict[str, Any]:
    return fields(event, "version_id", "at", "from_status", "actor", "reason")


def _drift_summary(report: DriftReportRecord) -> dict[str, Any]:
    return fields(
        report, "report_id", "retraining_required", "degraded", renamed={"report_id": "id"}
    )


def drift_report_summary(report: DriftReportRecord) -> dict[str, Any]:
    return {
        **fields(
            report,
            *("id", "model_version_id", "round_id", "created_at", "created_by"),
            *("retraining_required", "degraded"),
        ),
        "judged": len(report.metrics),
        "not_judged": len(report.not_judged),
    }


def drift_report(report: DriftReportRecord) -> dict[str, Any]:
    return {
        **drift_report_summary(report),
        **fields(report, "window", "thresholds", "metrics", "not_judged"),
    }
