"""Top-N lists: the model's ranking for existing viewers, the popularity fallback for cold-start
viewers, and the popularity penalty that trades a little accuracy for a wider catalogue.

Everything works on whole blocks of viewers at once; the only Python loops are over bounded
chunks of viewers, so memory stays flat however many viewers there are.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse
from threadpoolctl import threadpool_limits

from recommender.engine.checks import checked_int, is_real
from recommender.engine.model import (
    IdIndex,
    TrainedModel,
    UnknownViewerError,
    as_raw_ids,
    describe_ids,
)

logger = logging.getLogger(__name__)

Transform = Literal["none", "minmax", "log"]
TRANSFORMS: tuple[str, ...] = get_args(Transform)

# Bytes of scores per chunk of viewers in `score_viewers`. Measured on the 2-core benchmark
# machine, 45,000 films, float32, time extrapolated to 270,000 viewers: 1.4 MB chunks 79 s,
# 4 MB 71 s, 8 MB 69 s, 16 MB 79 s, 32 MB 93 s. Small chunks make many small matrix products
# (BLAS runs below its best), large ones push np.argpartition and the passes around it out
# of the L2 cache. Peak memory per chunk is about 3.3x this (the scores, argpartition's int64
# permutation, a boolean mask), so the working set stays tiny at any scale.
CHUNK_BYTES = 8 * 2**20
# Elements per chunk of the popularity fallback's (viewers x candidates) working arrays:
# 4M elements are ~50 MB of int64 candidates, booleans and sort order.
_POPULARITY_CHUNK_ELEMENTS = 4_000_000


# --- popularity penalty -----------------------------------------------------------------------


@dataclass(frozen=True)
class PopularityPenalty:
    """score = predicted rating - alpha * popularity, popularity in [0, 1].

    transform: how rating counts become popularity (see `film_popularity`).
    """

    transform: Transform = "log"
    alpha: float = 0.875  # the original system's setting; the product's default is a setting

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {TRANSFORMS}, got {self.transform!r}")
        alpha = self.alpha
        if not (is_real(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
        object.__setattr__(self, "alpha", float(alpha))

    @property
    def is_active(self) -> bool:
        """False when it cannot change any score (no transform or alpha 0)."""
        return self.transform != "none" and self.alpha != 0.0


def film_popularity(counts: npt.ArrayLike, transform: Transform) -> np.ndarray:
    """Popularity in [0, 1] of each film from its rating count.

    "minmax": (c - min) / (max - min); "log": the same on log1p(c), which keeps the long tail
    apart instead of squashing all but the blockbusters to ~0; "none": zeros. Constant counts
    (max == min) give zeros: no film is more popular than another.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    values = np.asarray(counts, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"counts must be 1-d, got shape {values.shape}")
    if values.size and not (np.all(np.isfinite(values)) and values.min() >= 0):
        raise ValueError("counts must be finite and >= 0")
    if transform == "none" or values.size == 0:
        return np.zeros(values.shape, dtype=np.float64)
    if transform == "log":
        values = np.log1p(values)
    low, high = values.min(), values.max()
    if high == low:
        return np.zeros(values.shape, dtype=np.float64)
    return (values - low) / (high - low)


