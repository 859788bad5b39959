"""Keeping drawn chart sets (DrawnChartSet): the newest few, one per metric history."""

from __future__ import annotations

from django.db import transaction

from recommender.models import DrawnChartSet

# Enough for every-run history and the pages of a few runs, each drawn for the newest round;
# older sets belong to histories that have since grown.
KEPT_CHART_SETS = 16


def drawn_chart_set_keep(*, key: str, charts: list[dict]) -> None:
    """Store `charts` under `key` unless a set is stored there already (two processes may draw
    the same history at once: the same figures give the same charts), then delete all but the
    newest KEPT_CHART_SETS sets."""
    with transaction.atomic():
        DrawnChartSet.objects.bulk_create(
            [DrawnChartSet(key=key, charts=charts)], ignore_conflicts=True
        )
        kept = DrawnChartSet.objects.order_by("-drawn_at", "-pk").values("pk")[:KEPT_CHART_SETS]
        DrawnChartSet.objects.exclude(pk__in=kept).delete()
