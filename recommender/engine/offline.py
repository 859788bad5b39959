"""Offline evaluation: every model family and baseline trained and judged on one protocol's
split of the ratings, side by side, plus the popularity penalty's trade-off curve.

Two protocols (docs/evaluation.md has the reasoning and every formula):

- "recommenders": Microsoft Recommenders' MovieLens benchmark. `stratified_split` with ratio
  0.75 by film and seed 42 (their `python_stratified_split(ratio=0.75, min_rating=1,
  filter_by="item", seed=42)`); every test rating is relevant; each viewer's top k is drawn
  from the training films they have not rated; predictions are clipped to the data set's own
  rating scale (their surprise Reader). Their published SVD row is the harness's check.
- "holdout": the product's own split (`training.split_holdout`, 20 % at random, seeded);
  relevant = a holdout rating >= 4, as `manage.py train` measures precision@10.

Rows: "most popular" (training rating count), "fallback" (the product's cold-start list:
count x mean rating), "random" (seeded), one per model family, and "served" (the default
family's lists exactly as the product serves them: popularity penalty, fallback for
cold-start viewers). Every row ranks the same viewers over the same candidates.

Pure numpy / pandas / scipy; no Django.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.engine import metrics
from recommender.engine.checks import checked_float, checked_int
from recommender.engine.model import EmptyRatingsError, TrainedModel
from recommender.engine.scoring import (
    PopularityPenalty,
    build_seen_matrix,
    popularity_ranking,
    score_viewers,
    top_n,
)
from recommender.engine.serving import FilmStats, rank_every_viewer
from recommender.engine.training import check_ratings, split_holdout

logger = logging.getLogger(__name__)

PROTOCOLS: tuple[str, ...] = ("recommenders", "holdout")
# The seed each protocol uses when none is given: Microsoft's 42; the product's training 0.
DEFAULT_SEEDS: dict[str, int] = {"recommenders": 42, "holdout": 0}
RECOMMENDERS_RATIO = 0.75
HOLDOUT_TEST_SIZE = 0.2
HOLDOUT_RELEVANCE = 4.0
# Microsoft's svd_params in examples/06_benchmarks/movielens.ipynb (random_state is the seed):
# the svd family is trained with these under the recommenders protocol, so its row is
# comparable with their published one.
RECOMMENDERS_SVD_PARAMETERS: dict[str, float | int] = {
    "n_factors": 150,
    "n_epochs": 15,
    "lr_all": 0.005,
    "reg_all": 0.02,
}
# Their published SVD row on MovieLens 100k (README, "Algo" table) and the tolerance the
# harness allows: MAP there is `map` (average precision over all relevant films, see
# `mean_average_precision`), not MAP@k.
MICROSOFT_SVD_ML100K: dict[str, float] = {
    "map": 0.012873,
    "ndcg_at_k": 0.095930,
    "precision_at_k": 0.091198,
    "recall_at_k": 0.032783,
    "rmse": 0.938681,
    "mae": 0.742690,
}
MICROSOFT_TOLERANCE = 0.003
BASELINES: tuple[str, ...] = ("most popular", "fallback", "random")
SERVED = "served"
# The penalty sweep: both transforms the product offers, alpha from none to well past the
# original system's 0.875 (the scores are on the rating scale, so alpha is in stars).
SWEEP_TRANSFORMS: tuple[str, ...] = ("log", "minmax")
SWEEP_ALPHAS: tuple[float, ...] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.875, 1.5)
# Viewers per block of random scores in the random baseline: 4M float64 scores (32 MB).
_RANDOM_BLOCK_ELEMENTS = 4_000_000

Progress = Callable[[str, float], None]


def _no_progress(stage: str, fraction: float) -> None:
    """Nobody is watching."""


# --- splits -----------------------------------------------------------------------------------


def stratified_split(
    ratings: pd.DataFrame, *, ratio: float = RECOMMENDERS_RATIO, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) with each film's ratings split ratio : 1 - ratio at random.

    Microsoft Recommenders' stratified splitter by item: one uniform draw per row in the
    frame's order from numpy's legacy generator seeded with `seed` (np.random.seed(seed);
    np.random.rand(n)), rows ordered by (film, draw), and a film's first round(ratio x count)
    rows (numpy's round: halves to even) go to training, the rest to test. Both parts come in
    that (film, draw) order, which is also the order training sees them in their benchmark.
    The same frame in the same row order and the same seed give the same split.
    """
    ratio = checked_float("ratio", ratio, above=0, maximum=1)
    seed = checked_int("seed", seed, minimum=0, maximum=2**32 - 1)
    check_ratings(ratings)
    draws = np.random.RandomState(seed).rand(len(ratings))
    films = ratings["film_id"].to_numpy()
    order = np.lexsort((draws, films))
    sorted_films = films[order]
    starts = np.flatnonzero(np.r_[True, sorted_films[1:] != sorted_films[:-1]])
    counts = np.diff(np.r_[starts, len(order)])
    rank = np.arange(len(order)) - np.repeat(starts, counts) + 1
    in_train = rank <= np.round(ratio * np.repeat(counts, counts))
    ordered = ratings.iloc[order]
    return ordered[in_train], ordered[~in_train]


