import pytest
from django.core.management import call_command

from recommender.models import DriftReport, ModelVersion
from recommender.selectors.charts import drawn_chart_set
from recommender.web.metric_charts import history_key
from recommender.web.presentation import metric_history
from simulation.metrics import RoundMetrics
from simulation.services import (
    SimulationParameters,
    experiment_genre_shift,
    simulation_run_create,
    simulation_run_execute,
)

pytestmark = pytest.mark.django_db


def test_the_cycle_monitors_every_round_and_retrains_when_drift_is_found(champion):
    run = simulation_run_create(
        parameters=SimulationParameters(
            rounds=2, seed=1, shift={"Action": 0.6}, shift_start=2, arrivals=0.0
        ),
        actor="test",
    )

    simulation_run_execute(run=run, monitor=True)

    first, second = run.rounds.order_by("number")
    assert DriftReport.objects.count() == 2
    assert first.metrics["cycle"]["retrained"] is False, "no shift in round 1, no drift"
    assert (
        second.metrics["cycle"]["retrained"] is True
        and "genre:Action" in second.metrics["cycle"]["degraded"]
    )
    challenger = ModelVersion.objects.get(pk=second.metrics["cycle"]["challenger"])
    assert challenger.comparison["decision"] == second.metrics["cycle"]["decision"]
    metrics = RoundMetrics.from_json(second.metrics)
    assert (
        metrics.to_json() == second.metrics and RoundMetrics.from_json(metrics.to_json()) == metrics
    )
    assert metrics.cycle.challenger == challenger.pk and metrics.cycle.round_id == second.pk


def test_the_genre_shift_experiment_detects_retrains_and_reports_genre_counts(champion, reviewer):
    result = experiment_genre_shift(
        genre="Action", multiplier=0.6, shifted_rounds=2, seed=5, approve_as=reviewer
    )

    assert "genre:Action" in result.degraded and result.decision is not None
    assert set(result.genre_counts_before) >= {"Action", "Drama"}
    if result.challenger_status == "champion":
        assert result.genre_counts_after["Action"] < result.genre_counts_before["Action"]


def test_the_cycle_command_prints_each_rounds_decision(champion, capsys):
    call_command(
        "cycle",
        *("--rounds", "2", "--shift", "Action=0.6", "--shift-start", "2"),
        *("--arrivals", "0", "--no-progress"),
    )

    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| round "))
    assert [cell.strip() for cell in header.split("|")[1:-1]] == [
        "round", "shift", "R² existing", "Action per list", "degraded", "retraining"
    ]  # fmt: skip
    first, second = [line for line in out.splitlines() if line.startswith(("| 1 ", "| 2 "))]
    # Round 1 is the reference round 2 is judged against: nothing judged, no retraining.
    assert first.split("|")[5].strip() == "-" and first.split("|")[6].strip() == "-"
    assert "genre:Action" in second.split("|")[5]
    # How many Action films each round's lists held, per list: a count, not a placeholder.
    assert all(0 < float(line.split("|")[4]) < 100 for line in (first, second))


def test_the_experiment_command_prints_each_difference_with_its_interval(
    champion, reviewer, capsys
):
    call_command(
        "experiment",
        "genre-shift",
        *("--multiplier", "0.6", "--rounds", "2", "--seed", "5", "--no-progress"),
    )

    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("| metric "))
    assert [cell.strip() for cell in header.split("|")[1:-1]] == [
        "metric", "measure", "before", "champion", "challenger", "difference", "95% CI", "outcome"
    ]  # fmt: skip
    action = next(line for line in lines if line.startswith("| genre:Action "))
    low, high = (float(x) for x in action.split("|")[7].strip(" []").split(","))
    difference = float(action.split("|")[6])
    assert low <= difference <= high and action.split("|")[3].strip() == "degraded"
    assert drawn_chart_set(history_key(metric_history())) is not None, "the charts were drawn"
