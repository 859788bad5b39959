"""A trained biased SVD model as plain arrays, its configuration and its prediction rule.

The prediction rule is scikit-surprise's `SVD.predict` (biased=True), vectorised:

    est = global_mean + b_v (viewer known) + b_f (film known) + p_v . q_f (both known)

clipped to [rating_min, rating_max]. Viewers and films are addressed by their raw ids (the
ids of the source data); rows of the arrays are the model's own order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from recommender.engine.checks import checked_float, checked_int

RATING_MIN = 0.5
RATING_MAX = 5.0
# A ranking family's viewer bias is the viewer's mean offset shrunk by this many pseudo
# ratings (n / (n + 10) of it kept), in training (engine.families) and fold-in alike, so a
# viewer with three ratings is not calibrated to their own mean.
VIEWER_BIAS_SHRINKAGE = 10.0

# The least confidence weight an interaction keeps, however low its rating: a film watched
# and disliked is still weak evidence of interest, never evidence against it.
MIN_INTERACTION_WEIGHT = 0.1


def interaction_weights(ratings: np.ndarray, mean: float, rating_weight: float) -> np.ndarray:
    """Each interaction's confidence weight in an implicit-feedback family: one, plus
    rating_weight per star its rating is above `mean` (the training ratings' mean), never
    below MIN_INTERACTION_WEIGHT. rating_weight 0: every rating weighs one."""
    weights = 1.0 + rating_weight * (np.asarray(ratings, dtype=np.float64) - mean)
    return np.maximum(weights, MIN_INTERACTION_WEIGHT)


# Pairs per block in `TrainedModel.predict`: two gathered (block x n_factors) float64 arrays,
# about 100 MB at 100 factors, whatever the number of pairs asked for.
_PREDICT_BLOCK = 65_536
# How many unknown ids an error message lists before summarising the rest as a count.
_IDS_IN_MESSAGE = 10


class EmptyRatingsError(ValueError):
    """There are no ratings to work with (training or splitting an empty table)."""


class UnknownViewerError(LookupError, ValueError):
    """Viewer ids nobody knows: the model was not trained on them (the engine raises it), or
    no viewer has them at all (`not_found`, the recommendations service). `viewer_ids` holds
    them all.

    One class for both, so a caller catches one thing. A LookupError, an unknown key (the API
    answers 404); also a ValueError, as the engine's other argument errors are."""

    def __init__(self, viewer_ids: npt.ArrayLike, *, message: str | None = None):
        try:
            self.viewer_ids = np.asarray(viewer_ids, dtype=np.int64).ravel()
        except (OverflowError, TypeError, ValueError):
            # Not even a 64-bit id (the service is handed what a client asked for).
            self.viewer_ids = np.asarray(viewer_ids, dtype=object).ravel()
        super().__init__(
            message
            or f"{len(self.viewer_ids)} viewer id(s) unknown to the model: "
            f"{describe_ids(self.viewer_ids)}"
        )

    @classmethod
    def not_found(cls, viewer_id: object) -> UnknownViewerError:
        """No viewer has this id: "viewer 42 not found"."""
        return cls([viewer_id], message=f"viewer {viewer_id} not found")

    def __reduce__(self):
        # Pickled with its ids and message (the default would call __init__(message)).
        return (_unknown_viewer_error, (self.viewer_ids.tolist(), str(self)))


def _unknown_viewer_error(viewer_ids: list, message: str) -> UnknownViewerError:
    return UnknownViewerError(viewer_ids, message=message)


def describe_ids(ids: np.ndarray) -> str:
    """'3, 17, 42' or '3, 17, ... (and 120 more)': bounded text for error messages."""
    shown = ", ".join(str(int(i)) for i in ids[:_IDS_IN_MESSAGE])
    rest = len(ids) - _IDS_IN_MESSAGE
    return shown if rest <= 0 else f"{shown}, ... (and {rest} more)"


# --- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SVDConfig:
    """Hyperparameters of surprise's SVD; the defaults are surprise's own.

    seed is passed to surprise as `random_state` (the factors' initial draw), so the same
    config on the same ratings in the same order gives the same model.
    """

    n_factors: int = 100
    n_epochs: int = 20
    lr_all: float = 0.005
    reg_all: float = 0.02
    init_mean: float = 0.0
    init_std_dev: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        _set(self, "n_factors", checked_int("n_factors", self.n_factors, minimum=1))
        _set(self, "n_epochs", checked_int("n_epochs", self.n_epochs, minimum=1))
        # surprise hands the seed to numpy's RandomState, which takes 0 <= seed < 2**32.
        _set(self, "seed", checked_int("seed", self.seed, minimum=0, maximum=2**32 - 1))
        _set(self, "lr_all", checked_float("lr_all", self.lr_all, above=0))
        _set(self, "reg_all", checked_float("reg_all", self.reg_all, minimum=0))
        _set(self, "init_mean", checked_float("init_mean", self.init_mean))
        _set(self, "init_std_dev", checked_float("init_std_dev", self.init_std_dev, minimum=0))

    def as_dict(self) -> dict[str, int | float]:
        """Plain JSON-serialisable values, e.g. for a model version's hyperparameters."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SVDConfig:
        """Inverse of `as_dict`; unknown keys are an error rather than silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown SVDConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)


