"""The whole loop for every model family, through the real services on the database: train ->
score -> simulate (two rounds, Action rated 40 % lower from the second) -> monitor ->
retrain a challenger of the same family -> review, asserting at each step what a user sees.

The simulation plays "model truth" (the champion's predicted rating is the viewer's true
taste): for a ranking family that is its calibrated rating (engine.families)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recommender.engine.families import FAMILIES
from recommender.models import DriftReport, ModelVersion, Rating, ScoredList, ScoringRun
from recommender.services.lifecycle import (
    model_version_approve,
    model_version_decline,
    model_version_send_to_review,
)
from recommender.services.monitoring import drift_report_create
from recommender.services.registry import model_version_train
from recommender.services.retraining import model_version_retrain
from recommender.services.scoring import scoring_run_create
from simulation.models import SimulationRun
from simulation.services import SimulationParameters, simulation_run_create, simulation_run_execute
from tests.users import client_for, create_reviewer

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status

# Small settings so that each family's loop takes seconds on the bundled subset.
FAST = {
    "svd": {"n_factors": 20, "n_epochs": 10},
    "als": {"factors": 8, "iterations": 5},
    "bpr": {"factors": 16, "iterations": 20},
    "genre-als": {"factors": 8, "iterations": 5},
}


def test_every_family_has_fast_settings_here():
    assert set(FAST) == set(FAMILIES)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_loop_runs_for_every_family(family, bundled_subset, artifact_dir):
    # train: the first version of the family becomes the champion.
    champion = model_version_train(actor="command:test", family=family, config=FAST[family])
    assert (champion.status, champion.algorithm) == (Status.CHAMPION, family)
    assert champion.metrics["ndcg_at_k"] is not None and champion.metrics["overall"]["n"] > 0

    # score: every viewer's list is stored under the champion.
    run = scoring_run_create(actor="command:test")
    assert ScoringRun.objects.get(pk=run.pk).model_version_id == champion.pk
    assert ScoredList.objects.filter(run=run).count() == run.viewers > 0

    # simulate: two rounds of viewers rating what they were served, their ratings stored.
    simulation = simulation_run_create(
        parameters=SimulationParameters(
            rounds=2, seed=1, shift={"Action": 0.6}, shift_start=2, arrivals=0.0
        ),
        actor="command:test",
    )
    simulation_run_execute(run=simulation)
    simulation.refresh_from_db()
    assert simulation.status == SimulationRun.Status.COMPLETED
    rounds = list(simulation.rounds.order_by("number"))
    assert len(rounds) == 2
    assert all(Rating.objects.filter(round=r).count() == r.interactions > 0 for r in rounds)

    # monitor: a drift report on the champion, judging the last round.
    report = drift_report_create(actor="command:test")
    assert DriftReport.objects.get(pk=report.pk).round_id == rounds[-1].pk
    assert report.model_version_id == champion.pk and report.metrics

    # retrain: a challenger of the same family, compared on the recent holdout by R² and lists.
    outcome = model_version_retrain(actor="command:test", seed=4)
    challenger = outcome.challenger
    assert challenger.algorithm == family
    ranking = challenger.comparison["ranking"]
    assert ranking["viewers"] > 0 and ranking["champion"] and ranking["challenger"]
    compared = {c["metric"] for c in challenger.comparison["metrics"]}
    assert "overall" in compared
    assert ("ranking:NDCG@10" in compared) is (not FAMILIES[family].predicts_ratings)

    # the decision is applied by the registry.
    expected = {
        "promote": Status.CHAMPION,
        "reject": Status.REJECTED,
        "human review": Status.PENDING_REVIEW,
    }
    assert challenger.status == expected[outcome.decision.value]
    serving = ModelVersion.objects.get(status=Status.CHAMPION)
    assert serving.pk == (challenger.pk if outcome.decision.value == "promote" else champion.pk)

    # review: the challenger sent to review, or (when the registry decided by itself) one more
    # challenger of the family sent to review with this comparison, as a "human review"
    # decision does; shown side by side and decided by a reviewer through the service.
    pending = challenger
    if challenger.status != Status.PENDING_REVIEW:
        pending = model_version_train(
            actor="command:test", family=family, config={**FAST[family], "seed": 5}
        )
        pending.comparison = {**challenger.comparison, "champion": serving.pk}
        pending.save(update_fields=["comparison"])
        model_version_send_to_review(
            version_id=pending.pk, actor="command:test", reason="loop test"
        )
    reviewer = create_reviewer()
    page = client_for(reviewer).get(reverse("web:model-review", args=[pending.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and "Recent NDCG@10" in html
    assert html.count(f'<td class="family">{family}</td>') == 2
    approve = list(FAMILIES).index(family) % 2 == 0  # approve for half the families, decline
    decide = model_version_approve if approve else model_version_decline
    decide(version_id=pending.pk, reviewer=reviewer, comment="loop test")
    pending.refresh_from_db()
    assert pending.status == (Status.CHAMPION if approve else Status.REJECTED)
    now_serving = ModelVersion.objects.get(status=Status.CHAMPION)
    assert now_serving.pk == (pending.pk if approve else serving.pk)
    assert now_serving.algorithm == family
