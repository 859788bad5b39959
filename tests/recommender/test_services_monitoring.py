import pytest

from recommender.models import DriftReport
from recommender.services.monitoring import NothingToMonitorError, drift_report_create
from simulation.services import SimulationParameters, simulation_run_create, simulation_run_execute

pytestmark = pytest.mark.django_db


def play(**parameters):
    """Simulated rounds, one run; the last round."""
    run = simulation_run_create(
        parameters=SimulationParameters(arrivals=0.0, **parameters), actor="test"
    )
    return simulation_run_execute(run=run).rounds.order_by("number").last()


def test_the_reference_rule_judges_a_round_against_the_champions_earlier_clean_rounds(champion):
    last = play(rounds=2, seed=1, shift={"Action": 0.6}, shift_start=2)
    first = last.run.rounds.get(number=1)

    reports = [drift_report_create(actor="test", round_id=r.pk) for r in (first, last)]

    # The first round served has no reference: nothing judged, and it becomes the reference.
    assert reports[0].metrics == [] and not reports[0].retraining_required
    assert reports[0].window["reference"]["rounds"] == []
    assert reports[1].window["reference"]["rounds"] == [first.pk]
    assert reports[1].thresholds["rule"] == "reference" and reports[1].retraining_required
    assert "genre:Action" in reports[1].degraded
    action = next(m for m in reports[1].metrics if m["metric"] == "genre:Action")
    assert action["drop"] == pytest.approx(action["benchmark_r2"] - action["current_r2"])
    assert action["p_adjusted"] < 0.05 and action["current_rmse"] > action["reference_rmse"]
    assert action["reference_n"] >= 100 and action["n"] >= 100


def test_a_round_found_degraded_never_joins_the_reference(champion):
    last = play(rounds=3, seed=1, shift={"Action": 0.6}, shift_start=2)
    first, second = last.run.rounds.order_by("number")[:2]
    for round_ in (first, second):
        drift_report_create(actor="test", round_id=round_.pk)

    report = drift_report_create(actor="test", round_id=last.pk)

    assert report.window["reference"]["rounds"] == [first.pk]
    assert "genre:Action" in report.degraded


def test_a_strong_shift_marks_its_genre_degraded_under_the_original_rule(
    champion, original_penalty
):
    round_ = play(rounds=1, seed=1, truth="model", shift={"Action": 0.6})

    report = drift_report_create(actor="command:test", rule="benchmark")

    assert report.round_id == round_.pk and report.model_version == champion
    assert "genre:Action" in report.degraded and report.retraining_required
    drama = next(m for m in report.metrics if m["metric"] == "genre:Drama")
    assert not drama["degraded"] and drama["drop"] < 0.1
    action = next(m for m in report.metrics if m["metric"] == "genre:Action")
    assert action["drop"] == pytest.approx(action["benchmark_r2"] - action["current_r2"])
    assert action["ci_low"] <= action["drop"] <= action["ci_high"] and action["significant"]


def test_an_unshifted_round_does_not_require_retraining_under_the_original_rule(champion):
    play(rounds=1, seed=2, truth="model")

    report = drift_report_create(actor="command:test", rule="benchmark")

    assert not report.retraining_required and report.degraded == []


def test_segments_with_too_few_interactions_are_not_judged(champion):
    play(rounds=1, seed=3)

    report = drift_report_create(actor="command:test", rule="benchmark")

    judged = {m["metric"] for m in report.metrics}
    assert "genre:Film-Noir" in report.not_judged and "genre:Film-Noir" not in judged
    assert all(m["n"] >= 100 for m in report.metrics)


def test_with_nothing_simulated_there_is_nothing_to_monitor(champion):
    with pytest.raises(NothingToMonitorError, match="run a simulation round first"):
        drift_report_create(actor="command:test")
    assert not DriftReport.objects.exists()


def test_the_monitor_command_prints_the_report_and_the_verdict(champion, capsys):
    from django.core.management import call_command

    play(rounds=1, seed=1, truth="model", shift={"Action": 0.6})

    call_command("monitor", "--rule", "benchmark", "--no-progress")

    out = capsys.readouterr().out
    assert "| metric" in out and "95% CI of drop" in out and "current RMSE" in out
    assert "retraining required: " in out and "genre:Action" in out
