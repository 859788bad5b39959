"""`manage.py create_reviewer`: a login that may review challengers, and nothing more."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from recommender import access
from recommender.access import Role

pytestmark = pytest.mark.django_db

PASSWORD = "plum-Orchard-42-quietly"


def run(*args: str) -> str:
    out = StringIO()
    call_command("create_reviewer", *args, "--no-input", stdout=out)
    return out.getvalue()


def logs_in(username: str, password: str) -> bool:
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    return response.status_code == 302 and client.get(reverse("web:dashboard")).status_code == 200


def test_it_creates_a_reviewer_who_can_log_in_and_review(monkeypatch):
    monkeypatch.delenv("RECOMMENDER_REVIEWER_PASSWORD", raising=False)

    out = run("rita", "--password", PASSWORD, "--email", "rita@example.org")

    rita = User.objects.get(username="rita")
    assert rita.has_perm("recommender.review_challengers")
    assert access.role(rita) is Role.REVIEWER, "a reviewer by the one access policy"
    assert not rita.is_superuser and not rita.is_staff
    assert rita.email == "rita@example.org"
    assert "| account    | created" in out and PASSWORD not in out, "a given password is not echoed"
    assert logs_in("rita", PASSWORD)


def test_it_generates_and_prints_a_password_when_none_is_given(monkeypatch):
    monkeypatch.delenv("RECOMMENDER_REVIEWER_PASSWORD", raising=False)

    out = run("rita")

    password = re.search(r"\| password\s+\| (\S+)", out).group(1)
    assert len(password) >= 20
    assert logs_in("rita", password)


def test_it_reads_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("RECOMMENDER_REVIEWER_PASSWORD", PASSWORD)

    run("rita")

    assert logs_in("rita", PASSWORD)


def test_it_updates_an_existing_account_without_making_it_superuser(monkeypatch):
    monkeypatch.delenv("RECOMMENDER_REVIEWER_PASSWORD", raising=False)
    User.objects.create_user("rita", password="old-Password-77", email="old@example.org")

    out = run("rita", "--password", PASSWORD)

    rita = User.objects.get(username="rita")
    assert User.objects.count() == 1
    assert "| account    | updated" in out
    assert rita.email == "old@example.org", "kept when --email is not given"
    assert rita.has_perm("recommender.review_challengers") and not rita.is_superuser
    assert rita.check_password(PASSWORD) and not rita.check_password("old-Password-77")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name!", "--password", PASSWORD], "'bad name!': Enter a valid username"),
        (["rita", "--password", "12345678"], "password refused: This password is too common"),
        (["rita", "--password", "rita"], "password refused: "),
        (["rita", "--password", PASSWORD, "--email", "nope"], "'rita': Enter a valid email"),
    ],
)
def test_it_refuses_bad_input_and_creates_nothing(monkeypatch, args, message):
    monkeypatch.delenv("RECOMMENDER_REVIEWER_PASSWORD", raising=False)

    with pytest.raises(CommandError) as error:
        run(*args)

    assert str(error.value).startswith(message)
    assert not User.objects.exists()
