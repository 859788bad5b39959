"""Ranking every viewer and one viewer: who the model serves, fold-in of graduated arrivals,
one viewer's list equal to the batch's row, list metrics."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.engine import list_sums
from recommender.engine.metrics import rmse
from recommender.engine.model import SVDConfig, TrainedModel, UnknownViewerError
from recommender.engine.scoring import (
    FilmSide,
    PopularityPenalty,
    build_seen_matrix,
    score_viewers,
)
from recommender.engine.serving import (
    FilmStats,
    fold_in_viewers,
    genre_matrix,
    list_metrics,
    lists_metrics,
    popular_for_one_viewer,
    rank_every_viewer,
    rank_one_viewer,
)
from recommender.engine.training import fit_svd
from tests.recommender.engine.test_scoring import random_model

BUNDLED = Path(__file__).resolve().parents[3] / "data" / "ml-latest-small" / "ratings.csv"


def tiny_model(
    rng: np.random.Generator, n_viewers: int = 4, n_films: int = 12, k: int = 3
) -> TrainedModel:
    return TrainedModel(
        global_mean=3.5,
        viewer_ids=np.arange(1, n_viewers + 1),
        film_ids=np.arange(101, 101 + n_films),
        viewer_bias=rng.normal(0, 0.2, n_viewers),
        film_bias=rng.normal(0, 0.3, n_films),
        viewer_factors=rng.normal(0, 0.5, (n_viewers, k)),
        film_factors=rng.normal(0, 0.5, (n_films, k)),
    )


def test_fold_in_solves_each_new_viewers_ridge_regression_exactly():
    rng = np.random.default_rng(1)
    model = tiny_model(rng)
    ratings = pd.DataFrame(
        {
            "viewer_id": [50, 50, 50, 50, 60, 60, 60, 1, 50],
            "film_id": [101, 102, 105, 108, 103, 104, 112, 101, 999],
            "rating": [4.0, 2.5, 5.0, 3.0, 1.0, 4.5, 3.5, 2.0, 5.0],
        }
    )

    folded = fold_in_viewers(model, ratings, reg=0.3)

    assert folded.viewer_ids.tolist() == [1, 2, 3, 4, 50, 60]
    np.testing.assert_array_equal(folded.viewer_factors[:4], model.viewer_factors)
    for viewer in (50, 60):
        # Reference: least squares on [1, q_i] with sqrt(reg * n) * I rows appended.
        rows = ratings[(ratings.viewer_id == viewer) & ratings.film_id.isin(model.film_ids)]
        films = model.film_index(rows.film_id.to_numpy())
        a = np.hstack([np.ones((len(rows), 1)), model.film_factors[films]])
        y = rows.rating.to_numpy() - model.global_mean - model.film_bias[films]
        penalty = np.sqrt(0.3 * len(rows)) * np.eye(a.shape[1])
        expected = np.linalg.lstsq(
            np.vstack([a, penalty]), np.concatenate([y, np.zeros(a.shape[1])]), rcond=None
        )[0]
        row = folded.viewer_index([viewer])[0]
        np.testing.assert_allclose(folded.viewer_bias[row], expected[0], atol=1e-9)
        np.testing.assert_allclose(folded.viewer_factors[row], expected[1:], atol=1e-9)


def test_fold_in_predicts_held_out_ratings_better_than_the_film_bias_alone():
    ratings = pd.read_csv(BUNDLED).rename(columns={"userId": "viewer_id", "movieId": "film_id"})
    newcomers = np.random.default_rng(0).choice(ratings.viewer_id.unique(), 60, replace=False)
    model = fit_svd(ratings[~ratings.viewer_id.isin(newcomers)], SVDConfig(n_factors=40, seed=0))
    theirs = ratings[ratings.viewer_id.isin(newcomers)].sample(frac=1, random_state=1)
    held_out = (theirs.groupby("viewer_id").cumcount() % 5 == 0).to_numpy()

    folded = fold_in_viewers(model, theirs[~held_out])

    test = theirs[held_out]
    folded_rmse = rmse(test.rating, folded.predict(test.viewer_id, test.film_id))
    bias_only_rmse = rmse(test.rating, model.predict(test.viewer_id, test.film_id))
    assert folded_rmse < bias_only_rmse - 0.03


def test_viewers_past_the_threshold_are_served_by_the_model_the_rest_by_popularity():
    rng = np.random.default_rng(2)
    model = tiny_model(rng)
    # Viewer 1: 3 ratings (cold start). Viewer 2: 4 ratings (one past threshold 3).
    # Viewer 77: unknown to the model with 4 ratings: a graduated arrival, folded in.
    # Viewer 88: no ratings at all.
    ratings = pd.DataFrame(
        {
            "viewer_id": [1, 1, 1, 2, 2, 2, 2, 77, 77, 77, 77],
            "film_id": [101, 102, 103, 104, 105, 106, 107, 101, 108, 109, 110],
            "rating": [4.0, 3.0, 5.0, 2.0, 3.5, 4.0, 1.0, 5.0, 4.5, 2.0, 3.0],
        }
    )

    ranking = rank_every_viewer(
        model, ratings, np.array([1, 2, 77, 88]), new_user_threshold=3, n=5, penalty=None
    )

    served = dict(zip(ranking.viewer_ids.tolist(), ranking.from_model.tolist(), strict=True))
    assert served == {1: False, 2: True, 77: True, 88: False}
    for row, viewer in enumerate(ranking.viewer_ids):
        seen = set(ratings.film_id[ratings.viewer_id == viewer])
        assert not seen & set(ranking.film_ids[row][ranking.film_ids[row] >= 0].tolist())


def clipping_model(rng: np.random.Generator, n_viewers: int = 40, n_films: int = 300):
    """Big biases, so many predictions clip to the scale's ends (exact ties), and enough
    factors that the matrix product runs BLAS's blocked kernels."""
    return random_model(rng, n_viewers, n_films, n_factors=40, factor_sd=0.3)


