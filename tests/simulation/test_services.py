import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from recommender.engine.artifact import load_model, save_model
from recommender.models import Rating, RoundFilmStats, RunFilmStats, ScoringRun, Viewer
from recommender.selectors.ratings import film_stats
from recommender.selectors.scoring import latest_film_stats
from recommender.services import recommendations
from recommender.services.recommendations import champion_cache
from recommender.services.scoring import NoChampionError
from simulation.engine import oracle_recipe
from simulation.metrics import RoundMetrics
from simulation.models import SimulationRound, SimulationRun
from simulation.services import (
    SimulationParameterError,
    SimulationParameters,
    simulation_reset,
    simulation_run_create,
    simulation_run_execute,
)
from tests.champions import damage_artifact

pytestmark = pytest.mark.django_db


def simulate(**parameters) -> SimulationRun:
    run = simulation_run_create(parameters=SimulationParameters(**parameters), actor="test")
    return simulation_run_execute(run=run)


def simulated_ratings() -> list[tuple]:
    return list(
        Rating.objects.filter(origin=Rating.Origin.SIMULATED)
        .order_by("viewer__source_id", "film__source_id")
        .values_list("viewer__source_id", "film__source_id", "score", "rated_at")
    )


def original_ratings() -> list[tuple]:
    return list(
        Rating.objects.filter(origin=Rating.Origin.ORIGINAL)
        .order_by("id")
        .values_list("id", "viewer_id", "film_id", "score", "rated_at", "origin", "round_id")
    )


def test_a_round_stores_one_simulated_rating_per_choice_linked_to_it(champion):
    run = simulate(rounds=1, seed=1, arrivals=0.0)

    round_ = run.rounds.get()
    stored = Rating.objects.filter(round=round_)
    assert stored.count() == round_.interactions > 120, "every viewer chooses at least one film"
    assert set(stored.values_list("origin", flat=True)) == {"simulated"}
    assert set(stored.values_list("score", flat=True)) <= {i / 2 for i in range(1, 11)}
    per_viewer = stored.values("viewer").distinct().count()
    assert per_viewer == 120 and stored.count() <= 120 * 20
    assert round_.scoring_run.status == ScoringRun.Status.COMPLETED
    assert round_.window_start < round_.window_end
    assert all(
        round_.window_start <= at < round_.window_end
        for at in stored.values_list("rated_at", flat=True)
    )
    assert run.status == SimulationRun.Status.COMPLETED


def test_a_round_keeps_the_film_figures_of_every_rating_once_its_own_are_in(champion, monkeypatch):
    run = simulate(rounds=2, seed=3, arrivals=0.1)
    newest = Rating.objects.order_by("-pk").values_list("pk", flat=True).first()
    second = run.rounds.get(number=2)

    kept = RoundFilmStats.objects.get(round=second)
    assert kept.rating_pk_max == newest
    counted, figures = latest_film_stats()
    full = film_stats()
    assert counted == newest
    np.testing.assert_array_equal(figures.film_ids, full.film_ids)
    np.testing.assert_array_equal(figures.counts, full.counts)
    np.testing.assert_allclose(figures.sums, full.sums, rtol=1e-12)
    # A fresh serving process starts from them: no rating is aggregated again.
    reads = []
    monkeypatch.setattr(
        recommendations, "film_stats", lambda **kwargs: reads.append(kwargs) or film_stats(**kwargs)
    )
    champion_cache.clear()
    assert champion_cache.film_stats().stats.counts.sum() == Rating.objects.count()
    assert reads == []
    # Figures counting ratings that no longer exist are passed over for older ones.
    first = run.rounds.get(number=1).film_stats.rating_pk_max
    assert latest_film_stats(rating_pk_max=newest - 1)[0] == first

    simulation_reset()
    assert not RoundFilmStats.objects.exists()


def test_the_same_seed_on_the_same_data_gives_identical_ratings(champion):
    simulate(rounds=2, seed=11, shift={"Action": 0.9})
    first = simulated_ratings()
    simulation_reset()

    simulate(rounds=2, seed=11, shift={"Action": 0.9})

    assert simulated_ratings() == first
    simulation_reset()
    simulate(rounds=2, seed=12, shift={"Action": 0.9})
    assert simulated_ratings() != first