def _set(instance: object, name: str, value: object) -> None:
    # Frozen dataclasses can only normalise their fields in __post_init__ this way.
    object.__setattr__(instance, name, value)


# --- learned state ----------------------------------------------------------------------------


def as_raw_ids(raw_ids: npt.ArrayLike, name: str) -> np.ndarray:
    """Integer ids as int64. Floats are refused: 3.7 is not an id and must not become 3."""
    array = np.asarray(raw_ids)
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer ids, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


# Ids spread over at most this many slots (DENSE_SLOTS_PER_ID per id, plus DENSE_SLOTS_SPARE) are
# looked up in a table indexed by id, 8 bytes a slot (at most 16 MB for The Movies Dataset's
# 270k viewers); sparser ids by binary search. Mapping 26M ratings' ids: about 0.5 s against
# 5-9 s of searchsorted.
DENSE_SLOTS_PER_ID = 4
DENSE_SLOTS_SPARE = 1_000_000


@dataclass(frozen=True)
class IdIndex:
    """Raw id -> row, vectorised: a sorted copy of the ids and the row of each sorted id, and,
    for dense ids, the row of each id from the smallest to the largest (-1 for a gap)."""

    sorted_ids: np.ndarray
    rows: np.ndarray
    table: np.ndarray | None = None

    @classmethod
    def build(cls, ids: npt.ArrayLike, name: str = "ids", *, dense: bool = True) -> IdIndex:
        """Index of `ids` (1-d, unique; row i holds ids[i]). ValueError names duplicates.
        dense=False: no table, whatever the ids (binary search only)."""
        ids = as_raw_ids(ids, name)
        if ids.ndim != 1:
            raise ValueError(f"{name} must be 1-d, got shape {ids.shape}")
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        duplicated = sorted_ids[1:][np.diff(sorted_ids) == 0]
        if duplicated.size:
            raise ValueError(f"{name} are not unique: {describe_ids(np.unique(duplicated))}")
        rows = order.astype(np.int64)
        table = None
        if dense and sorted_ids.size:
            slots = int(sorted_ids[-1]) - int(sorted_ids[0]) + 1
            if slots <= DENSE_SLOTS_PER_ID * len(sorted_ids) + DENSE_SLOTS_SPARE:
                table = np.full(slots, -1, dtype=np.int64)
                table[sorted_ids - sorted_ids[0]] = rows
        return cls(sorted_ids=sorted_ids, rows=rows, table=table)

    def find(self, raw_ids: npt.ArrayLike) -> np.ndarray:
        """Row of each raw id (same shape as the input), -1 for ids not in the index."""
        raw_ids = as_raw_ids(raw_ids, "ids")
        if len(self.sorted_ids) == 0:
            return np.full(raw_ids.shape, -1, dtype=np.int64)
        if self.table is not None:
            low, high = self.sorted_ids[0], self.sorted_ids[-1]
            # An id outside [low, high] may wrap in the subtraction; it is clipped, then masked.
            found = np.asarray(np.take(self.table, raw_ids - low, mode="clip"))
            found[(raw_ids < low) | (raw_ids > high)] = -1
            return found
        at = np.minimum(np.searchsorted(self.sorted_ids, raw_ids), len(self.sorted_ids) - 1)
        return np.where(self.sorted_ids[at] == raw_ids, self.rows[at], -1)


def _frozen(array: npt.ArrayLike, dtype: type) -> np.ndarray:
    # A read-only view: the model cannot be changed through its arrays, and the caller's own
    # array keeps its flags (setting them on a view does not touch the base).
    view = np.asarray(array, dtype=dtype).view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class FactorArrays:
    """The arrays of a biased matrix factorisation: a trained model's, or the true model a
    synthetic data set was drawn from. Row i of the viewer arrays belongs to viewer_ids[i],
    row j of the film arrays to film_ids[j]."""

    viewer_ids: np.ndarray
    film_ids: np.ndarray
    viewer_bias: np.ndarray
    film_bias: np.ndarray
    viewer_factors: np.ndarray
    film_factors: np.ndarray


