"""Server-side charts for the web pages: matplotlib's SVG backend, no pyplot, no JavaScript.

Each builder is a pure function of plain lists and returns one `<svg>` element as a string,
ready to be inlined in a page: text stays text (searchable, selectable), every id inside is
unique to the chart (so several charts share a page safely), nothing is loaded from
elsewhere. Plotted data carries ids a test or a browser can find: the points of a series are
`<use>` elements inside `<g id="NAME-series-I">`, heatmap cells are the paths of
`<g id="NAME-cells">`, promotions are `<g id="NAME-promotion-K">`.
"""

from __future__ import annotations

import html
import io
import math
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib import colors
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

NO_DATA = "No rounds yet"

# Colours readable on white and by most colour-blind readers (Okabe-Ito).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
REFERENCE_COLOUR = "#444444"
ALERT_COLOUR = "#D55E00"
PROMOTION_COLOUR = "#009E73"
NOT_JUDGED_COLOUR = "#e4e4e4"

# How a series of each role is drawn (matplotlib plot keywords); any other role is a measure.
ROLE_STYLES: dict[str, dict[str, Any]] = {
    "reference": dict(drawstyle="steps-mid", linestyle="--", linewidth=1.4, color=REFERENCE_COLOUR),
    "alert": dict(linestyle="none", marker="X", markersize=9, color=ALERT_COLOUR, zorder=5),
}
MEASURE_STYLE: dict[str, Any] = dict(marker="o", markersize=4.5, linewidth=1.8, zorder=4)

# Figure sizes in inches (the SVG is scaled to the page width; these fix the proportions).
WIDTH = 9.0
LINE_HEIGHT = 3.4
# At most this many tick labels on the x axis; more rounds than that are labelled sparsely.
MAX_X_LABELS = 24
# Heatmap cells carry their value as text up to this many columns.
MAX_ANNOTATED_COLUMNS = 24

# rcParams are process-wide: rendering is serialised so two threads never interleave their
# settings (svg.hashsalt keeps each chart's ids unique and its output deterministic).
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class Series:
    """One line of a line chart. values: one per x position, None where there is no value.

    role "measure": a line with a marker at each value; "reference": a dashed step line
    without markers (e.g. the champion's benchmark); "alert": markers only (e.g. rounds where
    drift was detected)."""

    label: str
    values: Sequence[float | None]
    role: str = "measure"

    def __post_init__(self) -> None:
        if self.role not in {"measure", "reference", "alert"}:
            raise ValueError(f"role must be measure, reference or alert, got {self.role!r}")


@dataclass(frozen=True)
class Marker:
    """A vertical line before x position `position` (e.g. the first round a new champion
    served), with a short label."""

    position: int
    label: str


@contextmanager
def _chart_style(name: str) -> Iterator[None]:
    settings = {
        "svg.fonttype": "none",  # text as <text>, not glyph outlines
        "svg.hashsalt": name,  # ids unique per chart and stable between renders
        "text.parse_math": False,  # a "$" in a genre name is text, not mathtext
        "font.size": 10,
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#dddddd",
        "grid.linewidth": 0.6,
        "legend.frameon": False,
    }
    with _RENDER_LOCK, matplotlib.rc_context(settings):
        yield


def _new_figure(height: float) -> Figure:
    figure = Figure(figsize=(WIDTH, height), layout="constrained")
    FigureCanvasSVG(figure)
    return figure


def _to_svg(figure: Figure, title: str) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML declaration and DOCTYPE: inlined in HTML
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    # matplotlib's "*{stroke-linejoin...}" would style the whole HTML page once inlined; the
    # stylesheet sets the same for charts only.
    svg = re.sub(r"<defs>\s*<style[^>]*>.*?</style>\s*</defs>\s*", "", svg, count=1, flags=re.S)
    # matplotlib names every group (figure_1, axes_1, text_3...): the same names in every
    # chart, referenced by nothing; dropped, so ids stay unique on a page with several charts.
    svg = re.sub(r'<g id="[A-Za-z0-9.]+_\d+"', "<g", svg)
    # The viewBox keeps the proportions; the page decides the width.
    svg = re.sub(r' width="[^"]*pt" height="[^"]*pt"', "", svg, count=1)
    label = html.escape(title, quote=True)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1).strip()


def empty_chart(*, name: str, title: str, message: str = NO_DATA) -> str:
    """A titled placeholder saying there is nothing to plot yet."""
    with _chart_style(name):
        figure = _new_figure(1.6)
        axes = figure.add_subplot()
        axes.set_axis_off()
        axes.set_title(title)
        axes.text(0.5, 0.45, message, ha="center", va="center", fontsize=12, color="#666666")
        return _to_svg(figure, f"{title}: {message}")


def _tick_text(label: str) -> str:
    """A round's label ("run 1, round 2") on two lines, so neighbouring ticks do not overlap."""
    return label.replace(", ", "\n")


