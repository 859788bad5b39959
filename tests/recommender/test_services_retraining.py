import pytest
from django.core import mail

from recommender.engine.families import FAMILIES
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


def test_a_search_within_one_family_picks_from_its_search_space(drifted, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "SEARCH_ITERATIONS": 2}

    outcome = model_version_retrain(actor="command:test", search=True, family="svd", seed=4)

    chosen = outcome.challenger.hyperparameters
    space = FAMILIES["svd"].search_space
    default = FAMILIES["svd"].config(seed=4).as_dict()
    assert outcome.challenger.algorithm == "svd"
    assert all(chosen[name] in (*values, default[name]) for name, values in space.items())
    assert outcome.challenger.training_window["search"] is True
    assert outcome.challenger.training_window["search_objective"] == "ranking"


def test_an_automatic_search_tries_every_family_and_records_what_it_chose(drifted, settings):
    settings.RECOMMENDER = {**settings.RECOMMENDER, "SEARCH_ITERATIONS": 1}

    outcome = model_version_retrain(actor="command:test", search=True, objective="rmse", seed=4)

    challenger = outcome.challenger
    assert challenger.algorithm in FAMILIES
    # One candidate per family: each family's defaults, so the chosen ones are those.
    assert challenger.hyperparameters == FAMILIES[challenger.algorithm].config(seed=4).as_dict()
    assert challenger.training_window["search_objective"] == "rmse"


def test_a_challenger_of_another_family_is_also_judged_by_its_lists(drifted):
    champion, _ = drifted

    outcome = model_version_retrain(actor="command:test", family="als", seed=4)

    challenger = outcome.challenger
    assert (champion.algorithm, challenger.algorithm) == ("svd", "als")
    assert challenger.hyperparameters == FAMILIES["als"].config(seed=4).as_dict()
    ranking = challenger.comparison["ranking"]
    assert ranking["k"] == 10 and ranking["relevant_min"] == 4.0 and ranking["viewers"] > 0
    # Figures of the same viewers for both (how large they are depends on what the champion
    # served: docs/architecture.md).
    for role in ("champion", "challenger"):
        assert 0 <= ranking[role]["precision_at_k"] <= 1 and 0 <= ranking[role]["ndcg_at_k"] <= 1
    # ALS predicts no ratings: its NDCG@10 comparison joins the decision, with its paired
    # interval, an outcome only beyond the 0.05 margin.
    [ndcg] = [c for c in outcome.comparisons if c["metric"] == "ranking:NDCG@10"]
    assert ndcg["champion_r2"] == ranking["champion"]["ndcg_at_k"]
    assert ndcg["challenger_r2"] == ranking["challenger"]["ndcg_at_k"]
    change = ndcg["challenger_r2"] - ndcg["champion_r2"]
    assert ndcg["ci_low"] <= change <= ndcg["ci_high"] and ndcg["n"] == ranking["viewers"]
    if ndcg["outcome"] == "degradation":
        assert change < -0.05
    elif ndcg["outcome"] == "improvement":
        assert ndcg["was_degraded"] and change > 0.05
    else:
        assert ndcg["outcome"] == ("no improvement" if ndcg["was_degraded"] else "remained stable")


def test_retraining_the_champions_family_keeps_its_hyperparameters(drifted):
    champion, _ = drifted

    outcome = model_version_retrain(actor="command:test", seed=4)

    assert outcome.challenger.algorithm == champion.algorithm == "svd"
    assert outcome.challenger.hyperparameters == {**champion.hyperparameters, "seed": 4}
    # Both predict ratings: the decision is made on R² alone, the lists are still recorded.
    assert not any(c["metric"].startswith("ranking:") for c in outcome.comparisons)
    assert outcome.challenger.comparison["ranking"]["challenger"]["ndcg_at_k"] >= 0


def test_a_window_with_both_rounds_and_a_date_is_refused():
    from datetime import UTC, datetime

    with pytest.raises(ValueError, match="give last_rounds or since, not both"):
        TrainingWindow(last_rounds=2, since=datetime(2020, 1, 1, tzinfo=UTC))


def test_the_retrain_command_prints_the_comparison_and_the_decision(drifted, capsys):
    from django.core.management import call_command

    call_command("retrain", "--no-progress", "--seed", "4")

    out = capsys.readouterr().out
    assert "| metric" in out and "| measure" in out and "R²" in out
    assert "decision: " in out and "genre:Action" in out
    # Both models with their family, hyperparameters and figures.
    champion = ModelVersion.objects.get(
        status__in=[Status.CHAMPION, Status.RETIRED], created_by="command:test"
    )
    [line] = [
        line for line in out.splitlines() if line.startswith(f"champion v{champion.pk} svd: ")
    ]
    assert {"n_factors=20", "n_epochs=10", "seed=3"} <= set(line.split(": ", 1)[1].split(", "))
    assert "| model" in out and "recent NDCG@10" in out and "| challenger v" in out


def test_a_challenger_is_judged_on_the_rounds_its_champions_drift_checks_did_not_pass(
    bundled_subset, artifact_dir
):
    train_champion()
    run = simulation_run_create(
        parameters=SimulationParameters(
            rounds=3, seed=1, shift={"Action": 0.6}, shift_start=3, arrivals=0.0
        ),
        actor="test",
    )

    simulation_run_execute(run=run, monitor=True)

    first, second, third = run.rounds.order_by("number")
    assert third.metrics["cycle"]["retrained"] and not second.metrics["cycle"]["retrained"]
    challenger = ModelVersion.objects.get(pk=third.metrics["cycle"]["challenger"])
    holdout = challenger.comparison["holdout"]
    # Rounds 1 (the reference) and 2 passed: only the shifted round is the current period.
    assert holdout["clean_rounds"] == [first.pk, second.pk]
    shifted = Rating.objects.filter(round=third).count()
    assert 0.25 * shifted < holdout["ratings"] < 0.35 * shifted
