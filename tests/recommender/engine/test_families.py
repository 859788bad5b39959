"""Model families: each trains, exports the same arrays, ranks through the one kernel exactly
as the family itself ranks, predicts a calibrated rating, folds new viewers in by its own
solve, survives the model file, and the search picks among them by the objective."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from recommender.engine.artifact import load_model, save_model
from recommender.engine.families import (
    DEFAULT_FAMILY,
    FAMILIES,
    FILM_BIAS_SHRINKAGE,
    ALSConfig,
    GenreALSConfig,
    Interactions,
    family_named,
)
from recommender.engine.model import (
    MIN_INTERACTION_WEIGHT,
    VIEWER_BIAS_SHRINKAGE,
    EmptyRatingsError,
    SVDConfig,
)
from recommender.engine.scoring import build_seen_matrix, score_viewers
from recommender.engine.search import Objective, candidate_configs, search_families
from recommender.engine.serving import fold_in_viewers
from recommender.engine.training import split_holdout

DATA = Path(__file__).resolve().parents[3] / "data" / "ml-latest-small"
FAST = {
    "svd": {"n_factors": 10, "n_epochs": 5},
    "als": {"factors": 8, "iterations": 5},
    "bpr": {"factors": 8, "iterations": 10},
    "genre-als": {"factors": 8, "iterations": 5},
}


@pytest.fixture(scope="module")
def bundled() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled ratings of the first 150 viewers, and every film's genres."""
    ratings = pd.read_csv(DATA / "ratings.csv").rename(
        columns={"userId": "viewer_id", "movieId": "film_id"}
    )
    movies = pd.read_csv(DATA / "movies.csv")
    genres = (
        movies.assign(genre=movies["genres"].str.split("|"))
        .explode("genre")
        .rename(columns={"movieId": "film_id"})[["film_id", "genre"]]
    )
    return ratings[ratings["viewer_id"] <= 150].reset_index(drop=True), genres


def fast_config(name: str, **overrides):
    return family_named(name).config(FAST[name], **overrides)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_every_family_exports_a_model_of_its_name_over_the_rated_viewers_and_films(bundled, name):
    ratings, genres = bundled
    family = family_named(name)

    model = family.train(ratings, fast_config(name), film_genres=genres)

    assert model.family == name
    assert model.predicts_ratings is family.predicts_ratings
    assert set(model.viewer_ids.tolist()) == set(ratings["viewer_id"])
    assert set(model.film_ids.tolist()) == set(ratings["film_id"])
    predicted = model.predict(ratings["viewer_id"], ratings["film_id"])
    assert predicted.min() >= 0.5 and predicted.max() <= 5.0


@pytest.mark.parametrize("name", list(FAMILIES))
def test_the_same_seed_trains_the_same_model_and_the_file_keeps_it(bundled, tmp_path, name):
    ratings, genres = bundled
    family = family_named(name)

    first = family.train(ratings, fast_config(name, seed=3), film_genres=genres)
    again = family.train(ratings, fast_config(name, seed=3), film_genres=genres)
    saved = save_model(first, tmp_path)

    assert again == first
    assert load_model(saved.path, sha256=saved.sha256) == first


def implicit_als(ratings: pd.DataFrame, config: ALSConfig):
    """implicit's own ALS fitted as the family fits it (interactions weighted by rating), to
    compare against."""
    from implicit.cpu.als import AlternatingLeastSquares

    interactions = Interactions.from_ratings(ratings, rating_weight=config.rating_weight)
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=config.alpha,
            iterations=config.iterations,
            random_state=config.seed,
            calculate_training_loss=False,
        )
        als.fit(interactions.matrix, show_progress=False)
    return als, interactions


def unseen_top(model, viewers, ratings: pd.DataFrame, n: int):
    """The kernel's top n of `viewers` over the films they have not rated, and that seen
    matrix."""
    seen = build_seen_matrix(
        viewers,
        model.film_ids,
        rated_viewer_ids=ratings["viewer_id"],
        rated_film_ids=ratings["film_id"],
    )
    return score_viewers(model, viewers, seen=seen, n=n), seen


