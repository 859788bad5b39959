"""The synthetic data generator. No Django: these run with settings unconfigured."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from recommender.engine.synthetic import (
    GENRES,
    SyntheticDataset,
    _draw_ids,
    generate_synthetic,
    write_movielens_layout,
)

HALF_STARS = np.arange(1, 11) / 2
VIEWERS, FILMS, RATINGS = 1_500, 600, 90_000


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return generate_synthetic(viewers=VIEWERS, films=FILMS, ratings=RATINGS, seed=11)


def rows_of(dataset: SyntheticDataset) -> tuple[np.ndarray, np.ndarray]:
    """Viewer and film rows (positions in the truth arrays) of every rating."""
    ratings = dataset.ratings
    return (
        np.searchsorted(dataset.viewer_ids, ratings["userId"].to_numpy()),
        np.searchsorted(dataset.film_ids, ratings["movieId"].to_numpy()),
    )


# --- shape of the data ------------------------------------------------------------------------


def test_it_makes_exactly_the_requested_numbers_of_ratings_viewers_and_films(dataset):
    assert len(dataset.ratings) == RATINGS
    assert len(dataset.movies) == len(dataset.links) == FILMS
    assert dataset.ratings["userId"].nunique() == VIEWERS  # every viewer rates something
    assert list(dataset.ratings.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert list(dataset.movies.columns) == ["movieId", "title", "genres"]
    assert list(dataset.links.columns) == ["movieId", "imdbId", "tmdbId"]
    assert dataset.viewer_factors.shape == (VIEWERS, 20)
    assert dataset.film_factors.shape == (FILMS, 20)
    assert dataset.film_genres.shape == (FILMS, len(GENRES))


def test_no_viewer_rates_a_film_twice(dataset):
    assert not dataset.ratings.duplicated(["userId", "movieId"]).any()


def test_ratings_are_half_stars_with_a_movielens_like_mean_and_spread(dataset):
    ratings = dataset.ratings["rating"]
    assert ratings.isin(HALF_STARS).all()
    assert ratings.min() == 0.5 and ratings.max() == 5.0
    # MovieLens latest-small: mean 3.54, sd 1.06.
    assert 3.4 < ratings.mean() < 3.6
    assert 0.9 < ratings.std() < 1.1


def test_every_viewer_has_at_least_twenty_ratings_when_there_are_enough(dataset):
    assert dataset.ratings["userId"].value_counts().min() >= 20


def test_every_viewer_has_a_rating_even_when_ratings_barely_outnumber_viewers():
    sparse = generate_synthetic(viewers=500, films=300, ratings=520, seed=3)
    per_viewer = sparse.ratings["userId"].value_counts()
    assert len(sparse.ratings) == 520 and len(per_viewer) == 500 and per_viewer.min() >= 1


def test_a_fully_rated_catalogue_is_possible():
    dense = generate_synthetic(viewers=30, films=20, ratings=600, seed=4)
    assert len(dense.ratings.drop_duplicates(["userId", "movieId"])) == 600
    almost = generate_synthetic(viewers=30, films=20, ratings=590, seed=4)
    assert almost.ratings["userId"].value_counts().max() <= 20
    assert not almost.ratings.duplicated(["userId", "movieId"]).any()


def test_a_tenth_of_the_films_hold_a_large_share_of_the_ratings(dataset):
    per_film = dataset.ratings["movieId"].value_counts().to_numpy()  # sorted, largest first
    top_share = per_film[: FILMS // 10].sum() / RATINGS
    # Uniform popularity would give the top tenth about 0.11 here (150 +- 12 ratings a film).
    assert top_share > 0.25
    assert per_film[0] > 5 * np.median(per_film)


def test_a_few_viewers_rate_far_more_than_the_typical_viewer(dataset):
    per_viewer = dataset.ratings["userId"].value_counts()
    assert per_viewer.mean() > 1.3 * per_viewer.median()
    assert per_viewer.max() > 8 * per_viewer.median()


# --- reproducibility --------------------------------------------------------------------------


def test_the_same_seed_gives_identical_data_and_another_seed_different_data(dataset):
    again = generate_synthetic(viewers=VIEWERS, films=FILMS, ratings=RATINGS, seed=11)
    other = generate_synthetic(viewers=VIEWERS, films=FILMS, ratings=RATINGS, seed=12)

    for frame in ("ratings", "movies", "links"):
        pd.testing.assert_frame_equal(getattr(again, frame), getattr(dataset, frame))
    np.testing.assert_array_equal(again.viewer_factors, dataset.viewer_factors)
    np.testing.assert_array_equal(again.film_bias, dataset.film_bias)
    assert not other.ratings["rating"].equals(dataset.ratings["rating"])
    assert not np.array_equal(other.viewer_factors, dataset.viewer_factors)


# --- genres and the true model ----------------------------------------------------------------


def test_films_have_one_to_three_genres_with_drama_common_and_film_noir_rare(dataset):
    per_film = dataset.film_genres.sum(axis=1)
    assert per_film.min() == 1 and per_film.max() == 3
    assert set(np.unique(per_film)) == {1, 2, 3}
    counts = dict(zip(GENRES, dataset.film_genres.sum(axis=0), strict=True))
    # Expected about 195 Drama and 6 Film-Noir films among 600.
    assert counts["Drama"] > 10 * counts["Film-Noir"]
    assert counts["Comedy"] > 5 * counts["IMAX"]


def test_the_genre_strings_match_the_genre_matrix_in_alphabetical_order(dataset):
    listed = dataset.movies["genres"].str.split("|")
    matrix = [[GENRES[g] for g in np.flatnonzero(row)] for row in dataset.film_genres]
    assert listed.tolist() == matrix


def test_viewers_rate_films_of_a_genre_they_lean_towards_higher(dataset):
    """Viewers whose true factors point along Drama's direction rate Drama films above their
    own average; viewers pointing away rate them below it."""
    viewer_rows, film_rows = rows_of(dataset)
    ratings = dataset.ratings["rating"].to_numpy()
    own_mean = np.bincount(viewer_rows, ratings) / np.bincount(viewer_rows)
    relative = ratings - own_mean[viewer_rows]
    drama = GENRES.index("Drama")
    leaning = dataset.viewer_factors @ dataset.genre_factors[drama] > 0
    on_drama = dataset.film_genres[film_rows, drama]

    towards = relative[on_drama & leaning[viewer_rows]]
    away = relative[on_drama & ~leaning[viewer_rows]]
    gap = towards.mean() - away.mean()
    standard_error = np.sqrt(towards.var() / len(towards) + away.var() / len(away))
    assert gap > 8 * standard_error


def test_the_true_model_explains_the_observed_ratings(dataset):
    viewer_rows, film_rows = rows_of(dataset)
    true = dataset.true_ratings(viewer_rows, film_rows)
    observed = dataset.ratings["rating"].to_numpy()

    assert true.min() >= 0.5 and true.max() <= 5.0
    assert np.corrcoef(true, observed)[0, 1] > 0.6
    residual = observed - true
    # No systematic offset, bar a little pulled off by clipping noisy ratings at 5.0.
    assert abs(residual.mean()) < 0.06
    # Noise sd 0.8, plus half-star rounding, minus clipping at the ends of the scale.
    assert 0.7 < residual.std() < 0.85


def test_true_ratings_refuse_rows_of_different_lengths(dataset):
    with pytest.raises(ValueError, match="equal length"):
        dataset.true_ratings(np.array([0, 1]), np.array([0]))


# --- ids, titles, timestamps ------------------------------------------------------------------


def test_ids_are_distinct_and_no_tmdb_id_equals_its_own_movie_id(dataset):
    links = dataset.links
    assert (links["tmdbId"] != links["movieId"]).all()
    assert links["tmdbId"].is_unique and links["imdbId"].is_unique
    assert links["movieId"].is_monotonic_increasing and links["movieId"].is_unique
    assert links["imdbId"].str.fullmatch(r"\d{7}").all()
    # The id spaces overlap, as in The Movies Dataset: a direct join picks wrong films.
    assert links["tmdbId"].isin(links["movieId"]).any()


def test_tmdb_ids_never_equal_their_own_movie_ids_even_when_the_draws_clash():
    # With 2-5 films drawn from 3x as many ids, a third of the seeds draw one or two tmdbIds
    # equal to their film's movieId, which the generator must move elsewhere.
    for films, seed in itertools.product((2, 3, 5), range(100)):
        film_ids, imdb_ids, tmdb_ids = _draw_ids(films, np.random.default_rng(seed))
        assert (tmdb_ids != film_ids).all()
        assert len(set(tmdb_ids)) == films and len(set(imdb_ids)) == films


def test_tmdb_ids_differ_from_movie_ids_even_for_a_single_film():
    single = generate_synthetic(viewers=1, films=1, ratings=1, seed=0)
    assert single.links["tmdbId"].iloc[0] != single.links["movieId"].iloc[0]


def test_titles_carry_the_film_id_and_a_release_year(dataset):
    titles = dataset.movies["title"].str.extract(r"^Synthetic Film (\d+) \((\d{4})\)$")
    assert titles.notna().all().all()
    assert (titles[0].astype(int) == dataset.movies["movieId"]).all()
    years = titles[1].astype(int)
    assert years.between(1915, 2017).all() and years.median() > 1990


def test_films_are_rated_between_1995_and_2017_and_never_before_their_release_year(dataset):
    ratings = dataset.ratings
    assert ratings["timestamp"].between(789_652_009, 1_501_804_800).all()
    years = dataset.movies.set_index("movieId")["title"].str[-5:-1].astype(int)
    rated_year = pd.to_datetime(ratings["timestamp"], unit="s").dt.year
    assert (rated_year.to_numpy() >= years.loc[ratings["movieId"]].to_numpy()).all()
    # Viewers join in id order: later viewers' first ratings are later.
    first = ratings.groupby("userId")["timestamp"].min()
    assert np.corrcoef(first.index, first.to_numpy())[0, 1] > 0.9


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"viewers": 0}, "viewers must be an integer >= 1, got 0"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"films": 2.5}, "films must be an integer >= 1, got 2.5"),
        ({"n_factors": True}, "n_factors must be an integer >= 1, got True"),
        ({"ratings": 9}, "ratings must be at least viewers"),
        ({"ratings": 51}, "ratings must be at most viewers \\* films = 50"),
    ],
)
def test_sizes_that_cannot_work_are_refused_by_name(sizes, message):
    arguments = {"viewers": 10, "films": 5, "ratings": 30, "seed": 0} | sizes
    with pytest.raises(ValueError, match=message):
        generate_synthetic(**arguments)


# --- files ------------------------------------------------------------------------------------


def test_it_writes_the_movielens_layout_and_the_truth(tmp_path):
    small = generate_synthetic(viewers=40, films=30, ratings=800, seed=5, n_factors=4)
    directory = tmp_path / "not" / "yet" / "there"

    write_movielens_layout(small, directory)

    assert sorted(p.name for p in directory.iterdir()) == [
        "links.csv",
        "movies.csv",
        "ratings.csv",
        "truth.npz",
    ]
    lines = (directory / "ratings.csv").read_text().splitlines()
    assert lines[0] == "userId,movieId,rating,timestamp" and len(lines) == 801
    assert all(re.fullmatch(r"\d+,\d+,[0-5]\.[05],\d{9,10}", line) for line in lines[1:])
    assert (directory / "movies.csv").read_text().startswith("movieId,title,genres\n")
    assert (directory / "links.csv").read_text().startswith("movieId,imdbId,tmdbId\n")

    links = pd.read_csv(directory / "links.csv", dtype={"imdbId": str})
    pd.testing.assert_frame_equal(links, small.links, check_dtype=False)
    ratings = pd.read_csv(directory / "ratings.csv")
    pd.testing.assert_frame_equal(ratings, small.ratings)

    with np.load(directory / "truth.npz", allow_pickle=False) as truth:
        assert float(truth["true_global_mean"]) == small.true_global_mean
        np.testing.assert_array_equal(truth["film_ids"], small.film_ids)
        np.testing.assert_array_equal(truth["viewer_factors"], small.viewer_factors)
        np.testing.assert_array_equal(truth["film_genres"], small.film_genres)
        assert truth["film_factors"].shape == (30, 4)


def test_the_product_reader_accepts_the_written_files(tmp_path):
    from recommender.datasets import read_movielens  # pandas only, no Django

    small = generate_synthetic(viewers=40, films=30, ratings=800, seed=6)
    write_movielens_layout(small, tmp_path)

    parsed = read_movielens(tmp_path)
    assert len(parsed.ratings) == 800 and len(parsed.films) == 30
    assert parsed.films["imdb_id"].str.fullmatch(r"\d{7}").all()
