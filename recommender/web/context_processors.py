"""What every page's template may ask: the access policy's answers for the logged-in account,
so links are shown by the same rules the views enforce (recommender.access)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from recommender import access


@dataclass(frozen=True)
class AccessFlags:
    may_browse: bool
    may_review: bool
    may_launch_work: bool


def access_policy(request: HttpRequest) -> dict[str, AccessFlags]:
    user = request.user
    return {
        "access": AccessFlags(
            may_browse=access.may_browse(user),
            may_review=access.may_review(user),
            may_launch_work=access.may_launch_work(user),
        )
    }
