"""Holdout splitting and SVD training with scikit-surprise, exported to a `TrainedModel`.

Ratings come as a DataFrame with columns viewer_id, film_id (raw integer ids) and rating
(0.5-5.0); other columns are ignored by training and kept by the split.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from surprise import SVD, Trainset

from recommender.engine.checks import checked_float, is_real
from recommender.engine.model import (
    RATING_MAX,
    RATING_MIN,
    EmptyRatingsError,
    SVDConfig,
    TrainedModel,
)

logger = logging.getLogger(__name__)

RATING_COLUMNS: tuple[str, ...] = ("viewer_id", "film_id", "rating")


def check_ratings(ratings: pd.DataFrame, *, what: str = "ratings") -> None:
    """Raise EmptyRatingsError / ValueError naming the column and value at fault."""
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; found {list(ratings.columns)}")
    if ratings.empty:
        raise EmptyRatingsError(f"{what} is empty: there is nothing to train or split")
    for column in ("viewer_id", "film_id"):
        if ratings[column].dtype.kind not in "iu":
            raise ValueError(
                f"{what}[{column!r}] must hold integer ids, got dtype {ratings[column].dtype}"
            )
    values = ratings["rating"].to_numpy(dtype=np.float64)
    bad = ~((values >= RATING_MIN) & (values <= RATING_MAX))  # also catches NaN
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what}['rating'] must lie in [{RATING_MIN}, {RATING_MAX}]; row {row} "
            f"(viewer {ratings['viewer_id'].iloc[row]}, film {ratings['film_id'].iloc[row]}) "
            f"has {values[row]}"
        )


def split_holdout(
    ratings: pd.DataFrame, *, test_size: float = 0.2, seed: int | np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random (train, holdout) split of the rating rows; every column and the index are kept.

    The holdout has round(test_size * len(ratings)) rows (at most len - 1, so training is
    never empty), drawn uniformly without replacement; both parts keep the input's row order.
    The same seed on the same frame gives the same split. A viewer or film may end up only
    in the holdout: the model then predicts it from the biases it knows, as surprise does.
    """
    if not is_real(test_size):
        raise ValueError(f"test_size must be a number between 0 and 1, got {test_size!r}")
    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"test_size must be strictly between 0 and 1, got {test_size!r}")
    check_ratings(ratings)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n_rows = len(ratings)
    n_test = min(round(float(test_size) * n_rows), n_rows - 1)
    in_test = np.zeros(n_rows, dtype=bool)
    in_test[rng.choice(n_rows, size=n_test, replace=False)] = True
    return ratings.iloc[np.flatnonzero(~in_test)], ratings.iloc[np.flatnonzero(in_test)]


def split_recent_holdout(
    recent: pd.DataFrame, share: float, rng: np.random.Generator
) -> pd.DataFrame:
    """The rows of `recent` a challenger is judged on: each kept with probability `share`, one
    uniform draw per row in (viewer_id, film_id) order, so the same rng state holds out the
    same ratings whatever order the rows came in (a database returns them in no set order).
    Columns are kept; the index is renumbered in that order."""
    share = checked_float("share", share, minimum=0, maximum=1)
    ordered = recent.sort_values(["viewer_id", "film_id"], kind="stable", ignore_index=True)
    return ordered[rng.random(len(ordered)) < share]


