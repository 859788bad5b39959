"""The names the product judges and reports by, written once.

Viewer groups: "existing" viewers are served by the model, "new" (cold-start) viewers by the
popularity fallback, "all" is both. Metric names: "overall", or "genre:NAME" for one genre's
segment; "ranking:NAME" for a ranking figure of the whole holdout (the champion/challenger
comparison's NDCG@10, see engine.monitoring.compare_ranking).
"""

from __future__ import annotations

from typing import Any

VIEWER_GROUPS: tuple[str, ...] = ("all", "existing", "new")
OVERALL = "overall"
GENRE_PREFIX = "genre:"
RANKING_PREFIX = "ranking:"


def genre_metric(genre: str) -> str:
    """The metric name of a genre segment: "Action" -> "genre:Action"."""
    return f"{GENRE_PREFIX}{genre}"


def ranking_metric(figure: str) -> str:
    """The metric name of a ranking figure: "NDCG@10" -> "ranking:NDCG@10"."""
    return f"{RANKING_PREFIX}{figure}"


def is_metric_name(value: object) -> bool:
    """True for "overall", and "genre:NAME" or "ranking:NAME" with a non-empty NAME."""
    return isinstance(value, str) and (
        value == OVERALL
        or any(
            value.startswith(prefix) and len(value) > len(prefix)
            for prefix in (GENRE_PREFIX, RANKING_PREFIX)
        )
    )


def check_metric_name(name: str, value: object) -> str:
    """`value` when it is a metric name (see is_metric_name); otherwise a ValueError naming it."""
    if not is_metric_name(value):
        raise ValueError(
            f'{name} must be "{OVERALL}" or "{GENRE_PREFIX}<genre>" (or "{RANKING_PREFIX}<figure>" '
            f"for a ranking figure), got {value!r}"
        )
    return value  # type: ignore[return-value]


def metric_label(metric: str) -> str:
    """How a reader sees a metric name: "overall" -> "Overall", "genre:Action" -> "Action",
    "ranking:NDCG@10" -> "NDCG@10 (ranking)"."""
    if metric.startswith(RANKING_PREFIX):
        return f"{metric[len(RANKING_PREFIX) :]} (ranking)"
    return metric[len(GENRE_PREFIX) :] if metric.startswith(GENRE_PREFIX) else metric.capitalize()


class OverallFigures:
    """r2 and rmse of the overall segment of a stored holdout benchmark (an Evaluation's
    to_dict), for whatever holds that benchmark as `metrics`: the registry's model rows and
    the records the pages show."""

    metrics: dict[str, Any]

    @property
    def r2(self) -> float | None:
        return (self.metrics.get(OVERALL) or {}).get("r2")

    @property
    def rmse(self) -> float | None:
        return (self.metrics.get(OVERALL) or {}).get("rmse")
