"""Viewers: search by id, and one viewer's ratings and current recommendations."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from recommender.models import Viewer
from recommender.selectors import viewers
from recommender.web import presentation
from recommender.web.forms import ViewerSearchForm
from recommender.web.views.access import page, require_browser, require_viewer_reader

LIST_SIZES = (10, 20, 50, 100)


@page
@require_GET
def viewer_search(request: HttpRequest) -> HttpResponse:
    require_browser(request.user)
    form = ViewerSearchForm(request.GET if "q" in request.GET else None)
    if form.is_valid():
        if viewers.viewer_exists(form.cleaned_data["q"]):
            return redirect("web:viewer-detail", source_id=form.cleaned_data["q"])
        form.add_error("q", f"No viewer has the id {form.cleaned_data['q']}.")
    return render(
        request, "web/viewer_search.html", {"form": form, "count": viewers.viewer_count()}
    )


def _visible_viewer(user, source_id: int) -> Viewer:
    """The viewer, if this account may see it: reviewers and staff see every viewer, a viewer
    account only its own (403 for the others, 404 only for those allowed to look)."""
    require_viewer_reader(user, source_id)
    return get_object_or_404(Viewer, source_id=source_id)


@page
@require_GET
def viewer_detail(request: HttpRequest, source_id: int) -> HttpResponse:
    viewer = _visible_viewer(request.user, source_id)
    n = int(request.GET["n"]) if request.GET.get("n") in {str(s) for s in LIST_SIZES} else 10
    context = {
        "viewer": viewer,
        "n": n,
        "sizes": LIST_SIZES,
        "listing": presentation.viewer_list(source_id=viewer.source_id, n=n),
        "ratings": viewers.viewer_ratings(viewer_id=viewer.pk, page=request.GET.get("page")),
    }
    return render(request, "web/viewer_detail.html", context)
