"""The review page in a real headless Chromium: champion and challenger of different families
side by side (family, hyperparameters, RMSE, R², P@10, NDCG@10 and the comparison that sent the
challenger to review), and a reviewer's decision applied."""

from __future__ import annotations

import re

import pytest

from recommender.models import ModelVersion
from recommender.services.lifecycle import model_version_send_to_review
from recommender.services.registry import model_version_train
from recommender.services.retraining import model_version_retrain
from tests.browser.test_reviewer_journeys import chromium, page, reviewer, screenshot  # noqa: F401
from tests.web.conftest import world  # noqa: F401 - a fixture


def cells(tab, row: str) -> list[str]:
    """The champion's and the challenger's cells of one row of the side-by-side table."""
    return tab.locator(
        f"table.models-side-by-side tr:has(th:text-is('{row}')) td"
    ).all_inner_texts()


@pytest.mark.django_db(transaction=True)
def test_a_reviewer_sees_an_als_challenger_beside_the_svd_champion_and_declines_it(
    postgresql,
    world,  # noqa: F811
    page,  # noqa: F811
):
    champion = ModelVersion.objects.get(status="champion")
    retrained = model_version_retrain(actor="command:test", family="als", seed=4).challenger
    # The registry decided by itself; the same comparison on a pending ALS version is what a
    # "human review" decision leaves for the reviewer.
    champion = ModelVersion.objects.get(status="champion")
    pending = model_version_train(
        actor="command:test", family="als", config={"factors": 8, "iterations": 5}
    )
    pending.comparison = {**retrained.comparison, "champion": champion.pk}
    pending.save(update_fields=["comparison"])
    model_version_send_to_review(version_id=pending.pk, actor="command:test", reason="test")

    page.goto(f"/models/{pending.pk}/review/")

    headers = page.locator("table.models-side-by-side thead th").all_text_contents()
    assert headers[1:] == [f"Champion v{champion.pk}", f"Challenger v{pending.pk}"]
    assert cells(page, "Family") == [champion.algorithm, "als"]
    champion_params, challenger_params = cells(page, "Hyperparameters")
    assert "n_factors=" in champion_params or "factors=" in champion_params
    assert (
        set(challenger_params.split(", "))
        == {f"{name}={value}" for name, value in pending.hyperparameters.items()}
        >= {"factors=8", "iterations=5", "alpha=2.0"}
    )
    assert cells(page, "Holdout RMSE") == [f"{v.rmse:.3f}" for v in (champion, pending)]
    assert cells(page, "Holdout R²") == [f"{v.r2:.3f}" for v in (champion, pending)]
    assert cells(page, "Holdout NDCG@10") == [
        f"{v.metrics['ndcg_at_k']:.3f}" for v in (champion, pending)
    ]
    ranking = pending.comparison["ranking"]
    assert cells(page, "Recent P@10") == [
        f"{ranking[role]['precision_at_k']:.3f}" for role in ("champion", "challenger")
    ]
    # ALS predicts no ratings: the NDCG@10 comparison is one of the compared metrics.
    ndcg_row = page.locator("table.comparison tr:has(th:text-is('NDCG@10 (ranking)'))")
    assert ndcg_row.count() == 1
    assert ndcg_row.locator("td").first.inner_text() == "NDCG@10"
    screenshot(page, "review-als-vs-svd")

    page.fill("textarea[name=comment]", "its lists are no better")
    page.click("button[value=reject]")

    page.wait_for_url(re.compile(rf"/models/{pending.pk}/$"))
    assert "rejected" in page.locator(".messages").inner_text()
    assert ModelVersion.objects.get(pk=pending.pk).status == "rejected"
    assert ModelVersion.objects.get(status="champion").pk == champion.pk
