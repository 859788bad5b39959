"""Metrics: hand-worked values, and the linear-time list metrics against straightforward
quadratic references kept here (pairwise loops and full cosine matrices)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from recommender.engine.metrics import (
    build_genre_matrix,
    coverage,
    diversity,
    genre_counts,
    ndcg_at_k,
    personalization,
    precision_at_k,
    r2,
    recall_at_k,
    rmse,
)

# --- by hand ----------------------------------------------------------------------------------


def test_rmse_and_r2_by_hand():
    # errors 0, 0, 2: SSE 4; mean 2, SST 2
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert r2([1, 2, 3], [1, 2, 5]) == pytest.approx(1 - 4 / 2)
    assert r2([1, 2, 3], [1, 2, 3]) == 1.0


def test_r2_is_refused_when_every_true_rating_is_equal():
    with pytest.raises(ValueError, match="R² is undefined: every true rating is the same"):
        r2([4.0, 4.0], [3.0, 5.0])


@pytest.mark.parametrize("metric", [rmse, r2])
def test_accuracy_metrics_refuse_empty_or_mismatched_input(metric):
    with pytest.raises(ValueError, match="no ratings: y_true is empty"):
        metric([], [])
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 1"):
        metric([1.0, 2.0], [1.0])


def test_coverage_by_hand():
    assert coverage(np.array([[1, 2, -1], [2, 3, -1]]), 10) == pytest.approx(0.3)


def test_personalization_by_hand():
    # {1, 2} and {2, 3}: cosine 1 / sqrt(2 * 2) = 0.5
    assert personalization(np.array([[1, 2], [2, 3]])) == pytest.approx(0.5)
    # two identical lists and a disjoint one: similarities 1, 0, 0
    assert personalization(np.array([[1, 2], [2, 1], [3, -1]])) == pytest.approx(2 / 3)


def test_diversity_by_hand():
    factors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # [0, 1]: orthogonal, distance 1; [0, 2]: 1 - 1/sqrt(2); [0, 1, 2]: 1 - (0 + 2/sqrt 2) / 3
    assert diversity(np.array([[0, 1, -1]]), factors) == pytest.approx(1.0)
    assert diversity(np.array([[0, 2, -1]]), factors) == pytest.approx(1 - 1 / math.sqrt(2))
    assert diversity(np.array([[0, 1, 2]]), factors) == pytest.approx(1 - math.sqrt(2) / 3)
    # a one-film list has no pairs and is skipped
    assert diversity(np.array([[0, 1, -1], [2, -1, -1]]), factors) == pytest.approx(1.0)


def test_genre_counts_by_hand():
    # film 0: A; film 1: A and B; film 2: none. Lists {0, 1} and {1}.
    matrix = np.array([[1, 0], [1, 1], [0, 0]], dtype=bool)

    counts = genre_counts(np.array([[0, 1], [1, -1]]), matrix, ["A", "B"])

    assert counts == {"A": pytest.approx(1.5), "B": pytest.approx(1.0)}


def test_ranking_metrics_by_hand():
    hits = np.array([[True, False, True], [False, False, False]])
    relevant = np.array([2, 4])

    assert precision_at_k(hits) == pytest.approx((2 / 3 + 0) / 2)
    assert recall_at_k(hits, relevant) == pytest.approx((1.0 + 0) / 2)
    # DCG 1 + 1/log2(4) = 1.5; ideal (2 relevant) 1 + 1/log2(3)
    assert ndcg_at_k(hits, relevant) == pytest.approx((1.5 / (1 + 1 / math.log2(3)) + 0) / 2)


def test_ndcg_is_one_for_a_perfect_list_even_when_more_are_relevant_than_k():
    assert ndcg_at_k(np.array([[True, True]]), np.array([5])) == pytest.approx(1.0)


def test_list_metrics_refuse_empty_input():
    empty = np.zeros((0, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="film_ids is empty"):
        coverage(empty, 10)
    with pytest.raises(ValueError, match="film_index_lists is empty"):
        diversity(empty, np.eye(3))
    with pytest.raises(ValueError, match="at least two non-empty lists, got 1"):
        personalization(np.array([[1, 2], [-1, -1]]))
    with pytest.raises(ValueError, match="no list has two or more films"):
        diversity(np.array([[0, -1]]), np.eye(3))
    with pytest.raises(ValueError, match="hits must be a non-empty"):
        precision_at_k(np.zeros((0, 3), dtype=bool))


def test_list_metrics_refuse_negative_ids_other_than_padding():
    with pytest.raises(ValueError, match="may only use -1 as padding, found -2"):
        coverage(np.array([[1, -2]]), 10)


def test_build_genre_matrix_follows_the_film_order_and_ignores_other_films():
    film_genres = pd.DataFrame(
        {"film_id": [30, 10, 10, 99], "genre": ["Drama", "Comedy", "Drama", "War"]}
    )

    matrix, names = build_genre_matrix([10, 20, 30], film_genres)

    assert names == ["Comedy", "Drama", "War"]
    assert matrix.tolist() == [[True, True, False], [False, False, False], [False, True, False]]


# --- against quadratic references -------------------------------------------------------------


def random_lists(rng: np.random.Generator, n_lists: int, length: int, n_films: int) -> np.ndarray:
    """Distinct films per list, random lengths 0..length (so short lists and -1 padding)."""
    lists = np.full((n_lists, length), -1, dtype=np.int64)
    for row in range(n_lists):
        size = rng.integers(0, length + 1)
        lists[row, :size] = rng.choice(n_films, size, replace=False)
    return lists


def reference_coverage(lists, catalogue_size):
    return len({int(f) for row in lists for f in row if f >= 0}) / catalogue_size


def reference_diversity(lists, factors):
    per_list = []
    for row in lists:
        items = [int(f) for f in row if f >= 0]
        if len(items) < 2:
            continue
        distances = []
        for i, j in itertools.combinations(items, 2):
            ni, nj = np.linalg.norm(factors[i]), np.linalg.norm(factors[j])
            cosine = 0.0 if ni == 0 or nj == 0 else factors[i] @ factors[j] / (ni * nj)
            distances.append(1.0 - cosine)
        per_list.append(np.mean(distances))
    return float(np.mean(per_list))


def reference_personalization(lists):
    """Full n x n cosine similarity matrix of the binary vectors of the non-empty lists."""
    rows = [sorted({int(f) for f in row if f >= 0}) for row in lists]
    rows = [r for r in rows if r]
    n_films = max(max(r) for r in rows) + 1
    binary = np.zeros((len(rows), n_films))
    for i, r in enumerate(rows):
        binary[i, r] = 1.0
    unit = binary / np.linalg.norm(binary, axis=1, keepdims=True)
    similarity = unit @ unit.T
    upper = similarity[np.triu_indices(len(rows), k=1)]
    return 1.0 - float(upper.mean())


def reference_genre_counts(lists, matrix, names):
    totals = dict.fromkeys(names, 0.0)
    for row in lists:
        for f in {int(f) for f in row if f >= 0}:
            for g, name in enumerate(names):
                totals[name] += float(matrix[f, g])
    return {name: total / len(lists) for name, total in totals.items()}


@pytest.mark.parametrize("seed", range(5))
def test_linear_list_metrics_equal_their_quadratic_references(seed):
    rng = np.random.default_rng(seed)
    n_films = 40
    lists = random_lists(rng, n_lists=30, length=8, n_films=n_films)
    factors = rng.normal(size=(n_films, 5))
    factors[3] = 0.0  # a zero factor vector: cosine 0 with everything
    genres = rng.random((n_films, 4)) < 0.3
    names = ["A", "B", "C", "D"]

    assert coverage(lists, n_films) == pytest.approx(reference_coverage(lists, n_films), abs=1e-9)
    assert diversity(lists, factors) == pytest.approx(reference_diversity(lists, factors), abs=1e-9)
    assert personalization(lists) == pytest.approx(reference_personalization(lists), abs=1e-9)
    expected = reference_genre_counts(lists, genres, names)
    assert genre_counts(lists, genres, names) == pytest.approx(expected, abs=1e-9)


def test_a_film_repeated_within_a_list_counts_once():
    lists = np.array([[1, 2, 2], [2, 3, -1]])

    assert personalization(lists) == pytest.approx(
        personalization(np.array([[1, 2, -1], [2, 3, -1]]))
    )
    assert genre_counts(lists, np.ones((4, 1), dtype=bool), ["A"]) == {"A": 2.0}


def test_personalization_handles_huge_raw_ids():
    lists = np.array([[10**12, 5], [10**12, 7]])

    assert personalization(lists) == pytest.approx(0.5)
    assert coverage(lists, 3) == pytest.approx(1.0)
