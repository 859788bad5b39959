"""Token lookups held per process: a second request reads neither the token nor the
account's permissions, and a revoked token or withdrawn permission takes effect at once in
this process."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from recommender.api.authentication import held_tokens

URL = "/api/v1/champion/"


@pytest.fixture
def token_client(reviewer):
    held_tokens.clear()
    token = Token.objects.create(user=reviewer)
    yield Client(HTTP_AUTHORIZATION=f"Token {token.key}"), token
    held_tokens.clear()


def auth_queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        status = client.get(URL).status_code
    sql = [q["sql"] for q in queries.captured_queries]
    return status, [s for s in sql if "authtoken_token" in s or "auth_permission" in s]


def test_the_second_request_reads_no_token_and_no_permission(champion, token_client):
    client, _ = token_client
    status, lookups = auth_queries(client)
    assert status == 200 and len(lookups) >= 2
    status, lookups = auth_queries(client)
    assert status == 200 and lookups == []


def test_a_revoked_token_and_a_withdrawn_permission_take_effect_at_once(
    champion, token_client, reviewer
):
    client, token = token_client
    assert client.get(URL).status_code == 200
    reviewer.user_permissions.remove(Permission.objects.get(codename="review_challengers"))
    assert client.get(URL).status_code == 403
    token.delete()
    assert client.get(URL).status_code == 401
