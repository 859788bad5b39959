"""The one access policy: who may do what, on the site, in the JSON API and in the admin.

Every check is a plain function of a user (no request needed); the web views
(recommender.web.views.access), the API's permission classes (recommender.api.views), the
admin's review actions (recommender.admin) and the lifecycle services call these and nothing
else. Roles, from the most to the least trusted (an account has the first that fits):

- reviewer: has the permission `recommender.review_challengers` (REVIEW_PERMISSION; superusers
  have every permission);
- staff: `is_staff`, without that permission;
- viewer account: linked to a Viewer through Viewer.account, and neither of the above;
- plain account: logged in, but none of the above;
- anonymous: not logged in.

What each role may do:

    decision                                  anonymous  plain  viewer    staff  reviewer
    may_browse: every page and API read        no         no     no        yes    yes
      (dashboard, metrics, models, viewers,
      task progress, drift reports, metric
      history, the champion, the API's
      OpenAPI schema and its docs page)
    may_read_viewer(id): a viewer's page and   no         no     own only  any    any
      its API recommendations
    may_review: approve / reject a challenger  no         no     no        no     yes
      (web review page, admin actions, and the
      lifecycle services themselves)
    may_launch_work: start work (the           no         no     no        no     yes
      simulation launcher and its run pages)

So a plain account is refused everything, on the site and in the API, and so is a viewer
account outside its own viewer: in particular the champion endpoint, which shows the model
file's sha256, is for reviewers and staff only. Staff browse but decide nothing unless they
also hold the review permission. Refusals are 403; an anonymous visitor is sent to the login
page (site) or answered 401 (API); whether an object exists (404) is only told to those
allowed to look at it.
"""

from __future__ import annotations

from enum import StrEnum

from recommender.selectors.accounts import linked_viewer_id

REVIEW_PERMISSION = "recommender.review_challengers"


class Role(StrEnum):
    ANONYMOUS = "anonymous"
    PLAIN = "plain account"
    VIEWER = "viewer account"
    STAFF = "staff"
    REVIEWER = "reviewer"


def is_reviewer(user) -> bool:
    return user.is_authenticated and user.has_perm(REVIEW_PERMISSION)


def is_staff(user) -> bool:
    return user.is_authenticated and user.is_staff


def role(user) -> Role:
    """The account's role: the first of reviewer, staff, viewer account, plain account."""
    if not user.is_authenticated:
        return Role.ANONYMOUS
    if is_reviewer(user):
        return Role.REVIEWER
    if is_staff(user):
        return Role.STAFF
    return Role.PLAIN if linked_viewer_id(user) is None else Role.VIEWER


def may_browse(user) -> bool:
    """Every page and every API read: reviewers and staff."""
    return is_reviewer(user) or is_staff(user)


def may_review(user) -> bool:
    """Approve or reject a challenger pending review: reviewers only."""
    return is_reviewer(user)


def may_launch_work(user) -> bool:
    """Start work (a simulation; any POST that queues a task): reviewers only."""
    return is_reviewer(user)


def may_read_viewer(user, source_id: int) -> bool:
    """A viewer's page and recommendations: browsers read any viewer, a viewer account only
    its own, everyone else none."""
    return may_browse(user) or (user.is_authenticated and linked_viewer_id(user) == source_id)


def own_viewer_id(user) -> int | None:
    """The viewer an account may read and nothing else: its linked viewer's source id when the
    account is a viewer account, None for every other role (browsers are not confined)."""
    return None if may_browse(user) else linked_viewer_id(user)