@dataclass(frozen=True)
class Split:
    """One protocol's split: train, test and the test rows that count as relevant."""

    protocol: str
    seed: int
    train: pd.DataFrame
    test: pd.DataFrame
    relevant: pd.DataFrame
    rating_scale: tuple[float, float] | None  # clip predictions to it (None: the model's)


def protocol_split(ratings: pd.DataFrame, protocol: str, *, seed: int | None = None) -> Split:
    """`ratings` split as `protocol` prescribes (see the module's docstring)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}; got {protocol!r}")
    seed = DEFAULT_SEEDS[protocol] if seed is None else checked_int("seed", seed, minimum=0)
    if protocol == "recommenders":
        train, test = stratified_split(ratings, ratio=RECOMMENDERS_RATIO, seed=seed)
        values = ratings["rating"].to_numpy()
        return Split(protocol, seed, train, test, test, (float(values.min()), float(values.max())))
    train, test = split_holdout(ratings, test_size=HOLDOUT_TEST_SIZE, seed=seed)
    relevant = test[test["rating"] >= HOLDOUT_RELEVANCE]
    return Split(protocol, seed, train, test, relevant, None)


# --- ranking metrics --------------------------------------------------------------------------


def mean_average_precision(hits: np.ndarray, n_relevant: np.ndarray, *, cap_at_k: bool) -> float:
    """Mean over viewers of average precision in the top k: the sum, over ranks r holding a
    relevant film, of (relevant films in the first r) / r, divided by n_relevant (Microsoft's
    and Spark's `map`) or by min(n_relevant, k) when cap_at_k (`map_at_k`, so a perfect list
    scores 1 even when the viewer has more than k relevant films)."""
    hits = np.asarray(hits, dtype=bool)
    counts = np.asarray(n_relevant, dtype=np.float64)
    if hits.ndim != 2 or hits.size == 0:
        raise ValueError(f"hits must be a non-empty (viewers, k) array, got shape {hits.shape}")
    if counts.shape != (len(hits),) or (counts < 1).any():
        raise ValueError("n_relevant needs one count >= 1 per viewer")
    precision_at_rank = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    summed = np.where(hits, precision_at_rank, 0.0).sum(axis=1)
    denominator = np.minimum(counts, hits.shape[1]) if cap_at_k else counts
    return float(np.mean(summed / denominator))


def novelty(film_rows: np.ndarray, film_counts: np.ndarray) -> float:
    """Mean self-information of the recommended films: over every listed (viewer, film),
    -log2(count_f / total), count_f the film's training ratings and total all training
    ratings (Castells et al.'s item-choice novelty; Microsoft's `novelty`). 1 bit = a film
    half of all ratings are of; higher = further into the long tail. film_rows: rows of
    film_counts, -1 padding ignored."""
    rows = np.asarray(film_rows)
    counts = np.asarray(film_counts, dtype=np.float64)
    listed = rows[rows >= 0]
    if listed.size == 0:
        raise ValueError("no film is listed: novelty is undefined")
    if (counts[listed] <= 0).any():
        raise ValueError("a listed film has no training rating: its novelty is undefined")
    return float(np.mean(-np.log2(counts[listed] / counts.sum())))


# --- the test bed: viewers, candidates and truth shared by every row ---------------------------


@dataclass(frozen=True)
class ListJudge:
    """What every row is judged against: the viewers ranked (sorted ids: test viewers with a
    training rating and at least one relevant test rating), the catalogue (sorted training
    film ids, the candidates), what each viewer rated in training (never listed), and the
    relevant test films as (viewer row * stride + catalogue column) keys."""

    k: int
    viewer_ids: np.ndarray
    catalogue: np.ndarray
    film_counts: np.ndarray
    seen: sparse.csr_matrix
    relevant_keys: np.ndarray
    n_relevant: np.ndarray

    @classmethod
    def build(cls, split: Split, k: int) -> ListJudge:
        k = checked_int("k", k, minimum=1)
        train, relevant = split.train, split.relevant
        catalogue, film_counts = np.unique(train["film_id"].to_numpy(), return_counts=True)
        viewers = np.intersect1d(relevant["viewer_id"].to_numpy(), train["viewer_id"].to_numpy())
        if viewers.size == 0:
            raise EmptyRatingsError(
                f"no viewer has both a training rating and a relevant test rating under the "
                f"{split.protocol} protocol: there is nothing to rank"
            )
        rows = np.searchsorted(viewers, relevant["viewer_id"].to_numpy())
        rows = np.minimum(rows, len(viewers) - 1)
        ranked = viewers[rows] == relevant["viewer_id"].to_numpy()
        columns = _positions(catalogue, relevant["film_id"].to_numpy())
        # A relevant film outside the catalogue counts in n_relevant but can never be a hit.
        keys = (
            rows[ranked & (columns >= 0)] * (len(catalogue) + 1) + columns[ranked & (columns >= 0)]
        )
        seen = build_seen_matrix(
            viewers,
            catalogue,
            rated_viewer_ids=train["viewer_id"].to_numpy(),
            rated_film_ids=train["film_id"].to_numpy(),
        )
        return cls(
            k=k,
            viewer_ids=viewers,
            catalogue=catalogue,
            film_counts=film_counts,
            seen=seen,
            relevant_keys=np.unique(keys),
            n_relevant=np.bincount(rows[ranked], minlength=len(viewers)),
        )

    def columns_of(self, film_ids: np.ndarray) -> np.ndarray:
        """Catalogue column of each film id (same shape), -1 for padding or unknown films."""
        return _positions(self.catalogue, film_ids)

    def judge(self, film_ids: np.ndarray) -> dict[str, float | None]:
        """Ranking and beyond-accuracy figures of lists (rows in viewer_ids' order, raw film
        ids, -1 padded, at least k columns; the first k are judged)."""
        lists = np.asarray(film_ids)[:, : self.k]
        if lists.shape != (len(self.viewer_ids), self.k):
            raise ValueError(
                f"lists have shape {lists.shape}; expected ({len(self.viewer_ids)}, {self.k})"
            )
        columns = self.columns_of(lists)
        keys = np.arange(len(lists))[:, None] * (len(self.catalogue) + 1) + columns
        hits = np.isin(keys, self.relevant_keys) & (columns >= 0)
        has_two = np.count_nonzero((columns >= 0).sum(axis=1)) >= 2
        return {
            "precision_at_k": metrics.precision_at_k(hits),
            "recall_at_k": metrics.recall_at_k(hits, self.n_relevant),
            "ndcg_at_k": metrics.ndcg_at_k(hits, self.n_relevant),
            "map_at_k": mean_average_precision(hits, self.n_relevant, cap_at_k=True),
            "map": mean_average_precision(hits, self.n_relevant, cap_at_k=False),
            "coverage": metrics.coverage(np.where(columns >= 0, lists, -1), len(self.catalogue)),
            "novelty": novelty(columns, self.film_counts),
            "personalisation": metrics.personalization(columns) if has_two else None,
        }


def _positions(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if sorted_ids.size == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where((sorted_ids[at] == ids) & (ids >= 0), at, -1)


# --- the lists of each row --------------------------------------------------------------------


def most_popular_lists(bed: ListJudge) -> np.ndarray:
    """Each viewer's k unseen training films with the most training ratings (ties: lower id)."""
    ranking = popularity_ranking(
        bed.catalogue,
        counts=bed.film_counts,
        means=np.ones(len(bed.catalogue)),
        viewer_ids=bed.viewer_ids,
        seen=bed.seen,
        n=bed.k,
    )
    return ranking.film_ids


