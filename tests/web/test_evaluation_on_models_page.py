"""The models page shows the latest offline evaluation as the command prints it, and the
penalty sweep's trade-off plotted, in a real headless Chromium."""

from __future__ import annotations

import pytest

from recommender.engine.offline import BASELINES, SERVED, table_headers
from recommender.services.evaluation import evaluation_create
from tests.browser.test_reviewer_journeys import (  # noqa: F401 - fixtures
    chromium,
    page,
    reviewer,
    screenshot,
)


@pytest.mark.django_db(transaction=True)
def test_the_models_page_shows_the_latest_evaluation_and_its_sweep(bundled_subset, page):  # noqa: F811
    evaluation_create(actor="command:test", protocol="holdout", families=["svd"], k=5)
    latest = evaluation_create(actor="command:test", families=["svd", "als"], sweep=True)

    page.goto("/models/")

    table = page.locator("#evaluation-table")
    # The text itself (the stylesheet shows headers in capitals).
    assert table.locator("thead th").all_text_contents()[1:] == table_headers(10)[1:]
    assert table.locator("tbody th").all_inner_texts() == [*BASELINES, "svd", "als", SERVED]
    summary = page.locator("#evaluation p.small").first.inner_text()
    assert f"Evaluation {latest.pk}: Microsoft Recommenders" in summary
    # svd's P@10 cell reads as the stored figure, to four places.
    svd_cells = table.locator("tbody tr").nth(3).locator("td").all_inner_texts()
    svd_row = next(row for row in latest.rows if row["name"] == "svd")
    assert svd_cells[2] == f"{svd_row['precision_at_k']:.4f}"
    # Two families x two transforms: four curves, each with a point per alpha.
    chart = page.locator('[data-chart="penalty-sweep"] svg')
    assert chart.locator('g[id^="penalty-sweep-series-"]').count() == 4
    assert "calibrated rating" in page.locator("#evaluation").inner_text()
    screenshot(page, "models-evaluation")


@pytest.mark.django_db(transaction=True)
def test_before_any_evaluation_the_page_says_how_to_make_one(page):  # noqa: F811
    page.goto("/models/")

    assert (
        "No offline evaluation yet: run manage.py evaluate."
        in page.locator("#evaluation").inner_text()
    )
    assert page.locator('[data-chart="penalty-sweep"]').count() == 0
