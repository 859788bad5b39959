"""Model versions: the champion, challengers, their history, the list of versions with how
many have each status, and the review comparison of a challenger with the champion."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count

from recommender.attributes import record_from
from recommender.engine.segments import RANKING_PREFIX, OverallFigures, metric_label
from recommender.models import ModelVersion, ModelVersionEvent
from recommender.selectors.monitoring import DriftStatus, drift_report, drift_status

Status = ModelVersion.Status


def current_champion() -> ModelVersion | None:
    """The model version in production, or None before the first training."""
    return ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()


# --- versions as the pages and the API show them -----------------------------------------------


@dataclass(frozen=True)
class VersionRecord(OverallFigures):
    """A model version's registry entry (its model file's path is the server's business)."""

    id: int
    status: str
    status_label: str
    algorithm: str
    hyperparameters: dict[str, Any]
    training_window: dict[str, Any]
    training_rows: int
    holdout_rows: int
    artifact_sha256: str
    metrics: dict[str, Any]  # the holdout benchmark: overall, per_genre, ranking
    comparison: dict[str, Any]  # with the champion on a recent holdout (services.retraining)
    created_at: datetime
    created_by: str
    trained_seconds: float | None
    decided_at: datetime | None
    decided_by: str
    decision_reason: str


def _version(row: ModelVersion) -> VersionRecord:
    return record_from(
        VersionRecord,
        row,
        status_label=row.get_status_display(),
        metrics=row.metrics or {},
        comparison=row.comparison or {},
    )


def champion_record() -> VersionRecord | None:
    """The champion as the pages and the API show it."""
    row = current_champion()
    return _version(row) if row is not None else None


def version_record(version_id: int) -> VersionRecord | None:
    row = ModelVersion.objects.filter(pk=version_id).first()
    return _version(row) if row is not None else None


class StatusCount(NamedTuple):
    value: str
    label: str
    count: int


@dataclass(frozen=True)
class VersionList:
    versions: list[VersionRecord]  # newest first
    status: str | None  # the status they were filtered by
    statuses: list[StatusCount]  # every status, in lifecycle order, with how many have it


def version_list(*, status: str | None) -> VersionList:
    """Every version (or those with one status), and how many versions have each status."""
    rows = ModelVersion.objects.all()
    if status:
        rows = rows.filter(status=status)
    counts = dict(ModelVersion.objects.order_by().values_list("status").annotate(n=Count("pk")))
    return VersionList(
        versions=[_version(row) for row in rows],
        status=status,
        statuses=[
            StatusCount(value, label, counts.get(value, 0)) for value, label in Status.choices
        ],
    )


def pending_review_count() -> int:
    return ModelVersion.objects.filter(status=Status.PENDING_REVIEW).count()