def fallback_lists(bed: ListJudge, train: pd.DataFrame) -> np.ndarray:
    """The product's cold-start fallback (count x mean rating, unseen) from the training
    ratings' FilmStats, as engine.serving serves it to a viewer the model does not know."""
    stats = FilmStats.from_ratings(train)
    ranking = popularity_ranking(
        stats.film_ids,
        counts=stats.counts,
        means=stats.means,
        viewer_ids=bed.viewer_ids,
        seen=bed.seen,  # stats.film_ids is the catalogue: both are the sorted training films
        n=bed.k,
    )
    return ranking.film_ids


def random_lists(bed: ListJudge, seed: int) -> np.ndarray:
    """k unseen training films per viewer uniformly at random, seeded; in blocks of viewers so
    the (viewers x films) draws stay bounded."""
    rng = np.random.default_rng([seed, 7])  # 7: this baseline's own stream of the seed
    n_viewers, n_films = bed.seen.shape
    lists = np.full((n_viewers, bed.k), -1, dtype=np.int64)
    block = max(1, _RANDOM_BLOCK_ELEMENTS // max(1, n_films))
    for start in range(0, n_viewers, block):
        stop = min(start + block, n_viewers)
        draws = rng.random((stop - start, n_films))
        part = bed.seen[start:stop]
        draws[np.repeat(np.arange(stop - start), np.diff(part.indptr)), part.indices] = -np.inf
        columns, values = top_n(draws, bed.k)
        listed = np.where(np.isfinite(values), bed.catalogue[columns], -1)
        lists[start:stop, : listed.shape[1]] = listed
    return lists


def model_lists(
    bed: ListJudge,
    model: TrainedModel,
    train: pd.DataFrame,
    *,
    penalty: PopularityPenalty | None = None,
) -> np.ndarray:
    """The model's top k unseen films for every viewer it knows (score_viewers, the product's
    kernel), with `penalty` over the training rating counts; viewers it does not know get an
    empty list (no hits)."""
    lists = np.full((len(bed.viewer_ids), bed.k), -1, dtype=np.int64)
    known = model.viewer_index(bed.viewer_ids) >= 0
    if not known.any():
        return lists
    viewers = bed.viewer_ids[known]
    seen = build_seen_matrix(
        viewers,
        model.film_ids,
        rated_viewer_ids=train["viewer_id"].to_numpy(),
        rated_film_ids=train["film_id"].to_numpy(),
    )
    counts = FilmStats.from_ratings(train).counts_of(model.film_ids)
    ranking = score_viewers(model, viewers, seen=seen, n=bed.k, penalty=penalty, film_counts=counts)
    lists[known, : ranking.film_ids.shape[1]] = ranking.film_ids
    return lists


def served_lists(
    bed: ListJudge,
    model: TrainedModel,
    train: pd.DataFrame,
    *,
    penalty: PopularityPenalty | None,
    new_user_threshold: int,
) -> np.ndarray:
    """Exactly what a scoring run stores for these viewers (engine.serving.rank_every_viewer):
    the model's lists with the penalty for viewers with more than new_user_threshold training
    ratings, the popularity fallback for the rest."""
    ranking = rank_every_viewer(
        model,
        train[["viewer_id", "film_id", "rating"]],
        bed.viewer_ids,
        new_user_threshold=new_user_threshold,
        n=bed.k,
        penalty=penalty,
    )
    if not np.array_equal(ranking.viewer_ids, bed.viewer_ids):
        raise RuntimeError("rank_every_viewer returned its viewers in another order")
    return ranking.film_ids


# --- rows -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    """A model family to evaluate: `train(ratings, config)` fits it with `config`; when
    `search` is given, it picks the config from the protocol's training ratings first (so
    the test part never informs the choice)."""

    name: str
    predicts_ratings: bool
    config: Any  # a frozen dataclass with as_dict()
    train: Callable[[pd.DataFrame, Any], TrainedModel]
    search: Callable[[pd.DataFrame], Any] | None = None


@dataclass(frozen=True)
class Row:
    """One line of the table. rmse / mae are None for baselines; for a family that learns no
    rating values (calibrated False) they judge its calibrated rating."""

    name: str
    kind: str  # "baseline", "family" or "served"
    precision_at_k: float
    recall_at_k: float
    ndcg_at_k: float
    map_at_k: float
    map: float
    coverage: float
    novelty: float
    personalisation: float | None
    rmse: float | None = None
    mae: float | None = None
    predicts_ratings: bool | None = None
    train_seconds: float | None = None
    search_seconds: float | None = None
    parameters: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SweepPoint:
    """One family's lists under one penalty (transform, alpha)."""

    family: str
    transform: str
    alpha: float
    ndcg_at_k: float
    precision_at_k: float
    coverage: float
    novelty: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OfflineEvaluation:
    protocol: str
    k: int
    seed: int
    dataset: dict[str, int]
    rows: list[Row]
    sweep: list[SweepPoint]
    seconds: float

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(f"no row {name!r}; rows: {', '.join(r.name for r in self.rows)}")