def test_the_kernel_ranks_a_ranking_family_exactly_as_the_family_scores_its_films(bundled):
    ratings, _ = bundled
    # With no film bias in its ranking, the family's own score alone orders its lists.
    config = fast_config("als", film_bias_weight=0.0)
    als, interactions = implicit_als(ratings, config)

    model = family_named("als").train(ratings, config)
    viewers = model.viewer_ids[:40]
    ranking, seen = unseen_top(model, viewers, ratings, 10)

    raw = np.asarray(als.user_factors)[:40] @ np.asarray(als.item_factors).T
    raw[seen.nonzero()] = -np.inf
    expected = interactions.film_ids[np.argsort(-raw, axis=1, kind="stable")[:, :10]]
    assert np.array_equal(ranking.film_ids, expected)
    # Its scores are not clipped to the rating scale: the best films are not tied at 5.0.
    assert (np.diff(ranking.scores, axis=1) < 0).all()


def test_a_ranking_familys_rating_is_its_least_squares_calibration(bundled):
    ratings, _ = bundled
    model = family_named("als").train(ratings, fast_config("als"))
    rows = model.viewer_index(ratings["viewer_id"])
    columns = model.film_index(ratings["film_id"])
    values = ratings["rating"].to_numpy()
    mu = values.mean()
    counts = np.bincount(rows)
    offsets = np.bincount(rows, weights=values - mu) / (counts + VIEWER_BIAS_SHRINKAGE)
    baseline = mu + offsets[rows]

    calibrated = model.predict(ratings["viewer_id"], ratings["film_id"])
    own_score = np.einsum("ij,ij->i", model.viewer_factors[rows], model.film_factors[columns])
    scaled = mu + offsets[rows] + own_score  # the calibration without the film bias

    assert model.global_mean == pytest.approx(mu)
    np.testing.assert_allclose(model.viewer_bias, offsets)
    assert model.score_scale > 0

    def error(predicted):
        return float(np.mean((values - predicted) ** 2))

    # The fitted scale is the least-squares optimum, so it errs less than the offsets alone
    # and less than twice or half the scale.
    assert error(scaled) < error(baseline)
    assert error(scaled) < error(baseline + 2 * (scaled - baseline))
    assert error(scaled) < error(baseline + 0.5 * (scaled - baseline))
    # The film bias is the shrunk mean of what the scale leaves, and it errs less again.
    remains = np.bincount(columns, weights=values - scaled, minlength=model.n_films)
    shrunk = remains / (np.bincount(columns, minlength=model.n_films) + FILM_BIAS_SHRINKAGE)
    np.testing.assert_allclose(model.film_bias, shrunk, atol=1e-9)
    assert error(calibrated) < error(scaled) - 0.05


def test_a_ranking_family_ranks_by_a_share_of_its_film_bias_and_predicts_with_all_of_it(
    bundled,
):
    ratings, _ = bundled
    viewers = np.unique(ratings["viewer_id"])[:40]
    lists = {}
    for weight in (0.0, 0.02, 1.0):
        model = family_named("als").train(ratings, fast_config("als", film_bias_weight=weight))
        ranking, _ = unseen_top(model, viewers, ratings, 10)
        pairs = (np.repeat(viewers, 10), ranking.film_ids.ravel())
        assert model.ranked_film_bias == weight
        # The kernel's scores are the model's ranking scores, its ratings the predictions.
        np.testing.assert_allclose(ranking.scores.ravel(), model.ranking_scores(*pairs), rtol=1e-5)
        np.testing.assert_allclose(ranking.predicted.ravel(), model.predict(*pairs), rtol=1e-5)
        rows, columns = model.viewer_index(pairs[0]), model.film_index(pairs[1])
        own_score = np.einsum("ij,ij->i", model.viewer_factors[rows], model.film_factors[columns])
        np.testing.assert_allclose(
            model.ranking_scores(*pairs),
            model.global_mean
            + model.viewer_bias[rows]
            + own_score
            + weight * model.film_bias[columns],
        )
        lists[weight] = ranking.film_ids
    # A small share changes part of each list (5.5 of 10 films kept, on average); the whole
    # film bias replaces almost all of it with the best-rated films (under 1 kept).
    same_small = np.mean(
        [len(set(a) & set(b)) for a, b in zip(lists[0.0], lists[0.02], strict=True)]
    )
    same_whole = np.mean(
        [len(set(a) & set(b)) for a, b in zip(lists[0.0], lists[1.0], strict=True)]
    )
    assert 4 < same_small < 9 and same_whole < 2


