"""The links a page shows follow the access policy the views enforce (recommender.access):
nobody is offered a page or an action that would answer 403."""

from __future__ import annotations

import pytest

from tests.users import client_for, create_users


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        ("reviewer", ["/metrics/", "/models/", "/simulate/"], ["/admin/"]),
        ("staff", ["/metrics/", "/models/", "/admin/"], ["/simulate/"]),
    ],
)
def test_the_navigation_offers_what_the_policy_allows(db, role, shown, hidden):
    page = client_for(create_users()[role]).get("/models/").content.decode()

    for href in shown:
        assert f'href="{href}"' in page, (role, href)
    for href in hidden:
        assert f'href="{href}"' not in page, (role, href)


def test_a_viewer_account_is_offered_only_its_own_page(db):
    users = create_users()

    page = client_for(users["viewer"]).get("/viewers/1/").content.decode()

    assert 'href="/viewers/1/"' in page
    for href in ("/metrics/", "/models/", "/simulate/", "/admin/"):
        assert f'href="{href}"' not in page
