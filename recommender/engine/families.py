"""Model families: each trains on a ratings frame and exports the same `TrainedModel` (factors
plus biases), so scoring, sharding, the API's on-the-fly lists and the simulation serve every
family through the one ranking kernel (engine.scoring.rank_block).

- `svd`: scikit-surprise's biased SVD on rating values (the original system's model).
- `als`: implicit's alternating least squares on implicit feedback (every rating is an
  interaction, its confidence weighted by the rating), Hu, Koren and Volinsky's weighted
  matrix factorisation.
- `bpr`: cornac's Bayesian personalised ranking on the same interactions (unweighted).
- `genre-als`: `als` plus a metadata term: each viewer's genre affinity (a ridge regression
  of the viewer's interactions on the films' genres) times the film's genres, weighted by
  `genre_weight`; the "hybrid with metadata" family.

A ranking family (als, bpr, genre-als) scores films but predicts no rating. Its predicted
rating is a calibration, mu + b_v + s x (p_v . q_f) + b_f (`_calibrated`): the viewer's
shrunk mean, the family's score on one least-squares scale, and the film's shrunk offset
(plus its offset in the current period, when the frame marks one). Its lists rank by the
same number with only film_bias_weight of b_f, so they stay the family's own ranking
(mu + b_v is the same for all of a viewer's films). Rating-based monitoring, the
simulation's model truth and the review page's rating figures therefore work for every
family, while the choice between families is made on ranking metrics (docs/evaluation.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.engine.checks import checked_float, checked_int
from recommender.engine.metrics import build_genre_matrix
from recommender.engine.model import (
    VIEWER_BIAS_SHRINKAGE,
    EmptyRatingsError,
    SVDConfig,
    TrainedModel,
    interaction_weights,
)
from recommender.engine.training import check_ratings, fit_svd

logger = logging.getLogger(__name__)

# The calibration's scale is kept above this: a non-positive least-squares slope would invert
# the family's ranking if it were used, and a tiny one keeps it while predicting mu + b_v.
_MIN_SCORE_SCALE = 1e-6
# Ratings per block when computing the calibration's dot products.
_CALIBRATION_BLOCK = 1 << 20
# A ranking family's film bias is the film's mean offset (after the viewer's) shrunk by this
# many pseudo ratings, so a film rated twice is not ranked on those two ratings.
FILM_BIAS_SHRINKAGE = 5.0
# An optional boolean column of the ratings frame: the ratings of the current period (a
# challenger's: the rounds its champion's drift checks found changed). A ranking family's
# calibration then adds each film's offset in that period to its film bias; SVD ignores it.
RECENT_COLUMN = "recent"
# How much of that film bias a ranking family's ranking carries (its predicted ratings carry
# all of it): 0 ranks by the family's own score alone, blind to how its films are rated, 1 by
# the full calibrated rating. Chosen on benchmarks (docs/families.md, "Ranking families and
# ratings").
FILM_BIAS_WEIGHT = 0.02
# How much an ALS interaction's confidence grows per star its rating is above the mean
# (engine.model.interaction_weights; 0: every rating one interaction). Chosen on benchmarks
# (docs/families.md, "Ranking families and ratings").
RATING_WEIGHT = 0.5


def _set(instance: object, name: str, value: object) -> None:
    object.__setattr__(instance, name, value)


def _checked_film_bias_weight(config: object) -> None:
    weight = checked_float("film_bias_weight", config.film_bias_weight, minimum=0, maximum=1)
    _set(config, "film_bias_weight", weight)


class _Config:
    """as_dict / from_dict for a family's frozen configuration dataclass."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


@dataclass(frozen=True)
class ALSConfig(_Config):
    """implicit's AlternatingLeastSquares. Defaults chosen on benchmarks.quality (see
    docs/evaluation.md): small factor counts rank best on MovieLens-sized data."""

    factors: int = 16
    regularization: float = 0.1
    alpha: float = 2.0
    iterations: int = 20
    film_bias_weight: float = FILM_BIAS_WEIGHT
    rating_weight: float = RATING_WEIGHT
    seed: int = 0

    def __post_init__(self) -> None:
        _set(self, "factors", checked_int("factors", self.factors, minimum=1))
        _set(self, "iterations", checked_int("iterations", self.iterations, minimum=1))
        _set(self, "seed", checked_int("seed", self.seed, minimum=0, maximum=2**32 - 1))
        _set(
            self, "regularization", checked_float("regularization", self.regularization, minimum=0)
        )
        _set(self, "alpha", checked_float("alpha", self.alpha, above=0))
        _checked_film_bias_weight(self)
        _set(self, "rating_weight", checked_float("rating_weight", self.rating_weight, minimum=0))


