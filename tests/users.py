"""One set of named test users, one per role of the access policy (recommender.access).

    anonymous  None: not logged in
    plain      paul: an account and nothing else
    viewer     vic:  linked to viewer VIEWER_ID (Viewer.account)
    staff      sam:  is_staff, without the review permission
    reviewer   rita: the review permission, not staff (as `manage.py create_reviewer` makes)

Tests take them as the fixtures `plain`, `viewer`, `staff`, `reviewer` and `users` (all five
by role) of tests/conftest.py; code without fixtures (a table built inside a test, a script)
calls the create_* functions here. Log in with `client_for(user)`. The accounts have no
usable password: tests log in with force_login, and no test pays for password hashing (a test
of the login form passes `password=` to the create_* function it needs).
"""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.test import Client

from recommender.models import Viewer

ROLES = ("anonymous", "plain", "viewer", "staff", "reviewer")
VIEWER_ID = 1
OTHER_VIEWER_ID = 2


def create_plain(**fields) -> User:
    return User.objects.create_user("paul", **fields)


def create_viewer_account(**fields) -> User:
    """vic, linked to viewer VIEWER_ID (created if missing, or taken over if imported)."""
    vic = User.objects.create_user("vic", **fields)
    Viewer.objects.update_or_create(source_id=VIEWER_ID, defaults={"account": vic})
    return vic


def create_staff(**fields) -> User:
    return User.objects.create_user("sam", is_staff=True, **fields)


def create_reviewer(username: str = "rita", **fields) -> User:
    user = User.objects.create_user(username, **fields)
    user.user_permissions.add(Permission.objects.get(codename="review_challengers"))
    return User.objects.get(pk=user.pk)  # fresh: the permission cache is filled on first use


def create_users() -> dict[str, User | None]:
    """The five roles' users, by role (the order of ROLES)."""
    return {
        "anonymous": None,
        "plain": create_plain(),
        "viewer": create_viewer_account(),
        "staff": create_staff(),
        "reviewer": create_reviewer(),
    }


def client_for(user: User | None, **kwargs) -> Client:
    """A test client logged in as `user` (anonymous for None)."""
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client
