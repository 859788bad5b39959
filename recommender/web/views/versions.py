"""Model versions: the registry, one version's benchmark and history, and the human review
of a challenger (approve or reject, through the same lifecycle services as the admin)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from recommender.models import ModelVersion
from recommender.services.lifecycle import (
    IllegalTransitionError,
    model_version_approve,
    model_version_decline,
)
from recommender.web import queries
from recommender.web.forms import ReviewForm
from recommender.web.views.access import page, require_browser, require_reviewer

DECISIONS = {"approve": model_version_approve, "reject": model_version_decline}


@page
@require_GET
def model_list(request: HttpRequest) -> HttpResponse:
    require_browser(request.user)
    status = request.GET.get("status") or None
    if status not in ModelVersion.Status.values:
        status = None
    return render(request, "web/model_list.html", queries.model_versions(status=status))


@page
@require_GET
def model_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    require_browser(request.user)
    version = get_object_or_404(ModelVersion, pk=version_id)
    context = {
        "version": version,
        "genres": queries.benchmark_rows(version),
        "events": version.events.all(),
        "review": queries.review(version) if version.comparison else None,
    }
    return render(request, "web/model_detail.html", context)


@page
@require_http_methods(["GET", "POST"])
def model_review(request: HttpRequest, version_id: int) -> HttpResponse:
    """GET: the comparison and the decision form. POST (CSRF-checked by the middleware):
    approve or reject; a version no longer pending is refused with a message, unchanged."""
    require_reviewer(request.user)
    version = get_object_or_404(ModelVersion, pk=version_id)
    form = ReviewForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        decide = DECISIONS[form.cleaned_data["decision"]]
        try:
            decide(
                version_id=version.pk, reviewer=request.user, comment=form.cleaned_data["comment"]
            )
        except IllegalTransitionError as exc:
            messages.error(request, f"Nothing changed: {exc}.")
            return redirect("web:model-review", version_id=version.pk)
        verb = "approved: it is now the champion" if decide is model_version_approve else "rejected"
        messages.success(request, f"Model v{version.pk} {verb}.")
        return redirect("web:model-detail", version_id=version.pk)
    context = {"review": queries.review(version), "form": form}
    return render(request, "web/model_review.html", context)