def _accuracy(model: TrainedModel, test: pd.DataFrame) -> tuple[float, float]:
    truth = test["rating"].to_numpy(dtype=np.float64)
    predicted = model.predict(test["viewer_id"].to_numpy(), test["film_id"].to_numpy())
    return metrics.rmse(truth, predicted), float(np.mean(np.abs(truth - predicted)))


def _on_scale(model: TrainedModel, scale: tuple[float, float] | None) -> TrainedModel:
    """The model clipping to the protocol's rating scale (Microsoft's surprise Reader clips
    ml-100k's predictions to 1-5, the product to 0.5-5)."""
    if scale is None or (model.rating_min, model.rating_max) == scale:
        return model
    return replace(model, rating_min=scale[0], rating_max=scale[1])


def _row(name: str, kind: str, figures: Mapping[str, Any], **extra: Any) -> Row:
    return Row(name=name, kind=kind, **figures, **extra)


def baseline_rows(bed: ListJudge, split: Split) -> list[Row]:
    """most popular, fallback and random, in that order."""
    return [
        _row("most popular", "baseline", bed.judge(most_popular_lists(bed))),
        _row("fallback", "baseline", bed.judge(fallback_lists(bed, split.train))),
        _row("random", "baseline", bed.judge(random_lists(bed, split.seed))),
    ]


