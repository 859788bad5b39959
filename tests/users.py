"""One set of named test users, one per role of the access policy (recommender.access).

    anonymous  None: not logged in
    plain      paul: an account and nothing else
    viewer     vic:  linked to viewer VIEWER_ID (Viewer.account)
    staff      sam:  is_staff, without the review permission
    reviewer   rita: the review permission, not staff (as `manage.py create_reviewer` makes)

Test modules build them with `create_users()` (inside a test or fixture with database access)
and log in with `client_for(user)`. The accounts have no usable password: tests log in with
force_login, and no test pays for password hashing.
"""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.test import Client

from recommender.models import Viewer

ROLES = ("anonymous", "plain", "viewer", "staff", "reviewer")
VIEWER_ID = 1
OTHER_VIEWER_ID = 2


def create_reviewer(username: str = "rita", **fields) -> User:
    user = User.objects.create_user(username, **fields)
    user.user_permissions.add(Permission.objects.get(codename="review_challengers"))
    return User.objects.get(pk=user.pk)  # fresh: the permission cache is filled on first use


def create_users() -> dict[str, User | None]:
    """The five roles' users; vic is linked to viewer VIEWER_ID (created if missing)."""
    vic = User.objects.create_user("vic")
    Viewer.objects.update_or_create(source_id=VIEWER_ID, defaults={"account": vic})
    return {
        "anonymous": None,
        "plain": User.objects.create_user("paul"),
        "viewer": vic,
        "staff": User.objects.create_user("sam", is_staff=True),
        "reviewer": create_reviewer(),
    }


def client_for(user: User | None, **kwargs) -> Client:
    """A test client logged in as `user` (anonymous for None)."""
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client
