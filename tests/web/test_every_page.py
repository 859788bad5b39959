"""Every page of the site renders for a reviewer, with data (the world of tests/web/conftest.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.models import ModelVersion
from tests.users import client_for

pytestmark = pytest.mark.django_db


def test_every_page_renders_for_a_reviewer_with_data(world, reviewer):
    client = client_for(reviewer)
    pending, run = world["pending"], world["run"]
    champion = ModelVersion.objects.get(status="champion")
    waiting = ModelVersion.objects.filter(status="pending_review").count()
    pages = {
        reverse("web:dashboard"): [
            f"v{champion.pk}",
            f"{waiting} challenger{'s' if waiting > 1 else ''}</a>",
            f"{champion.r2:.3f}",
            "Drift report",
        ],
        reverse("web:metrics"): ['data-chart="r2"', 'data-chart="genre-r2"'],
        reverse("web:viewer-search"): ["Viewer id"],
        reverse("web:viewer-detail", kwargs={"source_id": 1}): ["Current top 10", "Rating history"],
        reverse("web:model-list"): [f"v{pending.pk}", "pending review"],
        reverse("web:model-detail", kwargs={"version_id": champion.pk}): [
            "Benchmark per genre",
            "Action",
        ],
        reverse("web:model-review", kwargs={"version_id": pending.pk}): [
            "Metrics that had degraded",
            "Approve: make",
        ],
        reverse("web:simulate"): ["Start the simulation", f'href="/simulate/{run.pk}/"'],
        reverse("web:simulation-detail", kwargs={"run_id": run.pk}): ["100 %", "Rounds played"],
    }
    for url, expected in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        for text in expected:
            assert text in html, f"{url} lacks {text!r}"