def test_reset_removes_everything_simulated_and_leaves_original_ratings_byte_for_byte(champion):
    before = original_ratings()
    viewers_before = Viewer.objects.count()
    simulate(rounds=2, seed=5, arrivals=0.2)
    assert Viewer.objects.count() > viewers_before
    assert RunFilmStats.objects.exists()  # the rounds' scoring runs counted simulated ratings

    summary = simulation_reset()

    assert summary.rounds == 2 and summary.runs == 1 and summary.ratings > 0 and summary.viewers > 0
    assert original_ratings() == before
    assert Viewer.objects.count() == viewers_before
    assert (
        not SimulationRound.objects.exists()
        and not Rating.objects.filter(origin="simulated").exists()
        and not RunFilmStats.objects.exists()
    )


def test_a_taste_shift_lowers_the_r2_of_the_shifted_genre_only(champion, original_penalty):
    shifted = simulate(rounds=1, seed=3, shift={"Action": 0.8}, arrivals=0.0).rounds.get()
    simulation_reset()
    plain = simulate(rounds=1, seed=3, arrivals=0.0).rounds.get()

    def r2(round_, genre):
        return round_.metrics["accuracy"]["existing"]["per_genre"][genre]["r2"]

    assert shifted.shift_active and not plain.shift_active
    assert r2(shifted, "Action") < r2(plain, "Action") - 0.3
    assert r2(shifted, "Drama") == pytest.approx(r2(plain, "Drama"), abs=0.02)


def test_the_shift_starts_in_the_round_it_is_told_to(champion):
    run = simulate(rounds=2, seed=4, shift={"Action": 0.9}, shift_start=2)

    assert list(run.rounds.order_by("number").values_list("shift_active", flat=True)) == [
        False,
        True,
    ]


def test_arrivals_are_new_viewers_served_by_the_fallback(champion):
    run = simulate(rounds=1, seed=2, arrivals=0.25)

    round_ = run.rounds.get()
    arrived = Viewer.objects.filter(origin=Viewer.Origin.SIMULATED)
    assert round_.arrivals == arrived.count() > 10
    assert round_.metrics["lists"]["new"]["viewers"] == round_.arrivals
    assert round_.metrics["accuracy"]["new"]["overall"]["n"] > 0


def test_arrivals_graduate_to_the_model_past_the_threshold(champion):
    run = simulate(rounds=3, seed=6, arrivals=0.1)

    last = run.rounds.order_by("number").last()
    arrived = Viewer.objects.filter(origin=Viewer.Origin.SIMULATED)
    graduated = [v for v in arrived if v.ratings.count() > 5]
    assert graduated, "some arrivals rated more than five films in earlier rounds"
    # Served by the model in the last round: counted among existing viewers' lists.
    assert last.metrics["lists"]["existing"]["viewers"] >= 120 + len(graduated) - last.arrivals


def test_the_oracle_truth_measures_real_model_error(champion, original_penalty):
    model_truth = simulate(rounds=1, seed=8, arrivals=0.0, truth="model").rounds.get()
    simulation_reset()
    oracle_truth = simulate(rounds=1, seed=8, arrivals=0.0).rounds.get()

    def overall(round_, metric):
        return round_.metrics["accuracy"]["existing"]["overall"][metric]

    # With the model as truth the only error is the rating noise (sigma 0.545); a separate
    # ground truth adds the served model's real error on top (0.58 vs 0.54 on this 120-viewer
    # subset, where oracle and champion see nearly the same ratings; 0.68 vs 0.53 on all data).
    assert overall(model_truth, "rmse") == pytest.approx(0.545, abs=0.05)
    assert overall(oracle_truth, "rmse") > overall(model_truth, "rmse") + 0.03
    assert overall(oracle_truth, "r2") < overall(model_truth, "r2")
    run = SimulationRun.objects.get(pk=oracle_truth.run_id)
    assert run.oracle_artifact_path and len(run.oracle_artifact_sha256) == 64
    assert "oracle" not in run.parameters, "run state has its own columns"
    assert run.truth == "oracle", "oracle truth is the default (SIM_TRUTH)"


