"""Accuracy, ranking and beyond-accuracy metrics as pure functions.

Every function raises ValueError with a clear message on empty input, and runs in time and
memory linear in the number of lists: metrics whose textbook formula compares every pair of
items or viewers use the identity

    sum over i != j of u_i . u_j  =  |sum_i u_i|^2 - sum_i |u_i|^2

instead of a pairwise matrix. Recommendation lists come as (n_lists, L) integer arrays padded
with -1; a film repeated within a list counts once (lists are sets).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from recommender.engine.checks import checked_int
from recommender.engine.model import IdIndex

# Rows per block in `diversity`: the gathered (rows x L x n_factors) float64 block stays
# around 8 MB at L = 120 and 100 factors, so it is summed while still in cache.
_DIVERSITY_BLOCK_ELEMENTS = 1_000_000
# Ids up to this many times the number of entries are counted with np.bincount (a bin per
# id); sparser ids (e.g. huge raw ids) go through np.unique instead.
_BINCOUNT_SPREAD = 8


# --- accuracy ---------------------------------------------------------------------------------


def _pair(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    true = np.asarray(y_true, dtype=np.float64).ravel()
    pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if true.size == 0:
        raise ValueError("no ratings: y_true is empty")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} values but y_pred has {pred.size}")
    if not (np.all(np.isfinite(true)) and np.all(np.isfinite(pred))):
        raise ValueError("y_true and y_pred must be finite (no NaN or infinity)")
    return true, pred


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Root mean squared error."""
    true, pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((true - pred) ** 2)))


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Coefficient of determination 1 - SSE / SST (SST around the mean of y_true).

    Raises ValueError when SST == 0 (every true rating equal): R² is undefined there, and a
    NaN would travel silently into drift decisions.
    """
    true, pred = _pair(y_true, y_pred)
    total = float(np.sum((true - true.mean()) ** 2))
    if total == 0.0:
        raise ValueError("R² is undefined: every true rating is the same (zero variance)")
    return 1.0 - float(np.sum((true - pred) ** 2)) / total


# --- lists ------------------------------------------------------------------------------------


def _lists(lists: npt.ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(lists)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-d (lists x positions) array, got shape {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: no lists to measure")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer ids, got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    if array.size and array.min() < -1:
        raise ValueError(f"{name} may only use -1 as padding, found {array.min()}")
    return array


def as_sets(lists: np.ndarray) -> np.ndarray:
    """The lists with any repeated film replaced by -1 (the order within a row may change)."""
    if lists.shape[1] < 2:
        return lists
    ordered = np.sort(lists, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if not repeated.any():
        return lists
    ordered[:, 1:][repeated] = -1
    return ordered


def _dense(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Non-negative ids mapped to 0..size-1 (identity when the ids are compact enough)."""
    if ids.size == 0:
        return ids, 0
    top = int(ids.max())
    if top < _BINCOUNT_SPREAD * ids.size + 1_000_000:
        return ids, top + 1
    unique, inverse = np.unique(ids, return_inverse=True)
    return inverse, len(unique)


def coverage(film_ids: npt.ArrayLike, catalogue_size: int) -> float:
    """Distinct films recommended (over all lists, padding ignored) / catalogue_size."""
    lists = _lists(film_ids, "film_ids")
    catalogue_size = checked_int("catalogue_size", catalogue_size, minimum=1)
    dense, size = _dense(lists[lists >= 0])
    distinct = int(np.count_nonzero(np.bincount(dense, minlength=size)))
    if distinct > catalogue_size:
        raise ValueError(
            f"{distinct} distinct films recommended but the catalogue has only {catalogue_size}"
        )
    return distinct / int(catalogue_size)


def diversity(film_index_lists: npt.ArrayLike, film_factors: npt.ArrayLike) -> float:
    """Mean intra-list diversity: per list, the mean cosine distance (1 - cosine similarity)
    between the factor vectors of every pair of its films, averaged over lists with at least
    two films. film_index_lists holds rows of film_factors (-1 padding).

    A film whose factor vector is zero has cosine similarity 0 with every film.
    """
    per_list = list_diversities(film_index_lists, film_factors)
    if not per_list.size:
        raise ValueError("no list has two or more films: diversity is undefined")
    return float(np.mean(per_list))