def _x_ticks(axes, labels: Sequence[str]) -> None:
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    positions = list(range(0, len(labels), step))
    axes.set_xticks(positions, [_tick_text(labels[i]) for i in positions])
    if len(positions) > 12:
        axes.tick_params(axis="x", labelrotation=45)
    axes.set_xlim(-0.5, len(labels) - 0.5)


def _values(values: Sequence[float | None], length: int, label: str) -> np.ndarray:
    if len(values) != length:
        raise ValueError(f"series {label!r} has {len(values)} values for {length} x positions")
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _plot_series(axes, xs: np.ndarray, name: str, series: Sequence[Series]) -> None:
    """Each series in its role's style; measures take the palette's colours in turn."""
    n, measures = len(xs), 0
    for index, line in enumerate(series):
        ys = _values(line.values, n, line.label)
        gid = f"{name}-series-{index}"
        style = ROLE_STYLES.get(line.role)
        if style is None:  # a measure: the measure style in the palette's next colour
            style = {**MEASURE_STYLE, "color": PALETTE[measures % len(PALETTE)]}
            measures += 1
        axes.plot(xs, ys, label=line.label, gid=gid, **style)


def _plot_markers(axes, n: int, name: str, markers: Sequence[Marker]) -> None:
    for index, marker in enumerate(markers):
        if not 0 <= marker.position < n:
            raise ValueError(f"marker {marker.label!r} at {marker.position} is outside 0..{n - 1}")
        axes.axvline(
            marker.position - 0.5,
            color=PROMOTION_COLOUR,
            linestyle=":",
            linewidth=1.6,
            gid=f"{name}-promotion-{index}",
        )
        axes.annotate(
            marker.label,
            xy=(marker.position - 0.5, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -2),
            textcoords="offset points",
            va="top",
            fontsize=9,
            color=PROMOTION_COLOUR,
        )


def line_chart(
    *,
    name: str,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    x_label: str = "round",
    markers: Sequence[Marker] = (),
    y_limits: tuple[float | None, float | None] | None = None,
) -> str:
    """Lines over x positions 0..len(x_labels)-1, with a legend and optional vertical markers.
    No x positions: the "No rounds yet" placeholder."""
    if not x_labels:
        return empty_chart(name=name, title=title)
    n = len(x_labels)
    with _chart_style(name):
        figure = _new_figure(LINE_HEIGHT)
        axes = figure.add_subplot()
        _plot_series(axes, np.arange(n), name, series)
        _plot_markers(axes, n, name, markers)
        _x_ticks(axes, x_labels)
        if y_limits is not None:
            axes.set_ylim(*y_limits)
        axes.set_title(title)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        handles, labels = axes.get_legend_handles_labels()
        if markers:
            handles.append(Line2D([], [], color=PROMOTION_COLOUR, linestyle=":", linewidth=1.6))
            labels.append("new champion from here")
        if handles:
            axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
        return _to_svg(figure, title)


def _annotate_cells(axes, grid: np.ndarray, norm: colors.Normalize) -> None:
    """Each judged cell's value as text, white on the darkest colours."""
    for (row, column), value in np.ndenumerate(grid):
        if np.isfinite(value):
            dark = norm(value) < 0.2 or norm(value) > 0.85
            axes.text(
                column + 0.5,
                row + 0.5,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "#222222",
            )


def _outline_cells(axes, name: str, shape: tuple[int, int], flagged: Sequence[tuple]) -> None:
    rows, columns = shape
    for row, column in flagged:
        if not (0 <= row < rows and 0 <= column < columns):
            raise ValueError(f"flagged cell {(row, column)} is outside the grid")
    axes.add_collection(
        PatchCollection(
            [Rectangle((c + 0.04, r + 0.04), 0.92, 0.92) for r, c in flagged],
            facecolor="none",
            edgecolor="#111111",
            linewidth=2.0,
            gid=f"{name}-flagged",
        )
    )


def _grid_axes(axes, row_labels: Sequence[str], column_labels: Sequence[str]) -> None:
    """Row labels top to bottom like a table, column labels sparse when there are many."""
    axes.set_yticks(np.arange(len(row_labels)) + 0.5, list(row_labels))
    axes.invert_yaxis()  # first row at the top, like a table
    columns = len(column_labels)
    step = max(1, math.ceil(columns / MAX_X_LABELS))
    positions = list(range(0, columns, step))
    axes.set_xticks([p + 0.5 for p in positions], [_tick_text(column_labels[p]) for p in positions])
    if len(positions) > 12:
        axes.tick_params(axis="x", labelrotation=45)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)