@dataclass(frozen=True)
class GenreALSConfig(ALSConfig):
    """ALS plus genre affinity: genre_weight scales the metadata term against ALS's score;
    genre_regularization is the ridge penalty of the viewers' genre regressions."""

    genre_weight: float = 0.3
    genre_regularization: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "genre_weight", checked_float("genre_weight", self.genre_weight, minimum=0))
        _set(
            self,
            "genre_regularization",
            checked_float("genre_regularization", self.genre_regularization, above=0),
        )


@dataclass(frozen=True)
class BPRConfig(_Config):
    """cornac's BPR. Defaults: Microsoft Recommenders' benchmark settings but 100 factors and
    100 epochs instead of 200 and 200 (a quarter of the time; docs/families.md)."""

    factors: int = 100
    learning_rate: float = 0.01
    regularization: float = 0.001
    iterations: int = 100
    film_bias_weight: float = FILM_BIAS_WEIGHT
    seed: int = 0

    def __post_init__(self) -> None:
        _set(self, "factors", checked_int("factors", self.factors, minimum=1))
        _set(self, "iterations", checked_int("iterations", self.iterations, minimum=1))
        _set(self, "seed", checked_int("seed", self.seed, minimum=0, maximum=2**32 - 1))
        _set(self, "learning_rate", checked_float("learning_rate", self.learning_rate, above=0))
        _set(
            self, "regularization", checked_float("regularization", self.regularization, minimum=0)
        )
        _checked_film_bias_weight(self)


# --- interactions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Interactions:
    """The ratings as a binary (viewer x film) CSR matrix, with the raw ids of its rows and
    columns (sorted ascending), as the implicit-feedback families consume them."""

    matrix: sparse.csr_matrix
    viewer_ids: np.ndarray
    film_ids: np.ndarray
    viewer_rows: np.ndarray
    film_columns: np.ndarray

    @classmethod
    def from_ratings(cls, ratings: pd.DataFrame, *, rating_weight: float = 0.0) -> Interactions:
        """rating_weight: each interaction weighs engine.model.interaction_weights of its
        rating (0: every one weighs one)."""
        check_ratings(ratings)
        viewer_ids, rows = np.unique(ratings["viewer_id"].to_numpy(np.int64), return_inverse=True)
        film_ids, columns = np.unique(ratings["film_id"].to_numpy(np.int64), return_inverse=True)
        values = ratings["rating"].to_numpy(np.float64)
        weights = interaction_weights(values, float(values.mean()), rating_weight)
        shape = (len(viewer_ids), len(film_ids))
        matrix = sparse.csr_matrix((weights, (rows, columns)), shape=shape)
        matrix.sum_duplicates()
        if matrix.nnz < len(rows):
            # A pair rated twice is still one interaction, weighing its ratings' mean weight.
            counts = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)
            counts.sum_duplicates()
            matrix.data /= counts.data
        matrix = matrix.astype(np.float32)
        return cls(matrix, viewer_ids, film_ids, rows.ravel(), columns.ravel())


