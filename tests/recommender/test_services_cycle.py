"""The monitor-and-retrain cycle that beat runs: one round judged once, retraining when the
drift report requires it, the lists scored again after a promotion."""

import pytest
from django.core.management import call_command

from recommender.engine.model import SVDConfig
from recommender.models import DriftReport, ModelVersion, ScoringRun
from recommender.selectors.scoring import served_scoring_run
from recommender.services.cycle import monitor_and_retrain
from recommender.services.registry import model_version_train
from simulation.services import SimulationParameters, simulation_run_create, simulation_run_execute

pytestmark = pytest.mark.django_db


def test_without_rounds_there_is_nothing_to_do(bundled_subset, artifact_dir):
    model_version_train(actor="test", config=SVDConfig(n_factors=5, n_epochs=5))

    outcome = monitor_and_retrain(actor="beat")

    assert outcome.round_id is None and outcome.reason == "no rounds of recent interactions yet"
    assert not DriftReport.objects.exists()


def test_a_shifted_round_is_judged_once_retrained_and_a_promotion_is_scored(
    bundled_subset, artifact_dir, django_capture_on_commit_callbacks
):
    champion = model_version_train(
        actor="test", config=SVDConfig(n_factors=20, n_epochs=10, seed=3)
    )
    run = simulation_run_create(
        parameters=SimulationParameters(
            rounds=2, seed=2, truth="oracle", shift={"Action": 0.6}, shift_start=2, arrivals=0.0
        ),
        actor="test",
    )
    simulation_run_execute(run=run)
    newest = run.rounds.get(number=2)

    # Round 1 (clean) is the first the champion served: it has no reference yet, so nothing in
    # it is judged, and it becomes the reference round 2 is judged against.
    first = monitor_and_retrain(actor="beat", round_id=run.rounds.get(number=1).pk, seed=4)
    assert not first.retrained and first.degraded == []
    first_report = DriftReport.objects.get(pk=first.drift_report)
    assert first_report.metrics == [] and first_report.window["reference"]["rounds"] == []
    with django_capture_on_commit_callbacks(execute=True):
        outcome = monitor_and_retrain(actor="beat", seed=4)
        again = monitor_and_retrain(actor="beat", seed=4)

    assert outcome.round_id == newest.pk and outcome.retrained
    assert "genre:Action" in outcome.degraded
    report = DriftReport.objects.get(pk=outcome.drift_report)
    assert report.window["reference"]["rounds"] == [run.rounds.get(number=1).pk]
    action = next(m for m in report.metrics if m["metric"] == "genre:Action")
    assert action["p_adjusted"] < 0.05 and action["drop"] > action["threshold"]
    assert action["current_rmse"] > action["reference_rmse"]
    challenger = ModelVersion.objects.get(pk=outcome.challenger)
    assert challenger.comparison["decision"] == outcome.decision
    # Oracle truth and a strong shift: the challenger learns the new taste and is promoted.
    assert outcome.decision == "promote" and challenger.status == ModelVersion.Status.CHAMPION
    assert ModelVersion.objects.get(pk=champion.pk).status == ModelVersion.Status.RETIRED
    served = served_scoring_run()
    assert served.pk == outcome.scoring_run and served.model_version_id == challenger.pk
    assert (
        again.reason
        == f"round {newest.pk} was already monitored (drift report {outcome.drift_report})"
    )
    assert not again.retrained
    assert DriftReport.objects.filter(round=newest).count() == 1
    assert ModelVersion.objects.count() == 2, "the second call trained nothing"
    assert DriftReport.objects.count() == 2
    assert ScoringRun.objects.filter(created_by="beat").count() == 1


def test_the_command_runs_the_cycle_and_says_when_there_is_nothing_new(
    bundled_subset, artifact_dir, capsys
):
    model_version_train(actor="test", config=SVDConfig(n_factors=5, n_epochs=5))
    call_command("simulate", "--rounds", "1", "--arrivals", "0", "--no-progress")
    capsys.readouterr()

    call_command("monitor_and_retrain", "--no-progress")
    call_command("monitor_and_retrain", "--no-progress")

    report = DriftReport.objects.get()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"round {report.round_id}: ")
    assert lines[-1] == (
        f"round {report.round_id}: round {report.round_id} was already monitored "
        f"(drift report {report.pk})"
    )
