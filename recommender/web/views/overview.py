"""The dashboard, task progress for the pages' progress bars, and the metric history."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from recommender.access import own_viewer_id
from recommender.engine.checks import LARGEST_ID, parse_int
from recommender.selectors.tasks import task_progress
from recommender.web import presentation
from recommender.web.metric_charts import metric_charts, quality_chart
from recommender.web.views.access import page, require_browser


@page
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    own = own_viewer_id(request.user)
    if own is not None:
        return redirect("web:viewer-detail", source_id=own)
    require_browser(request.user)
    context = presentation.dashboard()
    # The model's quality at a glance: the latest simulation's overall R², as on the metric page.
    context["quality_chart"] = quality_chart(presentation.metric_history())
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
        request, "web/metrics.html", {"history": history, "charts": metric_charts(history)}
    )
