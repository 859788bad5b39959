"""The simulated viewer behaviour model. No Django: these run with settings unconfigured.

Statistical tests use fixed seeds and either a chi-square test at alpha = 1e-3 or a tolerance
of several standard errors worked out from the sample size.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recommender.engine.scoring import Ranking
from simulation import engine
from simulation.engine import (
    HALF_STARS,
    BehaviourConfig,
    Choices,
    TasteShift,
    apply_taste_shift,
    calibrate_sigma,
    choose_films,
    count_arrivals,
    draw_interaction_counts,
    draw_ratings,
    graduated,
    play_round,
    train_oracle,
)

ALPHA = 1e-3


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def expected_star_probabilities(true_rating: float, sigma: float) -> np.ndarray:
    """Worked out independently of the engine: exp(-(s - t)^2 / (2 sigma^2)), normalised."""
    weights = np.array([np.exp(-((s - true_rating) ** 2) / (2 * sigma**2)) for s in HALF_STARS])
    return weights / weights.sum()


def full_lists(n_viewers: int, length: int) -> np.ndarray:
    """Every viewer's list holds films 100, 101, ... in rank order."""
    return np.tile(np.arange(100, 100 + length), (n_viewers, 1))


# --- config and constants ---------------------------------------------------------------------


def test_half_stars_run_from_half_a_star_to_five_in_half_steps():
    assert HALF_STARS.tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]


def test_behaviour_config_defaults_are_the_design_defaults():
    config = BehaviourConfig()
    assert (config.max_interactions, config.decay, config.sigma) == (20, 0.1, 0.545)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_interactions", 0),
        ("max_interactions", 2.5),
        ("max_interactions", True),
        ("decay", -0.1),
        ("decay", float("nan")),
        ("sigma", 0.0),
        ("sigma", -1.0),
        ("sigma", float("inf")),
    ],
)
def test_behaviour_config_refuses_a_bad_value_and_names_it(field, value):
    with pytest.raises(ValueError, match=rf"{field} .*got {value!r}"):
        BehaviourConfig(**{field: value})


def test_behaviour_config_is_frozen():
    with pytest.raises(AttributeError):
        BehaviourConfig().decay = 0.2


# --- interaction counts -----------------------------------------------------------------------


def test_interaction_counts_are_uniform_on_one_to_the_maximum():
    counts = draw_interaction_counts(60_000, 20, rng(1))

    assert counts.dtype == np.int64 and counts.shape == (60_000,)
    assert counts.min() == 1 and counts.max() == 20
    observed = np.bincount(counts, minlength=21)[1:]
    assert stats.chisquare(observed).pvalue > ALPHA


def test_interaction_counts_refuse_a_maximum_below_one():
    with pytest.raises(ValueError, match="max_interactions must be an integer >= 1, got 0"):
        draw_interaction_counts(5, 0, rng())


# --- choosing films ---------------------------------------------------------------------------


def test_first_choices_follow_the_rank_weights():
    n, length, decay = 50_000, 12, 0.1
    choices = choose_films(full_lists(n, length), np.ones(n, dtype=np.int64), decay, rng(2))

    assert len(choices) == n
    observed = np.bincount(choices.rank, minlength=length)
    weights = np.exp(-decay * np.arange(length))
    expected = n * weights / weights.sum()
    assert stats.chisquare(observed, expected).pvalue > ALPHA
    # The test has the power to tell the rank weights from a uniform pick.
    assert stats.chisquare(observed).pvalue < 1e-12


def test_several_choices_are_drawn_in_sequence_without_replacement():
    """With 4 films and 2 picks, P(i then j) = w_i / W * w_j / (W - w_i) (Plackett-Luce)."""
    n, decay = 40_000, 0.7
    choices = choose_films(full_lists(n, 4), np.full(n, 2), decay, rng(3))

    first, second = choices.rank[0::2], choices.rank[1::2]
    assert (choices.row[0::2] == choices.row[1::2]).all()
    assert (first != second).all()
    w = np.exp(-decay * np.arange(4))
    pairs = list(itertools.permutations(range(4), 2))
    expected = np.array([w[i] / w.sum() * w[j] / (w.sum() - w[i]) for i, j in pairs]) * n
    observed = np.array([np.count_nonzero((first == i) & (second == j)) for i, j in pairs])
    assert stats.chisquare(observed, expected).pvalue > ALPHA