def test_runs_on_the_same_original_ratings_share_one_oracle_until_those_ratings_change(
    champion, settings, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="simulation.services")
    first = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    # Only original ratings yet: the oracle learnt from what the round's scoring had read.
    originals = Rating.objects.filter(origin="original").count()
    assert oracle_reads(caplog) == [f"the {originals} ratings the round's scoring read"]
    trained = load_model(Path(first.oracle_artifact_path), sha256=first.oracle_artifact_sha256)
    # A different, valid oracle in the first run's place: the next run must load it, not train.
    stand_in = save_model(
        replace(trained, global_mean=trained.global_mean - 0.25),
        Path(settings.RECOMMENDER["ARTIFACT_DIR"]),
    )
    first.oracle_artifact_path, first.oracle_artifact_sha256 = str(stand_in.path), stand_in.sha256
    first.save()

    second = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    assert (second.oracle_artifact_sha256, second.oracle_ratings) == (
        stand_in.sha256,
        first.oracle_ratings,
    )
    assert first.oracle_ratings.startswith(
        f"ratings {Rating.objects.filter(origin='original').count()}, ids "
    )

    damage_artifact(str(stand_in.path))  # an oracle that fails its check is trained again
    caplog.clear()
    third = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    # Simulated ratings are in the snapshot now: the original ones are read on their own, and
    # the oracle trained on them is the first run's, bit for bit.
    assert oracle_reads(caplog) == ["the original ratings, read again"]
    assert third.oracle_artifact_sha256 == save_model(trained, tmp_path).sha256

    rating = Rating.objects.filter(origin="original").order_by("pk").first()
    Rating.objects.filter(pk=rating.pk).update(score=5.5 - rating.score)  # the data changed
    fourth = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    assert fourth.oracle_ratings != first.oracle_ratings
    assert fourth.oracle_artifact_sha256 not in {
        stand_in.sha256,
        save_model(trained, tmp_path).sha256,
    }


def oracle_reads(caplog) -> list[str]:
    """What each oracle trained in the captured records learnt from."""
    prefix = "the oracle learns from "
    messages = [record.getMessage() for record in caplog.records]
    return [m.split(prefix, 1)[1] for m in messages if prefix in m]


def test_the_oracle_trainer_setting_picks_the_trainer_and_keeps_their_oracles_apart(
    champion, settings
):
    assert settings.SIMULATION["ORACLE_TRAINER"] == "blocked", "the default"
    blocked = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    simulation_reset()
    settings.SIMULATION = {**settings.SIMULATION, "ORACLE_TRAINER": "float32"}
    fast = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    fast_ratings = round_ratings(fast)
    fast_oracle = load_model(Path(fast.oracle_artifact_path), sha256=fast.oracle_artifact_sha256)
    simulation_reset()  # the same starting point for the second run
    settings.SIMULATION = {**settings.SIMULATION, "ORACLE_TRAINER": "surprise"}
    own = SimulationRun.objects.get(pk=simulate(rounds=1, seed=3, arrivals=0.0).pk)
    own_oracle = load_model(Path(own.oracle_artifact_path), sha256=own.oracle_artifact_sha256)

    assert blocked.oracle_ratings.endswith(f"; {oracle_recipe('blocked')}")
    assert oracle_recipe("blocked").startswith("svd-blocked-8x8 {")
    assert blocked.oracle_artifact_sha256 != fast.oracle_artifact_sha256
    assert fast.oracle_ratings.endswith(f"; {oracle_recipe('float32')}")
    assert own.oracle_ratings.endswith(f"; {oracle_recipe('surprise')}")
    assert oracle_recipe("surprise").startswith("svd {"), "the original fingerprint is kept"
    assert fast.oracle_artifact_sha256 != own.oracle_artifact_sha256
    viewers = np.repeat(own_oracle.viewer_ids[:40], 50)
    films = np.tile(own_oracle.film_ids[:50], 40)
    gap = np.abs(fast_oracle.predict(viewers, films) - own_oracle.predict(viewers, films))
    assert 0 < gap.max() < 1e-5
    # The same truths, to that gap, give the same simulated ratings.
    assert len(fast_ratings) > 120 and fast_ratings == round_ratings(own)


