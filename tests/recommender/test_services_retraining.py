import pytest
from django.core import mail

from recommender.engine.search import SEARCH_SPACE
from recommender.models import ModelVersion, Rating
from recommender.services.monitoring import drift_report_create
from recommender.services.retraining import TrainingWindow, model_version_retrain
from simulation.services import SimulationParameters, simulation_run_create, simulation_run_execute
from tests.champions import train_champion

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status


@pytest.fixture
def drifted(bundled_subset, artifact_dir):
    champion = train_champion()
    for seed in (1, 2, 3):
        run = simulation_run_create(
            parameters=SimulationParameters(
                rounds=1, seed=seed, truth="model", shift={"Action": 0.6}, arrivals=0.0
            ),
            actor="test",
        )
        simulation_run_execute(run=run)
    # Every round is shifted, so there is no clean reference: the original rule judges.
    report = drift_report_create(actor="command:test", rule="benchmark")
    assert report.retraining_required
    return champion, report


def test_retraining_decides_by_the_matrix_and_the_registry_follows(
    drifted, django_capture_on_commit_callbacks
):
    champion, report = drifted

    with django_capture_on_commit_callbacks(execute=True):
        outcome = model_version_retrain(actor="command:test", seed=4)

    challenger = outcome.challenger
    expected_status = {
        "promote": Status.CHAMPION,
        "reject": Status.REJECTED,
        "human review": Status.PENDING_REVIEW,
    }
    assert challenger.status == expected_status[outcome.decision.value]
    assert challenger.comparison["drift_report"] == report.pk
    assert {c["metric"] for c in outcome.comparisons} >= {"overall", "genre:Action"}
    action = next(c for c in outcome.comparisons if c["metric"] == "genre:Action")
    assert action["was_degraded"] and action["challenger_r2"] > action["champion_r2"], (
        "it learnt the new taste"
    )
    if outcome.decision.value == "promote":
        assert ModelVersion.objects.get(pk=champion.pk).status == Status.RETIRED
    if outcome.decision.value == "human review":
        assert len(mail.outbox) == 1 and "genre:Action" in mail.outbox[0].body


def test_the_recent_holdout_is_kept_out_of_the_challengers_training(drifted):
    _, report = drifted

    outcome = model_version_retrain(actor="command:test", seed=4)

    held_out = outcome.challenger.comparison["holdout"]["ratings"]
    total = Rating.objects.count()
    recent = Rating.objects.filter(origin="simulated").count()
    assert 0.25 * recent < held_out < 0.35 * recent
    assert outcome.challenger.training_rows + outcome.challenger.holdout_rows == total - held_out


def test_a_window_of_the_last_rounds_trains_on_original_plus_those_rounds(drifted):
    outcome = model_version_retrain(
        actor="command:test", window=TrainingWindow(last_rounds=1), seed=4
    )

    challenger = outcome.challenger
    original = Rating.objects.filter(origin="original").count()
    last_round = Rating.objects.filter(round_id=outcome.drift_report.round_id).count()
    held_out = challenger.comparison["holdout"]["ratings"]
    # Held-out ratings are drawn from all recent rounds; those of the last round leave the window.
    learnt_from = challenger.training_rows + challenger.holdout_rows
    assert original + last_round - held_out < learnt_from < original + last_round
    assert challenger.training_window["kind"] == "last rounds"


def test_search_picks_hyperparameters_from_the_search_space(drifted, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "SEARCH_ITERATIONS": 2}

    outcome = model_version_retrain(actor="command:test", search=True, seed=4)

    chosen = outcome.challenger.hyperparameters
    assert (
        chosen["n_factors"] in SEARCH_SPACE["n_factors"]
        and chosen["reg_all"] in SEARCH_SPACE["reg_all"]
    )
    assert outcome.challenger.training_window["search"] is True


def test_a_window_with_both_rounds_and_a_date_is_refused():
    from datetime import UTC, datetime

    with pytest.raises(ValueError, match="give last_rounds or since, not both"):
        TrainingWindow(last_rounds=2, since=datetime(2020, 1, 1, tzinfo=UTC))


def test_the_retrain_command_prints_the_comparison_and_the_decision(drifted, capsys):
    from django.core.management import call_command

    call_command("retrain", "--no-progress", "--seed", "4")

    out = capsys.readouterr().out
    assert "| metric" in out and "champion R²" in out and "challenger R²" in out
    assert "decision: " in out and "genre:Action" in out
