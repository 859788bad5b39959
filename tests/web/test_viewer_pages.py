"""The viewer pages: the search, and a viewer's page with its top-N from the recommendation
service, shown to reviewers and to the viewer's own account only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import Viewer
from tests.users import client_for

pytestmark = pytest.mark.django_db


def test_a_viewer_account_sees_its_own_page_with_a_friendly_note_when_nothing_is_trained(viewer):
    response = client_for(viewer).get(reverse("web:viewer-detail", kwargs={"source_id": 1}))

    assert response.status_code == 200
    assert "No model has been trained yet" in response.content.decode()
    assert 'href="/metrics/"' not in response.content.decode(), "no reviewer navigation"


def test_it_refuses_a_viewer_account_another_viewers_page(viewer):
    Viewer.objects.create(source_id=2)

    response = client_for(viewer).get(reverse("web:viewer-detail", kwargs={"source_id": 2}))

    assert response.status_code == 403
    assert "only see your own recommendations" in response.content.decode()


def test_the_viewer_page_lists_the_top_n_from_the_recommendation_service(world, reviewer):
    from recommender.services.recommendations import viewer_recommendations

    expected = viewer_recommendations(viewer_id=1, n=20)

    response = client_for(reviewer).get(
        reverse("web:viewer-detail", kwargs={"source_id": 1}), {"n": 20}
    )

    listing = response.context["listing"].recommendations
    assert [f.film_id for f in listing.films] == [f.film_id for f in expected.films]
    assert len(listing.films) == 20
    html = response.content.decode()
    assert f"{expected.films[0].predicted_rating:.2f} ★" in html
    assert ("model" if expected.source == "model" else "cold-start fallback") in html


def test_the_viewer_search_opens_the_viewer_or_says_it_is_not_found(reviewer):
    Viewer.objects.create(source_id=15)
    client = client_for(reviewer)

    found = client.get(reverse("web:viewer-search"), {"q": "15"})
    missing = client.get(reverse("web:viewer-search"), {"q": "16"})
    nonsense = client.get(reverse("web:viewer-search"), {"q": "abc"})

    assert found.status_code == 302
    assert found["Location"] == reverse("web:viewer-detail", kwargs={"source_id": 15})
    assert missing.status_code == 200 and "No viewer has the id 16." in missing.content.decode()
    assert nonsense.status_code == 200 and "Enter a whole number" in nonsense.content.decode()


def test_an_unknown_viewer_page_is_404_for_a_reviewer(reviewer):
    response = client_for(reviewer).get(reverse("web:viewer-detail", kwargs={"source_id": 999}))

    assert response.status_code == 404
