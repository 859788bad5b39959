"""The web side of the access policy (recommender.access has the table): each view calls one
of these first, and `page` turns a refusal into a readable 403 page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recommender import access


def require_browser(user) -> None:
    if not access.may_browse(user):
        raise PermissionDenied("This page is for reviewers and staff.")


def require_reviewer(user) -> None:
    if not access.may_review(user):
        raise PermissionDenied("Only reviewers (permission to review challengers) may do this.")


def require_launcher(user) -> None:
    if not access.may_launch_work(user):
        raise PermissionDenied("Only reviewers (permission to review challengers) may do this.")


def require_viewer_reader(user, source_id: int) -> None:
    if not access.may_read_viewer(user, source_id):
        raise PermissionDenied("You can only see your own recommendations.")


def page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required (anonymous visitors go to the login page); a PermissionDenied raised by
    the view is answered with a readable 403 page."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return render(request, "web/forbidden.html", {"reason": str(exc)}, status=403)

    return wrapper