@dataclass(frozen=True, eq=False)
class TrainedModel(FactorArrays):
    """Learned state of a biased SVD: arrays only, read-only, independent of surprise.

    viewer_ids[i] / film_ids[j] are the raw ids of row i of the viewer arrays / row j of the
    film arrays (surprise's inner-id order). Compare two models with `==` (exact equality of
    every array and scalar).
    """

    global_mean: float
    rating_min: float = RATING_MIN
    rating_max: float = RATING_MAX
    # Which family trained it (engine.families) and whether its scores are rating predictions.
    # A ranking family (predicts_ratings False) is ranked by its raw score, never clipped to
    # the rating scale (clipping would tie its best films), and its predicted rating is a
    # calibration: mu + b_v + score_scale x (its own score), see engine.families.
    family: str = "svd"
    predicts_ratings: bool = True
    # For ranking families, how a viewer the model was not trained on is folded in: the
    # implicit-feedback least-squares solve with this confidence weight and regularisation,
    # its factors then scaled by score_scale (serving.fold_in_viewers). Unused by SVD.
    fold_in_alpha: float = 0.0
    fold_in_reg: float = 0.0
    score_scale: float = 1.0
    # How the family weighed each interaction by its rating (interaction_weights), so a viewer
    # folded in is weighed as in training.
    fold_in_rating_weight: float = 0.0
    # The share of film_bias a ranking family's ranking carries; its predicted ratings carry
    # all of it. A film's rating offset calibrates the predictions well, but ranked at full
    # weight it orders every list by the best-rated films and loses most of the family's
    # precision (docs/families.md, "Ranking families and ratings"). 1 for SVD, which ranks by
    # its predictions.
    ranked_film_bias: float = 1.0
    _viewers: IdIndex = field(init=False, repr=False)
    _films: IdIndex = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("viewer_ids", "film_ids"):
            _set(self, name, _frozen(as_raw_ids(getattr(self, name), name), np.int64))
        for name in ("viewer_bias", "film_bias", "viewer_factors", "film_factors"):
            _set(self, name, _frozen(getattr(self, name), np.float64))
        _set(self, "global_mean", float(self.global_mean))
        _set(self, "rating_min", float(self.rating_min))
        _set(self, "rating_max", float(self.rating_max))
        for name in ("fold_in_alpha", "fold_in_reg", "score_scale", "fold_in_rating_weight"):
            _set(self, name, checked_float(name, getattr(self, name), minimum=0))
        _set(
            self,
            "ranked_film_bias",
            checked_float("ranked_film_bias", self.ranked_film_bias, minimum=0, maximum=1),
        )
        if not isinstance(self.family, str) or not self.family:
            raise ValueError(f"family must be a family's name, got {self.family!r}")
        _set(self, "predicts_ratings", bool(self.predicts_ratings))
        self._check_shapes()
        if not self.rating_min < self.rating_max:
            raise ValueError(
                f"rating_min must be below rating_max, got {self.rating_min} and {self.rating_max}"
            )
        for name in ("global_mean", "viewer_bias", "film_bias", "viewer_factors", "film_factors"):
            if not np.all(np.isfinite(getattr(self, name))):
                raise ValueError(f"{name} contains NaN or infinite values")
        _set(self, "_viewers", IdIndex.build(self.viewer_ids, "viewer_ids"))
        _set(self, "_films", IdIndex.build(self.film_ids, "film_ids"))

    def _check_shapes(self) -> None:
        n_viewers, n_films = len(self.viewer_ids), len(self.film_ids)
        if self.viewer_ids.ndim != 1 or self.film_ids.ndim != 1:
            raise ValueError(
                f"viewer_ids and film_ids must be 1-d, got shapes "
                f"{self.viewer_ids.shape} and {self.film_ids.shape}"
            )
        if self.viewer_factors.ndim != 2:
            raise ValueError(f"viewer_factors must be 2-d, got shape {self.viewer_factors.shape}")
        k = self.viewer_factors.shape[1]
        expected = {
            "viewer_bias": (n_viewers,),
            "film_bias": (n_films,),
            "viewer_factors": (n_viewers, k),
            "film_factors": (n_films, k),
        }
        for name, shape in expected.items():
            if getattr(self, name).shape != shape:
                raise ValueError(
                    f"{name} has shape {getattr(self, name).shape}, expected {shape} "
                    f"({n_viewers} viewers, {n_films} films, {k} factors)"
                )

    # -- sizes --

    @property
    def n_viewers(self) -> int:
        return len(self.viewer_ids)

    @property
    def n_films(self) -> int:
        return len(self.film_ids)

    @property
    def n_factors(self) -> int:
        return int(self.viewer_factors.shape[1])

    # -- ids --

    def viewer_index(self, raw_ids: npt.ArrayLike) -> np.ndarray:
        """Row of each raw viewer id (same shape), -1 where the model does not know it."""
        return self._viewers.find(as_raw_ids(raw_ids, "viewer ids"))

    def film_index(self, raw_ids: npt.ArrayLike) -> np.ndarray:
        """Row of each raw film id (same shape), -1 where the model does not know it."""
        return self._films.find(as_raw_ids(raw_ids, "film ids"))

    # -- prediction --

    def predict(self, viewer_ids: npt.ArrayLike, film_ids: npt.ArrayLike) -> np.ndarray:
        """Predicted rating of each (raw viewer id, raw film id) pair, as surprise predicts it.

        The two inputs broadcast against each other; unknown ids fall back to the biases that
        are known (both unknown: the global mean). Result float64 in [rating_min, rating_max].
        """
        estimates = self._estimates(viewer_ids, film_ids)
        return np.clip(estimates, self.rating_min, self.rating_max, out=estimates)

    def ranking_scores(self, viewer_ids: npt.ArrayLike, film_ids: npt.ArrayLike) -> np.ndarray:
        """What the ranking kernel orders films by, per pair: the predicted rating for a family
        that predicts ratings, the unclipped score less the unranked part of the film bias
        (`ranking_offset`) for a ranking family (engine.scoring)."""
        if self.predicts_ratings:
            return self.predict(viewer_ids, film_ids)
        estimates = self._estimates(viewer_ids, film_ids)
        offset = self.ranking_offset
        if offset is not None:
            films = self.film_index(film_ids)
            estimates -= np.where(films >= 0, offset[films], 0.0)
        return estimates

    @property
    def ranking_offset(self) -> np.ndarray | None:
        """Per film, what its ranking score is below its predicted rating before any penalty:
        the part of film_bias the ranking does not carry. None when it carries all of it."""
        if self.ranked_film_bias == 1.0:
            return None
        return (1.0 - self.ranked_film_bias) * self.film_bias

    def _estimates(self, viewer_ids: npt.ArrayLike, film_ids: npt.ArrayLike) -> np.ndarray:
        viewers, films = np.broadcast_arrays(
            self.viewer_index(viewer_ids), self.film_index(film_ids)
        )
        shape = viewers.shape
        viewers, films = viewers.ravel(), films.ravel()
        estimates = np.empty(len(viewers), dtype=np.float64)
        for start in range(0, len(viewers), _PREDICT_BLOCK):
            v = viewers[start : start + _PREDICT_BLOCK]
            f = films[start : start + _PREDICT_BLOCK]
            known_v, known_f = v >= 0, f >= 0
            both = known_v & known_f
            # Same order of additions as surprise's estimate(), so the two agree to rounding.
            est = np.full(len(v), self.global_mean)
            est += np.where(known_v, self.viewer_bias[v], 0.0)
            est += np.where(known_f, self.film_bias[f], 0.0)
            est[both] += np.einsum(
                "ij,ij->i", self.film_factors[f[both]], self.viewer_factors[v[both]]
            )
            estimates[start : start + len(v)] = est
        return estimates.reshape(shape)

    # -- comparison --

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TrainedModel):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in SCALAR_FIELDS) and all(
            np.array_equal(getattr(self, name), getattr(other, name)) for name in ARRAY_FIELDS
        )

    __hash__ = None  # type: ignore[assignment]  # equal models may be distinct objects

    def __repr__(self) -> str:
        return (
            f"TrainedModel(family={self.family!r}, n_viewers={self.n_viewers}, n_films={self.n_films}, "
            f"n_factors={self.n_factors}, global_mean={self.global_mean:.4f}, "
            f"rating_scale=({self.rating_min}, {self.rating_max}))"
        )


ARRAY_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(FactorArrays))
# Stored as float64 scalars in a model file; FLAG_FIELDS as bool, TEXT_FIELDS as unicode.
NUMBER_FIELDS: tuple[str, ...] = (
    "global_mean",
    "rating_min",
    "rating_max",
    "fold_in_alpha",
    "fold_in_reg",
    "score_scale",
    "ranked_film_bias",
    "fold_in_rating_weight",
)
FLAG_FIELDS: tuple[str, ...] = ("predicts_ratings",)
TEXT_FIELDS: tuple[str, ...] = ("family",)
SCALAR_FIELDS: tuple[str, ...] = NUMBER_FIELDS + FLAG_FIELDS + TEXT_FIELDS
