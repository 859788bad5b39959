"""Top-N lists: hand-worked examples, then random models against a naive per-pair ranking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recommender.engine.model import TrainedModel, UnknownViewerError
from recommender.engine.scoring import (
    PopularityPenalty,
    Ranking,
    build_seen_matrix,
    concat_rankings,
    film_popularity,
    popularity_ranking,
    score_viewers,
    top_n,
)
from recommender.engine.scoring import _candidates as candidates_of
from recommender.engine.scoring import _candidates_of_one_row as candidates_of_one_row
from recommender.engine.scoring import _top_n_of_all as top_n_of_all
from tests.recommender.engine.test_model import hand_model

# hand_model(): predicted ratings (films 100, 200, 300)
#   viewer 10: 5.0 (clipped from 5.7), 4.5, 5.0 (clipped from 6.5)
#   viewer 20: 4.7, 0.5 (clipped from -0.5), 1.5


def nothing_seen(n_viewers: int, n_films: int) -> sparse.csr_matrix:
    return sparse.csr_matrix((n_viewers, n_films), dtype=bool)


def test_it_ranks_by_predicted_rating_with_ties_going_to_the_earlier_film():
    ranking = score_viewers(hand_model(), [10, 20], seen=nothing_seen(2, 3), n=2)

    assert ranking.viewer_ids.tolist() == [10, 20]
    # viewer 10: films 100 and 300 both clip to 5.0; 100 is the model's earlier film.
    assert ranking.film_ids.tolist() == [[100, 300], [100, 300]]
    np.testing.assert_allclose(ranking.scores, [[5.0, 5.0], [4.7, 1.5]], rtol=1e-6)
    np.testing.assert_allclose(ranking.predicted, ranking.scores)
    assert ranking.from_model.tolist() == [True, True]
    assert ranking.scores.dtype == np.float32 and ranking.film_ids.dtype == np.int64


def test_seen_films_are_never_recommended_and_short_lists_are_padded():
    seen = build_seen_matrix(
        [20, 10],
        [100, 200, 300],
        rated_viewer_ids=[10, 20, 20, 99],
        rated_film_ids=[100, 100, 300, 200],
    )

    ranking = score_viewers(hand_model(), [20, 10], seen=seen, n=3)

    assert ranking.film_ids.tolist() == [[200, -1, -1], [300, 200, -1]]
    np.testing.assert_allclose(ranking.scores[0, :1], [0.5])
    np.testing.assert_allclose(ranking.scores[1, :2], [5.0, 4.5])
    assert np.isnan(ranking.scores[0, 1:]).all() and np.isnan(ranking.predicted[1, 2])


def test_the_log_penalty_drops_a_popular_film_below_less_popular_ones():
    # counts 99, 0, 9: log1p gives ln 100, 0, ln 10, so popularity 1, 0, 0.5.
    # viewer 10: scores 5.0 - 0.875 = 4.125, 4.5 - 0 = 4.5, 5.0 - 0.4375 = 4.5625.
    counts = np.array([99, 0, 9])
    plain = score_viewers(hand_model(), [10], seen=nothing_seen(1, 3), n=3)
    penalised = score_viewers(
        hand_model(),
        [10],
        seen=nothing_seen(1, 3),
        n=3,
        penalty=PopularityPenalty(),
        film_counts=counts,
    )

    assert plain.film_ids.tolist() == [[100, 300, 200]]
    assert penalised.film_ids.tolist() == [[300, 200, 100]]
    np.testing.assert_allclose(penalised.scores, [[4.5625, 4.5, 4.125]], rtol=1e-6)
    np.testing.assert_allclose(penalised.predicted, [[5.0, 4.5, 5.0]], rtol=1e-6)


def test_the_minmax_penalty_uses_raw_counts():
    # popularity 1, 0, 9/99; alpha 1: scores 4.0, 4.5, 5 - 1/11
    ranking = score_viewers(
        hand_model(),
        [10],
        seen=nothing_seen(1, 3),
        n=3,
        penalty=PopularityPenalty(transform="minmax", alpha=1.0),
        film_counts=np.array([99, 0, 9]),
    )

    assert ranking.film_ids.tolist() == [[300, 200, 100]]
    np.testing.assert_allclose(ranking.scores, [[5 - 1 / 11, 4.5, 4.0]], rtol=1e-6)


def test_film_popularity_by_hand():
    counts = [0, 9, 99]

    np.testing.assert_allclose(film_popularity(counts, "minmax"), [0, 9 / 99, 1])
    np.testing.assert_allclose(film_popularity(counts, "log"), [0, 0.5, 1])
    assert film_popularity(counts, "none").tolist() == [0, 0, 0]
    assert film_popularity([4, 4, 4], "log").tolist() == [0, 0, 0], (
        "constant counts: no division by zero"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"transform": "sqrt"},
            "transform must be one of \\('none', 'minmax', 'log'\\), got 'sqrt'",
        ),
        ({"alpha": -0.5}, "alpha must be finite and >= 0, got -0.5"),
        ({"alpha": float("inf")}, "alpha must be finite and >= 0, got inf"),
    ],
)
def test_the_penalty_refuses_bad_settings_naming_them(values, message):
    with pytest.raises(ValueError, match=message):
        PopularityPenalty(**values)


def test_a_penalty_without_counts_is_refused():
    with pytest.raises(ValueError, match="film_counts is required"):
        score_viewers(hand_model(), [10], seen=nothing_seen(1, 3), n=2, penalty=PopularityPenalty())


def test_unknown_viewers_are_refused_by_id():
    with pytest.raises(UnknownViewerError, match="2 viewer id\\(s\\) unknown to the model: 7, 8"):
        score_viewers(hand_model(), [10, 7, 8], seen=nothing_seen(3, 3), n=2)


def test_a_seen_matrix_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"seen has shape \(1, 2\), expected \(1, 3\)"):
        score_viewers(hand_model(), [10], seen=nothing_seen(1, 2), n=2)


# --- random models against the naive ranking --------------------------------------------------


def random_model(
    rng: np.random.Generator,
    n_viewers: int = 30,
    n_films: int = 200,
    *,
    n_factors: int = 6,
    factor_sd: float = 0.5,
) -> TrainedModel:
    """Big biases so that many predictions clip to 0.5 or 5.0: exact ties to break."""
    return TrainedModel(
        global_mean=3.5,
        viewer_ids=rng.choice(10_000, n_viewers, replace=False),
        film_ids=rng.choice(100_000, n_films, replace=False),
        viewer_bias=rng.normal(0, 1.0, n_viewers),
        film_bias=rng.normal(0, 1.0, n_films),
        viewer_factors=rng.normal(0, factor_sd, (n_viewers, n_factors)),
        film_factors=rng.normal(0, factor_sd, (n_films, n_factors)),
    )


def random_seen(rng: np.random.Generator, n_viewers: int, n_films: int) -> sparse.csr_matrix:
    seen = rng.random((n_viewers, n_films)) < 0.2
    seen[0] = True
    seen[0, -3:] = False  # one viewer has only three unseen films: a padded list
    return sparse.csr_matrix(seen)


def naive_top_n(model, viewer_ids, seen, n, film_penalty):
    """One model.predict per (viewer, film) pair, then Python's sorted: the reference."""
    films, scores = [], []
    dense_seen = seen.toarray()
    for row, viewer in enumerate(viewer_ids):
        predicted = [float(model.predict(viewer, film)) for film in model.film_ids]
        score = [p - penalty for p, penalty in zip(predicted, film_penalty, strict=True)]
        unseen = [j for j in range(model.n_films) if not dense_seen[row, j]]
        best = sorted(unseen, key=lambda j: (-score[j], j))[:n]
        films.append([int(model.film_ids[j]) for j in best] + [-1] * (n - len(best)))
        scores.append([score[j] for j in best] + [np.nan] * (n - len(best)))
    return np.array(films), np.array(scores)


