"""The access policy as one table: every URL of the site and every API endpoint, requested by
each role of tests/users.py, answers the status the policy says (recommender.access).

The table is checked against the URL resolver: a URL added without a row here fails
test_every_url_has_a_row. The admin's URLs are Django's (its own staff and model permissions);
they are checked by one rule over every admin URL the resolver knows, plus the review action.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommender import access
from recommender.access import Role
from recommender.models import DriftReport, ModelVersion, ModelVersionEvent, Viewer
from simulation.models import SimulationRun
from tests.users import OTHER_VIEWER_ID, ROLES, VIEWER_ID, client_for, create_reviewer, create_users

pytestmark = pytest.mark.django_db

MISSING = 424242
LOGIN = "/login/?next="
ADMIN_LOGIN = "/admin/login/?next="


def statuses(row: str) -> dict[str, int]:
    """'302 403 403 200 200' -> {role: status}, in the order of ROLES."""
    codes = [int(code) for code in row.split()]
    assert len(codes) == len(ROLES), row
    return dict(zip(ROLES, codes, strict=True))


# Rows, by what the policy says (columns: anonymous plain viewer staff reviewer).
BROWSE = "302 403 403 200 200"  # may_browse, a site page
BROWSE_404 = "302 403 403 404 404"  # may_browse, an object that does not exist
REVIEW = "302 403 403 403 200"  # may_review / may_launch_work, a site page
REVIEW_404 = "302 403 403 403 404"
WRONG_METHOD = "302 405 405 405 405"  # the page is GET-only: told to everyone logged in
API_BROWSE = "401 403 403 200 200"  # may_browse, an API read
API_BROWSE_404 = "401 403 403 404 404"
API_WRONG_METHOD = "401 403 403 405 405"  # DRF checks permissions before the method
NOT_AN_ENDPOINT = "404 404 404 404 404"
EVERYONE = "200 200 200 200 200"


@dataclass(frozen=True)
class Case:
    """One request of the table. `path` is formatted with the world's ids; `setup` adds rows
    the case needs; `changes` are the roles whose request changes the database (for every
    other role a POST must change nothing)."""

    name: str  # the URL's name in the resolver
    path: str
    expect: str
    method: str = "GET"
    data: dict = field(default_factory=dict)
    setup: Callable[[], object] | None = None
    changes: tuple[str, ...] = ()
    redirects: tuple[tuple[str, str], ...] = ()  # (role, expected Location) besides logins
    browser: bool = False  # an HTML page under /api/: asked with a session, not a token

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def bare_champion() -> ModelVersion:
    return ModelVersion.objects.create(status="champion", created_by="test")


CASES = [
    # --- the site ------------------------------------------------------------------------
    Case(
        "web:dashboard",
        "/",
        "302 403 302 200 200",
        redirects=(("viewer", f"/viewers/{VIEWER_ID}/"),),
    ),
    Case("web:dashboard", "/", WRONG_METHOD, method="POST"),
    Case("web:task-status", "/tasks/some-task/", BROWSE),
    Case("web:metrics", "/metrics/", BROWSE),
    Case("web:metrics", "/metrics/", WRONG_METHOD, method="POST"),
    Case("web:viewer-search", "/viewers/", BROWSE),
    Case("web:viewer-detail", f"/viewers/{VIEWER_ID}/", "302 403 200 200 200"),
    Case("web:viewer-detail", f"/viewers/{OTHER_VIEWER_ID}/", BROWSE),
    Case("web:viewer-detail", f"/viewers/{MISSING}/", BROWSE_404),
    Case("web:model-list", "/models/", BROWSE),
    Case("web:model-detail", "/models/{pending}/", BROWSE),
    Case("web:model-detail", f"/models/{MISSING}/", BROWSE_404),
    Case("web:model-review", "/models/{pending}/review/", REVIEW),
    Case("web:model-review", f"/models/{MISSING}/review/", REVIEW_404),
    Case(
        "web:model-review",
        "/models/{pending}/review/",
        "302 403 403 403 302",
        method="POST",
        data={"decision": "approve", "comment": "table"},
        changes=("reviewer",),
        redirects=(("reviewer", "/models/{pending}/"),),
    ),
    Case(
        "web:model-review",
        "/models/{pending}/review/",
        "302 403 403 403 302",
        method="POST",
        data={"decision": "reject"},
        changes=("reviewer",),
        redirects=(("reviewer", "/models/{pending}/"),),
    ),
    Case("web:simulate", "/simulate/", REVIEW),
    # Without a champion the reviewer's launch is refused by the launcher, not by the policy:
    # the form comes back saying why, and nothing is started for anyone.
    Case("web:simulate", "/simulate/", REVIEW, method="POST", data={"rounds": "1", "seed": "1"}),
    Case("web:simulation-detail", "/simulate/{run}/", REVIEW),
    Case("web:simulation-detail", f"/simulate/{MISSING}/", REVIEW_404),
    Case("login", "/login/", EVERYONE),
    Case("logout", "/logout/", "405 405 405 405 405"),
    Case(
        "logout",
        "/logout/",
        "302 302 302 302 302",
        method="POST",
        redirects=tuple((role, "/login/") for role in ROLES),
    ),
    # --- the API ---------------------------------------------------------------------------
    # Allowed readers get past the policy to the service, which has no champion to serve.
    Case(
        "api:viewer-recommendations",
        f"/api/v1/viewers/{VIEWER_ID}/recommendations/",
        "401 403 503 503 503",
    ),
    Case(
        "api:viewer-recommendations",
        f"/api/v1/viewers/{OTHER_VIEWER_ID}/recommendations/",
        "401 403 403 503 503",
    ),
    Case(
        "api:viewer-recommendations",
        f"/api/v1/viewers/{VIEWER_ID}/recommendations/",
        "401 405 405 405 405",
        method="POST",
    ),
    Case("api:champion", "/api/v1/champion/", API_BROWSE, setup=bare_champion),
    Case("api:champion", "/api/v1/champion/", API_BROWSE_404),
    Case("api:champion", "/api/v1/champion/", API_WRONG_METHOD, method="POST"),
    Case("api:metrics", "/api/v1/metrics/", API_BROWSE),
    Case("api:drift-report-list", "/api/v1/drift-reports/", API_BROWSE),
    Case("api:drift-report-list", "/api/v1/drift-reports/", API_WRONG_METHOD, method="POST"),
    Case("api:drift-report-detail", "/api/v1/drift-reports/{report}/", API_BROWSE),
    Case("api:drift-report-detail", f"/api/v1/drift-reports/{MISSING}/", API_BROWSE_404),
    # The OpenAPI schema is an API read; its Swagger UI page is a page of the site.
    Case("api:schema", "/api/v1/schema/", API_BROWSE),
    Case("api:schema", "/api/v1/schema/?format=yaml", API_BROWSE),
    Case("api:schema", "/api/v1/schema/", API_WRONG_METHOD, method="POST"),
    Case("api:docs", "/api/v1/docs/", BROWSE, browser=True),
    Case("api:not-found", "/api/v1/no-such-endpoint/", NOT_AN_ENDPOINT),
    Case("api:not-found", "/api/v1/champion", NOT_AN_ENDPOINT),
    # --- the admin's review action (the rest of the admin: test_admin_urls_are_for_staff) --
    Case(
        "admin:recommender_modelversion_changelist",
        "/admin/recommender/modelversion/",
        "302 302 302 403 302",
        method="POST",
        data={"action": "approve", "_selected_action": ["{pending}"]},
    ),
]


# --- the world every case runs in: small, no trained model ---------------------------------


@pytest.fixture
def world(db) -> dict:
    users = create_users()
    Viewer.objects.create(source_id=OTHER_VIEWER_ID)
    pending = ModelVersion.objects.create(status="pending_review", created_by="test")
    run = SimulationRun.objects.create(seed=1, parameters={}, rounds_planned=1)
    report = DriftReport.objects.create(model_version=pending, created_by="test")
    return {"users": users, "ids": {"pending": pending.pk, "run": run.pk, "report": report.pk}}


def snapshot() -> dict:
    """What a refused POST must leave as it was."""
    return {
        "statuses": list(ModelVersion.objects.order_by("pk").values_list("pk", "status")),
        "events": ModelVersionEvent.objects.count(),
        "runs": SimulationRun.objects.count(),
    }


def csrf_client(user: User | None) -> Client:
    """A browser that CSRF-checks its POSTs, with the token a page gave it."""
    client = client_for(user, enforce_csrf_checks=True)
    client.get("/login/")
    return client


def api_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def send(case: Case, user: User | None, ids: dict):
    path = case.path.format(**ids)
    data = {
        k: [v.format(**ids) for v in vs] if isinstance(vs, list) else vs
        for k, vs in case.data.items()
    }
    if path.startswith("/api/") and not case.browser:
        return getattr(api_client(user), case.method.lower())(path, data)
    if case.method == "GET":
        return client_for(user).get(path, data)
    client = csrf_client(user)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.label)
def test_every_url_answers_each_role_as_the_policy_says(world, case, role):
    if case.setup is not None:
        case.setup()
    before = snapshot()

    response = send(case, world["users"][role], world["ids"])

    assert response.status_code == statuses(case.expect)[role], response.content[:300]
    if response.status_code == 302:
        expected = dict(case.redirects).get(role)
        location = response["Location"]
        if expected is not None:
            assert location == expected.format(**world["ids"])
        elif role == "anonymous" or case.name.startswith("admin:"):
            assert location.startswith(ADMIN_LOGIN if case.name.startswith("admin:") else LOGIN)
    if case.method == "POST":
        changed = snapshot() != before
        assert changed == (role in case.changes), f"{role}'s POST changed the database: {changed}"


def test_a_reviewers_post_without_the_csrf_token_is_refused_and_changes_nothing(world):
    before = snapshot()
    client = client_for(world["users"]["reviewer"], enforce_csrf_checks=True)

    response = client.post(f"/models/{world['ids']['pending']}/review/", {"decision": "approve"})

    assert response.status_code == 403
    assert snapshot() == before


def test_the_api_tells_who_is_refused_and_why(world):
    users = world["users"]
    own = f"/api/v1/viewers/{VIEWER_ID}/recommendations/"
    other = f"/api/v1/viewers/{OTHER_VIEWER_ID}/recommendations/"
    refusals = {
        (users["plain"], own): "account paul is linked to no viewer and is not a reviewer",
        (users["viewer"], other): f"account vic may read only viewer {VIEWER_ID}'s recommendations",
        (users["plain"], "/api/v1/champion/"): "only reviewers and staff may read this",
        (users["viewer"], "/api/v1/champion/"): "only reviewers and staff may read this",
    }
    for (user, path), error in refusals.items():
        assert api_client(user).get(path).json() == {"error": error}


# --- every URL has a row ---------------------------------------------------------------------


def urls(patterns=None, namespace: str = "", prefix: str = "") -> Iterator[tuple[str, str]]:
    """(qualified name, route) of every URL the resolver knows; unnamed ones are named '?'."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace]))
            yield from urls(entry.url_patterns, inner, prefix + str(entry.pattern))
        else:
            assert isinstance(entry, URLPattern)
            name = ":".join(filter(None, [namespace, entry.name or "?"]))
            yield name, prefix + str(entry.pattern)


