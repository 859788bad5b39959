"""Plain-text tables for command output (markdown pipe syntax, so they paste into notes)."""

from __future__ import annotations

from collections.abc import Sequence

from recommender.engine.segments import RANKING_PREFIX


def format_value(value) -> str:
    if value is None:
        return "insufficient data"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def described_hyperparameters(values: dict) -> str:
    """A model version's hyperparameters on one line: "factors=16, alpha=2.0, ..."."""
    return ", ".join(f"{name}={value}" for name, value in values.items())


def format_table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(list(headers)), separator, *(line(r) for r in cells)])


def _interval(comparison: dict) -> str:
    if comparison.get("ci_low") is None:
        return "-"
    return f"[{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]"


def comparison_table(comparisons: list[dict]) -> str:
    """Per metric both R² on the shared holdout, their difference and its paired-bootstrap
    95 % interval, and the outcome."""
    rows = [
        (
            c["metric"],
            c["metric"].removeprefix(RANKING_PREFIX)
            if c["metric"].startswith(RANKING_PREFIX)
            else "R²",
            "degraded" if c["was_degraded"] else "stable",
            c["champion_r2"],
            c["challenger_r2"],
            f"{c['challenger_r2'] - c['champion_r2']:+.3f}",
            _interval(c),
            c["outcome"],
        )
        for c in comparisons
    ]
    headers = [
        "metric",
        "measure",
        "before",
        "champion",
        "challenger",
        "difference",
        "95% CI",
        "outcome",
    ]
    return format_table(headers, rows)