@pytest.mark.parametrize(
    "penalty", [None, PopularityPenalty(), PopularityPenalty(transform="minmax", alpha=0.3)]
)
def test_one_viewer_over_the_prebuilt_film_side_is_score_viewers_row(penalty):
    rng = np.random.default_rng(5)
    model = clipping_model(rng)
    counts = rng.integers(0, 60, model.n_films)
    rated = {
        int(viewer): rng.choice(model.film_ids, int(rng.integers(0, 60)), replace=False)
        for viewer in model.viewer_ids
    }
    # One viewer has seen all but three films: a short list.
    rated[int(model.viewer_ids[0])] = model.film_ids[3:]
    seen = build_seen_matrix(
        model.viewer_ids,
        model.film_ids,
        rated_viewer_ids=np.concatenate([np.full(len(f), v) for v, f in rated.items()]),
        rated_film_ids=np.concatenate(list(rated.values())),
    )
    batch = score_viewers(
        model, model.viewer_ids, seen=seen, n=250, penalty=penalty, film_counts=counts
    )
    film_side = FilmSide.build(model, penalty=penalty, film_counts=counts)
    unpenalised = FilmSide.build(model)
    shared = unpenalised.penalised(penalty, counts)
    assert shared.matrix_t is unpenalised.matrix_t, "the penalty shares the matrix"
    assert not film_side.matrix_t.flags.writeable

    for row, viewer in enumerate(model.viewer_ids):
        listed = batch.film_ids[row] >= 0
        for side in (film_side, shared):
            films, scores, predicted = rank_one_viewer(
                model,
                side,
                int(viewer),
                rated_film_ids=rated[int(viewer)],
                rated_scores=np.full(len(rated[int(viewer)]), 4.0),
                n=250,
            )
            assert films.tolist() == batch.film_ids[row][listed].tolist(), f"viewer {viewer}"
            np.testing.assert_array_equal(scores, batch.scores[row][listed])
            np.testing.assert_array_equal(predicted, batch.predicted[row][listed])
            assert scores.dtype == predicted.dtype == np.float32
    assert (batch.film_ids >= 0).all(axis=1).any() and batch.film_ids[0].tolist().count(-1) == 247


@pytest.mark.parametrize("family", ["svd", "als"])
def test_one_viewer_lists_are_rank_every_viewers_rows_folded_in_or_cold(family):
    rng = np.random.default_rng(6)
    model = tiny_model(rng)
    if family == "als":  # a ranking family: folded in by its own (implicit) solve
        model = replace(
            model, family="als", predicts_ratings=False, fold_in_alpha=3.0, score_scale=0.8
        )
    # Viewer 2 is known, 77 a graduated arrival (folded in), 88 cold (popularity).
    ratings = pd.DataFrame(
        {
            "viewer_id": [1, 1, 2, 2, 2, 2, 77, 77, 77, 77, 88, 88],
            "film_id": [101, 102, 104, 105, 106, 107, 101, 108, 109, 110, 101, 103],
            "rating": [4.0, 3.0, 2.0, 3.5, 4.0, 1.0, 5.0, 4.5, 2.0, 3.0, 4.0, 2.5],
        }
    )
    penalty = PopularityPenalty()
    batch = rank_every_viewer(
        model, ratings, np.array([2, 77, 88]), new_user_threshold=3, n=6, penalty=penalty
    )
    stats = FilmStats.from_ratings(ratings)
    film_side = FilmSide.build(model, penalty=penalty, film_counts=stats.counts_of(model.film_ids))

    for row, viewer in enumerate(batch.viewer_ids.tolist()):
        theirs = ratings[ratings.viewer_id == viewer]
        if batch.from_model[row]:
            films, scores, predicted = rank_one_viewer(
                model,
                film_side,
                viewer,
                rated_film_ids=theirs.film_id.to_numpy(),
                rated_scores=theirs.rating.to_numpy(),
                n=6,
            )
        else:
            films, scores, predicted = popular_for_one_viewer(
                stats, viewer, rated_film_ids=theirs.film_id.to_numpy(), n=6
            )
        listed = batch.film_ids[row] >= 0
        assert films.tolist() == batch.film_ids[row][listed].tolist(), f"viewer {viewer}"
        np.testing.assert_array_equal(scores, batch.scores[row][listed])
        np.testing.assert_array_equal(predicted, batch.predicted[row][listed])
    assert batch.from_model.tolist() == [True, True, False]