def test_a_zero_decay_picks_uniformly():
    n = 30_000
    choices = choose_films(full_lists(n, 10), np.ones(n, dtype=np.int64), 0.0, rng(4))
    assert stats.chisquare(np.bincount(choices.rank, minlength=10)).pvalue > ALPHA


def test_each_viewer_gets_the_smaller_of_count_and_valid_candidates_never_padding_or_twice():
    generator = rng(5)
    n, length = 3_000, 30
    ranked = np.argsort(generator.random((n, length)), axis=1) + 1  # distinct ids per row
    lengths = generator.integers(0, length + 1, n)
    ranked[np.arange(length) >= lengths[:, None]] = -1  # padding at the end of short lists
    ranked[::7, 3] = -1  # and a hole inside some lists
    counts = generator.integers(0, 40, n)

    choices = choose_films(ranked, counts, 0.1, rng(6))

    valid = (ranked != -1).sum(axis=1)
    np.testing.assert_array_equal(np.bincount(choices.row, minlength=n), np.minimum(counts, valid))
    assert (choices.film != -1).all()
    np.testing.assert_array_equal(ranked[choices.row, choices.rank], choices.film)
    pairs = choices.row * (length + 1) + choices.film
    assert len(np.unique(pairs)) == len(pairs)
    assert (np.diff(choices.row) >= 0).all()  # grouped by viewer, in choice order


def test_choices_are_the_same_whatever_the_block_size(monkeypatch):
    ranked, counts = full_lists(500, 20), rng(7).integers(0, 25, 500)
    counts[37:74] = 0  # a block with nothing to choose still uses its share of the stream
    whole = choose_films(ranked, counts, 0.1, rng(8))
    monkeypatch.setattr(engine, "_CHOICE_ROWS", 37)
    blocked = choose_films(ranked, counts, 0.1, rng(8))

    # Blocks draw the same stream of Gumbel noise in the same row order.
    for field in ("row", "film", "rank"):
        np.testing.assert_array_equal(getattr(blocked, field), getattr(whole, field))
    assert blocked.row.max() == 499


def test_the_same_seed_gives_the_same_choices_and_another_seed_other_choices():
    ranked, counts = full_lists(200, 20), np.full(200, 5)
    a, b, c = (choose_films(ranked, counts, 0.1, rng(s)) for s in (9, 9, 10))
    np.testing.assert_array_equal(a.film, b.film)
    assert not np.array_equal(a.film, c.film)


def test_no_viewers_or_no_picks_give_no_choices():
    empty = choose_films(np.empty((0, 5), dtype=np.int64), np.empty(0, dtype=np.int64), 0.1, rng())
    none = choose_films(full_lists(3, 5), np.zeros(3, dtype=np.int64), 0.1, rng())
    assert len(empty) == len(none) == 0
    assert none.film.dtype == np.int64


@pytest.mark.parametrize(
    ("ranked", "counts", "decay", "message"),
    [
        (np.ones((3, 4), dtype=np.int64), np.ones(2, dtype=np.int64), 0.1, "counts must be"),
        (np.ones((3, 4), dtype=np.int64), np.array([1, -1, 1]), 0.1, "counts must be >= 0"),
        (np.ones((3, 4), dtype=np.int64), np.ones(3, dtype=np.int64), -0.5, "decay must be"),
        (np.ones((3, 4)), np.ones(3, dtype=np.int64), 0.1, "ranked must be a 2-d integer"),
        (np.full((3, 4), -2), np.ones(3, dtype=np.int64), 0.1, "only -1 may pad"),
    ],
)
def test_choose_films_refuses_bad_input(ranked, counts, decay, message):
    with pytest.raises(ValueError, match=message):
        choose_films(ranked, counts, decay, rng())


