"""An unexpected failure inside the API answers in the API's JSON shape, not Django's HTML page,
and names nothing internal; the rest of the site keeps its HTML 500 page."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from recommender.engine.model import SVDConfig
from recommender.models import ScoredList
from recommender.services.registry import model_version_train
from recommender.services.scoring import scoring_run_create
from tests.users import client_for


@pytest.fixture
def damaged_stored_list(bundled_subset, artifact_dir):
    """A served run whose stored list for viewer 15 was cut short on disk: 3 bytes cannot hold
    int32 film ids, so reading it fails inside the request."""
    model_version_train(actor="command:test", config=SVDConfig(n_factors=10, n_epochs=5, seed=0))
    run = scoring_run_create(actor="command:test")
    ScoredList.objects.filter(run=run, viewer__source_id=15).update(film_ids=b"\x00\x01\x02")
    return run


def test_a_failure_inside_the_api_is_a_json_500_that_names_nothing_internal(
    damaged_stored_list, reviewer
):
    client = client_for(reviewer, raise_request_exception=False)

    response = client.get("/api/v1/viewers/15/recommendations/")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "internal server error: the failure was logged for the operators"
    }


def test_outside_the_api_the_500_answer_is_the_sites_html_page(db):
    from recommender.api.errors import server_error

    response = server_error(RequestFactory().get("/viewers/15/"))

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