@pytest.mark.parametrize("penalty", [None, PopularityPenalty(), PopularityPenalty("minmax", 0.3)])
@pytest.mark.parametrize("chunk_rows", [None, 1, 7])
def test_top_n_equals_the_naive_per_pair_ranking(penalty, chunk_rows):
    rng = np.random.default_rng(42)
    model = random_model(rng)
    viewer_ids = model.viewer_ids[rng.permutation(model.n_viewers)]
    seen = random_seen(rng, len(viewer_ids), model.n_films)
    counts = rng.integers(0, 5, model.n_films)  # few distinct counts: penalised ties too
    film_penalty = (
        np.zeros(model.n_films)
        if penalty is None
        else penalty.alpha * film_popularity(counts, penalty.transform)
    )

    ranking = score_viewers(
        model,
        viewer_ids,
        seen=seen,
        n=15,
        penalty=penalty,
        film_counts=counts,
        chunk_rows=chunk_rows,
    )
    films, scores = naive_top_n(model, viewer_ids, seen, 15, film_penalty)

    np.testing.assert_array_equal(ranking.film_ids, films)
    np.testing.assert_allclose(ranking.scores, scores, rtol=1e-6)
    valid = films >= 0
    expected_predicted = model.predict(
        np.broadcast_to(viewer_ids[:, None], films.shape)[valid], films[valid]
    )
    np.testing.assert_allclose(ranking.predicted[valid], expected_predicted, rtol=1e-6)
    assert (ranking.film_ids[0] >= 0).sum() == 3
    assert (np.diff(scores, axis=1) == 0).any(), "the data must exercise the tie-breaking rule"