def test_choices_need_arrays_of_equal_length():
    with pytest.raises(ValueError, match="equal lengths"):
        Choices(row=np.zeros(2), film=np.zeros(2), rank=np.zeros(3))


# --- simulated ratings ------------------------------------------------------------------------


def test_simulated_ratings_are_always_half_stars_even_for_true_ratings_off_the_scale():
    true = np.concatenate([rng(11).uniform(0.5, 5.0, 20_000), [-3.0, 0.0, 5.0, 5.4, 9.0]])
    simulated = draw_ratings(true, 0.545, rng(12))
    assert simulated.dtype == np.float64 and simulated.shape == true.shape
    assert np.isin(simulated, HALF_STARS).all()


def test_ratings_for_one_true_rating_follow_the_gaussian_shaped_probabilities():
    n = 40_000
    simulated = draw_ratings(np.full(n, 3.3), 0.545, rng(13))

    expected = n * expected_star_probabilities(3.3, 0.545)
    observed = np.array([np.count_nonzero(simulated == s) for s in HALF_STARS])
    # Pool the far tails, where fewer than 5 draws are expected.
    small = expected < 5
    observed = np.append(observed[~small], observed[small].sum())
    expected = np.append(expected[~small], expected[small].sum())
    assert stats.chisquare(observed, expected).pvalue > ALPHA


@pytest.mark.parametrize("true_rating", [0.7, 2.25, 3.5, 4.9])
def test_the_mean_simulated_rating_is_the_expected_value_of_the_discrete_law(true_rating):
    n = 20_000
    simulated = draw_ratings(np.full(n, true_rating), 0.545, rng(14))

    p = expected_star_probabilities(true_rating, 0.545)
    mean = p @ HALF_STARS
    sd = np.sqrt(p @ (HALF_STARS - mean) ** 2)
    assert abs(simulated.mean() - mean) < 4 * sd / np.sqrt(n)
    assert abs(simulated.std() - sd) < 0.05 * sd
    if 1.0 < true_rating < 4.5:  # away from the ends the law is centred on the true rating
        assert abs(mean - true_rating) < 0.01


def test_a_tiny_sigma_gives_the_nearest_half_star():
    simulated = draw_ratings(np.array([3.26, 3.24, 0.1, 4.76]), 1e-3, rng(15))
    assert simulated.tolist() == [3.5, 3.0, 0.5, 5.0]


def test_rating_draws_are_the_same_whatever_the_block_size(monkeypatch):
    true = rng(16).uniform(0.5, 5.0, 1_000)
    whole = draw_ratings(true, 0.545, rng(17))
    monkeypatch.setattr(engine, "_RATING_BLOCK", 7)
    np.testing.assert_array_equal(draw_ratings(true, 0.545, rng(17)), whole)


@pytest.mark.parametrize(
    ("true", "sigma", "message"),
    [
        (np.array([3.0]), 0.0, "sigma must be a finite number > 0, got 0.0"),
        (np.array([3.0, np.nan]), 0.5, "true_ratings holds a non-finite value at index 1"),
        (np.ones((2, 2)), 0.5, "true_ratings must be 1-d"),
    ],
)
def test_draw_ratings_refuses_bad_input(true, sigma, message):
    with pytest.raises(ValueError, match=message):
        draw_ratings(true, sigma, rng())


# --- taste shifts -----------------------------------------------------------------------------

GENRE_NAMES = ["Action", "Comedy", "Drama"]


