"""Drift reports as the model work reads them: the report that judged a round, the newest on
a model version. (The pages' and the API's reads of drift reports live beside the other
monitoring reads.)"""

from __future__ import annotations

from recommender.models import DriftReport, ModelVersion


def first_drift_report(round_id: int) -> DriftReport | None:
    """The first drift report on a round: the one that judged it (a round is judged once)."""
    return DriftReport.objects.filter(round_id=round_id).order_by("created_at").first()


def latest_drift_report(version: ModelVersion) -> DriftReport | None:
    """The newest drift report on a model version, None when it was never monitored."""
    return version.drift_reports.order_by("-created_at").first()