def test_every_url_has_a_row():
    site = {name for name, _ in urls() if not name.startswith("admin:")}
    in_table = {case.name for case in CASES if not case.name.startswith("admin:")}

    assert site - in_table == set(), "a URL without a row in the access table"
    assert in_table - site == set(), "a row for a URL that no longer exists"


# --- the admin: Django's own rule, over every admin URL ------------------------------------

ADMIN_OPEN = {"admin:login", "admin:logout"}


def admin_path(route: str) -> str:
    """A concrete path for an admin route: 1 for every id, an app label for the app index."""
    route = re.sub(r"\^?\(\?P<app_label>[^)]*\)/\$", "recommender/", route)
    route = route.replace("(?P<url>.*)$", "no-such-page/")
    route = re.sub(r"<(?:\w+:)?\w+>", "1", route)
    assert not set(route) & set("<>()^$?"), route
    return "/" + route


@pytest.mark.parametrize(
    ("name", "route"), [u for u in urls() if u[0].startswith("admin:") and u[0] not in ADMIN_OPEN]
)
def test_admin_urls_send_every_non_staff_role_to_the_admin_login(world, name, route):
    path = admin_path(route)
    for role in ("anonymous", "plain", "viewer", "reviewer"):
        response = client_for(world["users"][role]).get(path)
        assert response.status_code == 302, (role, path)
        assert response["Location"].startswith(ADMIN_LOGIN), (role, path)