# --- rankings ---------------------------------------------------------------------------------


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class Ranking:
    """Top-N lists of several viewers, best first, padded with -1 / NaN at the end.

    viewer_ids (n,) int64 raw ids; film_ids (n, L) int64 raw ids; scores (n, L) float32,
    the ranking score after any penalty; predicted (n, L) float32, the model's predicted
    rating (popularity fallback: the film's mean rating); from_model (n,) bool.
    """

    viewer_ids: np.ndarray
    film_ids: np.ndarray
    scores: np.ndarray
    predicted: np.ndarray
    from_model: np.ndarray

    def __post_init__(self) -> None:
        converted = {
            "viewer_ids": np.asarray(self.viewer_ids, dtype=np.int64),
            "film_ids": np.asarray(self.film_ids, dtype=np.int64),
            "scores": np.asarray(self.scores, dtype=np.float32),
            "predicted": np.asarray(self.predicted, dtype=np.float32),
            "from_model": np.asarray(self.from_model, dtype=bool),
        }
        n = len(converted["viewer_ids"])
        if converted["viewer_ids"].ndim != 1 or converted["from_model"].shape != (n,):
            raise ValueError(
                f"viewer_ids and from_model must be 1-d of the same length, got shapes "
                f"{converted['viewer_ids'].shape} and {converted['from_model'].shape}"
            )
        if converted["film_ids"].ndim != 2 or len(converted["film_ids"]) != n:
            raise ValueError(
                f"film_ids must be (n_viewers={n}, L), got shape {converted['film_ids'].shape}"
            )
        for name in ("scores", "predicted"):
            if converted[name].shape != converted["film_ids"].shape:
                raise ValueError(
                    f"{name} has shape {converted[name].shape}, expected "
                    f"{converted['film_ids'].shape} like film_ids"
                )
        for name, array in converted.items():
            object.__setattr__(self, name, _readonly(array))

    @property
    def n_viewers(self) -> int:
        return len(self.viewer_ids)

    @property
    def length(self) -> int:
        """L, the padded list length."""
        return int(self.film_ids.shape[1])

    def to_frame(self) -> pd.DataFrame:
        """One row per recommended film (padding dropped): viewer_id, rank (1 = best),
        film_id, score, predicted, from_model."""
        rows, positions = np.nonzero(self.film_ids >= 0)
        return pd.DataFrame(
            {
                "viewer_id": self.viewer_ids[rows],
                "rank": positions + 1,
                "film_id": self.film_ids[rows, positions],
                "score": self.scores[rows, positions],
                "predicted": self.predicted[rows, positions],
                "from_model": self.from_model[rows],
            }
        )


def concat_rankings(*rankings: Ranking) -> Ranking:
    """Rankings one after another (e.g. model part then cold-start part), padded to the
    longest list. A viewer may appear in only one of them."""
    if not rankings:
        raise ValueError("concat_rankings needs at least one ranking")
    length = max(r.length for r in rankings)

    def padded(r: Ranking, name: str, fill: float) -> np.ndarray:
        array = getattr(r, name)
        return np.pad(array, ((0, 0), (0, length - r.length)), constant_values=fill)

    viewer_ids = np.concatenate([r.viewer_ids for r in rankings])
    unique, counts = np.unique(viewer_ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"viewer(s) ranked twice: {describe_ids(unique[counts > 1])}")
    return Ranking(
        viewer_ids=viewer_ids,
        film_ids=np.concatenate([padded(r, "film_ids", -1) for r in rankings]),
        scores=np.concatenate([padded(r, "scores", np.nan) for r in rankings]),
        predicted=np.concatenate([padded(r, "predicted", np.nan) for r in rankings]),
        from_model=np.concatenate([r.from_model for r in rankings]),
    )


# --- inputs -----------------------------------------------------------------------------------


def _checked_seen(seen: object, shape: tuple[int, int]) -> sparse.csr_matrix:
    if not sparse.issparse(seen):
        raise ValueError(f"seen must be a scipy.sparse matrix, got {type(seen).__name__}")
    if seen.shape != shape:
        raise ValueError(
            f"seen has shape {seen.shape}, expected {shape} (one row per viewer, one column "
            f"per film, in the same order)"
        )
    matrix = sparse.csr_matrix(seen)
    if (matrix.data == 0).any():
        # An explicitly stored zero is "not seen"; drop it (on a copy) so that only real
        # entries mask films.
        matrix = matrix.copy()
        matrix.eliminate_zeros()
    return matrix