def test_float32_scoring_keeps_the_same_best_scores():
    rng = np.random.default_rng(3)
    model = random_model(rng, n_films=500)
    seen = random_seen(rng, model.n_viewers, model.n_films)
    exact = score_viewers(model, model.viewer_ids, seen=seen, n=20)
    fast = score_viewers(model, model.viewer_ids, seen=seen, n=20, dtype=np.float32)

    np.testing.assert_allclose(fast.scores, exact.scores, atol=1e-5)
    assert (fast.film_ids == exact.film_ids).mean() > 0.95


def test_progress_is_reported_per_chunk_up_to_one():
    rng = np.random.default_rng(0)
    model = random_model(rng, n_viewers=10)
    fractions: list[float] = []

    score_viewers(
        model,
        model.viewer_ids,
        seen=nothing_seen(10, 200),
        n=5,
        chunk_rows=4,
        progress=fractions.append,
    )

    assert fractions == [0.4, 0.8, 1.0]


def test_threads_rank_the_same_lists_and_report_progress_in_order():
    rng = np.random.default_rng(4)
    model = random_model(rng, n_viewers=50, n_films=300)
    seen = random_seen(rng, model.n_viewers, model.n_films)
    penalty = PopularityPenalty("log", 0.3)
    counts = rng.integers(1, 500, model.n_films)
    options = dict(seen=seen, n=12, penalty=penalty, film_counts=counts, chunk_rows=7)
    one = score_viewers(model, model.viewer_ids, threads=1, **options)
    fractions: list[float] = []
    three = score_viewers(model, model.viewer_ids, threads=3, progress=fractions.append, **options)

    np.testing.assert_array_equal(three.film_ids, one.film_ids)
    np.testing.assert_array_equal(three.scores, one.scores)
    np.testing.assert_array_equal(three.predicted, one.predicted)
    assert fractions == [min(7 * k, 50) / 50 for k in range(1, 9)]
    with pytest.raises(ValueError, match="threads"):
        score_viewers(model, model.viewer_ids, seen=seen, n=3, threads=-1)