def _implicit_threads() -> int:
    return max(1, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 1


def _fit_implicit(
    make_model: Callable[[], Any], interactions: Interactions
) -> tuple[np.ndarray, np.ndarray]:
    """Build and fit an implicit model with BLAS held to one thread (implicit runs its own
    threads; a BLAS pool inside each would oversubscribe the cores, and implicit warns about
    it when built outside the limit). Returns float64 factors."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):
        model = make_model()
        model.fit(interactions.matrix, show_progress=False)
    return (
        np.asarray(model.user_factors, dtype=np.float64),
        np.asarray(model.item_factors, dtype=np.float64),
    )


def _als_factors(interactions: Interactions, config: ALSConfig) -> tuple[np.ndarray, np.ndarray]:
    from implicit.cpu.als import AlternatingLeastSquares

    return _fit_implicit(
        lambda: AlternatingLeastSquares(
            factors=config.factors,
            regularization=config.regularization,
            alpha=config.alpha,
            iterations=config.iterations,
            random_state=config.seed,
            num_threads=_implicit_threads(),
            calculate_training_loss=False,
        ),
        interactions,
    )


def _bpr_factors(interactions: Interactions, config: BPRConfig) -> tuple[np.ndarray, np.ndarray]:
    """cornac's BPR (the implementation Microsoft Recommenders' benchmark row measured; on
    MovieLens 100k it ranks about twice as well as implicit's BPR at the settings tried, see
    docs/families.md). One thread: BPR's threads update shared factors without locks, so
    several would make a seed irreproducible. The film bias becomes one more factor column
    (viewers hold a constant 1 there), so the kernel's product includes it."""
    from cornac.data import Dataset as CornacDataset
    from cornac.models import BPR

    viewers, films = interactions.matrix.nonzero()
    triples = zip(
        interactions.viewer_ids[viewers].tolist(),
        interactions.film_ids[films].tolist(),
        np.ones(len(viewers)).tolist(),
        strict=True,
    )
    dataset = CornacDataset.from_uir(triples, seed=config.seed)
    model = BPR(
        k=config.factors,
        max_iter=config.iterations,
        learning_rate=config.learning_rate,
        lambda_reg=config.regularization,
        num_threads=1,
        seed=config.seed,
        verbose=False,
    )
    model.fit(dataset)
    viewer_rows = _inner_rows(dataset.uid_map, interactions.viewer_ids)
    film_rows = _inner_rows(dataset.iid_map, interactions.film_ids)
    viewer_factors = np.asarray(model.u_factors, dtype=np.float64)[viewer_rows]
    film_factors = np.asarray(model.i_factors, dtype=np.float64)[film_rows]
    film_bias = np.asarray(model.i_biases, dtype=np.float64)[film_rows]
    return (
        np.hstack([viewer_factors, np.ones((len(viewer_rows), 1))]),
        np.hstack([film_factors, film_bias[:, None]]),
    )


def _inner_rows(id_map: Mapping[int, int], raw_ids: np.ndarray) -> np.ndarray:
    """cornac's inner row of each raw id, from its raw -> inner map, without a lookup per id."""
    raw = np.fromiter(id_map.keys(), dtype=np.int64, count=len(id_map))
    inner = np.fromiter(id_map.values(), dtype=np.int64, count=len(id_map))
    order = np.argsort(raw)
    return inner[order][np.searchsorted(raw[order], raw_ids)]


def _genre_affinity(
    interactions: Interactions, film_genres: pd.DataFrame | None, config: GenreALSConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(viewer affinity, film genres): each viewer's ridge regression of their interaction row
    on the films' genre indicators, U = X G (G'G + lambda I)^-1, and G itself scaled so that a
    film's genre vector has unit length (a film in five genres is not five times as likely)."""
    if film_genres is None or film_genres.empty:
        raise ValueError("genre-als needs film genres (film_genres has no rows)")
    genres, _names = build_genre_matrix(interactions.film_ids, film_genres)
    genres = genres.astype(np.float64)
    lengths = np.sqrt(genres.sum(axis=1, keepdims=True))
    genres = np.divide(genres, lengths, out=np.zeros_like(genres), where=lengths > 0)
    gram = genres.T @ genres + config.genre_regularization * np.eye(genres.shape[1])
    affinity = np.linalg.solve(gram, (interactions.matrix @ genres).T).T
    return affinity, genres


# --- calibration and export ------------------------------------------------------------------