def build_seen_matrix(
    viewer_ids: npt.ArrayLike,
    film_ids: npt.ArrayLike,
    *,
    rated_viewer_ids: npt.ArrayLike,
    rated_film_ids: npt.ArrayLike,
) -> sparse.csr_matrix:
    """Boolean (viewer x film) matrix: True where the pair was rated.

    Rows follow `viewer_ids`, columns `film_ids` (any order, unique). Rated pairs whose viewer
    or film is not among them are left out.
    """
    viewer_index = IdIndex.build(viewer_ids, "viewer_ids")
    film_index = IdIndex.build(film_ids, "film_ids")
    rows = viewer_index.find(rated_viewer_ids)
    cols = film_index.find(rated_film_ids)
    if rows.shape != cols.shape:
        raise ValueError("rated_viewer_ids and rated_film_ids must have the same length")
    keep = (rows >= 0) & (cols >= 0)
    matrix = sparse.csr_matrix(
        (np.ones(int(keep.sum()), dtype=bool), (rows[keep], cols[keep])),
        shape=(len(viewer_index.rows), len(film_index.rows)),
    )
    matrix.sum_duplicates()
    return matrix


# --- model ranking ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FilmSide:
    """The film half of a model's predictions, built once and read-only, that `rank_block`
    ranks any block of viewers against: a scoring run builds it once per run, a server once
    per model (it copies the film factors: 7 MB and ~3 ms at 100 factors and 9,000 films, more
    than all the rest of a request).

    Biases are folded into the product: [p_v, 1, mu + b_v] . [q_f, b_f, 1] = mu + b_v + b_f +
    p_v . q_f (`viewer_side` builds the left half), so one BLAS call yields the predictions
    with no extra pass over the scores.

    matrix_t: [q_f, b_f, 1] per film, transposed and contiguous: (n_factors + 2, n_films).
    penalty: alpha x popularity per film, subtracted from the predictions; None when no
    penalty applies. film_ids: the model's film ids, in the columns' order.
    rating_min, rating_max: the model's rating scale, in the matrix's dtype.
    clips_scores: whether scores are clipped to that scale before ranking: they are for a
    family that predicts ratings (surprise's rule), not for a ranking family, whose raw score
    orders its films (clipping would tie its best ones); its predicted ratings are clipped.
    ranking_offset: per film, what a ranking family's ranking score is below its predicted
    rating (TrainedModel.ranking_offset); subtracted like the penalty and, like it, added
    back to the predicted ratings. None when there is none.
    """

    matrix_t: np.ndarray
    penalty: np.ndarray | None
    film_ids: np.ndarray
    rating_min: np.floating
    rating_max: np.floating
    clips_scores: bool = True
    ranking_offset: np.ndarray | None = None
    _subtracted: np.ndarray | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Summed once here, not per block: the API ranks one viewer per request.
        if self.ranking_offset is None or self.penalty is None:
            subtracted = self.penalty if self.ranking_offset is None else self.ranking_offset
        else:
            subtracted = _readonly(self.penalty + self.ranking_offset)
        object.__setattr__(self, "_subtracted", subtracted)

    @classmethod
    def build(
        cls,
        model: TrainedModel,
        *,
        penalty: PopularityPenalty | None = None,
        film_counts: npt.ArrayLike | None = None,
        dtype: type[np.floating] = np.float64,
    ) -> FilmSide:
        """film_counts: rating count per film in model.film_ids' order (needed by a penalty).
        dtype: float64 (bit-for-bit the model's predictions) or float32 (see score_viewers)."""
        dtype = _checked_dtype(dtype)
        per_film = _penalty_vector(penalty, film_counts, model.n_films)
        matrix = np.hstack(
            [model.film_factors, model.film_bias[:, None], np.ones((model.n_films, 1))]
        ).astype(dtype)
        offset = model.ranking_offset
        return cls(
            matrix_t=_readonly(np.ascontiguousarray(matrix.T)),
            penalty=None if per_film is None else _readonly(per_film.astype(dtype)),
            film_ids=model.film_ids,
            rating_min=dtype.type(model.rating_min),
            rating_max=dtype.type(model.rating_max),
            clips_scores=model.predicts_ratings,
            ranking_offset=None if offset is None else _readonly(offset.astype(dtype)),
        )

    @property
    def dtype(self) -> np.dtype:
        return self.matrix_t.dtype

    @property
    def subtracted(self) -> np.ndarray | None:
        """What rank_block subtracts from each film's predictions to rank it: the penalty plus
        the ranking offset (None when neither applies)."""
        return self._subtracted

    @property
    def n_films(self) -> int:
        return int(self.matrix_t.shape[1])

    def penalised(
        self, penalty: PopularityPenalty | None, film_counts: npt.ArrayLike | None
    ) -> FilmSide:
        """This film side with `penalty` over `film_counts` (in film_ids' order) instead of
        its own; the matrix is shared, not copied."""
        per_film = _penalty_vector(penalty, film_counts, self.n_films)
        return replace(
            self, penalty=None if per_film is None else _readonly(per_film.astype(self.dtype))
        )