def test_staff_see_the_admin_only_as_far_as_their_model_permissions_go(world):
    staff = client_for(world["users"]["staff"])

    assert staff.get("/admin/").status_code == 200
    assert staff.get("/admin/recommender/modelversion/").status_code == 403


# --- the policy's functions, as a table ------------------------------------------------------


def policy_users() -> dict[str, User | AnonymousUser]:
    users = create_users()
    both = create_reviewer("stella", is_staff=True)
    linked_staff = User.objects.create_user("sid", is_staff=True)
    Viewer.objects.create(source_id=3, account=linked_staff)
    linked_reviewer = create_reviewer("rex")
    Viewer.objects.create(source_id=4, account=linked_reviewer)
    return {
        **users,
        "anonymous": AnonymousUser(),
        "superuser": User.objects.create_user("root", is_superuser=True),
        "staff reviewer": both,
        "staff with a viewer": linked_staff,
        "reviewer with a viewer": linked_reviewer,
    }


# columns: role, may_browse, may_review, may_launch_work, may_read_viewer(own 1, other 2),
# own_viewer_id (the one viewer the account is confined to)
POLICY = [
    ("anonymous", Role.ANONYMOUS, False, False, False, (False, False), None),
    ("plain", Role.PLAIN, False, False, False, (False, False), None),
    ("viewer", Role.VIEWER, False, False, False, (True, False), VIEWER_ID),
    ("staff", Role.STAFF, True, False, False, (True, True), None),
    ("reviewer", Role.REVIEWER, True, True, True, (True, True), None),
    ("superuser", Role.REVIEWER, True, True, True, (True, True), None),
    ("staff reviewer", Role.REVIEWER, True, True, True, (True, True), None),
    ("staff with a viewer", Role.STAFF, True, False, False, (True, True), None),
    ("reviewer with a viewer", Role.REVIEWER, True, True, True, (True, True), None),
]


