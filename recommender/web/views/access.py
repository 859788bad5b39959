"""Who may see what, decided on the server for every request.

- reviewer: has `recommender.review_challengers` (superusers have every permission); may
  browse everything, approve or reject challengers and launch simulations;
- staff: may browse everything, but acts only through what its permissions allow;
- viewer account: linked to a Viewer and neither of the above; sees only its own viewer
  page (`/` takes it there);
- any other account: no page but its own "no access" answer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from recommender.models import Viewer
from recommender.services.lifecycle import REVIEW_PERMISSION


def is_reviewer(user) -> bool:
    return user.is_authenticated and user.has_perm(REVIEW_PERMISSION)


def can_browse(user) -> bool:
    return is_reviewer(user) or (user.is_authenticated and user.is_staff)


def own_viewer(user) -> Viewer | None:
    """The viewer an account is linked to, if any."""
    if not user.is_authenticated:
        return None
    return Viewer.objects.filter(account=user).first()


def viewer_account(user) -> Viewer | None:
    """The account's viewer when the account is a viewer account (it sees only that page)."""
    return None if can_browse(user) else own_viewer(user)


def require_browser(user) -> None:
    if not can_browse(user):
        raise PermissionDenied("This page is for reviewers and staff.")


def require_reviewer(user) -> None:
    if not is_reviewer(user):
        raise PermissionDenied("Only reviewers (permission to review challengers) may do this.")


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