def version_benchmarks(version_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The holdout benchmark (ModelVersion.metrics) of each of the given versions."""
    rows = ModelVersion.objects.filter(pk__in=list(version_ids)).values_list("pk", "metrics")
    return {pk: metrics or {} for pk, metrics in rows}


# --- status changes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionEvent:
    """One change of a version's status: who or what made it, when and why."""

    version_id: int
    at: datetime
    from_status: str
    to_status: str
    actor: str
    reason: str


def _event(row: ModelVersionEvent) -> VersionEvent:
    return record_from(VersionEvent, row)


def version_events(version_id: int) -> list[VersionEvent]:
    """The version's status changes, oldest first."""
    return [_event(row) for row in ModelVersionEvent.objects.filter(version_id=version_id)]


def recent_promotions(*, limit: int) -> list[VersionEvent]:
    """The newest `limit` times a version became champion, oldest first."""
    newest = ModelVersionEvent.objects.filter(to_status=Status.CHAMPION).order_by("-at", "-pk")
    return [_event(row) for row in reversed(newest[:limit])]


# --- the review of a challenger ------------------------------------------------------------------

# How each outcome of the comparison reads for the challenger.
OUTCOME_TONE = {
    "improvement": "good",
    "degradation": "bad",
    "no improvement": "neutral",
    "remained stable": "neutral",
}


@dataclass(frozen=True)
class ComparisonRow:
    metric: str
    label: str
    measure: str  # "R²", or the ranking figure ("NDCG@10") of a "ranking:" metric
    champion_r2: float
    challenger_r2: float
    change: float
    outcome: str
    tone: str  # good / bad / neutral: how the outcome reads for the challenger
    ci_low: float | None = None  # paired-bootstrap 95 % interval of the change
    ci_high: float | None = None


@dataclass(frozen=True)
class ReviewedModel:
    """One side of a review: a model's family and hyperparameters, its holdout benchmark at
    training time, and its lists on the recent holdout both models were compared on."""

    role: str  # "Champion" / "Challenger"
    version: VersionRecord
    precision_at_k: float | None  # holdout benchmark
    ndcg_at_k: float | None
    recent_precision_at_k: float | None  # on the shared recent holdout
    recent_ndcg_at_k: float | None


def _reviewed(role: str, version: VersionRecord, recent: dict[str, Any] | None) -> ReviewedModel:
    return ReviewedModel(
        role=role,
        version=version,
        precision_at_k=version.metrics.get("precision_at_k"),
        ndcg_at_k=version.metrics.get("ndcg_at_k"),
        recent_precision_at_k=(recent or {}).get("precision_at_k"),
        recent_ndcg_at_k=(recent or {}).get("ndcg_at_k"),
    )


@dataclass(frozen=True)
class Review:
    version: VersionRecord
    champion_then: VersionRecord | None  # the champion it was compared with
    champion_now: VersionRecord | None
    degraded: list[ComparisonRow]
    stable: list[ComparisonRow]
    not_compared: list[str]  # degraded metrics with no R² on both sides
    holdout_ratings: int | None
    decision: str
    reason: str
    drift: DriftStatus | None
    models: list[ReviewedModel]  # champion then challenger, side by side
    ranking_viewers: int | None  # viewers both models' lists were judged on

    @property
    def pending(self) -> bool:
        return self.version.status == Status.PENDING_REVIEW


def _comparison_row(metric: dict[str, Any]) -> ComparisonRow:
    return ComparisonRow(
        metric=metric["metric"],
        label=metric_label(metric["metric"]),
        measure=metric["metric"].removeprefix(RANKING_PREFIX)
        if metric["metric"].startswith(RANKING_PREFIX)
        else "R²",
        champion_r2=metric["champion_r2"],
        challenger_r2=metric["challenger_r2"],
        change=metric["challenger_r2"] - metric["champion_r2"],
        outcome=metric["outcome"],
        tone=OUTCOME_TONE.get(metric["outcome"], "neutral"),
        ci_low=metric.get("ci_low"),
        ci_high=metric.get("ci_high"),
    )


def version_review(version: VersionRecord) -> Review:
    """Champion and challenger side by side, metric by metric, as retraining compared them
    (ModelVersion.comparison, written by services.retraining)."""
    comparison = version.comparison
    rows = [_comparison_row(m) for m in comparison.get("metrics", [])]
    was_degraded = {m["metric"] for m in comparison.get("metrics", []) if m.get("was_degraded")}
    report = drift_report(comparison["drift_report"]) if comparison.get("drift_report") else None
    compared = {r.metric for r in rows}
    champion_then = version_record(comparison["champion"]) if comparison.get("champion") else None
    ranking = comparison.get("ranking") or {}
    sides = [("Champion", champion_then), ("Challenger", version)]
    return Review(
        version=version,
        champion_then=champion_then,
        champion_now=champion_record(),
        degraded=[r for r in rows if r.metric in was_degraded],
        stable=[r for r in rows if r.metric not in was_degraded],
        not_compared=[
            metric_label(m) for m in (report.degraded if report else []) if m not in compared
        ],
        holdout_ratings=(comparison.get("holdout") or {}).get("ratings"),
        decision=comparison.get("decision", ""),
        reason=comparison.get("reason", ""),
        drift=drift_status(report),
        models=[_reviewed(role, side, ranking.get(role.lower())) for role, side in sides if side],
        ranking_viewers=ranking.get("viewers"),
    )
