"""Model versions: the registry, one version's benchmark and history, and the human review
of a challenger (approve or reject, through the same lifecycle services as the admin)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from recommender.models import ModelVersion
from recommender.selectors import registry
from recommender.selectors.evaluations import latest_evaluation
from recommender.selectors.registry import VersionRecord
from recommender.services.lifecycle import (
    IllegalTransitionError,
    model_version_approve,
    model_version_decline,
)
from recommender.web import charts, presentation
from recommender.web.forms import ReviewForm
from recommender.web.views.access import page, require_browser, require_reviewer

DECISIONS = {"approve": model_version_approve, "reject": model_version_decline}


def _version_or_404(version_id: int) -> VersionRecord:
    version = registry.version_record(version_id)
    if version is None:
        raise Http404(f"No model version {version_id}.")
    return version


@page
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    require_browser(request.user)
    status = request.GET.get("status") or None
    if status not in ModelVersion.Status.values:
        status = None
    evaluation = latest_evaluation()
    context = {
        "listing": registry.version_list(status=status),
        "evaluation": evaluation,
        "sweep_chart": _sweep_chart(evaluation) if evaluation and evaluation.curves else None,
    }
    return render(request, "web/model_list.html", context)


def _sweep_chart(evaluation) -> str:
    return charts.tradeoff_chart(
        name="penalty-sweep",
        title=f"Popularity penalty: NDCG@{evaluation.k} against coverage and novelty",
        quality_label=f"NDCG@{evaluation.k}",
        curves=[
            charts.TradeOffCurve(
                label=f"{c.family}, {c.transform}",
                alphas=c.alphas,
                quality=c.ndcg,
                coverage=c.coverage,
                novelty=c.novelty,
            )
            for c in evaluation.curves
        ],
    )


@page
@require_GET
def model_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    require_browser(request.user)
    version = _version_or_404(version_id)
    context = {
        "version": version,
        "genres": presentation.benchmark_rows(version),
        "events": registry.version_events(version.id),
        "review": registry.version_review(version) if version.comparison else None,
    }
    return render(request, "web/model_detail.html", context)


@page
@require_http_methods(["GET", "POST"])
def model_review(request: HttpRequest, version_id: int) -> HttpResponse:
    """GET: the comparison and the decision form. POST (CSRF-checked by the middleware):
    approve or reject; a version no longer pending is refused with a message, unchanged."""
    require_reviewer(request.user)
    version = _version_or_404(version_id)
    form = ReviewForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        decide = DECISIONS[form.cleaned_data["decision"]]
        try:
            decide(
                version_id=version.id, reviewer=request.user, comment=form.cleaned_data["comment"]
            )
        except IllegalTransitionError as exc:
            messages.error(request, f"Nothing changed: {exc}.")
            return redirect("web:model-review", version_id=version.id)
        verb = "approved: it is now the champion" if decide is model_version_approve else "rejected"
        messages.success(request, f"Model v{version.id} {verb}.")
        return redirect("web:model-detail", version_id=version.id)
    context = {"review": registry.version_review(version), "form": form}
    return render(request, "web/model_review.html", context)