def test_a_new_viewer_folds_into_a_ranking_family_as_implicit_recalculates_them(bundled):
    ratings, _ = bundled
    config = fast_config("als")
    als, interactions = implicit_als(ratings, config)
    model = family_named("als").train(ratings, config)
    theirs = ratings[ratings["viewer_id"] == 7]
    arrival = theirs.assign(viewer_id=10_007)

    folded = fold_in_viewers(model, arrival)

    assert folded.viewer_ids[-1] == 10_007 and folded.n_viewers == model.n_viewers + 1
    row = np.flatnonzero(interactions.viewer_ids == 7)[0]
    with threadpool_limits(1, "blas"):
        expected = np.asarray(als.recalculate_user(row, interactions.matrix[row]))
    np.testing.assert_allclose(
        folded.viewer_factors[-1] / model.score_scale, expected, rtol=1e-4, atol=1e-5
    )
    mean_offset = (theirs["rating"] - model.global_mean).sum()
    assert folded.viewer_bias[-1] == pytest.approx(
        mean_offset / (len(theirs) + VIEWER_BIAS_SHRINKAGE)
    )


def test_genre_als_adds_each_viewers_genre_affinity_to_als(bundled):
    ratings, genres = bundled
    plain = family_named("als").train(ratings, fast_config("als"))
    hybrid_config = GenreALSConfig(**FAST["genre-als"], genre_weight=0.5)

    hybrid = family_named("genre-als").train(ratings, hybrid_config, film_genres=genres)

    n_genres = genres["genre"].nunique()
    assert hybrid.film_factors.shape[1] == plain.film_factors.shape[1] + n_genres
    # The ALS half is ALS's own (up to the calibration's scale); the rest is the genre term.
    np.testing.assert_allclose(hybrid.film_factors[:, :8], plain.film_factors)
    norms = np.linalg.norm(hybrid.film_factors[:, 8:], axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0)
    with pytest.raises(ValueError, match="genre-als needs film genres"):
        family_named("genre-als").train(ratings, hybrid_config)


def test_a_family_refuses_another_familys_configuration_and_empty_ratings(bundled):
    ratings, _ = bundled
    with pytest.raises(TypeError, match="als needs a ALSConfig, got SVDConfig"):
        family_named("als").train(ratings, SVDConfig())
    with pytest.raises(EmptyRatingsError, match="no ratings to train bpr on"):
        family_named("bpr").train(ratings.iloc[:0], family_named("bpr").config())


def test_unknown_names_are_refused_naming_what_is_known():
    with pytest.raises(ValueError, match="unknown model family 'knn'; known: svd, als, bpr"):
        family_named("knn")
    with pytest.raises(ValueError, match=r"unknown ALSConfig field\(s\) \['n_factors'\]"):
        family_named("als").config({"n_factors": 3})
    with pytest.raises(ValueError, match="alpha"):
        ALSConfig(alpha=0)
    assert DEFAULT_FAMILY in FAMILIES


def test_candidates_start_with_the_default_and_are_distinct_points_of_the_space():
    family = family_named("als")

    candidates = candidate_configs(family, n_iter=6, seed=4)

    assert candidates[0] == family.config(seed=4)
    assert len({tuple(sorted(c.as_dict().items())) for c in candidates}) == 6
    for config in candidates[1:]:
        for name, values in family.search_space.items():
            assert getattr(config, name) in values
    assert candidate_configs(family, n_iter=6, seed=4) == candidates