def family_row(bed: ListJudge, split: Split, contender: Contender) -> tuple[Row, TrainedModel]:
    """Train one family on the split's training ratings (its configuration searched there
    first when it has a search) and judge its unpenalised lists."""
    config, search_seconds = contender.config, None
    if contender.search is not None:
        started = time.perf_counter()
        config = contender.search(split.train)
        search_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model = contender.train(split.train, config)
    seconds = time.perf_counter() - started
    model = _on_scale(model, split.rating_scale)
    rmse, mae = _accuracy(model, split.test)
    figures = bed.judge(model_lists(bed, model, split.train))
    row = _row(
        contender.name,
        "family",
        figures,
        rmse=rmse,
        mae=mae,
        predicts_ratings=contender.predicts_ratings,
        train_seconds=seconds,
        search_seconds=search_seconds,
        parameters=config.as_dict(),
    )
    logger.info("%s: NDCG@%d %.4f in %.1f s", contender.name, bed.k, row.ndcg_at_k, seconds)
    return row, model


def sweep_points(
    bed: ListJudge,
    train: pd.DataFrame,
    family: str,
    model: TrainedModel,
    *,
    transforms: Sequence[str] = SWEEP_TRANSFORMS,
    alphas: Sequence[float] = SWEEP_ALPHAS,
) -> list[SweepPoint]:
    """The family's lists under every (transform, alpha) penalty: NDCG@k against coverage and
    novelty, the trade-off the served default is chosen from."""
    points = []
    for transform in transforms:
        for alpha in alphas:
            penalty = PopularityPenalty(transform=transform, alpha=alpha)
            figures = bed.judge(model_lists(bed, model, train, penalty=penalty))
            points.append(
                SweepPoint(
                    family=family,
                    transform=transform,
                    alpha=float(alpha),
                    ndcg_at_k=figures["ndcg_at_k"],
                    precision_at_k=figures["precision_at_k"],
                    coverage=figures["coverage"],
                    novelty=figures["novelty"],
                )
            )
    return points


