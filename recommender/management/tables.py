"""Plain-text tables for command output (markdown pipe syntax, so they paste into notes)."""

from __future__ import annotations

from collections.abc import Sequence


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