def list_diversities(film_index_lists: npt.ArrayLike, film_factors: npt.ArrayLike) -> np.ndarray:
    """The intra-list diversity of each list with at least two films (see `diversity`, their
    mean), in list order; lists held in parts give their diversity from the sum and count."""
    lists = as_sets(_lists(film_index_lists, "film_index_lists"))
    factors = np.asarray(film_factors, dtype=np.float64)
    if factors.ndim != 2:
        raise ValueError(f"film_factors must be 2-d (films x factors), got shape {factors.shape}")
    if lists.size and lists.max() >= len(factors):
        raise ValueError(
            f"film index {lists.max()} is out of range for {len(factors)} film factor rows"
        )
    norms = np.linalg.norm(factors, axis=1)
    nonzero = norms > 0
    # A trailing zero row: padding (-1) indexes it and adds nothing to any sum.
    unit = np.zeros((len(factors) + 1, factors.shape[1]))
    unit[:-1][nonzero] = factors[nonzero] / norms[nonzero, None]
    squared_norm = np.append(nonzero.astype(np.float64), 0.0)  # |u_i|^2: 1, or 0 for zero rows

    sizes = np.count_nonzero(lists >= 0, axis=1)
    pair_sums = np.empty(len(lists))
    block = max(1, _DIVERSITY_BLOCK_ELEMENTS // max(1, lists.shape[1] * factors.shape[1]))
    for start in range(0, len(lists), block):
        rows = lists[start : start + block]
        total = unit[rows].sum(axis=1)
        pair_sums[start : start + block] = np.einsum("ij,ij->i", total, total) - squared_norm[
            rows
        ].sum(axis=1)
    judged = sizes >= 2
    mean_similarity = pair_sums[judged] / (sizes[judged] * (sizes[judged] - 1.0))
    return 1.0 - mean_similarity


def personalization(film_ids: npt.ArrayLike) -> float:
    """1 - mean cosine similarity between the binary film vectors of every pair of lists.

    Lists with no films are left out (a zero vector has no direction); fewer than two lists
    with films raise ValueError. Exact, in O(total list length) time and memory.
    """
    lists = as_sets(_lists(film_ids, "film_ids"))
    valid = lists >= 0
    dense, size = _dense(lists[valid])
    positions = np.full(lists.shape, -1, dtype=np.int64)
    positions[valid] = dense
    return personalization_of_sums(*unit_vector_sum(positions, size))


def unit_vector_sum(film_positions: np.ndarray, size: int) -> tuple[np.ndarray, int]:
    """The sum over lists of each list's binary film vector scaled to unit length, film
    position by position (0..size-1; -1 padding; lists as sets), and how many lists have
    films: personalisation is a function of the two, so lists held in parts add them up."""
    sizes = np.count_nonzero(film_positions >= 0, axis=1)
    # x_v / |x_v| has weight 1/sqrt(L_v) on each of v's films. Row by row, as
    # film_positions[valid] lists the films: each row's weight once per film it has.
    weights = np.repeat(1.0 / np.sqrt(np.maximum(sizes, 1)), sizes)
    summed = np.bincount(film_positions[film_positions >= 0], weights=weights, minlength=size)
    return summed, int(np.count_nonzero(sizes))


def personalization_of_sums(summed: np.ndarray, lists_with_films: int) -> float:
    """Personalisation from `unit_vector_sum`'s figures: the sum over pairs v != w of
    cos(v, w) is |s|^2 - n."""
    n = lists_with_films
    if n < 2:
        raise ValueError(f"personalization needs at least two non-empty lists, got {n}")
    mean_similarity = (float(summed @ summed) - n) / (n * (n - 1.0))
    return 1.0 - mean_similarity


def build_genre_matrix(
    film_ids: npt.ArrayLike, film_genres: pd.DataFrame
) -> tuple[np.ndarray, list[str]]:
    """(len(film_ids), n_genres) boolean membership and the sorted genre names, from a frame
    with one row per (film_id, genre). Rows follow film_ids; other films are ignored."""
    missing = [c for c in ("film_id", "genre") if c not in film_genres.columns]
    if missing:
        raise ValueError(f"film_genres is missing column(s) {missing}")
    rows = IdIndex.build(film_ids, "film_ids").find(film_genres["film_id"].to_numpy())
    names, columns = np.unique(film_genres["genre"].astype(str).to_numpy(), return_inverse=True)
    matrix = np.zeros((np.size(film_ids), len(names)), dtype=bool)
    known = rows >= 0
    matrix[rows[known], columns[known]] = True
    return matrix, [str(name) for name in names]


def genre_counts(
    film_index_lists: npt.ArrayLike, genre_matrix: npt.ArrayLike, genre_names: list[str]
) -> dict[str, float]:
    """Average number of films of each genre per list (over all lists, empty ones included).

    film_index_lists holds rows of genre_matrix (-1 padding); a film counts towards every
    genre it has.
    """
    lists = as_sets(_lists(film_index_lists, "film_index_lists"))
    matrix = np.asarray(genre_matrix)
    if matrix.ndim != 2 or matrix.shape[1] != len(genre_names):
        raise ValueError(
            f"genre_matrix must be (films, {len(genre_names)} genres), got shape {matrix.shape}"
        )
    if lists.size and lists.max() >= len(matrix):
        raise ValueError(f"film index {lists.max()} is out of range for {len(matrix)} films")
    times_listed = np.bincount(lists[lists >= 0], minlength=len(matrix))
    return genre_counts_of_sums(times_listed, matrix, genre_names, len(lists))


def genre_counts_of_sums(
    times_listed: np.ndarray, genre_matrix: np.ndarray, genre_names: list[str], n_lists: int
) -> dict[str, float]:
    """`genre_counts` from how many of n_lists lists hold each film (rows of genre_matrix), so
    lists held in parts add up their counts."""
    totals = np.asarray(times_listed, dtype=np.float64) @ genre_matrix.astype(np.float64)
    return {
        str(name): float(total) / n_lists for name, total in zip(genre_names, totals, strict=True)
    }


# --- ranking accuracy -------------------------------------------------------------------------
# hits: (n_viewers, k) booleans, True where the film at that rank is relevant to the viewer
# (padding is never a hit). n_relevant: the viewer's relevant films in total (>= 1).


def _hits(hits: npt.ArrayLike) -> np.ndarray:
    array = np.asarray(hits, dtype=bool)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"hits must be a non-empty (viewers, k) array, got shape {array.shape}")
    return array