def evaluate_offline(
    ratings: pd.DataFrame,
    *,
    protocol: str,
    contenders: Sequence[Contender],
    served_family: str | None,
    served_penalty: PopularityPenalty | None,
    new_user_threshold: int,
    k: int = 10,
    seed: int | None = None,
    sweep: bool = False,
    progress: Progress = _no_progress,
) -> OfflineEvaluation:
    """Split `ratings` by `protocol`, train every contender on the training part, and judge
    the baselines, each family and the served lists on the same viewers and candidates.

    ratings: viewer_id, film_id, rating, in a stable order (the stratified split's draws
    follow the row order: the import's order reproduces Microsoft's split of the same file).
    served_family: the contender whose model the `served` row serves through the product's
    path (default penalty and fallback); None leaves the row out. sweep: also measure every
    family under SWEEP_TRANSFORMS x SWEEP_ALPHAS.
    """
    started = time.perf_counter()
    names = [c.name for c in contenders]
    if len(set(names)) != len(names):
        raise ValueError(f"contender names must be unique, got {names}")
    if served_family is not None and served_family not in names:
        raise ValueError(f"served family {served_family!r} is not among {names}")
    threshold = checked_int("new_user_threshold", new_user_threshold, minimum=0)
    progress("splitting", 0.0)
    split = protocol_split(ratings, protocol, seed=seed)
    bed = ListJudge.build(split, k)
    steps = 1 + len(contenders) * (2 if sweep else 1) + (served_family is not None)
    progress("baselines", 0.0)
    rows = baseline_rows(bed, split)
    family_rows, models, points = _families(bed, split, contenders, sweep, steps, progress)
    rows += family_rows
    if served_family is not None:
        progress("served lists", (steps - 1) / steps)
        lists = served_lists(
            bed,
            models[served_family],
            split.train,
            penalty=served_penalty,
            new_user_threshold=threshold,
        )
        rows.append(_row(SERVED, "served", bed.judge(lists)))
    progress("done", 1.0)
    return OfflineEvaluation(
        protocol=protocol,
        k=bed.k,
        seed=split.seed,
        dataset=_dataset(ratings, split, bed),
        rows=rows,
        sweep=points,
        seconds=time.perf_counter() - started,
    )