def has_pairs(ratings: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
    """Bool per row of `ratings`: whether its (viewer_id, film_id) pair occurs in `pairs`.
    Each pair is one int64 key, looked up in a hash table of `pairs`' keys: a join of 30M
    ratings on two columns through pandas' merge held several copies of the frame."""
    viewers = ratings["viewer_id"].to_numpy(np.int64)
    films = ratings["film_id"].to_numpy(np.int64)
    other_viewers = pairs["viewer_id"].to_numpy(np.int64)
    other_films = pairs["film_id"].to_numpy(np.int64)
    if not len(viewers) or not len(other_viewers):
        return np.zeros(len(viewers), dtype=bool)
    low = min(viewers.min(), other_viewers.min()), min(films.min(), other_films.min())
    span = max(films.max(), other_films.max()) - low[1] + 1
    top = max(viewers.max(), other_viewers.max()) - low[0]
    if top >= np.iinfo(np.int64).max // span:
        raise ValueError(f"ids too far apart to pair into one int64 key: {top} x {span}")
    keys = (viewers - low[0]) * span + (films - low[1])
    other = (other_viewers - low[0]) * span + (other_films - low[1])
    return pd.Index(np.unique(other)).get_indexer(keys) >= 0


def without_pairs(ratings: pd.DataFrame, excluded: pd.DataFrame) -> pd.DataFrame:
    """`ratings` without every row whose (viewer_id, film_id) pair occurs in `excluded`: the
    training window of a challenger never holds a rating it is judged on. The row order is
    kept, the index is renumbered."""
    return ratings[~has_pairs(ratings, excluded)].reset_index(drop=True)


@dataclass(frozen=True)
class SurpriseFit:
    """A fitted surprise SVD and the raw ids of its inner ids (row i <-> inner id i)."""

    algo: SVD
    viewer_ids: np.ndarray
    film_ids: np.ndarray


@dataclass(frozen=True)
class SurpriseVisits:
    """Every rating in the order surprise's SVD visits it, as inner ids: viewers and films are
    numbered by first appearance, and ratings go viewer by viewer in inner-id order, each
    viewer's in row order (surprise's dict of per-viewer lists)."""

    viewer_ids: np.ndarray  # raw id of inner viewer i
    film_ids: np.ndarray
    viewers: np.ndarray  # inner viewer id of each visit (int64)
    films: np.ndarray
    ratings: np.ndarray  # float64
    # Block b's visits are [block_bounds[b], block_bounds[b + 1]) (one block unless asked).
    block_bounds: np.ndarray


def surprise_visits(ratings: pd.DataFrame, *, blocks: int = 1) -> SurpriseVisits:
    """Every rating as surprise's SVD visits it; with `blocks` > 1, grouped in the blocks of
    `fit_svd_blocked` (stage by stage, each stage's blocks one after another), surprise's order
    kept within each block. One stable sort either way, so the blocked order costs no more
    memory than surprise's.

    When each viewer's ratings are together in `ratings` (a data set read in id order after an
    import viewer by viewer, as MovieLens files are), row order is already viewer order: no
    sort at all in one block, and in several a stable sort of the block number alone, a radix
    sort of one byte (26M ratings: 0.2 s against 2.0 s for the 64-bit key)."""
    viewer_codes, viewer_ids = pd.factorize(ratings["viewer_id"].to_numpy(np.int64))
    film_codes, film_ids = pd.factorize(ratings["film_id"].to_numpy(np.int64))
    block_sizes = np.array([len(viewer_codes)])
    if blocks == 1:
        order = None if _viewers_together(viewer_codes) else np.argsort(viewer_codes, kind="stable")
    else:
        block = _block_of_visits(viewer_codes, film_codes, blocks)
        block_sizes = np.bincount(block, minlength=blocks * blocks)
        if blocks * blocks <= 256 and _viewers_together(viewer_codes):
            key = block.astype(np.uint8)
            del block
        else:
            key = block
            key *= len(viewer_ids)
            key += viewer_codes
        order = np.argsort(key, kind="stable")
        del key
    values = ratings["rating"].to_numpy(np.float64)
    return SurpriseVisits(
        viewer_ids=np.asarray(viewer_ids, dtype=np.int64),
        film_ids=np.asarray(film_ids, dtype=np.int64),
        viewers=viewer_codes if order is None else viewer_codes[order],
        films=film_codes if order is None else film_codes[order],
        ratings=values.copy() if order is None else values[order],
        block_bounds=np.concatenate([[0], np.cumsum(block_sizes)]),
    )


def _viewers_together(viewer_codes: np.ndarray) -> bool:
    """Whether each viewer's ratings are together: pd.factorize numbers by first appearance,
    so the codes never fall exactly then."""
    return bool((viewer_codes[1:] >= viewer_codes[:-1]).all())


def _block_of_visits(viewer_codes: np.ndarray, film_codes: np.ndarray, blocks: int) -> np.ndarray:
    """Each rating's block: its stage ((film part - viewer part) mod blocks), then its viewer's
    part, parts being inner ids modulo `blocks`."""
    viewer_part = viewer_codes % blocks
    stage = film_codes % blocks
    stage -= viewer_part
    stage %= blocks
    block = stage
    block *= blocks
    block += viewer_part
    return block


class ArrayTrainset(Trainset):
    """surprise's Trainset over numpy arrays instead of per-rating Python tuples.

    surprise's own `Dataset.load_from_df(...).build_full_trainset()` holds every rating three
    times as Python objects (the raw list, then per viewer and per film): about 330 B per
    rating, 8.6 GB at 26M ratings. SVD's training only iterates `all_ratings()` and reads the
    counts and the global mean, so this trainset keeps three arrays (16 B per rating) and
    yields the same ratings in the same order, in blocks: the fitted arrays are bit for bit
    surprise's own (a test fits both). Inner ids are numbered by first appearance, as surprise
    numbers them; ratings are visited viewer by viewer in inner-id order, each viewer's in row
    order, as surprise's dict of per-viewer lists does.
    """

    def __init__(self, ratings: pd.DataFrame, rating_scale: tuple[float, float]) -> None:
        visits = surprise_visits(ratings)
        super().__init__(
            ur=None,
            ir=None,
            n_users=len(visits.viewer_ids),
            n_items=len(visits.film_ids),
            n_ratings=len(visits.ratings),
            rating_scale=rating_scale,
            raw2inner_id_users=None,
            raw2inner_id_items=None,
        )
        self.viewer_ids = visits.viewer_ids
        self.film_ids = visits.film_ids
        self._viewers = visits.viewers.astype(np.int32)
        self._films = visits.films.astype(np.int32)
        self._ratings = visits.ratings
        # surprise takes np.mean of the ratings in all_ratings() order; so does this.
        self._global_mean = float(np.mean(self._ratings))

    def all_ratings(self):
        """(inner viewer, inner film, rating) of every rating, as Python numbers, converted
        _YIELD_BLOCK at a time so that no full Python copy of the ratings ever exists."""
        for start in range(0, self.n_ratings, _YIELD_BLOCK):
            block = slice(start, start + _YIELD_BLOCK)
            yield from zip(
                self._viewers[block].tolist(),
                self._films[block].tolist(),
                self._ratings[block].tolist(),
                strict=True,
            )

    def knows_user(self, uid) -> bool:
        return isinstance(uid, int | np.integer) and 0 <= uid < self.n_users

    def knows_item(self, iid) -> bool:
        return isinstance(iid, int | np.integer) and 0 <= iid < self.n_items

    def to_inner_uid(self, ruid) -> int:
        return _inner_id(self.viewer_ids, ruid, "User")

    def to_inner_iid(self, riid) -> int:
        return _inner_id(self.film_ids, riid, "Item")

    def to_raw_uid(self, iuid) -> int:
        return int(self.viewer_ids[iuid])

    def to_raw_iid(self, iiid) -> int:
        return int(self.film_ids[iiid])


# Ratings converted to Python numbers at a time by ArrayTrainset.all_ratings: 1M x (3 objects
# + a tuple) is about 150 MB, and the conversion is amortised over the block.
_YIELD_BLOCK = 1_000_000


def _inner_id(raw_ids: np.ndarray, raw, what: str) -> int:
    # surprise raises ValueError for an unknown raw id; its predict() relies on that.
    found = np.flatnonzero(raw_ids == raw) if isinstance(raw, int | np.integer) else ()
    if len(found) == 0:
        raise ValueError(f"{what} {raw} is not part of the trainset.")
    return int(found[0])


def train_surprise_svd(ratings: pd.DataFrame, config: SVDConfig) -> SurpriseFit:
    """surprise's SVD fitted on every rating row with `config`, fed from arrays
    (`ArrayTrainset`).

    Use `fit_svd` for the product; this is exposed so that tests and benchmarks can compare
    the exported arrays with surprise's own `predict`.
    """
    check_ratings(ratings)
    trainset = ArrayTrainset(ratings, (RATING_MIN, RATING_MAX))
    algo = SVD(
        n_factors=config.n_factors,
        n_epochs=config.n_epochs,
        biased=True,
        init_mean=config.init_mean,
        init_std_dev=config.init_std_dev,
        lr_all=config.lr_all,
        reg_all=config.reg_all,
        random_state=config.seed,
        verbose=False,
    )
    started = time.perf_counter()
    algo.fit(trainset)
    logger.info(
        "fitted SVD (%d factors, %d epochs, seed %d) on %d ratings of %d viewers and %d films "
        "in %.1f s",
        config.n_factors,
        config.n_epochs,
        config.seed,
        trainset.n_ratings,
        trainset.n_users,
        trainset.n_items,
        time.perf_counter() - started,
    )
    return SurpriseFit(algo=algo, viewer_ids=trainset.viewer_ids, film_ids=trainset.film_ids)


def export_svd(fit: SurpriseFit) -> TrainedModel:
    """The learned arrays of a fitted biased surprise SVD, with raw ids in inner-id order."""
    algo = fit.algo
    if not getattr(algo, "biased", False):
        raise ValueError("only a biased SVD (biased=True) can be exported")
    trainset = algo.trainset
    lower, upper = trainset.rating_scale
    return TrainedModel(
        global_mean=float(trainset.global_mean),
        viewer_ids=fit.viewer_ids,
        film_ids=fit.film_ids,
        viewer_bias=np.array(algo.bu, dtype=np.float64),
        film_bias=np.array(algo.bi, dtype=np.float64),
        viewer_factors=np.array(algo.pu, dtype=np.float64),
        film_factors=np.array(algo.qi, dtype=np.float64),
        rating_min=float(lower),
        rating_max=float(upper),
    )


def fit_svd(ratings: pd.DataFrame, config: SVDConfig) -> TrainedModel:
    """Train surprise's biased SVD on `ratings` and return its arrays as a TrainedModel.

    Raises EmptyRatingsError on an empty frame and ValueError on missing columns, non-integer
    ids or ratings off the 0.5-5.0 scale.
    """
    return export_svd(train_surprise_svd(ratings, config))


def fit_svd_float32(ratings: pd.DataFrame, config: SVDConfig) -> TrainedModel:
    """surprise's biased SVD, run in float32 by cornac's compiled SGD kernel on one thread.

    Same model, same initial draw (numpy's RandomState seeded with `config.seed`, viewer
    factors then film factors), same visiting order and the same update of each rating as
    `fit_svd`; only the arithmetic is float32, and the loop runs over arrays instead of
    surprise's per-rating Python tuples: about four times faster at full size
    (`docs/scaling.md`). Its predictions agree with `fit_svd`'s within 1e-5 stars on the
    bundled data (a test measures it).
    One thread, because cornac's kernel updates shared factors without locks when given more:
    the model would then depend on thread timing, and a seed must reproduce a model.

    Raises like `fit_svd`.
    """
    check_ratings(ratings)
    visits = surprise_visits(ratings)
    factors = _Float32Factors.drawn(visits, config)
    started = time.perf_counter()
    factors.epochs(visits.viewers, visits.films, visits.ratings.astype(np.float32), config)
    logger.info(
        "fitted SVD in float32 (%d factors, %d epochs, seed %d) on %d ratings in %.1f s",
        config.n_factors, config.n_epochs, config.seed, len(visits.ratings),
        time.perf_counter() - started,
    )  # fmt: skip
    return factors.model(visits)


# The blocked trainer's grid, blocks x blocks. Fixed rather than the machine's core count, so
# that a seed gives the same model on every machine: the blocks run together share no viewer
# and no film, so how many threads run them changes the wall time and nothing else. 8 rather
# than 2 because a block's films then fit a core's cache: at full size (26M ratings, 150
# factors, 2 cores) an epoch took 4.65 s in surprise's order, 3.0 s in 2x2 blocks, 2.55 s in
# 4x4, 2.0 s in 8x8, 2.3 s in 16x16, and 3.6 s in 8x8 on one thread (docs/scaling.md).
SGD_BLOCKS = 8


def fit_svd_blocked(
    ratings: pd.DataFrame,
    config: SVDConfig,
    *,
    blocks: int = SGD_BLOCKS,
    threads: int | None = None,
) -> TrainedModel:
    """`fit_svd_float32`'s SVD (same initial draw, same update), with the ratings visited block
    by block so that `blocks` threads can train at once, without locks and reproducibly.

    Viewers and films are split by inner id modulo `blocks`; a rating's block is (its viewer's
    part, its film's part). Each epoch runs `blocks` stages, and stage s visits the blocks
    (p, (p + s) mod blocks) for every part p, on `threads` threads: blocks of a stage touch
    disjoint factor rows, so which thread runs which block, and in what order they finish,
    cannot change a number (stratified SGD, Gemulla et al. 2011). Within a block, ratings keep
    surprise's order, so `blocks=1` is `fit_svd_float32` exactly (tested). Only the order of
    the updates differs from surprise's: a different, equally fitted SGD solution (holdout
    error measured in the tests). `threads` defaults to min(blocks, cores) and never changes
    the model.
    """
    if blocks < 1:
        raise ValueError(f"blocks must be at least 1, got {blocks}")
    check_ratings(ratings)
    visits = surprise_visits(ratings, blocks=blocks)
    factors = _Float32Factors.drawn(visits, config)
    viewers, films, bounds = visits.viewers, visits.films, visits.block_bounds
    values = visits.ratings.astype(np.float32)
    threads = threads or min(blocks, os.cpu_count() or 1)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sgd-block") as pool:
        for _ in range(config.n_epochs):
            for stage_start in range(0, blocks * blocks, blocks):
                runs = [
                    pool.submit(
                        factors.epochs,
                        viewers[lo:hi],
                        films[lo:hi],
                        values[lo:hi],
                        config,
                        n_epochs=1,
                    )  # fmt: skip
                    for lo, hi in zip(
                        bounds[stage_start : stage_start + blocks],
                        bounds[stage_start + 1 : stage_start + blocks + 1],
                        strict=True,
                    )
                ]
                for run in runs:
                    run.result()  # raises what the kernel raised
    logger.info(
        "fitted SVD in float32, %dx%d blocks on %d threads (%d factors, %d epochs, seed %d) "
        "on %d ratings in %.1f s",
        blocks, blocks, threads, config.n_factors, config.n_epochs, config.seed,
        len(visits.ratings), time.perf_counter() - started,
    )  # fmt: skip
    return factors.model(visits)


@dataclass
class _Float32Factors:
    """The SVD's arrays in float32 as cornac's SGD kernel updates them in place."""

    global_mean: float
    viewer_factors: np.ndarray
    film_factors: np.ndarray
    viewer_bias: np.ndarray
    film_bias: np.ndarray

    @classmethod
    def drawn(cls, visits: SurpriseVisits, config: SVDConfig) -> _Float32Factors:
        """surprise's initial draw: RandomState(seed), viewer factors then film factors."""
        draw = np.random.RandomState(config.seed)
        normal = (config.init_mean, config.init_std_dev)
        n_viewers, n_films = len(visits.viewer_ids), len(visits.film_ids)
        return cls(
            # surprise takes np.mean of the ratings in its visiting order; so does this.
            global_mean=float(np.mean(visits.ratings)),
            viewer_factors=draw.normal(*normal, (n_viewers, config.n_factors)).astype(np.float32),
            film_factors=draw.normal(*normal, (n_films, config.n_factors)).astype(np.float32),
            viewer_bias=np.zeros(n_viewers, dtype=np.float32),
            film_bias=np.zeros(n_films, dtype=np.float32),
        )

    def epochs(
        self,
        viewers: np.ndarray,
        films: np.ndarray,
        values: np.ndarray,
        config: SVDConfig,
        *,
        n_epochs: int | None = None,
    ) -> None:
        """Visit the ratings in order, `n_epochs` times (the config's by default). The kernel
        releases the GIL while it runs, so threads given disjoint viewers and films run
        together."""
        # Imported here: importing cornac loads all its models, about 115 MB in every process.
        from cornac.models.mf.backend_cpu import fit_sgd as sgd_kernel

        sgd_kernel(
            viewers, films, values,
            self.viewer_factors, self.film_factors, self.viewer_bias, self.film_bias,
            config.lr_all, config.reg_all, self.global_mean,
            config.n_epochs if n_epochs is None else n_epochs,
            1, True, False, False,  # one thread, with biases, no early stop, quiet
        )  # fmt: skip

    def model(self, visits: SurpriseVisits) -> TrainedModel:
        return TrainedModel(
            global_mean=self.global_mean,
            viewer_ids=visits.viewer_ids,
            film_ids=visits.film_ids,
            viewer_bias=self.viewer_bias.astype(np.float64),
            film_bias=self.film_bias.astype(np.float64),
            viewer_factors=self.viewer_factors.astype(np.float64),
            film_factors=self.film_factors.astype(np.float64),
        )