def test_the_policy_functions_answer_as_the_table_says(db):
    users = policy_users()
    rows = []
    for name, *_ in POLICY:
        user = users[name]
        rows.append(
            (
                name,
                access.role(user),
                access.may_browse(user),
                access.may_review(user),
                access.may_launch_work(user),
                (
                    access.may_read_viewer(user, VIEWER_ID),
                    access.may_read_viewer(user, OTHER_VIEWER_ID),
                ),
                access.own_viewer_id(user),
            )
        )

    assert rows == POLICY


def test_the_review_permission_is_the_one_the_models_declare():
    app_label, codename = access.REVIEW_PERMISSION.split(".")

    assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists()


def test_the_policy_has_one_home():
    """No module but recommender.access asks for a permission or the staff flag (setting the
    flag, as create_demo_login does, is not asking)."""
    root = Path(__file__).resolve().parents[1]
    home = root / "recommender" / "access.py"
    asking = re.compile(r"\.has_perm\(|\.is_staff\b(?!\s*=[^=])|REVIEW_PERMISSION")
    offenders = [
        str(path.relative_to(root))
        for package in ("recommender", "simulation")
        for path in (root / package).rglob("*.py")
        if path != home and "migrations" not in path.parts and asking.search(path.read_text())
    ]

    assert offenders == []
