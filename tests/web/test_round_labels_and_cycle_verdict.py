"""How a reviewer reads rounds: "run 1, round 2" (not "1.2"), and the dashboard's cycle cell as a
one-line verdict with a link to the round's row on the metric page."""

from __future__ import annotations

import pytest

from recommender.services.cycle import CycleOutcome
from recommender.web.presentation import cycle_verdict
from simulation.metrics import RoundMetrics
from simulation.models import SimulationRound, SimulationRun
from tests.users import client_for, create_reviewer

LONG_REASON = "Improved: overall (0.30 -> 0.32); degraded further: genre:Action ... " * 5


@pytest.mark.parametrize(
    ("cycle", "verdict"),
    [
        (None, ""),
        (CycleOutcome(round_id=1), "not monitored"),
        (CycleOutcome(round_id=1, drift_report=4), "no drift"),
        (
            CycleOutcome(
                round_id=1,
                drift_report=4,
                degraded=["overall", "genre:Action"],
                retrained=True,
                challenger=7,
                decision="human review",
                reason=LONG_REASON,
            ),
            "drift in 2 metrics: challenger v7 sent to review",
        ),
        (
            CycleOutcome(
                round_id=1,
                drift_report=4,
                degraded=["genre:Action"],
                retrained=True,
                challenger=8,
                decision="promote",
            ),
            "drift in 1 metric: challenger v8 promoted",
        ),
    ],
)
def test_the_cycle_verdict_is_one_line(cycle, verdict):
    assert cycle_verdict(cycle) == verdict


@pytest.fixture
def monitored_round(db):
    run = SimulationRun.objects.create(seed=0, rounds_planned=2)
    cycle = CycleOutcome(
        round_id=None,
        drift_report=4,
        degraded=["genre:Action"],
        retrained=True,
        challenger=9,
        decision="reject",
        reason=LONG_REASON,
    )
    metrics = RoundMetrics(sigma=0.5, accuracy={}, lists={}, seconds=1.0, cycle=cycle)
    return SimulationRound.objects.create(run=run, number=2, metrics=metrics.to_json())


def test_the_dashboard_says_what_the_cycle_did_in_one_line_and_links_to_the_round(
    monitored_round,
):
    page = client_for(create_reviewer()).get("/").content.decode()

    assert "drift in 1 metric: challenger v9 rejected" in page
    assert f"?run={monitored_round.run_id}#round-{monitored_round.pk}" in page
    assert LONG_REASON[:40] not in page


def test_the_metric_page_names_rounds_by_run_and_number_and_anchors_each_row(monitored_round):
    page = client_for(create_reviewer()).get("/metrics/").content.decode()

    assert f"run {monitored_round.run_id}, round 2" in page
    assert f'id="round-{monitored_round.pk}"' in page
    assert f">{monitored_round.run_id}.2<" not in page