def _heatmap_keys(
    figure: Figure,
    axes,
    mesh,
    *,
    judged: np.ndarray,
    low: float,
    high: float,
    value_label: str,
    flagged_label: str | None,
) -> None:
    """The colour bar (both halves of the two-slope scale ticked) and the legend of grey
    (not judged) and outlined (flagged) cells; flagged_label None: nothing was flagged."""
    colorbar = figure.colorbar(
        mesh, ax=axes, extend="min" if judged.size and judged.min() < low else "neither"
    )
    colorbar.set_ticks([low, low / 2, 0.0, high / 2, high])
    colorbar.ax.yaxis.set_major_formatter("{x:.2f}")
    colorbar.set_label(value_label)
    legend = [Patch(facecolor=NOT_JUDGED_COLOUR, label="not judged (too few interactions)")]
    if flagged_label is not None:
        legend.append(
            Patch(facecolor="none", edgecolor="#111111", linewidth=2.0, label=flagged_label)
        )
    figure.legend(handles=legend, loc="outside lower left", ncols=2, fontsize=9)


def _heatmap_scale(grid: np.ndarray, clip_low: float):
    """The judged values, and a colour scale centred on 0 that always spans at least -0.05 to
    0.05 (so a grid of near-zero values is not painted in full colour)."""
    judged = grid[np.isfinite(grid)]
    low = max(clip_low, min(float(judged.min()) if judged.size else 0.0, -0.05))
    high = max(float(judged.max()) if judged.size else 0.0, 0.05)
    return judged, low, high, colors.TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high)


def heatmap(
    *,
    name: str,
    title: str,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    values: Sequence[Sequence[float | None]],
    x_label: str,
    y_label: str,
    value_label: str,
    flagged: Sequence[tuple[int, int]] = (),
    flagged_label: str = "flagged",
    clip_low: float = -1.0,
) -> str:
    """A rows x columns grid coloured by value (red below 0, green above), None cells grey
    ("not judged"), values written in the cells when there are few columns, and `flagged`
    (row, column) cells outlined. Values below `clip_low` get the darkest red; their text
    still shows the real number."""
    if not column_labels or not row_labels:
        return empty_chart(name=name, title=title)
    grid = np.array(
        [
            _values(row, len(column_labels), label)
            for row, label in zip(values, row_labels, strict=True)
        ]
    )
    judged, low, high, norm = _heatmap_scale(grid, clip_low)
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad=NOT_JUDGED_COLOUR)
    with _chart_style(name):
        figure = _new_figure(max(2.4, 1.3 + 0.3 * grid.shape[0]))
        axes = figure.add_subplot()
        axes.grid(False)
        mesh = axes.pcolormesh(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            norm=norm,
            edgecolors="white",
            linewidth=0.8,
            gid=f"{name}-cells",
        )
        if grid.shape[1] <= MAX_ANNOTATED_COLUMNS:
            _annotate_cells(axes, grid, norm)
        if flagged:
            _outline_cells(axes, name, grid.shape, flagged)
        _grid_axes(axes, row_labels, column_labels)
        axes.set_title(title)
        axes.set_xlabel(x_label)
        axes.set_ylabel(y_label)
        _heatmap_keys(
            figure,
            axes,
            mesh,
            judged=judged,
            low=low,
            high=high,
            value_label=value_label,
            flagged_label=flagged_label if flagged else None,
        )
        return _to_svg(figure, title)


@dataclass(frozen=True)
class TradeOffCurve:
    """One family's lists under one penalty transform, one point per alpha (in order)."""

    label: str
    alphas: Sequence[float]
    quality: Sequence[float]
    coverage: Sequence[float]
    novelty: Sequence[float]


def tradeoff_chart(
    *, name: str, title: str, quality_label: str, curves: Sequence[TradeOffCurve]
) -> str:
    """Two panels sharing the y axis: ranking quality against catalogue coverage and against
    novelty, one line per curve (points in alpha order, the first marked as "no penalty").
    The points of curve I are `<g id="NAME-series-I">` in the coverage panel and
    `<g id="NAME-novelty-I">` in the novelty panel. No curves: the placeholder."""
    if not curves:
        return empty_chart(
            name=name, title=title, message="No sweep yet (manage.py evaluate --sweep)"
        )
    with _chart_style(name):
        figure = _new_figure(LINE_HEIGHT + 0.6)
        by_coverage, by_novelty = figure.subplots(1, 2, sharey=True)
        for index, curve in enumerate(curves):
            style = {**MEASURE_STYLE, "color": PALETTE[index % len(PALETTE)]}
            by_coverage.plot(
                curve.coverage,
                curve.quality,
                label=curve.label,
                gid=f"{name}-series-{index}",
                **style,
            )
            by_novelty.plot(curve.novelty, curve.quality, gid=f"{name}-novelty-{index}", **style)
            by_coverage.plot(
                curve.coverage[:1],
                curve.quality[:1],
                marker="s",
                markersize=8,
                color=style["color"],
                linestyle="none",
            )
        by_coverage.set_xlabel("catalogue coverage")
        by_coverage.set_ylabel(quality_label)
        by_novelty.set_xlabel("novelty (bits)")
        figure.suptitle(title, fontweight="bold")
        figure.legend(loc="outside lower center", ncols=min(4, len(curves)), fontsize=9)
        return _to_svg(figure, title)
