import pytest

from recommender.models import DriftReport
from recommender.services.monitoring import NothingToMonitorError, drift_report_create
from simulation.services import SimulationParameters, simulation_run_create, simulation_run_execute

pytestmark = pytest.mark.django_db


def play(**parameters):
    run = simulation_run_create(
        parameters=SimulationParameters(arrivals=0.0, **parameters), actor="test"
    )
    return simulation_run_execute(run=run).rounds.order_by("number").last()


def test_a_strong_shift_marks_its_genre_degraded_and_requires_retraining(
    champion, original_penalty
):
    round_ = play(rounds=1, seed=1, shift={"Action": 0.6})

    report = drift_report_create(actor="command:test")

    assert report.round_id == round_.pk and report.model_version == champion
    assert "genre:Action" in report.degraded and report.retraining_required
    drama = next(m for m in report.metrics if m["metric"] == "genre:Drama")
    assert not drama["degraded"] and drama["drop"] < 0.1
    action = next(m for m in report.metrics if m["metric"] == "genre:Action")
    assert action["drop"] == pytest.approx(action["benchmark_r2"] - action["current_r2"])
    assert action["ci_low"] <= action["drop"] <= action["ci_high"] and action["significant"]


def test_an_unshifted_round_does_not_require_retraining(champion, original_penalty):
    play(rounds=1, seed=2)

    report = drift_report_create(actor="command:test")

    assert not report.retraining_required and report.degraded == []


def test_segments_with_too_few_interactions_are_not_judged(champion):
    play(rounds=1, seed=3)

    report = drift_report_create(actor="command:test")

    judged = {m["metric"] for m in report.metrics}
    assert "genre:Film-Noir" in report.not_judged and "genre:Film-Noir" not in judged
    assert all(m["n"] >= 100 for m in report.metrics)


def test_with_nothing_simulated_there_is_nothing_to_monitor(champion):
    with pytest.raises(NothingToMonitorError, match="run a simulation round first"):
        drift_report_create(actor="command:test")
    assert not DriftReport.objects.exists()


def test_the_monitor_command_prints_the_report_and_the_verdict(champion, capsys):
    from django.core.management import call_command

    play(rounds=1, seed=1, shift={"Action": 0.6})

    call_command("monitor", "--no-progress")

    out = capsys.readouterr().out
    assert "| metric" in out and "95% CI of drop" in out
    assert "retraining required: " in out and "genre:Action" in out