def test_a_shift_multiplies_only_the_named_genres_with_a_product_for_several_and_clips():
    true = np.array([4.0, 4.0, 4.321, 5.7, 1.2, 0.8, 4.0, 3.0])
    film_genres = np.array(
        [
            [1, 0, 0],  # Action: x0.9
            [1, 1, 0],  # Action and Comedy: x0.9 x0.5
            [0, 0, 1],  # Drama: not shifted
            [0, 0, 0],  # no genre, off the scale: not shifted, not even clipped
            [0, 1, 0],  # Comedy: x0.5
            [0, 1, 0],  # Comedy: 0.4 clipped up to 0.5
            [1, 0, 1],  # Action and Drama: x0.9
            [0, 0, 1],  # Drama
        ],
        dtype=bool,
    )
    shift = TasteShift({"Action": 0.9, "Comedy": 0.5})

    shifted = apply_taste_shift(true, film_genres, GENRE_NAMES, shift)

    np.testing.assert_allclose(shifted[[0, 1, 4, 5, 6]], [3.6, 1.8, 0.6, 0.5, 3.6])
    untouched = [2, 3, 7]
    assert shifted[untouched].tobytes() == true[untouched].tobytes()
    assert true[0] == 4.0  # the input is not modified


def test_a_shift_above_one_clips_at_five_stars():
    shifted = apply_taste_shift(
        np.array([4.0, 2.0]),
        np.array([[0, 0, 1], [0, 0, 1]], dtype=bool),
        GENRE_NAMES,
        TasteShift({"Drama": 1.5}),
    )
    assert shifted.tolist() == [5.0, 3.0]


def test_a_shift_naming_an_unknown_genre_says_which_and_lists_the_known_ones():
    with pytest.raises(
        ValueError, match="unknown genre 'Acton'; known genres: Action, Comedy, Drama"
    ):
        apply_taste_shift(
            np.array([3.0]), np.zeros((1, 3), dtype=bool), GENRE_NAMES, TasteShift({"Acton": 0.9})
        )


def test_a_shift_refuses_a_genre_matrix_that_does_not_fit():
    with pytest.raises(ValueError, match=r"film_genres must be bool of shape \(2, 3\)"):
        apply_taste_shift(
            np.array([3.0, 4.0]),
            np.zeros((2, 2), dtype=bool),
            GENRE_NAMES,
            TasteShift({"Action": 0.9}),
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"multipliers": {}}, "at least one genre"),
        (
            {"multipliers": {"Action": 0.0}},
            "multiplier for 'Action' must be a finite number > 0, got 0.0",
        ),
        ({"multipliers": {"Action": -1}}, "got -1"),
        ({"multipliers": {"": 0.9}}, "genre names in multipliers must be non-empty, got ''"),
        (
            {"multipliers": {"Action": 0.9}, "start_round": -1},
            "start_round must be an integer >= 0, got -1",
        ),
    ],
)
def test_a_shift_refuses_bad_values_and_names_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TasteShift(**kwargs)


def test_a_shift_is_active_from_its_start_round_on():
    shift = TasteShift({"Action": 0.9}, start_round=3)
    assert [shift.active(r) for r in (1, 2, 3, 4)] == [False, False, True, True]
    assert TasteShift({"Action": 0.9}).active(1)


def test_a_shift_keeps_its_own_copy_of_the_multipliers():
    multipliers = {"Action": 0.9}
    shift = TasteShift(multipliers)
    multipliers["Action"] = 0.1
    assert shift.multipliers["Action"] == 0.9
    with pytest.raises(TypeError):
        shift.multipliers["Action"] = 0.5
    assert hash(shift) == hash(TasteShift({"Action": 0.9})) and shift == TasteShift({"Action": 0.9})


# --- arrivals and graduation ------------------------------------------------------------------


def test_arrivals_average_the_share_of_the_population():
    generator = rng(18)
    n_viewers, share, rounds = 1_000, 0.05, 2_000
    arrivals = np.array([count_arrivals(n_viewers, share, generator) for _ in range(rounds)])

    sd = np.sqrt(n_viewers * share * (1 - share))
    assert abs(arrivals.mean() - n_viewers * share) < 4 * sd / np.sqrt(rounds)
    assert arrivals.std() > 0.8 * sd  # binomial spread, not a fixed rounded count


def test_arrivals_at_the_edges_of_the_share_are_none_or_everyone():
    assert count_arrivals(700, 0.0, rng()) == 0
    assert count_arrivals(700, 1.0, rng()) == 700
    assert type(count_arrivals(700, 0.5, rng())) is int


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_arrivals_refuse_a_share_outside_zero_to_one(share):
    with pytest.raises(ValueError, match="share must be a number in"):
        count_arrivals(10, share, rng())