def test_the_search_picks_the_trial_with_the_best_objective_reproducibly(bundled):
    ratings, genres = bundled
    ranking = search_families(ratings, ["svd", "als"], film_genres=genres, n_iter=2, seed=1)
    again = search_families(ratings, ["svd", "als"], film_genres=genres, n_iter=2, seed=1)
    by_rmse = search_families(ratings, ["svd", "als"], n_iter=2, seed=1, objective="rmse")

    assert ranking.objective is Objective.RANKING and len(ranking.trials) == 4
    assert ranking.best.value == max(trial.value for trial in ranking.trials)
    assert [t.value for t in again.trials] == [t.value for t in ranking.trials]
    # On ranking, implicit feedback beats rating regression on these viewers by far.
    assert ranking.best.family == "als"
    # On RMSE the value is minus the validation RMSE, and the best is the lowest RMSE.
    assert by_rmse.objective is Objective.RMSE
    assert by_rmse.best.value == max(trial.value for trial in by_rmse.trials)
    assert all(-1.0 < trial.value < -0.8 for trial in by_rmse.trials)


def test_a_family_trained_on_part_of_the_ratings_ranks_its_holdout_above_chance(bundled):
    ratings, genres = bundled
    train, holdout = split_holdout(ratings, test_size=0.2, seed=0)
    from recommender.engine.evaluation import ranking_metrics

    for name in ("als", "genre-als"):
        model = family_named(name).train(train, fast_config(name), film_genres=genres)
        precision, _recall, ndcg, _viewers = ranking_metrics(
            model, holdout, train, k=10, threshold=4.0
        )
        # Ten films drawn at random from about 5,000 would hit a relevant one about 0.1 % of
        # the time; a model that learned anything does far better.
        assert precision > 0.05 and ndcg > 0.05, name


def test_replacing_a_config_field_rechecks_it():
    with pytest.raises(ValueError, match="factors"):
        dataclasses.replace(ALSConfig(), factors=0)


def test_an_interaction_weighs_by_its_rating_and_a_pair_rated_twice_by_their_mean():
    ratings = pd.DataFrame(
        {
            "viewer_id": [1, 1, 2, 2, 2],
            "film_id": [10, 20, 10, 20, 20],
            "rating": [5.0, 0.5, 3.0, 4.0, 2.0],
        }
    )
    mean = ratings["rating"].mean()  # 2.9

    weighted = Interactions.from_ratings(ratings, rating_weight=0.5).matrix.toarray()
    plain = Interactions.from_ratings(ratings).matrix.toarray()

    np.testing.assert_allclose(
        weighted,
        [
            [1 + 0.5 * (5.0 - mean), MIN_INTERACTION_WEIGHT],  # 0.5 stars: floored, not negative
            [1 + 0.5 * (3.0 - mean), 1 + 0.5 * (3.0 - mean)],  # 4 and 2: their mean weight
        ],
        rtol=1e-6,
    )
    np.testing.assert_array_equal(plain, np.ones((2, 2)))


def test_the_current_periods_offset_moves_a_films_rating_not_its_ranking_weight(bundled):
    ratings, _ = bundled
    config = fast_config("als")
    film = int(ratings["film_id"].value_counts().index[0])  # the most rated film
    # Its last 40 ratings are the current period, and in it viewers rate it two stars lower.
    recent = np.zeros(len(ratings), dtype=bool)
    recent[np.flatnonzero(ratings["film_id"].to_numpy() == film)[-40:]] = True
    lowered = ratings.assign(
        rating=np.where(recent, np.maximum(ratings["rating"] - 2.0, 0.5), ratings["rating"])
    )

    without_period = family_named("als").train(lowered, config)
    with_period = family_named("als").train(lowered.assign(recent=recent), config)

    row = with_period.film_index([film])[0]
    # The film's own offset in the period pulls its bias down much further than its 40 of
    # hundreds of ratings could, so the period's ratings of it are predicted far better.
    assert with_period.film_bias[row] < without_period.film_bias[row] - 0.5
    period = lowered[recent]

    def error(model):
        predicted = model.predict(period["viewer_id"], period["film_id"])
        return float(np.mean(np.abs(predicted - period["rating"].to_numpy())))

    assert error(with_period) < 0.6 * error(without_period)
    # Films not rated in the period keep their bias.
    untouched = ~np.isin(with_period.film_ids, period["film_id"])
    np.testing.assert_allclose(
        with_period.film_bias[untouched], without_period.film_bias[untouched]
    )
    assert with_period.ranked_film_bias == config.film_bias_weight