def round_ratings(run: SimulationRun) -> list[tuple]:
    return sorted(
        Rating.objects.filter(round__run=run).values_list("viewer_id", "film_id", "score")
    )


def test_sigma_auto_is_calibrated_to_the_champions_holdout_r2(champion, original_penalty):
    # Calibration targets the served predictions as truth: the model-truth mode.
    run = simulate(rounds=1, seed=9, sigma="auto", arrivals=0.0, truth="model")

    sigma = SimulationRun.objects.get(pk=run.pk).sigma_calibrated
    assert 0.3 < sigma < 1.0
    achieved = run.rounds.get().metrics["accuracy"]["all"]["overall"]["r2"]
    assert achieved == pytest.approx(champion.r2, abs=0.05)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"rounds": 0}, "rounds must be at least 1, got 0"),
        ({"arrivals": 1.5}, "arrivals must be a share between 0 and 1, got 1.5"),
        ({"shift": {"Actoin": 0.9}}, "shift: unknown genre 'Actoin'; known genres: "),
        (
            {"shift": {"Action": 0.0}},
            "multiplier for 'Action' must be a finite number > 0, got 0.0",
        ),
        ({"truth": "crystal ball"}, "truth must be one of model, oracle, got 'crystal ball'"),
    ],
)
def test_bad_parameters_are_named_and_nothing_is_written(champion, parameters, message):
    with pytest.raises(SimulationParameterError) as error:
        simulation_run_create(parameters=SimulationParameters(**parameters), actor="test")

    assert message in str(error.value)
    assert (
        not SimulationRun.objects.exists()
        and not Rating.objects.filter(origin="simulated").exists()
    )


def test_without_a_champion_simulation_is_refused(bundled_subset):
    with pytest.raises(NoChampionError):
        simulation_run_create(parameters=SimulationParameters(), actor="test")
    assert not SimulationRun.objects.exists()


def test_the_simulate_command_prints_a_table_per_round(champion, capsys):
    call_command("simulate", "--rounds", "2", "--shift", "Action=0.9", "--no-progress")

    out = capsys.readouterr().out
    assert "| round | shift | ratings |" in out and "| R² Action | R² Drama | R² Comedy |" in out
    with pytest.raises(CommandError, match="--shift: 'Action' is not GENRE=MULTIPLIER"):
        call_command("simulate", "--shift", "Action", "--no-progress")


def test_a_played_rounds_metrics_round_trip_through_round_metrics(champion):
    round_ = simulate(rounds=1, seed=1, arrivals=0.1).rounds.get()
    stored = SimulationRound.objects.get(pk=round_.pk).metrics

    metrics = RoundMetrics.from_json(stored)

    assert metrics.to_json() == stored, "the stored JSON is exactly what RoundMetrics writes"
    assert RoundMetrics.from_json(metrics.to_json()) == metrics
    assert set(stored) == {"sigma", "accuracy", "lists", "seconds", "experience"}
    experience = metrics.experience["overall"]
    assert experience["n"] == round_.interactions
    assert 0.5 <= experience["mean_true_rating"] <= 5.0 and 0 <= experience["liked_share"] <= 1
    assert 0 < experience["top_hit_rate"] <= 1
    assert set(metrics.accuracy) == set(metrics.lists) == {"all", "existing", "new"}
    assert metrics.sigma == pytest.approx(0.545) and metrics.cycle is None
    assert metrics.lists["new"].viewers == round_.arrivals > 0


def test_run_state_is_kept_in_columns_and_the_parameters_hold_only_what_was_asked(champion):
    run = simulate(rounds=1, seed=1, arrivals=0.0, truth="model")

    run = SimulationRun.objects.get(pk=run.pk)
    assert set(run.parameters) == set(SimulationParameters.__dataclass_fields__)
    latest = Rating.objects.filter(origin="original").order_by("-rated_at").first().rated_at
    assert run.time_origin == int(latest.timestamp()) + 1
    assert run.rounds.get().window_start.timestamp() == run.time_origin
    assert (run.sigma_calibrated, run.oracle_artifact_path, run.task_id) == (None, "", "")
