"""Simulated viewer behaviour: how many films a viewer picks from a served list, which ones, how
they rate them, how their taste shifts, and how many new viewers arrive.

Pure numpy, vectorised over viewers: the simulation services load the served rankings and the
oracle's true ratings as arrays, call these functions and persist what comes back. Every
random draw comes from a `np.random.Generator` passed in, so a round is reproducible from its
seed. No Django import.

Defaults (from the original proof of concept, kept as settings): 1..20 interactions per viewer
per round, choice weight exp(-0.1 * rank) without replacement, simulated rating drawn from
Gaussian-shaped probabilities over the half-star scale with sigma 0.545.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from recommender.engine.checks import checked_int, finite_vector, is_real
from recommender.engine.model import SVDConfig, TrainedModel
from recommender.engine.scoring import Ranking
from recommender.engine.segments import OVERALL, genre_metric
from recommender.engine.serving import genre_matrix
from recommender.engine.training import SGD_BLOCKS, fit_svd, fit_svd_blocked, fit_svd_float32

logger = logging.getLogger(__name__)

# The oracle (truth="oracle") is an SVD the served model never sees: all original ratings,
# its own seed and more factors, so simulated tastes are richer than what the model can learn.
ORACLE_CONFIG = SVDConfig(n_factors=150, n_epochs=30, seed=7919)
# How the oracle is trained (setting SIM_ORACLE_TRAINER). "blocked": the float32 SVD with its
# ratings visited in blocks that two threads train at once, reproducibly (`fit_svd_blocked`);
# "float32": the same SVD, run in float32 by cornac's compiled kernel in surprise's visiting
# order, about four times faster than surprise at full size, predictions within 1e-5 stars of
# surprise's on the bundled data; "surprise": surprise's own, as the original system trained it.
ORACLE_TRAINERS = MappingProxyType(
    {"blocked": fit_svd_blocked, "float32": fit_svd_float32, "surprise": fit_svd}
)
HALF_STARS = np.arange(1, 11) / 2  # 0.5, 1.0, ... 5.0
PADDING = -1  # film id that fills a ranked list shorter than its row

# Viewer rows per block in choose_films: keys and indices of a (rows x list length) block,
# 65,536 x 120 x 8 bytes = 63 MB each, instead of 260 MB each for 270k viewers at once.
_CHOICE_ROWS = 65_536
# Ratings per block in draw_ratings: each (block x 10) float64 temporary is 40 MB, so 10M
# draws never hold 10M x 10 probabilities (800 MB) at once.
_RATING_BLOCK = 500_000


@dataclass(frozen=True)
class BehaviourConfig:
    """How simulated viewers behave in a round."""

    max_interactions: int = 20  # films chosen per viewer per round: uniform on 1..this
    decay: float = 0.1  # choice weight of the film at 0-based rank r: exp(-decay * r)
    sigma: float = 0.545  # spread of a simulated rating around the true rating, in stars

    def __post_init__(self) -> None:
        checked_int("max_interactions", self.max_interactions, minimum=1)
        if not is_real(self.decay) or self.decay < 0:
            raise ValueError(f"decay must be a finite number >= 0, got {self.decay!r}")
        if not is_real(self.sigma) or self.sigma <= 0:
            raise ValueError(f"sigma must be a finite number > 0, got {self.sigma!r}")


@dataclass(frozen=True)
class Choices:
    """Films chosen by viewers, one entry per choice, in choice order within each viewer.

    `row` indexes the viewer rows of the ranked matrix, `film` is the chosen candidate id and
    `rank` its 0-based position in that viewer's list.
    """

    row: np.ndarray
    film: np.ndarray
    rank: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.row) == len(self.film) == len(self.rank)):
            raise ValueError(
                f"row, film and rank must have equal lengths, got "
                f"{len(self.row)}, {len(self.film)} and {len(self.rank)}"
            )

    def __len__(self) -> int:
        return len(self.row)


@dataclass(frozen=True)
class TasteShift:
    """A deliberate change of taste: from `start_round` on, true ratings of films in each named
    genre are multiplied by its multiplier (Action x0.9: viewers like action films less)."""

    multipliers: Mapping[str, float]
    start_round: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.multipliers, Mapping) or not self.multipliers:
            raise ValueError(
                f"multipliers must map at least one genre name to a factor, "
                f"got {self.multipliers!r}"
            )
        for name, value in self.multipliers.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"genre names in multipliers must be non-empty, got {name!r}")
            if not is_real(value) or value <= 0:
                raise ValueError(
                    f"multiplier for {name!r} must be a finite number > 0, got {value!r}"
                )
        checked_int("start_round", self.start_round, minimum=0)
        # A private read-only copy: the caller's dict may change later, the shift may not.
        frozen = MappingProxyType({name: float(v) for name, v in self.multipliers.items()})
        object.__setattr__(self, "multipliers", frozen)

    def __hash__(self) -> int:
        return hash((frozenset(self.multipliers.items()), self.start_round))

    def active(self, round_number: int) -> bool:
        """Whether the shift applies in this round (rounds at or after `start_round`)."""
        return round_number >= self.start_round


def draw_interaction_counts(
    n_viewers: int, max_interactions: int, rng: np.random.Generator
) -> np.ndarray:
    """How many films each viewer picks this round: int64, uniform on 1..max_interactions."""
    checked_int("n_viewers", n_viewers, minimum=0)
    checked_int("max_interactions", max_interactions, minimum=1)
    return rng.integers(1, max_interactions + 1, size=n_viewers, dtype=np.int64)


def choose_films(
    ranked: np.ndarray, counts: np.ndarray, decay: float, rng: np.random.Generator
) -> Choices:
    """Each viewer picks `counts[i]` films from their ranked list without replacement, with
    weight exp(-decay * rank) (a Plackett-Luce draw).

    `ranked` is (viewers, list length) of candidate film ids, padded with -1 where a list is
    short (anywhere in the row). A viewer picks min(counts[i], valid candidates) films.

    Gumbel top-k: adding independent Gumbel noise to log-weights and taking the k largest keys
    samples k items without replacement exactly as successive weighted draws would, in the
    order they would be drawn; so a block of viewers is served by one argpartition.
    """
    ranked = np.asarray(ranked)
    counts = np.asarray(counts)
    if ranked.ndim != 2 or not np.issubdtype(ranked.dtype, np.integer):
        raise ValueError(
            f"ranked must be a 2-d integer array of film ids, got shape {ranked.shape} "
            f"and dtype {ranked.dtype}"
        )
    if counts.shape != (ranked.shape[0],) or not np.issubdtype(counts.dtype, np.integer):
        raise ValueError(
            f"counts must be integers, one per row of ranked ({ranked.shape[0]}), "
            f"got shape {counts.shape} and dtype {counts.dtype}"
        )
    if (counts < 0).any():
        raise ValueError(f"counts must be >= 0, got {int(counts.min())}")
    if not is_real(decay) or decay < 0:
        raise ValueError(f"decay must be a finite number >= 0, got {decay!r}")
    if (ranked < PADDING).any():
        raise ValueError(f"ranked holds film id {int(ranked.min())}; only -1 may pad a list")

    blocks = range(0, ranked.shape[0], _CHOICE_ROWS)
    parts = [
        _choose_block(ranked[s : s + _CHOICE_ROWS], counts[s : s + _CHOICE_ROWS], s, decay, rng)
        for s in blocks
    ]
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return Choices(row=empty, film=empty.copy(), rank=empty.copy())
    return Choices(
        row=np.concatenate([p.row for p in parts]),
        film=np.concatenate([p.film for p in parts]),
        rank=np.concatenate([p.rank for p in parts]),
    )


def _choose_block(
    ranked: np.ndarray, counts: np.ndarray, first_row: int, decay: float, rng: np.random.Generator
) -> Choices:
    n_rows, length = ranked.shape
    valid = ranked != PADDING
    wanted = np.minimum(counts, valid.sum(axis=1))
    # Drawn before any early return, so the random stream (and so every choice) is the same
    # whatever the block size.
    keys = rng.gumbel(size=(n_rows, length)) - decay * np.arange(length)
    k = int(wanted.max()) if n_rows else 0
    if k == 0:
        empty = np.empty(0, dtype=np.int64)
        return Choices(row=empty, film=empty.copy(), rank=empty.copy())
    keys[~valid] = -np.inf  # padding sorts last, and only `wanted` (<= valid) are kept
    if k < length:
        top = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(length), (n_rows, length))
    order = np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1)
    positions = np.take_along_axis(top, order, axis=1)  # largest key first = first choice
    taken = np.arange(k) < wanted[:, None]
    rows = np.broadcast_to(np.arange(n_rows)[:, None], taken.shape)[taken]
    rank = positions[taken].astype(np.int64)
    return Choices(
        row=rows.astype(np.int64) + first_row,
        film=ranked[rows, rank].astype(np.int64),
        rank=rank,
    )


def rating_probabilities(true_ratings: np.ndarray, sigma: float) -> np.ndarray:
    """(n, 10) probabilities over HALF_STARS: P(s) proportional to exp(-(s - t)^2 / (2 sigma^2))."""
    true_ratings = np.asarray(true_ratings, dtype=np.float64)
    logits = -((HALF_STARS - true_ratings[:, None]) ** 2) / (2.0 * sigma**2)
    # Subtracting the row maximum keeps the nearest star's weight at 1 when sigma is tiny,
    # where exp() of every logit would otherwise underflow to 0.
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def draw_ratings(true_ratings: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """One simulated rating per true rating, on HALF_STARS (float64).

    True ratings off the 0.5..5.0 scale are allowed; their draws pile up at the nearest end.
    """
    true_ratings = finite_vector("true_ratings", true_ratings)
    _check_sigma(sigma)
    return _ratings_from_uniforms(true_ratings, sigma, rng.random(len(true_ratings)))


def _ratings_from_uniforms(
    true_ratings: np.ndarray, sigma: float, uniforms: np.ndarray
) -> np.ndarray:
    """Inverse-CDF draw: the first star whose cumulative weight exceeds u * total weight. The
    same uniforms for every sigma are the common random numbers of calibrate_sigma."""
    out = np.empty(len(true_ratings), dtype=np.float64)
    for start in range(0, len(true_ratings), _RATING_BLOCK):
        stop = start + _RATING_BLOCK
        cumulative = np.cumsum(rating_probabilities(true_ratings[start:stop], sigma), axis=1)
        threshold = uniforms[start:stop, None] * cumulative[:, -1:]
        index = (cumulative <= threshold).sum(axis=1)
        out[start:stop] = HALF_STARS[np.minimum(index, len(HALF_STARS) - 1)]
    return out


def apply_taste_shift(
    true_ratings: np.ndarray,
    film_genres: np.ndarray,
    genre_names: Sequence[str],
    shift: TasteShift,
) -> np.ndarray:
    """True ratings after the shift: each rating times the multiplier of every shifted genre its
    film belongs to (their product for several), clipped to [0.5, 5.0]. Ratings of films in no
    shifted genre come back unchanged, bit for bit (not even clipped).

    `film_genres` is bool (n, len(genre_names)), row i describing the film of true_ratings[i].
    Whether the shift is active this round is the caller's question (`shift.active`).
    """
    true_ratings = finite_vector("true_ratings", true_ratings)
    film_genres = np.asarray(film_genres)
    names = list(genre_names)
    if film_genres.dtype != bool or film_genres.shape != (len(true_ratings), len(names)):
        raise ValueError(
            f"film_genres must be bool of shape ({len(true_ratings)}, {len(names)}) "
            f"(ratings x genre_names), got {film_genres.dtype} of shape {film_genres.shape}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"genre_names has duplicates: {names}")
    unknown = [name for name in shift.multipliers if name not in names]
    if unknown:
        raise ValueError(
            f"taste shift names unknown genre {unknown[0]!r}; known genres: {', '.join(names)}"
        )
    factor = np.ones(len(true_ratings))
    affected = np.zeros(len(true_ratings), dtype=bool)
    for name, multiplier in shift.multipliers.items():
        member = film_genres[:, names.index(name)]
        factor[member] *= multiplier
        affected |= member
    shifted = true_ratings.copy()
    shifted[affected] = np.clip(true_ratings[affected] * factor[affected], 0.5, 5.0)
    return shifted


def count_arrivals(n_viewers: int, share: float, rng: np.random.Generator) -> int:
    """How many new viewers arrive this round: Binomial(n_viewers, share).

    Binomial rather than round(n_viewers * share): each of n_viewers potential viewers turns
    up independently, so arrivals vary from round to round around n_viewers * share, and a
    small share of a small population still arrives now and then instead of never.
    """
    checked_int("n_viewers", n_viewers, minimum=0)
    if not is_real(share) or not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be a number in [0, 1], got {share!r}")
    return int(rng.binomial(n_viewers, share))


def graduated(rating_counts: np.ndarray, threshold: int) -> np.ndarray:
    """Bool per viewer: more than `threshold` ratings, so served by the model rather than the
    cold-start popularity list (exactly `threshold` ratings is still cold-start)."""
    rating_counts = np.asarray(rating_counts)
    if not np.issubdtype(rating_counts.dtype, np.integer) or (rating_counts < 0).any():
        raise ValueError(
            f"rating_counts must be non-negative integers, got dtype {rating_counts.dtype}"
        )
    checked_int("threshold", threshold, minimum=0)
    return rating_counts > threshold


def calibrate_sigma(
    true_ratings: np.ndarray,
    predicted: np.ndarray,
    *,
    target_r2: float,
    seed: int,
    bounds: tuple[float, float] = (0.05, 3.0),
) -> float:
    """The sigma at which `predicted` explains ratings simulated from `true_ratings` with
    R² = target_r2, where R² = 1 - sum((y - predicted)^2) / sum((y - mean(y))^2) for the
    simulated ratings y.

    One fixed set of uniforms (from `seed`) serves every sigma tried, so R²(sigma) is a
    deterministic function and brentq can solve R²(sigma) = target_r2. That function is a
    step function (each step is one draw moving to the next star), so the answer reproduces
    the target to within about one draw's effect, O(1 / n). More noise lowers R², so a
    larger target gives a smaller sigma.
    """
    # Imported here, not at the top: scipy.optimize and scipy.stats add about 50 MB to every
    # web and worker process that imports this module, and only this function needs them.
    from scipy.optimize import brentq

    true_ratings = finite_vector("true_ratings", true_ratings)
    predicted = finite_vector("predicted", predicted)
    if len(predicted) != len(true_ratings) or len(true_ratings) < 2:
        raise ValueError(
            f"true_ratings and predicted need the same length >= 2, got "
            f"{len(true_ratings)} and {len(predicted)}"
        )
    if not is_real(target_r2):
        raise ValueError(f"target_r2 must be a finite number, got {target_r2!r}")
    low, high = bounds
    if not (is_real(low) and is_real(high) and 0 < low < high):
        raise ValueError(f"bounds must be finite with 0 < low < high, got {bounds!r}")
    uniforms = np.random.default_rng(seed).random(len(true_ratings))

    def r2_at(sigma: float) -> float:
        return _r2(_ratings_from_uniforms(true_ratings, sigma, uniforms), predicted)

    at_low, at_high = r2_at(low), r2_at(high)
    if not min(at_low, at_high) <= target_r2 <= max(at_low, at_high):
        raise ValueError(
            f"target_r2={target_r2} is unreachable with sigma in [{low}, {high}]: R² runs from "
            f"{at_high:.4f} (sigma {high}) to {at_low:.4f} (sigma {low})"
        )
    if at_low == target_r2:
        return float(low)
    if at_high == target_r2:
        return float(high)
    sigma = float(brentq(lambda s: r2_at(s) - target_r2, low, high, xtol=1e-6))
    logger.info(
        "calibrated sigma %.4f for target R² %.4f on %d ratings",
        sigma,
        target_r2,
        len(true_ratings),
    )
    return sigma


# --- one round ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundDraw:
    """What the viewers did in one round, one entry per choice (in choice order per viewer)."""

    viewer_ids: np.ndarray  # raw id of the viewer who chose
    film_ids: np.ndarray  # raw id of the film chosen
    predicted: np.ndarray  # the served prediction (model, or the fallback's film mean)
    from_model: np.ndarray  # bool: the viewer was served by the model, not the fallback
    membership: np.ndarray  # bool (choices, genres): the chosen film's genres
    genre_names: list[str]
    ratings: np.ndarray  # the simulated ratings, on HALF_STARS
    timestamps: np.ndarray  # int64 unix seconds inside the round's window
    sigma: float  # the rating noise the round was played with
    sigma_calibrated: bool  # True when sigma was calibrated in this round (keep it for the next)
    shift_active: bool
    true_ratings: np.ndarray | None = None  # what each chosen film was truly worth (after a shift)
    ranks: np.ndarray | None = None  # 0-based position of each chosen film in its list


def play_round(
    ranking: Ranking,
    *,
    behaviour: BehaviourConfig,
    round_number: int,
    film_genres: pd.DataFrame,
    rng: np.random.Generator,
    window: tuple[int, int],
    shift: TasteShift | None = None,
    oracle: TrainedModel | None = None,
    calibrate_to_r2: float | None = None,
    calibration_seed: int = 0,
) -> RoundDraw:
    """Play one round over the served lists: how many films each viewer picks, which ones,
    their true ratings (the served prediction, or the oracle's when given), the taste shift
    when active, the noise sigma (`behaviour.sigma`, or calibrated so the served predictions
    reach R² = calibrate_to_r2), the simulated ratings and when they were given (uniform in
    the half-open `window` of unix seconds).

    Random draws, in this order, all from `rng`: interaction counts, choices, ratings,
    timestamps. The order is part of the contract: a seed replays the same round."""
    counts = draw_interaction_counts(len(ranking.viewer_ids), behaviour.max_interactions, rng)
    choices = choose_films(ranking.film_ids, counts, behaviour.decay, rng)
    predicted = ranking.predicted[choices.row, choices.rank].astype(np.float64)
    viewer_ids = ranking.viewer_ids[choices.row]
    if oracle is not None:
        true_ratings = oracle_truth(oracle, viewer_ids, choices.film)
    else:
        true_ratings = predicted.copy()
    membership, genre_names = genre_matrix(film_genres, choices.film)
    shift_active = bool(shift and shift.active(round_number))
    if shift_active:
        true_ratings = apply_taste_shift(true_ratings, membership, genre_names, shift)
    if calibrate_to_r2 is not None:
        sigma = calibrate_sigma(
            true_ratings, predicted, target_r2=calibrate_to_r2, seed=calibration_seed
        )
        behaviour = replace(behaviour, sigma=sigma)
    ratings = draw_ratings(true_ratings, behaviour.sigma, rng)
    start, end = window
    timestamps = start + rng.integers(0, end - start, size=len(ratings))
    return RoundDraw(
        viewer_ids=viewer_ids,
        film_ids=choices.film,
        predicted=predicted,
        from_model=ranking.from_model[choices.row],
        membership=membership,
        genre_names=genre_names,
        ratings=ratings,
        timestamps=timestamps,
        sigma=float(behaviour.sigma),
        sigma_calibrated=calibrate_to_r2 is not None,
        shift_active=shift_active,
        true_ratings=true_ratings,
        ranks=choices.rank,
    )


def round_experience(
    draw: RoundDraw,
    top_films: np.ndarray,
    film_genres: pd.DataFrame,
    *,
    liked: float = 4.0,
) -> dict[str, dict[str, float | int | None]]:
    """What viewers experienced in the round, overall and per genre of the film:

    - mean_true_rating: the mean true rating of the films they consumed (what the films were
      worth to them, before the rating noise);
    - liked_share: the share of consumed films they rated `liked` or more;
    - top_hit_rate: the share of the slots of their top lists (`top_films`: (viewers, k) film
      ids, -1 padding) whose film they consumed and rated `liked` or more.
    n is the number of consumed films in the segment; a segment with none has None figures.
    """
    slots = top_films[top_films != PADDING]
    membership, names = genre_matrix(film_genres, np.concatenate([draw.film_ids, slots]))
    segments = np.column_stack([np.ones(len(membership), dtype=bool), membership])
    # As floats: a product of boolean matrices is a logical "any", not a count.
    segments = segments.astype(np.float64)
    consumed, offered = segments[: len(draw.film_ids)], segments[len(draw.film_ids) :]
    counts = consumed.sum(axis=0)
    loved = (draw.ratings >= liked).astype(np.float64)
    hits = (loved * (draw.ranks < top_films.shape[1])) @ consumed
    with np.errstate(divide="ignore", invalid="ignore"):
        figures = {
            "mean_true_rating": draw.true_ratings @ consumed / counts,
            "liked_share": loved @ consumed / counts,
            "top_hit_rate": hits / offered.sum(axis=0),
        }
    result = {}
    for j, metric in enumerate([OVERALL, *(genre_metric(g) for g in names)]):
        row = {k: float(v[j]) if np.isfinite(v[j]) else None for k, v in figures.items()}
        result[metric] = {"n": int(counts[j]), **row}
    return result


def oracle_truth(oracle: TrainedModel, viewer_ids: np.ndarray, film_ids: np.ndarray) -> np.ndarray:
    """The oracle's rating. A viewer the oracle never saw (an arrival) gets the tastes of an
    existing viewer picked by id, so arrivals have real, varied preferences."""
    rows = oracle.viewer_index(viewer_ids)
    unknown = rows < 0
    rows[unknown] = viewer_ids[unknown] % oracle.n_viewers
    twins = oracle.viewer_ids[rows]
    return oracle.predict(twins, film_ids)


# --- helpers ----------------------------------------------------------------------------------


def _r2(observed: np.ndarray, predicted: np.ndarray) -> float:
    spread = float(((observed - observed.mean()) ** 2).sum())
    if spread == 0.0:
        raise ValueError("the simulated ratings are all equal, so R² is undefined")
    return 1.0 - float(((observed - predicted) ** 2).sum()) / spread


def _check_sigma(sigma: object) -> None:
    if not is_real(sigma) or sigma <= 0:
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")


def train_oracle(ratings: pd.DataFrame, trainer: str) -> TrainedModel:
    """The oracle (`ORACLE_CONFIG`) trained on `ratings` by the named trainer."""
    if trainer not in ORACLE_TRAINERS:
        raise ValueError(f"unknown oracle trainer {trainer!r}; known: {sorted(ORACLE_TRAINERS)}")
    return ORACLE_TRAINERS[trainer](ratings, ORACLE_CONFIG)


def oracle_recipe(trainer: str) -> str:
    """How an oracle was trained, as stored beside the ratings' fingerprint: a run reuses an
    earlier run's oracle only when both match. surprise's keeps the original text."""
    name = "svd" if trainer == "surprise" else f"svd-{trainer}"
    if trainer == "blocked":  # another grid visits the ratings in another order
        name += f"-{SGD_BLOCKS}x{SGD_BLOCKS}"
    return f"{name} {json.dumps(ORACLE_CONFIG.as_dict(), sort_keys=True)}"
