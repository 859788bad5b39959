"""Drift reports: the latest, a list, one by id, the verdict of each round, and a report as
the pages show it (its judged metrics, degraded first)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from recommender.attributes import record_from
from recommender.engine.segments import OVERALL, metric_label
from recommender.models import DriftReport, ModelVersion, Rating


@dataclass(frozen=True)
class DriftReportRecord:
    """One drift report: the champion's accuracy on a window of recent interactions against
    its benchmark, metric by metric (the stored dicts, as monitoring wrote them)."""

    id: int
    model_version_id: int
    round_id: int | None
    round_number: int | None  # the simulated round it judged, if any
    round_run_id: int | None
    created_at: datetime
    created_by: str
    retraining_required: bool
    window: dict[str, Any]
    thresholds: dict[str, Any]
    metrics: list[dict[str, Any]]  # per judged metric: both R², drop, CI, degraded
    not_judged: list[str]

    @property
    def degraded(self) -> list[str]:
        return [m["metric"] for m in self.metrics if m["degraded"]]


def _record(report: DriftReport) -> DriftReportRecord:
    round_ = report.round if report.round_id is not None else None
    return record_from(
        DriftReportRecord,
        report,
        round_number=round_.number if round_ is not None else None,
        round_run_id=round_.run_id if round_ is not None else None,
    )


def _reports():
    return DriftReport.objects.select_related("round")


def latest_drift_report() -> DriftReportRecord | None:
    report = _reports().order_by("-created_at", "-pk").first()
    return _record(report) if report is not None else None


def drift_reports(*, limit: int) -> list[DriftReportRecord]:
    """The newest `limit` reports, newest first."""
    return [_record(r) for r in _reports().order_by("-created_at", "-pk")[:limit]]


def drift_report(report_id: int) -> DriftReportRecord | None:
    report = _reports().filter(pk=report_id).first()
    return _record(report) if report is not None else None


def round_verdict_report(round_id: int) -> DriftReport | None:
    """The verdict of one round for the model work that acts on it (the cycle, retraining):
    its first drift report, by the same rule as round_verdicts."""
    return DriftReport.objects.filter(round_id=round_id).order_by("created_at", "pk").first()


def newest_report_on(version: ModelVersion) -> DriftReport | None:
    """The newest drift report on a model version, None when it was never monitored."""
    return version.drift_reports.order_by("-created_at", "-pk").first()


def clean_round_ids(version: ModelVersion) -> list[int]:
    """The rounds whose drift check on `version` required no retraining (the first round it
    served included: nothing in it can be judged, it is the reference): the world the version
    was validated in, in play order."""
    return list(
        DriftReport.objects.filter(
            model_version=version, round__isnull=False, retraining_required=False
        )
        .values_list("round_id", flat=True)
        .distinct()
        .order_by("round_id")
    )


def reference_round_ids(
    version: ModelVersion, *, before_round_id: int, count: int, rolling: bool
) -> list[int]:
    """The rounds that form `version`'s drift reference for the round `before_round_id`: rounds
    whose lists it served (scored by it), played before that round, and that no verdict on it
    found degraded; the first `count` of them, or with `rolling` the `count` most recent, in
    play order."""
    served = (
        Rating.objects.filter(
            round__scoring_run__model_version=version, round_id__lt=before_round_id
        )
        .values_list("round_id", flat=True)
        .distinct()
        .order_by("round_id")
    )
    degraded = set(
        DriftReport.objects.filter(
            model_version=version, round_id__lt=before_round_id, retraining_required=True
        ).values_list("round_id", flat=True)
    )
    clean = [round_id for round_id in served if round_id not in degraded]
    return clean[-count:] if rolling else clean[:count]


def round_verdicts(round_ids: Iterable[int]) -> dict[int, DriftReportRecord]:
    """The verdict of each round that has one: the FIRST drift report made on it, the one the
    monitor-and-retrain cycle acted on (simulation/metrics.py says why); a later re-check is
    listed with the reports but does not change the round's verdict."""
    verdicts: dict[int, DriftReportRecord] = {}
    reports = _reports().filter(round__in=list(round_ids)).order_by("created_at", "pk")
    for report in reports:
        if report.round_id not in verdicts:
            verdicts[report.round_id] = _record(report)
    return verdicts


@dataclass(frozen=True)
class JudgedMetric:
    """One judged metric of a report, with the label a reader sees."""

    metric: str
    label: str
    benchmark_r2: float | None
    current_r2: float | None
    drop: float | None
    threshold: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    degraded: bool
    significant: bool


@dataclass(frozen=True)
class DriftStatus:
    report: DriftReportRecord
    metrics: list[JudgedMetric]  # degraded first, then overall, then by name
    degraded: list[str]  # labels
    not_judged: list[str]  # labels


def _judged(metric: dict[str, Any]) -> JudgedMetric:
    return JudgedMetric(
        metric=metric["metric"],
        label=metric_label(metric["metric"]),
        benchmark_r2=metric.get("benchmark_r2"),
        current_r2=metric.get("current_r2"),
        drop=metric.get("drop"),
        threshold=metric.get("threshold"),
        ci_low=metric.get("ci_low"),
        ci_high=metric.get("ci_high"),
        n=metric.get("n"),
        degraded=bool(metric.get("degraded")),
        significant=bool(metric.get("significant")),
    )


def drift_status(report: DriftReportRecord | None) -> DriftStatus | None:
    """The report's judged metrics, degraded first, labelled for a reader."""
    if report is None:
        return None
    metrics = sorted(
        (_judged(m) for m in report.metrics),
        key=lambda m: (not m.degraded, m.metric != OVERALL, m.metric),
    )
    return DriftStatus(
        report=report,
        metrics=metrics,
        degraded=[metric_label(m) for m in report.degraded],
        not_judged=[metric_label(m) for m in report.not_judged],
    )
