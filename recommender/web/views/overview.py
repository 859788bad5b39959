"""The dashboard, task progress for the pages' progress bars, and the metric history."""

from __future__ import annotations

import threading
from collections import OrderedDict

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from recommender.access import own_viewer_id
from recommender.engine.checks import LARGEST_ID, parse_int
from recommender.engine.segments import VIEWER_GROUPS, genre_metric
from recommender.selectors.tasks import task_progress
from recommender.web import charts, presentation
from recommender.web.views.access import page, require_browser

GROUP_LABELS = {"all": "all viewers", "existing": "existing viewers", "new": "new viewers"}


@page
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    own = own_viewer_id(request.user)
    if own is not None:
        return redirect("web:viewer-detail", source_id=own)
    require_browser(request.user)
    context = presentation.dashboard()
    # The model's quality at a glance: the latest simulation's overall R², as on the metric page.
    history = presentation.metric_history()
    promotions = [charts.Marker(i, f"v{version}") for i, version in history.promotions]
    context["quality_chart"] = _accuracy_chart(history, "r2", "R²", "benchmark_r2", promotions)
    return render(request, "web/dashboard.html", context)


@page
@require_GET
def task_status(request: HttpRequest, task_id: str) -> HttpResponse:
    """JSON for progress.js: state, stage, percent, finished, error of one Celery task."""
    require_browser(request.user)
    return JsonResponse(task_progress(task_id).as_dict())


@page
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    require_browser(request.user)
    run_id = None
    if request.GET.get("run"):
        try:
            run_id = parse_int("run", request.GET["run"], minimum=1, maximum=LARGEST_ID)
        except ValueError as exc:
            messages.warning(request, f"{exc}; showing every run instead.")
    history = presentation.metric_history(run_id=run_id)
    return render(
        request, "web/metrics.html", {"history": history, "charts": held_history_charts(history)}
    )


# Chart sets held per process: drawing the six charts with matplotlib takes about a second,
# and they change only when a round, a report or a promotion is added.
HELD_CHART_SETS = 16
_held_charts: OrderedDict[str, list[dict]] = OrderedDict()
_held_charts_lock = threading.Lock()


def held_history_charts(history: presentation.MetricHistory) -> list[dict]:
    """history_charts, drawn once per distinct history (its full repr is the key: the same
    figures draw the same charts)."""
    key = repr(history)
    with _held_charts_lock:
        held = _held_charts.get(key)
        if held is not None:
            _held_charts.move_to_end(key)
            return held
    built = history_charts(history)
    with _held_charts_lock:
        _held_charts[key] = built
        while len(_held_charts) > HELD_CHART_SETS:
            _held_charts.popitem(last=False)
    return built


def history_charts(history: presentation.MetricHistory) -> list[dict]:
    """The metric page's charts, in page order: name, title, svg."""
    labels, rounds = history.labels, history.rounds
    promotions = [charts.Marker(i, f"v{version}") for i, version in history.promotions]
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