def _relevant(n_relevant: npt.ArrayLike, hits: np.ndarray) -> np.ndarray:
    counts = np.asarray(n_relevant, dtype=np.int64)
    if counts.shape != (len(hits),):
        raise ValueError(
            f"n_relevant must have one count per viewer ({len(hits)}), got {counts.shape}"
        )
    if (counts < 1).any():
        raise ValueError("every viewer needs at least one relevant film (n_relevant >= 1)")
    if (hits.sum(axis=1) > counts).any():
        raise ValueError("a viewer has more hits than relevant films")
    return counts


def precision_at_k(hits: npt.ArrayLike) -> float:
    """Mean over viewers of hits / k (k = hits.shape[1], even for shorter lists)."""
    array = _hits(hits)
    return float(np.mean(array.sum(axis=1) / array.shape[1]))


def recall_at_k(hits: npt.ArrayLike, n_relevant: npt.ArrayLike) -> float:
    """Mean over viewers of hits / n_relevant (the standard recall; it cannot reach 1 when a
    viewer has more than k relevant films)."""
    array = _hits(hits)
    return float(np.mean(array.sum(axis=1) / _relevant(n_relevant, array)))


def ndcg_at_k(hits: npt.ArrayLike, n_relevant: npt.ArrayLike) -> float:
    """Mean over viewers of DCG / ideal DCG with binary relevance and a log2 discount:
    DCG = sum over ranks r = 1..k of hit_r / log2(r + 1); the ideal puts min(k, n_relevant)
    hits at the top."""
    array = _hits(hits)
    counts = _relevant(n_relevant, array)
    discounts = 1.0 / np.log2(np.arange(2, array.shape[1] + 2))
    ideal = np.cumsum(discounts)[np.minimum(counts, array.shape[1]) - 1]
    return float(np.mean((array @ discounts) / ideal))
