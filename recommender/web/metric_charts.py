"""The metric page's charts, drawn once per metric history and stored (DrawnChartSet).

Drawing the seven charts with matplotlib takes seconds and grows with the history (1.9 s after
four rounds at full size, docs/scaling.md), and the history changes only when a round is
played or judged. So the jobs that change it (a simulated round, `monitor`, the cycle) draw
them as they finish (`metric_charts_prepare_quietly`), and every web process reads them from
the database: the page's first request after a round no longer draws. A history nobody drew
for (one run's page whose rounds an experiment played, say) is drawn on its first request and
stored.

A set is keyed by a digest of what the charts plot (the rounds' figures, the genres, the
promotions) and of how they are drawn (this module's and charts.py's source and matplotlib's
version), so new figures or new drawing code never show stale charts.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import matplotlib

from recommender.engine.segments import VIEWER_GROUPS, genre_metric
from recommender.selectors.charts import drawn_chart, drawn_chart_set
from recommender.services.charts import drawn_chart_set_keep
from recommender.web import charts, presentation

GROUP_LABELS = {"all": "all viewers", "existing": "existing viewers", "new": "new viewers"}

logger = logging.getLogger(__name__)

# How the charts are drawn, as part of every key: a change to the drawing code or to
# matplotlib draws every history again.
_DRAWING = hashlib.sha256(
    Path(charts.__file__).read_bytes()
    + Path(__file__).read_bytes()
    + matplotlib.__version__.encode()
).hexdigest()


def history_key(history: presentation.MetricHistory) -> str:
    """The digest a history's charts are stored under: equal for histories that plot the same."""
    plotted = (_DRAWING, history.rounds, history.genres, history.promotions)
    return hashlib.sha256(repr(plotted).encode()).hexdigest()


def metric_charts(history: presentation.MetricHistory) -> list[dict]:
    """The metric page's charts for `history` (name, title, svg each, in page order): the
    stored set, or drawn now and stored."""
    key = history_key(history)
    stored = drawn_chart_set(key)
    if stored is not None:
        return stored
    drawn = history_charts(history)
    drawn_chart_set_keep(key=key, charts=drawn)
    return drawn


def quality_chart(history: presentation.MetricHistory) -> dict:
    """The dashboard's chart, the metric page's first (overall R²): taken from the stored set,
    or drawn alone when there is none (the page does not wait for all seven)."""
    stored = drawn_chart(history_key(history), 0)
    if stored is not None:
        return stored
    return _accuracy_chart(history, "r2", "R²", "benchmark_r2", _promotion_markers(history))


def metric_charts_prepare(run_id: int | None = None) -> None:
    """Draw and store the charts of every run's history (the metric page and the dashboard)
    and, given `run_id`, of that run's, unless they are stored already."""
    metric_charts(presentation.metric_history())
    if run_id is not None:
        metric_charts(presentation.metric_history(run_id=run_id))


def metric_charts_prepare_quietly(run_id: int | None = None) -> None:
    """metric_charts_prepare for the jobs that change the history: their work is committed by
    then, so a drawing error is logged, not raised (the page draws the charts itself)."""
    try:
        metric_charts_prepare(run_id)
    except Exception:
        logger.exception("drawing the metric charts failed; the metric page will draw them")


def _promotion_markers(history: presentation.MetricHistory) -> list[charts.Marker]:
    return [charts.Marker(i, f"v{version}") for i, version in history.promotions]


def history_charts(history: presentation.MetricHistory) -> list[dict]:
    """The metric page's charts, in page order: name, title, svg."""
    labels, rounds = history.labels, history.rounds
    promotions = _promotion_markers(history)
    built = [
        _accuracy_chart(history, "r2", "R²", "benchmark_r2", promotions),
        _accuracy_chart(history, "rmse", "RMSE", "benchmark_rmse", promotions),
        {
            "name": "genre-r2",
            "title": "R² per genre (existing viewers)",
            "svg": charts.heatmap(
                name="genre-r2",
                title="R² per genre (existing viewers)",
                row_labels=history.genres,
                column_labels=labels,
                values=[[p.genre_r2.get(g) for p in rounds] for g in history.genres],
                flagged=[
                    (row, column)
                    for row, genre in enumerate(history.genres)
                    for column, p in enumerate(rounds)
                    if genre_metric(genre) in p.degraded
                ],
                flagged_label="degraded (drift report)",
                x_label="simulated round",
                y_label="genre",
                value_label="R²",
            ),
        },
    ]
    built.append(_experience_chart(history, promotions))
    for metric in presentation.LIST_METRICS:
        title = f"{metric.capitalize()} of the top-N lists"
        built.append(
            {
                "name": metric,
                "title": title,
                "svg": charts.line_chart(
                    name=metric,
                    title=title,
                    x_labels=labels,
                    series=[
                        charts.Series(GROUP_LABELS[g], [p.lists[g][metric] for p in rounds])
                        for g in VIEWER_GROUPS
                    ],
                    x_label="simulated round",
                    y_label=metric,
                    markers=promotions,
                ),
            }
        )
    return built


def _experience_chart(history: presentation.MetricHistory, promotions: list) -> dict:
    """What viewers experienced per round: the shares on the left scale; the mean true rating
    (stars) is divided by 5 to share it."""
    rounds = history.rounds
    title = "What viewers experienced (all viewers)"
    series = [
        charts.Series(
            "mean true rating of consumed films / 5",
            [_scaled(p.experience["mean_true_rating"], 5.0) for p in rounds],
        ),
        *(
            charts.Series(label, [p.experience[key] for p in rounds])
            for key, label in presentation.EXPERIENCE_FIGURES.items()
            if key != "mean_true_rating"
        ),
    ]
    return {
        "name": "experience",
        "title": title,
        "svg": charts.line_chart(
            name="experience",
            title=title,
            x_labels=history.labels,
            series=series,
            x_label="simulated round",
            y_label="share",
            markers=promotions,
        ),
    }


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value / scale


def _accuracy_chart(
    history: presentation.MetricHistory,
    key: str,
    label: str,
    benchmark: str,
    promotions: list[charts.Marker],
) -> dict:
    rounds = history.rounds
    series = [
        charts.Series(GROUP_LABELS["existing"], [getattr(p, key)["existing"] for p in rounds]),
        charts.Series(GROUP_LABELS["all"], [getattr(p, key)["all"] for p in rounds]),
        charts.Series(
            "champion's holdout benchmark", [getattr(p, benchmark) for p in rounds], "reference"
        ),
    ]
    if key == "r2" and any(p.drift_required for p in rounds):
        series.append(
            charts.Series(
                "drift detected",
                [p.r2["existing"] if p.drift_required else None for p in rounds],
                "alert",
            )
        )
    title = f"Overall {label} per round"
    return {
        "name": key,
        "title": title,
        "svg": charts.line_chart(
            name=key,
            title=title,
            x_labels=history.labels,
            series=series,
            x_label="simulated round",
            y_label=label,
            markers=promotions,
        ),
    }