def test_a_viewer_graduates_only_with_more_ratings_than_the_threshold():
    result = graduated(np.array([0, 4, 5, 6, 100]), 5)
    assert result.tolist() == [False, False, False, True, True]


def test_graduation_refuses_a_negative_threshold_or_fractional_counts():
    with pytest.raises(ValueError, match="threshold must be an integer >= 0, got -1"):
        graduated(np.array([1]), -1)
    with pytest.raises(ValueError, match="rating_counts must be non-negative integers"):
        graduated(np.array([1.5]), 5)


# --- sigma calibration ------------------------------------------------------------------------


def calibration_data(n: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    generator = rng(19)
    true = np.clip(generator.normal(3.5, 0.9, n), 0.5, 5.0)
    predicted = true + generator.normal(0.0, 0.3, n)
    return true, predicted


def r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    return 1 - ((observed - predicted) ** 2).sum() / ((observed - observed.mean()) ** 2).sum()


def test_the_calibrated_sigma_reproduces_the_target_r2_on_fresh_draws():
    n = 100_000
    true, predicted = calibration_data(n)
    sigma = calibrate_sigma(true, predicted, target_r2=0.3, seed=20)

    # On its own draws the match is exact up to one draw's step.
    own = engine._ratings_from_uniforms(true, sigma, rng(20).random(n))
    assert abs(r2(own, predicted) - 0.3) < 1e-4
    # R² of one set of draws varies by about 0.0034 at n = 100,000 (measured over 100 seeds).
    # The calibration rests on one set, the check on the mean of three: the difference has
    # sd 0.0034 * sqrt(1 + 1/3) = 0.004. Allow 4 sd; a sigma 5 % off moves R² by 0.034.
    fresh = [r2(draw_ratings(true, sigma, rng(s)), predicted) for s in (21, 22, 23)]
    assert abs(np.mean(fresh) - 0.3) < 0.016


def test_a_larger_target_r2_needs_a_smaller_sigma():
    true, predicted = calibration_data()
    sigmas = [calibrate_sigma(true, predicted, target_r2=t, seed=20) for t in (0.2, 0.4, 0.6)]
    assert sigmas[0] > sigmas[1] > sigmas[2]


def test_calibration_is_deterministic_for_a_seed():
    true, predicted = calibration_data(2_000)
    a, b = (calibrate_sigma(true, predicted, target_r2=0.35, seed=24) for _ in range(2))
    assert a == b


def test_an_unreachable_target_r2_is_refused_with_the_achievable_range():
    true, predicted = calibration_data(2_000)
    with pytest.raises(
        ValueError,
        match=r"target_r2=0.99 is unreachable .* from -0\.\d+ \(sigma 3.0\) to 0\.8\d+ \(sigma 0.05\)",
    ):
        calibrate_sigma(true, predicted, target_r2=0.99, seed=25)


def test_calibration_refuses_bad_bounds_or_mismatched_arrays():
    true, predicted = calibration_data(100)
    with pytest.raises(ValueError, match="bounds must be finite with 0 < low < high"):
        calibrate_sigma(true, predicted, target_r2=0.3, seed=1, bounds=(1.0, 0.5))
    with pytest.raises(ValueError, match="the same length"):
        calibrate_sigma(true, predicted[:-1], target_r2=0.3, seed=1)


# --- one round --------------------------------------------------------------------------------


def served_lists(n_viewers: int = 40, length: int = 30) -> tuple[Ranking, pd.DataFrame]:
    """Lists of films 100.. for n viewers (the last quarter served by the fallback), and a
    genre frame: even films are Action, films divisible by 3 Drama."""
    film_ids = full_lists(n_viewers, length)
    predicted = 1.0 + (np.arange(n_viewers * length).reshape(n_viewers, length) % 40) / 10
    ranking = Ranking(
        viewer_ids=np.arange(1, n_viewers + 1) * 7,
        film_ids=film_ids,
        scores=predicted,
        predicted=predicted,
        from_model=np.arange(n_viewers) < n_viewers * 3 // 4,
    )
    films = np.arange(100, 100 + length)
    genres = pd.DataFrame(
        [(f, "Action") for f in films if f % 2 == 0] + [(f, "Drama") for f in films if f % 3 == 0],
        columns=["film_id", "genre"],
    )
    return ranking, genres


def test_a_round_draws_counts_choices_ratings_and_times_in_that_order_from_one_generator():
    ranking, genres = served_lists()
    behaviour = BehaviourConfig(max_interactions=5, decay=0.2, sigma=0.4)
    shift = TasteShift(multipliers={"Action": 0.7}, start_round=2)

    draw = play_round(
        ranking,
        behaviour=behaviour,
        round_number=2,
        film_genres=genres,
        rng=rng(3),
        window=(1000, 1000 + 86_400),
        shift=shift,
    )

    # The same draws by hand, in the documented order, from a generator with the same seed.
    again = rng(3)
    counts = draw_interaction_counts(40, 5, again)
    choices = choose_films(ranking.film_ids, counts, 0.2, again)
    predicted = ranking.predicted[choices.row, choices.rank].astype(np.float64)
    membership = np.stack([choices.film % 2 == 0, choices.film % 3 == 0], axis=1)
    true_ratings = apply_taste_shift(predicted, membership, ["Action", "Drama"], shift)
    ratings = draw_ratings(true_ratings, 0.4, again)
    timestamps = 1000 + again.integers(0, 86_400, size=len(ratings))

    np.testing.assert_array_equal(draw.viewer_ids, ranking.viewer_ids[choices.row])
    np.testing.assert_array_equal(draw.film_ids, choices.film)
    np.testing.assert_array_equal(draw.predicted, predicted)
    np.testing.assert_array_equal(draw.from_model, ranking.from_model[choices.row])
    np.testing.assert_array_equal(draw.membership, membership)
    np.testing.assert_array_equal(draw.ratings, ratings)
    np.testing.assert_array_equal(draw.timestamps, timestamps)
    assert draw.genre_names == ["Action", "Drama"]
    assert (draw.sigma, draw.sigma_calibrated, draw.shift_active) == (0.4, False, True)
    assert ((1000 <= draw.timestamps) & (draw.timestamps < 1000 + 86_400)).all()


def test_a_round_before_the_shift_starts_rates_the_served_predictions():
    ranking, genres = served_lists()
    shift = TasteShift(multipliers={"Action": 0.7}, start_round=3)
    common = {"behaviour": BehaviourConfig(), "film_genres": genres, "window": (0, 60)}

    early = play_round(ranking, round_number=2, rng=rng(5), shift=shift, **common)
    unshifted = play_round(ranking, round_number=2, rng=rng(5), **common)

    assert not early.shift_active
    np.testing.assert_array_equal(early.ratings, unshifted.ratings)


def test_a_round_can_calibrate_sigma_to_a_target_r2():
    ranking, genres = served_lists(n_viewers=400)
    draw = play_round(
        ranking,
        behaviour=BehaviourConfig(),
        round_number=1,
        film_genres=genres,
        rng=rng(1),
        window=(0, 60),
        calibrate_to_r2=0.5,
        calibration_seed=9,
    )

    assert draw.sigma_calibrated and draw.sigma != BehaviourConfig().sigma
    r2 = (
        1
        - ((draw.ratings - draw.predicted) ** 2).sum()
        / ((draw.ratings - draw.ratings.mean()) ** 2).sum()
    )
    assert r2 == pytest.approx(0.5, abs=0.05)


def test_an_unknown_oracle_trainer_is_refused_by_name():
    ratings = pd.DataFrame({"viewer_id": [1, 2], "film_id": [10, 10], "rating": [4.0, 2.0]})

    with pytest.raises(
        ValueError, match=r"unknown oracle trainer 'fast'; known: \['blocked', 'float32', "
    ):
        train_oracle(ratings, "fast")
    assert train_oracle(ratings, "float32").n_factors == 150
    assert train_oracle(ratings, "blocked").n_factors == 150