def _calibrated(
    ratings: pd.DataFrame,
    interactions: Interactions,
    viewer_factors: np.ndarray,
    film_factors: np.ndarray,
    *,
    family: str,
    film_bias_weight: float,
    fold_in_alpha: float,
    fold_in_reg: float,
    fold_in_rating_weight: float = 0.0,
) -> TrainedModel:
    """A ranking family's factors as a TrainedModel whose predictions are calibrated ratings:
    mu + b_v + s x (p_v . q_f) + b_f. b_v is the viewer's shrunk mean offset, s the
    least-squares slope of what remains on the family's score over the training ratings, and
    b_f the film's shrunk mean of what remains after both (`_film_bias`). Its ranking carries
    film_bias_weight x b_f (TrainedModel.ranked_film_bias): mu + b_v is the same for all of a
    viewer's films, so with weight 0 its lists are exactly the family's own ranking."""
    values = ratings["rating"].to_numpy(np.float64)
    rows, columns = interactions.viewer_rows, interactions.film_columns
    mu = float(values.mean())
    viewer_bias = _shrunk_means(
        rows, values - mu, len(interactions.viewer_ids), VIEWER_BIAS_SHRINKAGE
    )
    residual = values - mu - viewer_bias[rows]
    score = np.empty(len(values))
    for start in range(0, len(values), _CALIBRATION_BLOCK):
        block = slice(start, start + _CALIBRATION_BLOCK)
        score[block] = np.einsum(
            "ij,ij->i", viewer_factors[rows[block]], film_factors[columns[block]]
        )
    denominator = float(score @ score)
    scale = float(residual @ score) / denominator if denominator > 0 else 0.0
    scale = max(scale, _MIN_SCORE_SCALE)
    # Fitted after the scale, so the scale (and with it the family's ranking against the
    # popularity penalty, which is in stars) is the same whatever the film bias's weight.
    residual -= scale * score
    return TrainedModel(
        global_mean=mu,
        viewer_ids=interactions.viewer_ids,
        film_ids=interactions.film_ids,
        viewer_bias=viewer_bias,
        film_bias=_film_bias(columns, residual, len(interactions.film_ids), ratings),
        viewer_factors=scale * viewer_factors,
        film_factors=film_factors,
        family=family,
        predicts_ratings=False,
        fold_in_alpha=fold_in_alpha,
        fold_in_reg=fold_in_reg,
        score_scale=scale,
        ranked_film_bias=film_bias_weight,
        fold_in_rating_weight=fold_in_rating_weight,
    )


def _film_bias(
    columns: np.ndarray, residual: np.ndarray, n_films: int, ratings: pd.DataFrame
) -> np.ndarray:
    """Each film's shrunk mean residual, plus, when the frame marks a current period
    (RECENT_COLUMN), its shrunk mean residual in that period on top: a time-binned film bias,
    as in Koren's timeSVD++, because when tastes shift, years of older ratings would
    otherwise outvote the few that show the shift."""
    film_bias = _shrunk_means(columns, residual, n_films, FILM_BIAS_SHRINKAGE)
    recent = _recent_rows(ratings)
    if recent is None:
        return film_bias
    remains = residual[recent] - film_bias[columns[recent]]
    return film_bias + _shrunk_means(columns[recent], remains, n_films, FILM_BIAS_SHRINKAGE)


def _recent_rows(ratings: pd.DataFrame) -> np.ndarray | None:
    """The rows of the current period (RECENT_COLUMN true), or None when it marks none."""
    if RECENT_COLUMN not in ratings.columns:
        return None
    recent = ratings[RECENT_COLUMN].to_numpy(bool)
    return recent if recent.any() else None


def _shrunk_means(groups: np.ndarray, values: np.ndarray, n_groups: int, shrinkage: float):
    """Each group's sum of `values` over (its count + shrinkage): its mean pulled towards 0."""
    sums = np.bincount(groups, weights=values, minlength=n_groups)
    return sums / (np.bincount(groups, minlength=n_groups) + shrinkage)


def fit_als(
    ratings: pd.DataFrame, config: ALSConfig, *, film_genres: pd.DataFrame | None = None
) -> TrainedModel:
    interactions = Interactions.from_ratings(ratings, rating_weight=config.rating_weight)
    viewer_factors, film_factors = _als_factors(interactions, config)
    return _calibrated(
        ratings,
        interactions,
        viewer_factors,
        film_factors,
        family="als",
        film_bias_weight=config.film_bias_weight,
        fold_in_alpha=config.alpha,
        fold_in_reg=config.regularization,
        fold_in_rating_weight=config.rating_weight,
    )


def fit_genre_als(
    ratings: pd.DataFrame, config: GenreALSConfig, *, film_genres: pd.DataFrame | None = None
) -> TrainedModel:
    interactions = Interactions.from_ratings(ratings, rating_weight=config.rating_weight)
    affinity, genres = _genre_affinity(interactions, film_genres, config)
    viewer_factors, film_factors = _als_factors(interactions, config)
    # [p_v, w u_v] . [q_f, g_f] = p_v . q_f + w (u_v . g_f): one product, one kernel.
    return _calibrated(
        ratings,
        interactions,
        np.hstack([viewer_factors, config.genre_weight * affinity]),
        np.hstack([film_factors, genres]),
        family="genre-als",
        film_bias_weight=config.film_bias_weight,
        fold_in_alpha=config.alpha,
        fold_in_reg=config.regularization,
        fold_in_rating_weight=config.rating_weight,
    )


