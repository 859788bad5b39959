"""Login accounts: which viewer an account is linked to (a viewer account sees only that one)."""

from __future__ import annotations

from recommender.models import Viewer


def linked_viewer_id(user) -> int | None:
    """The source id of the viewer this account is linked to (Viewer.account), or None for an
    anonymous visitor or an account linked to no viewer."""
    if not user.is_authenticated:
        return None
    return Viewer.objects.filter(account=user).values_list("source_id", flat=True).first()