def test_top_n_breaks_ties_by_column_wherever_they_fall():
    block = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])

    columns, values = top_n(block, 3)

    assert columns.tolist() == [[1, 2, 4], [0, 1, 2]]
    assert values.tolist() == [[3.0, 3.0, 3.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("n", [10, 120])
@pytest.mark.parametrize("kind", ["distinct", "ties", "clipped", "mostly seen", "float32"])
def test_a_wide_block_narrowed_to_its_candidates_lists_what_a_full_sort_lists(kind, n):
    rng = np.random.default_rng(7)
    block = rng.normal(3.5, 0.5, size=(40, 9_000))  # 281 groups of 32 columns, then 8
    if kind == "ties":
        block = np.round(block)  # a handful of distinct values: ties at every cut-off
    if kind == "clipped":
        # Predictions clipped to the scale's top: most groups' maxima tie, and a few lie above.
        block = np.minimum(block, 4.0)
        block[:, rng.integers(0, 9_000, 6)] = 4.5
    if kind == "mostly seen":
        block[rng.random(block.shape) < 0.99] = -np.inf
        block[0, :] = -np.inf  # a viewer who has seen everything
    if kind == "float32":
        block = block.astype(np.float32)

    columns, values = top_n(block, n)

    # The stable full sort of the negated rows: value descending, then column ascending.
    order = np.argsort(-block, axis=1, kind="stable")[:, :n]
    np.testing.assert_array_equal(columns, order)
    np.testing.assert_array_equal(values, np.take_along_axis(block, order, axis=1))
    # Whether the block was narrowed first (n groups of 32 columns must leave out 3/4 of them):
    # to n groups a row, whatever the ties.
    narrowed = candidates_of(block, n)
    assert (narrowed is not None) == (n == 10)
    if narrowed is not None:
        assert narrowed[0].shape == (40, 10 * 32)


def test_top_n_equals_a_full_sort_on_random_blocks_of_every_shape():
    rng = np.random.default_rng(11)
    for case in range(300):
        n = int(rng.integers(1, 25))
        n_cols = int(rng.integers(1, 3_000))
        levels = int(rng.choice([2, 5, 1_000_000]))  # heavy ties to none
        block = rng.integers(0, levels, size=(int(rng.integers(2, 6)), n_cols)).astype(float)
        block[rng.random(block.shape) < rng.choice([0.0, 0.5, 0.999])] = -np.inf

        columns, values = top_n(block, n)

        order = np.argsort(-block, axis=1, kind="stable")[:, :n]
        np.testing.assert_array_equal(columns, order, err_msg=f"case {case}")
        np.testing.assert_array_equal(values, np.take_along_axis(block, order, axis=1))


@pytest.mark.parametrize("kind", ["distinct", "ties", "clipped", "mostly seen", "float32"])
@pytest.mark.parametrize("n", [1, 10, 120, 300])
def test_one_row_lists_what_a_full_sort_lists(kind, n):
    """A single row (a list served on request) takes its own path: the values at least its
    floor, sorted."""
    rng = np.random.default_rng(5)
    block = rng.normal(3.5, 0.5, size=(12, 9_000))  # 282 groups of 32 columns
    if kind == "ties":
        block = np.round(block)
    if kind == "clipped":
        block = np.minimum(block, 4.0)  # thousands of values tie at the top
        block[:, rng.integers(0, 9_000, 6)] = 4.5
    if kind == "mostly seen":
        block[rng.random(block.shape) < 0.99] = -np.inf
        block[0, :] = -np.inf  # seen everything: the floor is -inf
        block[1, :-5] = -np.inf  # five unseen films, all in the last group
    if kind == "float32":
        block = block.astype(np.float32)

    for row in block:
        columns, values = top_n(row[None, :], n)

        # Too few groups for a floor: the whole row is selected.
        assert (candidates_of_one_row(row[None, :], n) is None) == (n >= 282)
        order = np.argsort(-row, kind="stable")[:n]
        np.testing.assert_array_equal(columns, order[None, :])
        np.testing.assert_array_equal(values, row[order][None, :])


def test_a_row_with_nan_is_left_to_the_selection():
    row = np.random.default_rng(3).normal(3.5, 0.5, size=9_000)
    row[[17, 4_000]] = np.nan

    assert candidates_of_one_row(row[None, :], 10) is None
    columns, values = top_n(row[None, :], 10)
    expected_columns, expected_values = top_n_of_all(row[None, :], 10)
    np.testing.assert_array_equal(columns, expected_columns)
    np.testing.assert_array_equal(values, expected_values)


# --- cold start -------------------------------------------------------------------------------

# count x mean: film 1: 10 x 3.0 = 30, film 2: 2 x 5.0 = 10, film 3: 5 x 4.0 = 20,
# film 4: never rated (no popularity), film 5: 4 x 2.5 = 10 (ties with film 2, listed later).
FILMS = np.array([1, 2, 3, 4, 5])
COUNTS = np.array([10, 2, 5, 0, 4])
MEANS = np.array([3.0, 5.0, 4.0, np.nan, 2.5])


def test_cold_start_lists_follow_count_times_mean_minus_what_was_seen():
    seen = build_seen_matrix(
        [7, 8, 9], FILMS, rated_viewer_ids=[7, 9, 9, 9], rated_film_ids=[1, 3, 5, 2]
    )

    ranking = popularity_ranking(
        FILMS, counts=COUNTS, means=MEANS, viewer_ids=[7, 8, 9], seen=seen, n=3
    )

    assert ranking.film_ids.tolist() == [[3, 2, 5], [1, 3, 2], [1, -1, -1]]
    np.testing.assert_allclose(ranking.scores[0], [20, 10, 10])
    np.testing.assert_allclose(ranking.predicted[0], [4.0, 5.0, 2.5])
    assert np.isnan(ranking.scores[2, 1:]).all()
    assert ranking.from_model.tolist() == [False, False, False]


def test_cold_start_matches_a_naive_ranking_on_random_data():
    rng = np.random.default_rng(9)
    n_films, n_viewers = 80, 25
    films = rng.choice(1000, n_films, replace=False)
    counts = rng.integers(0, 6, n_films)
    means = rng.choice(np.arange(1, 11) / 2, n_films)
    seen = random_seen(rng, n_viewers, n_films)

    ranking = popularity_ranking(
        films, counts=counts, means=means, viewer_ids=np.arange(n_viewers), seen=seen, n=12
    )

    dense = seen.toarray()
    for row in range(n_viewers):
        candidates = [j for j in range(n_films) if counts[j] > 0 and not dense[row, j]]
        best = sorted(candidates, key=lambda j: (-counts[j] * means[j], j))[:12]
        expected = [int(films[j]) for j in best] + [-1] * (12 - len(best))
        assert ranking.film_ids[row].tolist() == expected


def test_concat_pads_to_the_longer_list_and_refuses_a_viewer_twice():
    model_part = score_viewers(hand_model(), [10], seen=nothing_seen(1, 3), n=3)
    cold_part = popularity_ranking(
        FILMS, counts=COUNTS, means=MEANS, viewer_ids=[8], seen=nothing_seen(1, 5), n=2
    )

    both = concat_rankings(model_part, cold_part)

    assert both.viewer_ids.tolist() == [10, 8] and both.from_model.tolist() == [True, False]
    assert both.film_ids.tolist() == [[100, 300, 200], [1, 3, -1]]
    assert np.isnan(both.scores[1, 2]) and np.isnan(both.predicted[1, 2])
    with pytest.raises(ValueError, match="viewer\\(s\\) ranked twice: 10"):
        concat_rankings(model_part, model_part)


def test_to_frame_lists_each_recommendation_once_with_its_rank():
    ranking = Ranking(
        viewer_ids=np.array([5, 6]),
        film_ids=np.array([[3, 1], [2, -1]]),
        scores=np.array([[2.0, 1.0], [4.0, np.nan]]),
        predicted=np.array([[2.0, 1.0], [4.0, np.nan]]),
        from_model=np.array([True, False]),
    )

    frame = ranking.to_frame()

    assert frame[["viewer_id", "rank", "film_id"]].values.tolist() == [
        [5, 1, 3],
        [5, 2, 1],
        [6, 1, 2],
    ]
    assert frame["from_model"].tolist() == [True, True, False]