def fit_bpr(
    ratings: pd.DataFrame, config: BPRConfig, *, film_genres: pd.DataFrame | None = None
) -> TrainedModel:
    interactions = Interactions.from_ratings(ratings)
    viewer_factors, film_factors = _bpr_factors(interactions, config)
    return _calibrated(
        ratings,
        interactions,
        viewer_factors,
        film_factors,
        family="bpr",
        film_bias_weight=config.film_bias_weight,
        # BPR has no least-squares objective: a viewer it was not trained on is folded in by
        # ALS's solve against BPR's film factors, with ALS's default weight (documented).
        fold_in_alpha=ALSConfig.alpha,
        fold_in_reg=max(config.regularization, 0.01),
    )


def fit_svd_family(
    ratings: pd.DataFrame, config: SVDConfig, *, film_genres: pd.DataFrame | None = None
) -> TrainedModel:
    return fit_svd(ratings, config)


# --- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A model family: how to configure it, train it and search it."""

    name: str
    label: str
    config_type: type
    fit: Callable[..., TrainedModel]
    predicts_ratings: bool
    uses_metadata: bool
    search_space: Mapping[str, tuple]

    def config(self, values: Mapping[str, Any] | None = None, **overrides: Any):
        """The family's configuration from stored values (unknown keys are an error) with
        `overrides` on top."""
        return self.config_type.from_dict({**(values or {}), **overrides})

    def train(
        self, ratings: pd.DataFrame, config, *, film_genres: pd.DataFrame | None = None
    ) -> TrainedModel:
        if not isinstance(config, self.config_type):
            raise TypeError(
                f"{self.name} needs a {self.config_type.__name__}, got {type(config).__name__}"
            )
        if ratings.empty:
            raise EmptyRatingsError(f"no ratings to train {self.name} on")
        return self.fit(ratings, config, film_genres=film_genres)


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            name="svd",
            label="SVD (surprise, rating values)",
            config_type=SVDConfig,
            fit=fit_svd_family,
            predicts_ratings=True,
            uses_metadata=False,
            search_space={
                "n_factors": (20, 50, 100, 150),
                "n_epochs": (10, 20, 30),
                "lr_all": (0.002, 0.005, 0.01),
                "reg_all": (0.02, 0.05, 0.1),
            },
        ),
        Family(
            name="als",
            label="ALS (implicit, interactions)",
            config_type=ALSConfig,
            fit=fit_als,
            predicts_ratings=False,
            uses_metadata=False,
            search_space={
                "factors": (8, 16, 32, 64),
                "regularization": (0.01, 0.1, 1.0),
                "alpha": (1.0, 2.0, 5.0, 10.0),
                "iterations": (15, 30),
            },
        ),
        Family(
            name="bpr",
            label="BPR (cornac, interactions)",
            config_type=BPRConfig,
            fit=fit_bpr,
            predicts_ratings=False,
            uses_metadata=False,
            search_space={
                "factors": (32, 64, 100, 200),
                "learning_rate": (0.005, 0.01, 0.05),
                "regularization": (0.001, 0.01),
                "iterations": (100, 200),
            },
        ),
        Family(
            name="genre-als",
            label="ALS + genre affinity (implicit, interactions and genres)",
            config_type=GenreALSConfig,
            fit=fit_genre_als,
            predicts_ratings=False,
            uses_metadata=True,
            search_space={
                "factors": (8, 16, 32, 64),
                "regularization": (0.01, 0.1, 1.0),
                "alpha": (1.0, 2.0, 5.0, 10.0),
                "genre_weight": (0.1, 0.3, 1.0),
            },
        ),
    )
}

DEFAULT_FAMILY = "als"


def family_named(name: str) -> Family:
    """The family called `name`; ValueError naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}") from None


def default_config(name: str, *, seed: int = 0):
    """The family's default configuration with `seed`."""
    return family_named(name).config(seed=seed)