def test_one_viewer_the_model_cannot_fold_in_is_unknown():
    model = tiny_model(np.random.default_rng(7))
    with pytest.raises(UnknownViewerError, match="unknown to the model: 99") as caught:
        rank_one_viewer(
            model,
            FilmSide.build(model),
            99,
            rated_film_ids=np.array([5000, 5001]),  # films the model does not know
            rated_scores=np.array([4.0, 3.0]),
            n=5,
        )
    assert caught.value.viewer_ids.tolist() == [99]
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, ValueError)


def test_genre_matrix_handles_repeated_and_unknown_films():
    film_genres = pd.DataFrame(
        {"film_id": [1, 1, 2, 5], "genre": ["Action", "Drama", "Drama", "Comedy"]}
    )

    matrix, names = genre_matrix(film_genres, np.array([2, 1, 9, 1, 5]))

    assert names == ["Action", "Comedy", "Drama"]
    assert matrix.astype(int).tolist() == [[0, 0, 1], [1, 0, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]]


def test_list_metrics_are_reported_per_viewer_group():
    rng = np.random.default_rng(3)
    model = tiny_model(rng)
    ratings = pd.DataFrame(
        {"viewer_id": [1, 1, 1, 1, 2], "film_id": [101, 102, 103, 104, 105], "rating": [4.0] * 5}
    )
    ranking = rank_every_viewer(
        model, ratings, np.array([1, 2, 3]), new_user_threshold=3, n=4, penalty=None
    )
    film_genres = pd.DataFrame({"film_id": model.film_ids, "genre": ["Action", "Drama"] * 6})

    metrics = list_metrics(
        ranking, model=model, film_genres=film_genres, catalogue_ids=model.film_ids, top=3
    )

    assert [metrics[g]["viewers"] for g in ("all", "existing", "new")] == [3, 1, 2]
    assert metrics["existing"]["personalization"] is None, "one viewer has no pair to compare"
    assert sum(metrics["all"]["genre_counts"].values()) == pytest.approx(3.0)
    recommended = set(ranking.film_ids[:, :3].ravel().tolist()) - {-1}
    assert metrics["all"]["coverage"] == pytest.approx(len(recommended) / 12)


def test_film_figures_combine_into_the_figures_of_all_the_ratings():
    rng = np.random.default_rng(8)
    ratings = pd.DataFrame(
        {
            "viewer_id": rng.integers(0, 50, 400),
            # Films 30-39 are rated only among the newer ratings.
            "film_id": np.concatenate([rng.integers(0, 30, 250), rng.integers(0, 40, 150)]),
            "rating": rng.integers(1, 11, 400) / 2,
        }
    )
    older, newer = ratings.iloc[:250], ratings.iloc[250:]
    new = FilmStats.from_ratings(newer)

    combined = FilmStats.from_ratings(older).combined(new.film_ids, new.counts, new.sums)
    one_by_one = FilmStats.from_ratings(older).with_ratings(
        newer["film_id"].to_numpy(), newer["rating"].to_numpy()
    )

    everything = FilmStats.from_ratings(ratings)
    assert set(new.film_ids) - set(FilmStats.from_ratings(older).film_ids), "a film new to them"
    for figures in (combined, one_by_one):
        for name in ("film_ids", "counts", "sums"):
            np.testing.assert_array_equal(getattr(figures, name), getattr(everything, name))
        np.testing.assert_allclose(figures.means, everything.means, rtol=1e-15)


def test_list_metrics_do_not_depend_on_the_order_of_the_lists(monkeypatch):
    """Model-served lists first (as runs rank and store them: groups read as slices) or mixed
    (groups read through masks), and blocks of rows or not: the same figures."""
    rng = np.random.default_rng(9)
    model = random_model(rng, n_viewers=40, n_films=60)
    film_ids = np.where(rng.random((40, 8)) < 0.9, rng.choice(model.film_ids, size=(40, 8)), -1)
    from_model = np.arange(40) < 30
    film_genres = pd.DataFrame(
        {"film_id": model.film_ids, "genre": rng.choice(["Action", "Drama", "War"], 60)}
    )
    options = dict(model=model, film_genres=film_genres, catalogue_ids=np.sort(model.film_ids))

    ordered = lists_metrics(film_ids, from_model, **options)
    monkeypatch.setattr(list_sums, "_POSITION_BLOCK_ROWS", 7)
    shuffled = rng.permutation(40)
    mixed = lists_metrics(film_ids[shuffled], from_model[shuffled], **options)

    for group in ("all", "existing", "new"):
        assert ordered[group]["viewers"] == mixed[group]["viewers"]
        for name in ("coverage", "diversity", "personalization"):
            assert mixed[group][name] == pytest.approx(ordered[group][name], rel=1e-12)
        assert mixed[group]["genre_counts"] == pytest.approx(ordered[group]["genre_counts"])
