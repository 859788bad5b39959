"""The model pages (list, detail, review): decisions go through the lifecycle services only
by a CSRF-checked POST from a reviewer, and the review shows champion and challenger side by
side."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from recommender.models import ModelVersion
from tests.users import client_for

pytestmark = pytest.mark.django_db


def versions(*statuses: str) -> list[ModelVersion]:
    return [ModelVersion.objects.create(status=s, created_by="test") for s in statuses]


def test_approving_needs_a_csrf_token(reviewer):
    old, pending = versions("champion", "pending_review")
    client = client_for(reviewer, enforce_csrf_checks=True)
    url = reverse("web:model-review", kwargs={"version_id": pending.pk})

    refused = client.post(url, {"decision": "approve"})

    assert refused.status_code == 403
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"
    client.get(url)  # the page sets the CSRF cookie, as a browser would receive it
    token = client.cookies[django_settings.CSRF_COOKIE_NAME].value
    accepted = client.post(url, {"decision": "approve", "csrfmiddlewaretoken": token})
    assert accepted.status_code == 302
    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert ModelVersion.objects.get(pk=old.pk).status == "retired"


def test_a_get_request_never_approves(reviewer):
    (pending,) = versions("pending_review")

    response = client_for(reviewer).get(
        reverse("web:model-review", kwargs={"version_id": pending.pk}), {"decision": "approve"}
    )

    assert response.status_code == 200
    assert ModelVersion.objects.get(pk=pending.pk).status == "pending_review"


def test_approving_a_pending_challenger_makes_it_champion_and_records_who_and_why(reviewer):
    old, pending = versions("champion", "pending_review")

    response = client_for(reviewer).post(
        reverse("web:model-review", kwargs={"version_id": pending.pk}),
        {"decision": "approve", "comment": "Action fixed, Drama unchanged"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse(
        "web:model-detail", kwargs={"version_id": pending.pk}
    )
    assert ModelVersion.objects.get(pk=pending.pk).status == "champion"
    assert ModelVersion.objects.get(pk=old.pk).status == "retired"
    event = pending.events.last()
    assert (event.from_status, event.to_status, event.actor) == (
        "pending_review",
        "champion",
        "user:rita",
    )
    assert event.reason == "approved in review: Action fixed, Drama unchanged"
    assert [str(m) for m in response.context["messages"]] == [
        f"Model v{pending.pk} approved: it is now the champion."
    ]


def test_rejecting_a_pending_challenger_keeps_the_champion(reviewer):
    old, pending = versions("champion", "pending_review")

    client_for(reviewer).post(
        reverse("web:model-review", kwargs={"version_id": pending.pk}),
        {"decision": "reject", "comment": "worse on Drama"},
    )

    assert ModelVersion.objects.get(pk=pending.pk).status == "rejected"
    assert ModelVersion.objects.get(pk=old.pk).status == "champion"
    assert pending.events.last().reason == "rejected in review: worse on Drama"


@pytest.mark.parametrize("status", ["challenger", "champion", "rejected", "retired"])
def test_approving_a_version_that_is_not_pending_is_refused_with_a_message(reviewer, status):
    (version,) = versions(status)
    events = version.events.count()

    response = client_for(reviewer).post(
        reverse("web:model-review", kwargs={"version_id": version.pk}),
        {"decision": "approve"},
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        f"Nothing changed: cannot approve model v{version.pk}: it is {status}, not pending_review."
    ]
    assert ModelVersion.objects.get(pk=version.pk).status == status
    assert version.events.count() == events


def test_the_review_page_shows_champion_and_challenger_side_by_side_per_metric(world, reviewer):
    pending = world["pending"]
    response = client_for(reviewer).get(
        reverse("web:model-review", kwargs={"version_id": pending.pk})
    )

    review = response.context["review"]
    compared = pending.comparison["metrics"]
    assert len(review.degraded) + len(review.stable) == len(compared)
    assert {r.metric for r in review.degraded} == {
        m["metric"] for m in compared if m["was_degraded"]
    }
    html = response.content.decode()
    for m in compared:
        assert f"{m['champion_r2']:.3f}" in html and f"{m['challenger_r2']:.3f}" in html
        assert m["outcome"] in html
