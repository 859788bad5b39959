"""The login page: anonymous visitors are sent to it, a reviewer logs in and out, and the
login locks after the failure limit."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.users import create_reviewer

pytestmark = pytest.mark.django_db

PASSWORD = "rita-pass-Xk29"

PAGES = [
    ("web:dashboard", {}),
    ("web:task-status", {"task_id": "abc"}),
    ("web:metrics", {}),
    ("web:viewer-search", {}),
    ("web:viewer-detail", {"source_id": 1}),
    ("web:model-list", {}),
    ("web:model-detail", {"version_id": 1}),
    ("web:model-review", {"version_id": 1}),
    ("web:simulate", {}),
    ("web:simulation-detail", {"run_id": 1}),
]


@pytest.fixture
def reviewer(db):
    """rita of tests/users.py, with a password: these tests log in through the form."""
    return create_reviewer(password=PASSWORD)


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, name, kwargs):
    url = reverse(name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_the_login_page_logs_a_reviewer_in_and_the_nav_logs_out_by_post(reviewer):
    client = Client()
    login_page = client.get(reverse("login"))
    assert login_page.status_code == 200 and 'name="password"' in login_page.content.decode()

    response = client.post(reverse("login"), {"username": "rita", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == reverse("web:dashboard")
    html = client.get(reverse("web:dashboard")).content.decode()
    form = re.search(
        r'<form class="logout" method="post" action="/logout/">(.*?)</form>', html, re.S
    )
    assert form and 'name="csrfmiddlewaretoken"' in form.group(1)
    assert client.get(reverse("logout")).status_code == 405, "logging out is POST only"
    client.post(reverse("logout"))
    assert client.get(reverse("web:dashboard")).status_code == 302


def test_login_is_locked_after_the_failure_limit(reviewer, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        failed = client.post(reverse("login"), {"username": "rita", "password": "wrong"})
        assert failed.status_code in (200, 429)

    locked = client.post(reverse("login"), {"username": "rita", "password": PASSWORD})

    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("web:dashboard")).status_code == 302
