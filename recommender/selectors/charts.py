"""The metric page's charts as stored for a metric history (DrawnChartSet)."""

from __future__ import annotations

from recommender.models import DrawnChartSet


def drawn_chart_set(key: str) -> list[dict] | None:
    """The charts stored under `key` (name, title, svg each, in page order), or None."""
    return DrawnChartSet.objects.filter(key=key).values_list("charts", flat=True).first()


def drawn_chart(key: str, position: int) -> dict | None:
    """The chart at `position` in the set stored under `key`, read alone (a set of a long
    history is megabytes), or None."""
    return (
        DrawnChartSet.objects.filter(key=key)
        .values_list(f"charts__{int(position)}", flat=True)
        .first()
    )