def _families(
    bed: ListJudge,
    split: Split,
    contenders: Sequence[Contender],
    sweep: bool,
    steps: int,
    progress: Progress,
) -> tuple[list[Row], dict[str, TrainedModel], list[SweepPoint]]:
    """Each contender's row and model, then (sweep) its penalty sweep, reporting progress as
    step i of `steps`."""
    rows, models = [], {}
    for done, contender in enumerate(contenders, start=1):
        progress(f"training {contender.name}", done / steps)
        row, models[contender.name] = family_row(bed, split, contender)
        rows.append(row)
    points: list[SweepPoint] = []
    if sweep:
        for done, contender in enumerate(contenders, start=1 + len(contenders)):
            progress(f"sweeping {contender.name}", done / steps)
            points += sweep_points(bed, split.train, contender.name, models[contender.name])
    return rows, models, points


def _dataset(ratings: pd.DataFrame, split: Split, bed: ListJudge) -> dict[str, int]:
    return {
        "ratings": len(ratings),
        "viewers": int(ratings["viewer_id"].nunique()),
        "films": int(ratings["film_id"].nunique()),
        "train": len(split.train),
        "test": len(split.test),
        "relevant": len(split.relevant),
        "ranked_viewers": len(bed.viewer_ids),
        "catalogue": len(bed.catalogue),
    }


# --- the table --------------------------------------------------------------------------------


def table_headers(k: int) -> list[str]:
    """The table's columns: the names `manage.py evaluate` and the models page print."""
    return [
        "",
        "RMSE",
        "MAE",
        f"P@{k}",
        f"R@{k}",
        f"NDCG@{k}",
        f"MAP@{k}",
        "coverage",
        "novelty",
        "personalisation",
        "train s",
    ]


def _cell(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def row_cells(row: Mapping[str, Any]) -> list[str]:
    """One stored row (Row.as_dict()) as the table's cells; a calibrated rating (a family
    that learns no rating values) is marked with *."""
    mark = "*" if row.get("predicts_ratings") is False else ""
    rating = [
        _cell(row.get(name)) + (mark if row.get(name) is not None else "")
        for name in ("rmse", "mae")
    ]
    ranking = [
        _cell(row[name])
        for name in ("precision_at_k", "recall_at_k", "ndcg_at_k", "map_at_k", "coverage")
    ]
    return [
        row["name"],
        *rating,
        *ranking,
        _cell(row["novelty"], 2),
        _cell(row.get("personalisation")),
        _cell(row.get("train_seconds"), 1),
    ]


def markdown_table(rows: Sequence[Mapping[str, Any]], k: int) -> str:
    """The rows (Row.as_dict()) as a markdown pipe table, with a note under it when a rating
    column holds calibrated ratings."""
    headers = table_headers(k)
    cells = [row_cells(row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"
        for values in [headers, *cells]
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if any(row.get("predicts_ratings") is False for row in rows):
        lines.append(
            "\n* a calibrated rating: the family ranks by which films were rated (weighted by "
            "rating), its rating is fitted on its own score and biases (docs/families.md)"
        )
    return "\n".join(lines)


def microsoft_check(row: Row | Mapping[str, Any]) -> list[tuple[str, float, float, bool]]:
    """(figure, ours, Microsoft's published SVD on ml-100k, within MICROSOFT_TOLERANCE) for
    each figure of their row."""
    values = row.as_dict() if isinstance(row, Row) else row
    checks = []
    for name, theirs in MICROSOFT_SVD_ML100K.items():
        ours = values[name]
        checks.append(
            (
                name,
                ours,
                theirs,
                ours is not None and math.isclose(ours, theirs, abs_tol=MICROSOFT_TOLERANCE),
            )
        )
    return checks