def viewer_side(model: TrainedModel, rows: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """[p_v, 1, mu + b_v] of the viewers at `rows` of the model: the left half of FilmSide's
    product, (len(rows), n_factors + 2)."""
    return viewer_side_of(model, model.viewer_bias[rows], model.viewer_factors[rows], dtype)


def viewer_side_of(
    model: TrainedModel, bias: np.ndarray, factors: np.ndarray, dtype: npt.DTypeLike
) -> np.ndarray:
    """viewer_side of viewers given by their bias and factors (one row each), such as viewers
    folded in without being added to the model."""
    return np.hstack(
        [factors, np.ones((len(bias), 1)), (model.global_mean + bias)[:, None]]
    ).astype(dtype, copy=False)


def rank_block(
    film_side: FilmSide,
    viewers: np.ndarray,
    *,
    seen_at: tuple[np.ndarray, np.ndarray],
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ranking kernel, one block of viewers: each one's n best films by score, ties by
    column. A scoring run calls it per chunk of viewers (score_viewers), a server per request
    for one viewer (engine.serving.rank_one_viewer), so both make the same lists.

    score = clip(prediction, rating_min, rating_max) - penalty (unclipped for a ranking family,
    see FilmSide.clips_scores, and less its ranking offset); films at `seen_at` (block row,
    film column pairs) score -inf and are never listed. viewers: `viewer_side` rows in
    film_side's dtype. Returns film columns (rows, min(n, n_films)) int64, -1 where a viewer
    has fewer unseen films; ranking scores and predicted ratings, float32, NaN there.
    """
    block = viewers @ film_side.matrix_t
    if film_side.clips_scores:
        np.clip(block, film_side.rating_min, film_side.rating_max, out=block)
    penalty = film_side.subtracted
    if penalty is not None:
        block -= penalty
    block[seen_at] = -np.inf
    top, top_scores = top_n(block, n)
    valid = np.isfinite(top_scores)
    rating = top_scores if penalty is None else top_scores + penalty[top]
    # Adding the penalty back can overshoot the scale by one rounding step.
    predicted = np.clip(rating, film_side.rating_min, film_side.rating_max)
    return (
        np.where(valid, top, -1),
        np.where(valid, top_scores, np.nan).astype(np.float32),
        np.where(valid, predicted, np.nan).astype(np.float32),
    )


def score_viewers(
    model: TrainedModel,
    viewer_ids: npt.ArrayLike,
    *,
    seen: sparse.csr_matrix,
    n: int,
    penalty: PopularityPenalty | None = None,
    film_counts: npt.ArrayLike | None = None,
    chunk_rows: int | None = None,
    progress: Callable[[float], None] | None = None,
    dtype: type[np.floating] = np.float64,
    threads: int = 1,
) -> Ranking:
    """Each viewer's n best films by the model, excluding `seen` ones.

    predicted = clip(global_mean + b_v + b_f + p_v . q_f, rating_min, rating_max), exactly
    `model.predict`; score = predicted - alpha * film_popularity(film_counts, transform) when a
    penalty is given, else predicted. Lists are ordered by score descending, ties by the
    film's row in the model ascending, so the result is deterministic. Padding (-1 / NaN)
    fills the end of a list when fewer than n films are unseen.

    seen: (len(viewer_ids), model.n_films), rows in viewer_ids' order, columns in
    model.film_ids' order; nonzero = already rated, never recommended.
    film_counts: rating count per film in model.film_ids' order (needed by a penalty).
    dtype: np.float64 (default; bit-for-bit the model's predictions) or np.float32, about
    twice as fast at large scale, with scores rounded to float32 before ranking.
    progress: called with the fraction of viewers done after each chunk.
    threads: chunks ranked at once (0: one per available CPU, `available_cpus`). Each chunk
    is ranked alone, so the lists are the same however many threads rank them.
    Raises UnknownViewerError for viewer ids the model does not know.
    """
    started = time.perf_counter()
    viewer_ids = as_raw_ids(viewer_ids, "viewer_ids").ravel()
    rows = model.viewer_index(viewer_ids)
    if (rows < 0).any():
        raise UnknownViewerError(viewer_ids[rows < 0])
    n = checked_int("n", n, minimum=1)
    seen = _checked_seen(seen, (len(viewer_ids), model.n_films))
    film_side = FilmSide.build(model, penalty=penalty, film_counts=film_counts, dtype=dtype)
    chunk_rows, threads = _chunking(film_side, chunk_rows, threads)
    film_index, scores, predicted = _rank_in_chunks(
        model, rows, film_side, seen=seen, n=n, chunk_rows=chunk_rows, progress=progress,
        threads=threads,
    )  # fmt: skip
    logger.info(
        "scored %d viewers x %d films (top %d, %s, penalty %s) in %.2f s, %d viewer(s) per "
        "chunk, %d thread(s)",
        *(len(viewer_ids), model.n_films, n, film_side.dtype.name, penalty),
        *(time.perf_counter() - started, chunk_rows, threads),
    )
    return Ranking(
        viewer_ids=viewer_ids,
        film_ids=np.where(film_index < 0, -1, model.film_ids[np.maximum(film_index, 0)]),
        scores=scores,
        predicted=predicted,
        from_model=np.ones(len(viewer_ids), dtype=bool),
    )


def _chunking(film_side: FilmSide, chunk_rows: int | None, threads: int) -> tuple[int, int]:
    """Viewers per chunk (CHUNK_BYTES of scores by default) and threads (0: every CPU),
    checked."""
    if chunk_rows is None:
        chunk_rows = max(1, CHUNK_BYTES // max(1, film_side.n_films * film_side.dtype.itemsize))
    chunk_rows = checked_int("chunk_rows", chunk_rows, minimum=1)
    threads = checked_int("threads", threads, minimum=0) or available_cpus()
    return chunk_rows, threads


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, which a container's cpuset limits)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on macOS or Windows
        return max(1, os.cpu_count() or 1)


def _rank_in_chunks(
    model: TrainedModel,
    rows: np.ndarray,
    film_side: FilmSide,
    *,
    seen: sparse.csr_matrix,
    n: int,
    chunk_rows: int,
    progress: Callable[[float], None] | None,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rank_block over the viewers at `rows` of the model, chunk_rows at a time: film
    columns (-1 padded), scores and predicted ratings (NaN padded), each (len(rows), n).

    With several threads, chunks are ranked at once, each writing its own rows of the
    result. The kernel is numpy passes that release the GIL (a small matrix product, then
    clipping, masking and selection over 8 MB of scores), so the threads run on separate
    cores: on 2 cores, 270k viewers x 45k films rank in about half the time. BLAS is held to
    one thread meanwhile, as the threads already occupy the cores."""
    n_rows = len(rows)
    film_index = np.full((n_rows, n), -1, dtype=np.int64)
    scores = np.full((n_rows, n), np.nan, dtype=np.float32)
    predicted = np.full((n_rows, n), np.nan, dtype=np.float32)

    def rank_chunk(start: int) -> int:
        stop = min(start + chunk_rows, n_rows)
        part = seen[start:stop]
        top, top_scores, top_predicted = rank_block(
            film_side,
            viewer_side(model, rows[start:stop], film_side.dtype),
            seen_at=(np.repeat(np.arange(stop - start), np.diff(part.indptr)), part.indices),
            n=n,
        )
        width = top.shape[1]
        film_index[start:stop, :width] = top
        scores[start:stop, :width] = top_scores
        predicted[start:stop, :width] = top_predicted
        return stop - start

    starts = range(0, n_rows, chunk_rows)
    done = 0
    if threads <= 1 or len(starts) <= 1:
        for start in starts:
            done += rank_chunk(start)
            if progress is not None:
                progress(done / n_rows)
        return film_index, scores, predicted
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        # map yields in submission order; progress is reported from this thread only.
        for ranked in pool.map(rank_chunk, starts):
            done += ranked
            if progress is not None:
                progress(done / n_rows)
    return film_index, scores, predicted


def _checked_dtype(dtype: npt.DTypeLike) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _penalty_vector(
    penalty: PopularityPenalty | None, film_counts: npt.ArrayLike | None, n_films: int
) -> np.ndarray | None:
    """alpha x popularity of each film (float64); None when the penalty changes nothing."""
    if penalty is None or not penalty.is_active:
        return None
    if film_counts is None:
        raise ValueError(
            f"film_counts is required with the popularity penalty {penalty} "
            f"(one rating count per film of the model)"
        )
    counts = np.asarray(film_counts)
    if counts.shape != (n_films,):
        raise ValueError(
            f"film_counts has shape {counts.shape}, expected ({n_films},), one count "
            f"per film in model.film_ids order"
        )
    return penalty.alpha * film_popularity(counts, penalty.transform)


def top_n(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of each row's n largest values (min(n, n_columns) of them),
    ordered by value descending and, among equal values, by column ascending.

    The block is first narrowed to its candidates, then selected among them: selection over
    the whole row dominated scoring at full size (126 of 247 s for 270k viewers x 45k films).
    A block of rows is narrowed to whole groups of columns (`_candidates`); a single row (a
    list served on request) to its values at least its floor (`_candidates_of_one_row`):
    over 45k columns 0.07 ms, against 0.46 ms for np.argpartition over the whole row
    (measured on the full-size champion's rows)."""
    one_row = len(block) == 1
    narrowed = _candidates_of_one_row(block, n) if one_row else _candidates(block, n)
    if narrowed is None:
        return _top_n_of_all(block, n)
    columns, values = narrowed
    top, top_values = _top_n_of_all(values, n)
    return np.take_along_axis(columns, top, axis=1), top_values


# Columns per group when narrowing a block to its candidates, and the least share of a block's
# columns the narrowing must rule out to be worth its extra passes.
_CANDIDATE_GROUP = 32
_CANDIDATE_SHARE = 0.25


def _group_floors(block: np.ndarray, starts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's maxima of its groups of columns (beginning at `starts`) and its floor, the
    n-th largest of them, as a column: n of the row's values are at least the floor, so every
    one of its n largest is too."""
    maxima = np.maximum.reduceat(block, starts, axis=1)
    kth = len(starts) - n
    return maxima, np.partition(maxima, kth, axis=1)[:, kth, None]


def _candidates(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Each row's columns in n of its groups (of _CANDIDATE_GROUP columns), in ascending column
    order: (columns, values), values -inf past the block's last column; or None when n groups
    would not narrow the block enough.

    The groups are those whose maximum is above the row's floor (`_group_floors`), then the
    first groups whose maximum equals it. They hold the row's n largest values, ties by column
    included: every value among the n largest is at least the floor; one above it lies in a
    group whose maximum is above it; the ones equal to it that are listed are the n - (those
    above) first such values by column, and the first groups whose maximum is the floor hold
    at least that many.

    Whole groups are gathered (n x 32 values a row) rather than the values at least the floor
    picked out of the block: picking them took three more passes over the block (the
    comparison, a count and np.nonzero), a third of the ranking's time at full size."""
    n_rows, n_cols = block.shape
    starts = np.arange(0, n_cols, _CANDIDATE_GROUP)
    if len(starts) <= n or n_rows == 0 or n * _CANDIDATE_GROUP > _CANDIDATE_SHARE * n_cols:
        return None
    maxima, floor = _group_floors(block, starts, n)
    above = maxima > floor
    at_floor = maxima == floor
    wanted_at_floor = n - above.sum(axis=1, keepdims=True)
    chosen = above | (at_floor & (np.cumsum(at_floor, axis=1) <= wanted_at_floor))
    groups = np.nonzero(chosen)[1].reshape(n_rows, n)  # exactly n a row, ascending
    columns = (groups[:, :, None] * _CANDIDATE_GROUP + np.arange(_CANDIDATE_GROUP)).reshape(
        n_rows, -1
    )
    inside = columns < n_cols  # the last group may end past the block
    columns[~inside] = 0
    values = np.take_along_axis(block, columns, axis=1)
    values[~inside] = -np.inf
    return columns, values


def _candidates_of_one_row(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A one-row block's columns whose value is at least its floor (`_group_floors`), in
    ascending column order, and their values, each (1, candidates); None when the row has too
    few groups for a floor, or a NaN (no comparison keeps it; the selection over the whole row
    keeps it among the n, as it always did).

    For one row, picking the values out costs less than gathering whole groups: three passes
    (the group maxima, the comparison, np.flatnonzero), and the candidates are few unless many
    values tie at the floor (predictions clipped to the scale's top), which the selection
    among them then handles in linear time."""
    starts = np.arange(0, block.shape[1], _CANDIDATE_GROUP)
    if len(starts) <= n:
        return None
    maxima, floor = _group_floors(block, starts, n)  # a group's maximum is NaN if it holds one
    if np.isnan(maxima).any():
        return None
    columns = np.flatnonzero(block[0] >= floor[0, 0])
    return columns[None, :], block[:, columns]


def _top_n_of_all(block: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """top_n over every column. np.argpartition selects the n largest in linear time (no full
    sort of the row). Which of several values tied with the n-th largest it keeps is
    arbitrary, so rows with such a tie are redone exactly from all their candidates >= the
    n-th largest."""
    n_rows, n_cols = block.shape
    if n >= n_cols:
        # Few columns (tiny catalogues): a stable sort of the negated row is the whole answer.
        order = np.argsort(-block, axis=1, kind="stable")
        return order, np.take_along_axis(block, order, axis=1)
    kth = n_cols - n
    top = np.argpartition(block, kth, axis=1)[:, kth:]
    values = np.take_along_axis(block, top, axis=1)
    nth_best = values.min(axis=1)
    # Summing the mask as uint8 into uint32 is about twice as fast as np.count_nonzero(axis=1).
    at_least = (
        np.greater_equal(block, nth_best[:, None]).view(np.uint8).sum(axis=1, dtype=np.uint32)
    )
    tied = np.flatnonzero(at_least > n)
    if tied.size:
        top[tied], values[tied] = _exact_top_n(block[tied], nth_best[tied], n)
    order = np.lexsort((top, -values), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(values, order, axis=1)


def _exact_top_n(block: np.ndarray, nth_best: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top n of rows that have more than n candidates >= their n-th best value."""
    rows, cols = np.nonzero(block >= nth_best[:, None])
    values = block[rows, cols]
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    per_row = np.bincount(rows, minlength=len(block))
    position = np.arange(len(rows)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    keep = position < n  # every row has more than n candidates, so exactly n are kept
    return cols[keep].reshape(-1, n), values[keep].reshape(-1, n)


# --- popularity fallback ----------------------------------------------------------------------


def popularity_ranking(
    film_ids: npt.ArrayLike,
    *,
    counts: npt.ArrayLike,
    means: npt.ArrayLike,
    viewer_ids: npt.ArrayLike,
    seen: sparse.csr_matrix,
    n: int,
) -> Ranking:
    """The cold-start fallback: films by rating count x mean rating, best first, minus the
    films each viewer has seen. Ties go to the film earlier in `film_ids`.

    film_ids, counts, means: one entry per film; films with count 0 have no popularity and
    are never listed. seen: (len(viewer_ids), len(film_ids)), columns in film_ids' order.
    scores = count x mean; predicted = the film's mean rating; from_model False.
    """
    film_ids = as_raw_ids(film_ids, "film_ids").ravel()
    counts = np.asarray(counts, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    viewer_ids = as_raw_ids(viewer_ids, "viewer_ids").ravel()
    n = checked_int("n", n, minimum=1)
    n_films = len(film_ids)
    if counts.shape != (n_films,) or means.shape != (n_films,):
        raise ValueError(
            f"counts and means must have one entry per film ({n_films}), got shapes "
            f"{counts.shape} and {means.shape}"
        )
    rated = counts > 0
    if (counts < 0).any() or not np.all(np.isfinite(counts)):
        raise ValueError("counts must be finite and >= 0")
    if not np.all(np.isfinite(means[rated])):
        raise ValueError("means must be finite for every film with a positive count")
    seen = _checked_seen(seen, (len(viewer_ids), n_films))

    popularity = np.where(rated, counts * np.where(rated, means, 0.0), 0.0)
    ranked = np.argsort(-popularity, kind="stable")  # stable: ties keep film_ids order
    ranked = ranked[rated[ranked]]
    chosen = _first_unseen(ranked, seen, n)
    valid = chosen >= 0
    safe = np.maximum(chosen, 0)
    return Ranking(
        viewer_ids=viewer_ids,
        film_ids=np.where(valid, film_ids[safe], -1),
        scores=np.where(valid, popularity[safe], np.nan),
        predicted=np.where(valid, means[safe], np.nan),
        from_model=np.zeros(len(viewer_ids), dtype=bool),
    )


def _first_unseen(ranked: np.ndarray, seen: sparse.csr_matrix, n: int) -> np.ndarray:
    """Each viewer's first n films of `ranked` (film columns, best first) that `seen` does
    not hold, -1 padded: (seen rows, n)."""
    rank_of = np.full(seen.shape[1], -1, dtype=np.int64)
    rank_of[ranked] = np.arange(len(ranked))
    # A viewer who has seen s films finds n unseen ones among the first n + s ranked films.
    per_row_seen = np.diff(seen.indptr)
    width = min(len(ranked), n + int(per_row_seen.max(initial=0)))
    chunk_rows = max(1, _POPULARITY_CHUNK_ELEMENTS // max(1, width))
    n_rows = seen.shape[0]
    chosen = np.full((n_rows, n), -1, dtype=np.int64)
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        part = seen[start:stop]
        blocked = np.zeros((stop - start, width), dtype=bool)
        seen_rows = np.repeat(np.arange(stop - start), np.diff(part.indptr))
        seen_ranks = rank_of[part.indices]
        inside = (seen_ranks >= 0) & (seen_ranks < width)
        blocked[seen_rows[inside], seen_ranks[inside]] = True
        # Stable: unseen candidates first, each group still in popularity order.
        first = np.argsort(blocked, axis=1, kind="stable")[:, :n]
        picks = np.where(np.take_along_axis(blocked, first, axis=1), -1, ranked[first])
        chosen[start:stop, : picks.shape[1]] = picks
    return chosen
