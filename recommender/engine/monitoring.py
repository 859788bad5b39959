"""Drift monitoring of the served model, and the champion/challenger decision.

Drift: after a round, the served model's R² on the round's interactions (overall and per
genre) is compared with the champion's training benchmark. A metric is judged only when the
benchmark has an R² for it and the round's segment has at least `min_segment_size`
interactions (and a defined R²); everything else is listed as not judged, never degraded.
A judged metric is degraded when its drop (benchmark - current) exceeds the threshold
(0.02 overall, 0.1 per genre), and, if significance is required, when the drop is also
significant by a bootstrap confidence interval (see `detect_drift`).

Decision: champion and challenger are scored on the same recent holdout; each metric's
outcome (`compare_models`) feeds the design's decision matrix (`DECISION_MATRIX`).

Pure numpy and pandas: no Django, no database, no global randomness (a seed is passed in).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from recommender.engine.checks import checked_float, checked_int
from recommender.engine.evaluation import SegmentScore, segment_scores
from recommender.engine.model import TrainedModel
from recommender.engine.segments import OVERALL, check_metric_name, genre_metric
from recommender.engine.serving import genre_matrix

logger = logging.getLogger(__name__)

# Cells (replicates x interactions) per bootstrap chunk. The chunk's int64 index draws, its
# int64 counts and their float64 copy are 16 MB each. Measured: ~45 ms per chunk (20
# replicates of 100k interactions, overall + 4 genres); B = 1000 on 100k takes ~2 s.
_BOOTSTRAP_CHUNK_CELLS = 2_000_000
# A replicate whose total sum of squares is below this fraction of its (centred) sum of
# squared ratings has (numerically) constant ratings: its R² is undefined and it is dropped.
_CONSTANT_SST_RATIO = 1e-10


# --- validation helpers -----------------------------------------------------------------------


def _r2_value(name: str, value: object) -> float:
    number = checked_float(name, value)
    if number > 1.0:
        raise ValueError(f"{name} is an R² and cannot exceed 1, got {value!r}")
    return number


# --- drift ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftThresholds:
    """When a drop in R² versus the champion's benchmark counts as degradation.

    A drop must exceed (strictly) overall_r2_drop for the overall metric, genre_r2_drop for a
    genre. Segments with fewer than min_segment_size interactions in the round are not
    judged. With require_significance, the drop must exceed the threshold with confidence:
    the bootstrap `confidence` interval of the drop (bootstrap_samples resamples) lies
    entirely above the threshold.
    """

    overall_r2_drop: float = 0.02
    genre_r2_drop: float = 0.1
    min_segment_size: int = 100
    require_significance: bool = False
    confidence: float = 0.95
    bootstrap_samples: int = 1000

    def __post_init__(self) -> None:
        checked_float("overall_r2_drop", self.overall_r2_drop, minimum=0)
        checked_float("genre_r2_drop", self.genre_r2_drop, minimum=0)
        checked_int("min_segment_size", self.min_segment_size, minimum=1)
        if not isinstance(self.require_significance, bool):
            raise ValueError(
                f"require_significance must be True or False, got {self.require_significance!r}"
            )
        confidence = checked_float("confidence", self.confidence)
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}")
        checked_int("bootstrap_samples", self.bootstrap_samples, minimum=2)

    def threshold_for(self, metric: str) -> float:
        """The drop threshold that applies to `metric` ("overall" or "genre:<name>")."""
        check_metric_name("metric", metric)
        return float(self.overall_r2_drop if metric == OVERALL else self.genre_r2_drop)


@dataclass(frozen=True)
class MetricDrift:
    """One judged metric of a round versus the champion's benchmark.

    drop = benchmark_r2 - current_r2 (positive: the model got worse). ci_low / ci_high is the
    bootstrap confidence interval of the drop, None when no bootstrap replicate had a
    defined R²; significant means the whole interval is above 0 (the model did get worse);
    above_threshold means the whole interval is above the threshold (it got worse by more
    than the threshold allows, at the stated confidence). n is the number of the round's
    interactions in the segment.
    """

    metric: str
    benchmark_r2: float
    current_r2: float
    drop: float
    threshold: float
    degraded: bool
    ci_low: float | None
    ci_high: float | None
    significant: bool
    n: int
    above_threshold: bool = False
    # Filled by the reference rule (engine/drift.py); the benchmark rule fills only the
    # round's RMSE and R². reference_rmse / current_rmse: root mean squared error on each side;
    # round_r2: the round's R² at its own spread; p_value / p_adjusted: the one-sided test of
    # "no rise in error" (drop <= 0), before and after the correction across segments.
    reference_n: int | None = None
    reference_rmse: float | None = None
    current_rmse: float | None = None
    round_r2: float | None = None
    p_value: float | None = None
    p_adjusted: float | None = None

    def __post_init__(self) -> None:
        check_metric_name("metric", self.metric)
        for name in ("reference_rmse", "current_rmse", "round_r2", "p_value", "p_adjusted"):
            value = getattr(self, name)
            if value is not None:
                checked_float(name, value, minimum=None if name == "round_r2" else 0)
        benchmark = _r2_value("benchmark_r2", self.benchmark_r2)
        current = _r2_value("current_r2", self.current_r2)
        drop = checked_float("drop", self.drop)
        if not math.isclose(drop, benchmark - current, rel_tol=0.0, abs_tol=1e-9):
            raise ValueError(
                f"drop must equal benchmark_r2 - current_r2 = {benchmark - current!r}, got {drop!r}"
            )
        threshold = checked_float("threshold", self.threshold, minimum=0)
        if not isinstance(self.degraded, bool):
            raise ValueError(f"degraded must be True or False, got {self.degraded!r}")
        if self.degraded and not drop > threshold:
            raise ValueError(
                f"degraded is True but drop {drop!r} does not exceed threshold {threshold!r}"
            )
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError(
                f"ci_low and ci_high must both be numbers or both None, "
                f"got {self.ci_low!r} and {self.ci_high!r}"
            )
        if self.ci_low is not None:
            low = checked_float("ci_low", self.ci_low)
            high = checked_float("ci_high", self.ci_high)
            if low > high:
                raise ValueError(f"ci_low {low!r} must not exceed ci_high {high!r}")
        if not isinstance(self.significant, bool):
            raise ValueError(f"significant must be True or False, got {self.significant!r}")
        expected = self.ci_low is not None and self.ci_low > 0
        if self.significant != expected:
            raise ValueError(
                f"significant must be {expected} (whole interval above 0) for ci_low "
                f"{self.ci_low!r}, got {self.significant!r}"
            )
        expected = self.ci_low is not None and self.ci_low > self.threshold
        if self.above_threshold != expected:
            raise ValueError(
                f"above_threshold must be {expected} (whole interval above the threshold "
                f"{self.threshold!r}) for ci_low {self.ci_low!r}, got {self.above_threshold!r}"
            )
        checked_int("n", self.n, minimum=0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable: plain floats, ints, bools, str and None."""
        return {
            "metric": self.metric,
            "benchmark_r2": float(self.benchmark_r2),
            "current_r2": float(self.current_r2),
            "drop": float(self.drop),
            "threshold": float(self.threshold),
            "degraded": self.degraded,
            "ci_low": None if self.ci_low is None else float(self.ci_low),
            "ci_high": None if self.ci_high is None else float(self.ci_high),
            "significant": self.significant,
            "above_threshold": self.above_threshold,
            "n": int(self.n),
            "reference_n": self.reference_n,
            "reference_rmse": self.reference_rmse,
            "current_rmse": self.current_rmse,
            "round_r2": self.round_r2,
            "p_value": self.p_value,
            "p_adjusted": self.p_adjusted,
        }


@dataclass(frozen=True)
class DriftResult:
    """What `detect_drift` found: the judged metrics, and the segments it could not judge
    (too few interactions in the round, or no benchmark R²)."""

    metrics: tuple[MetricDrift, ...]
    not_judged: tuple[str, ...]
    # How the intervals were found ("bootstrap" or "analytic"); empty when the rule does not
    # say (the benchmark rule) or nothing was judged.
    interval: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.metrics, tuple) or not all(
            isinstance(m, MetricDrift) for m in self.metrics
        ):
            raise ValueError(f"metrics must be a tuple of MetricDrift, got {self.metrics!r}")
        if not isinstance(self.not_judged, tuple):
            raise ValueError(f"not_judged must be a tuple of metric names, got {self.not_judged!r}")
        for name in self.not_judged:
            check_metric_name("not_judged entry", name)
        counts = Counter([m.metric for m in self.metrics] + list(self.not_judged))
        repeated = sorted(name for name, count in counts.items() if count > 1)
        if repeated:
            raise ValueError(
                f"metrics and not_judged must name each segment once, repeated: {repeated}"
            )

    @property
    def degraded(self) -> list[str]:
        """Names of the judged metrics that degraded."""
        return [m.metric for m in self.metrics if m.degraded]

    @property
    def stable(self) -> list[str]:
        """Names of the judged metrics that did not degrade."""
        return [m.metric for m in self.metrics if not m.degraded]

    @property
    def retraining_required(self) -> bool:
        """True when any judged metric degraded."""
        return any(m.degraded for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "metrics": [m.to_dict() for m in self.metrics],
            "not_judged": list(self.not_judged),
            "degraded": self.degraded,
            "stable": self.stable,
            "retraining_required": self.retraining_required,
            "interval": self.interval,
        }


def extract_metric_r2(
    evaluation: Mapping[str, Any], *, name: str = "evaluation"
) -> dict[str, float | None]:
    """R² per metric name from an `Evaluation.to_dict()`-shaped mapping:
    {"overall": r2, "genre:<g>": r2, ...}; None where the segment was not judged or its R² is
    undefined. Raises ValueError naming the offending entry when the mapping is malformed."""
    if not isinstance(evaluation, Mapping):
        raise ValueError(f"{name} must be a mapping, got {type(evaluation).__name__}")
    for key in ("overall", "per_genre"):
        if key not in evaluation:
            raise ValueError(f"{name} has no {key!r} entry; found {sorted(evaluation)}")
    per_genre = evaluation["per_genre"]
    if not isinstance(per_genre, Mapping):
        raise ValueError(f"{name}['per_genre'] must be a mapping, got {type(per_genre).__name__}")
    result = {OVERALL: _segment_r2(f"{name}['overall']", evaluation["overall"])}
    for genre, segment in per_genre.items():
        if not isinstance(genre, str) or not genre:
            raise ValueError(f"{name}['per_genre'] has a key that is not a genre name: {genre!r}")
        result[genre_metric(genre)] = _segment_r2(f"{name}['per_genre'][{genre!r}]", segment)
    return result


def _segment_r2(name: str, segment: object) -> float | None:
    if not isinstance(segment, Mapping):
        raise ValueError(f"{name} must be a mapping with 'r2' and 'judged', got {segment!r}")
    if "r2" not in segment:
        raise ValueError(f"{name} has no 'r2' entry; found {sorted(segment)}")
    judged = segment.get("judged", True)
    if not isinstance(judged, bool):
        raise ValueError(f"{name}['judged'] must be True or False, got {judged!r}")
    value = segment["r2"]
    if value is None:
        return None
    number = _r2_value(f"{name}['r2']", value)
    return number if judged else None


def draw_resample_counts(
    n: int, samples: int, rng: np.random.Generator, *, max_cells: int = _BOOTSTRAP_CHUNK_CELLS
) -> Iterator[np.ndarray]:
    """Bootstrap resamples of n interactions, as counts: yields int64 (chunk, n) blocks whose
    row b gives how many times each interaction was drawn (with replacement, n draws) in
    replicate b; `samples` rows in all, each block at most max(max_cells, n) cells."""
    n = checked_int("n", n, minimum=1)
    samples = checked_int("samples", samples, minimum=1)
    rows = max(1, checked_int("max_cells", max_cells, minimum=1) // n)
    for start in range(0, samples, rows):
        chunk = min(rows, samples - start)
        picks = rng.integers(0, n, size=(chunk, n))
        picks += np.arange(chunk, dtype=picks.dtype)[:, None] * n  # replicate b -> bins b*n..
        yield np.bincount(picks.ravel(), minlength=chunk * n).reshape(chunk, n)


def compute_replicate_r2(
    y_true: npt.ArrayLike, y_pred: npt.ArrayLike, segments: npt.ArrayLike, counts: npt.ArrayLike
) -> np.ndarray:
    """R² of every bootstrap replicate in every segment, without materialising a resample.

    segments: (n, S) bool, column s the interactions of segment s (a column of all True for
    "overall"). counts: (B, n) non-negative weights, row b how often each interaction occurs
    in replicate b. Returns (B, S) float64, NaN where a replicate's segment is empty or has
    constant ratings (R² undefined).

    For each segment one matrix product counts[:, rows] @ [1, c, c², e²] (c = y - segment
    mean, e = y - ŷ) gives per replicate N = Σw, Σwc, Σwc² and SSE = Σwe²; then
    SST = Σwc² - (Σwc)² / N (centring first keeps the subtraction well conditioned) and
    R² = 1 - SSE / SST, exactly the R² of the expanded resample.
    """
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    members = np.asarray(segments, dtype=bool)
    weights = np.asarray(counts, dtype=np.float64)
    n = true.shape[0]
    if pred.shape != (n,) or members.ndim != 2 or members.shape[0] != n:
        raise ValueError(
            f"shapes disagree: y_true {true.shape}, y_pred {pred.shape}, segments {members.shape}"
        )
    if weights.ndim != 2 or weights.shape[1] != n:
        raise ValueError(f"counts must be (replicates, {n}), got shape {weights.shape}")
    squared_errors = (true - pred) ** 2
    result = np.full((weights.shape[0], members.shape[1]), np.nan)
    for s in range(members.shape[1]):  # a handful of segments, not a loop over replicates
        rows = np.flatnonzero(members[:, s])
        if rows.size == 0:
            continue
        centred = true[rows] - true[rows].mean()
        stats = np.column_stack([np.ones(rows.size), centred, centred**2, squared_errors[rows]])
        block = weights if rows.size == n else weights[:, rows]
        total, linear, square, sse = (block @ stats).T
        with np.errstate(divide="ignore", invalid="ignore"):
            sst = square - np.where(total > 0, linear**2 / total, 0.0)
            defined = (total > 0) & (sst > _CONSTANT_SST_RATIO * square)
            result[:, s] = np.where(defined, 1.0 - sse / sst, np.nan)
    return result


def detect_drift(
    benchmark: Mapping[str, Any],
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    membership: npt.ArrayLike,
    genre_names: Sequence[str],
    *,
    thresholds: DriftThresholds,
    seed: int,
) -> DriftResult:
    """Compare the served model's R² on one round with the champion's benchmark.

    benchmark: the champion's `Evaluation.to_dict()` ("overall" and "per_genre" entries with
    "r2" and "judged"). y_true / y_pred: the round's ratings and the served predictions;
    membership: (n, genres) bool, row i the genres of interaction i's film.

    Judging: current R² overall and per genre come from `segment_scores`. A metric is judged
    when the benchmark has an R² for it and the round's segment has at least
    thresholds.min_segment_size interactions with a defined R²; otherwise it is listed in
    not_judged (as are benchmark genres absent from genre_names). drop = benchmark - current;
    degraded when drop > threshold (and, with require_significance, the whole confidence
    interval of the drop is above the threshold).

    Confidence interval of the drop (nonparametric percentile bootstrap): the round's
    interactions are resampled with replacement B = thresholds.bootstrap_samples times
    (np.random.default_rng(seed)); one resample of the whole round serves every segment, so a
    genre's size varies between replicates as it would between rounds. Each resample is a row
    of multiplicity counts, drawn in bounded chunks, and every replicate's R² per segment
    comes from weighted sums (`compute_replicate_r2`), one matrix product per segment and
    chunk. The benchmark R² is a fixed number. The interval is the (1 - confidence) / 2 and
    (1 + confidence) / 2 quantiles of benchmark - R²_replicate, over the replicates whose R² is
    defined; significant when its lower end is above 0, above_threshold when it is above the
    threshold. With require_significance a metric is degraded only when the drop exceeds the
    threshold at that confidence (above_threshold): "worse at all" is not enough, since a
    small segment's R² moves by more than the threshold between rounds by chance alone.
    """
    if not isinstance(thresholds, DriftThresholds):
        raise ValueError(f"thresholds must be a DriftThresholds, got {type(thresholds).__name__}")
    seed = checked_int("seed", seed, minimum=0)
    true, pred, members, names = _drift_inputs(y_true, y_pred, membership, genre_names)
    bench = extract_metric_r2(benchmark, name="benchmark")
    segments = round_segments(true, pred, members, names, thresholds.min_segment_size)
    judged, not_judged = split_judged(bench, segments, thresholds.min_segment_size)
    drifts: list[MetricDrift] = []
    if judged:
        rows = np.column_stack([segment.rows for segment in judged])
        replicates = _bootstrap_r2(true, pred, rows, thresholds, seed)
        drifts = [
            metric_drift(segment, replicates[:, j], thresholds) for j, segment in enumerate(judged)
        ]
    result = DriftResult(metrics=tuple(drifts), not_judged=tuple(not_judged))
    _log_drift(result, thresholds, len(true))
    return result


@dataclass(frozen=True)
class RoundSegment:
    """One segment of a round: its metric name, the round's score on it, its rows (n bool)."""

    metric: str
    score: SegmentScore
    rows: np.ndarray


@dataclass(frozen=True)
class JudgedSegment:
    """A segment the drift check judges: it has a benchmark R² and, in the round, enough
    interactions and a defined R²."""

    metric: str
    benchmark_r2: float
    score: SegmentScore
    rows: np.ndarray


def _drift_inputs(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    membership: npt.ArrayLike,
    genre_names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The round's arrays as detect_drift uses them, refused with a reason when malformed."""
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    members = np.asarray(membership)
    names = [str(g) for g in genre_names]
    if true.ndim != 1:
        raise ValueError(f"y_true must be 1-d, got shape {true.shape}")
    if not (np.all(np.isfinite(true)) and np.all(np.isfinite(pred))):
        raise ValueError("y_true and y_pred must be finite (no NaN or infinity)")
    if members.size and members.dtype != bool and not np.isin(members, (0, 1)).all():
        raise ValueError("membership must be boolean (or 0/1), one row per interaction")
    if len(set(names)) != len(names) or any(not g for g in names):
        raise ValueError(f"genre_names must be distinct non-empty names, got {names}")
    return true, pred, members.astype(bool), names


def round_segments(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    membership: np.ndarray,
    genre_names: list[str],
    min_segment_size: int,
) -> list[RoundSegment]:
    """The round's segments, "overall" first then one per genre (in genre_names' order), each
    scored by `segment_scores`."""
    overall, per_genre = segment_scores(
        y_true, y_pred, membership, genre_names, min_segment_size=min_segment_size
    )
    return [RoundSegment(OVERALL, overall, np.ones(len(y_true), dtype=bool))] + [
        RoundSegment(genre_metric(g), per_genre[g], membership[:, i])
        for i, g in enumerate(genre_names)
    ]


def split_judged(
    benchmark: Mapping[str, float | None],
    segments: Sequence[RoundSegment],
    min_segment_size: int,
) -> tuple[list[JudgedSegment], list[str]]:
    """The segments that can be judged (a benchmark R², enough interactions, a defined R² in
    the round), and the names of those that cannot: those segments first, in order, then the
    benchmark segments absent from the round (sorted)."""
    judged: list[JudgedSegment] = []
    not_judged: list[str] = []
    for segment in segments:
        benchmark_r2 = benchmark.get(segment.metric)
        score = segment.score
        if benchmark_r2 is None or not score.judged or score.r2 is None:
            logger.info(
                "%s not judged: benchmark R² %s, %d interactions in the round (minimum %d), "
                "round R² %s",
                segment.metric,
                benchmark_r2,
                score.n,
                min_segment_size,
                score.r2,
            )
            not_judged.append(segment.metric)
        else:
            judged.append(JudgedSegment(segment.metric, benchmark_r2, score, segment.rows))
    absent = sorted(set(benchmark) - {segment.metric for segment in segments})
    if absent:
        logger.info("benchmark segments absent from the round, not judged: %s", absent)
    return judged, not_judged + absent


def metric_drift(
    segment: JudgedSegment, replicate_r2: np.ndarray, thresholds: DriftThresholds
) -> MetricDrift:
    """The drift of one judged segment, from its round R² and its bootstrap replicates' R²
    (NaN where a replicate's R² is undefined; those replicates are dropped)."""
    benchmark_r2 = segment.benchmark_r2
    current = float(segment.score.r2)  # type: ignore[arg-type]
    drops = benchmark_r2 - replicate_r2
    drops = drops[np.isfinite(drops)]
    if drops.size < replicate_r2.shape[0]:
        logger.warning(
            "%s: %d of %d bootstrap replicates had an undefined R² and were dropped",
            segment.metric,
            replicate_r2.shape[0] - drops.size,
            replicate_r2.shape[0],
        )
    low = high = None
    if drops.size:
        tail = (1.0 - thresholds.confidence) / 2.0
        low, high = (float(q) for q in np.quantile(drops, [tail, 1.0 - tail]))
    threshold = thresholds.threshold_for(segment.metric)
    above_threshold = low is not None and low > threshold
    drop = benchmark_r2 - current
    return MetricDrift(
        metric=segment.metric,
        benchmark_r2=benchmark_r2,
        current_r2=current,
        drop=drop,
        threshold=threshold,
        degraded=drop > threshold and (above_threshold or not thresholds.require_significance),
        ci_low=low,
        ci_high=high,
        significant=low is not None and low > 0.0,
        n=segment.score.n,
        above_threshold=above_threshold,
        current_rmse=segment.score.rmse,
        round_r2=current,
    )


def _log_drift(result: DriftResult, thresholds: DriftThresholds, interactions: int) -> None:
    for drift in result.metrics:
        if drift.degraded:
            interval = (
                "undefined" if drift.ci_low is None else f"{drift.ci_low:.4f}..{drift.ci_high:.4f}"
            )
            logger.warning(
                "%s degraded: R² %.4f -> %.4f (drop %.4f > %.4f, %.0f%% CI of the drop %s, n %d)",
                drift.metric,
                drift.benchmark_r2,
                drift.current_r2,
                drift.drop,
                drift.threshold,
                100 * thresholds.confidence,
                interval,
                drift.n,
            )
    logger.info(
        "drift check on %d interactions: %d judged, %d degraded, %d not judged; retraining %s",
        interactions,
        len(result.metrics),
        len(result.degraded),
        len(result.not_judged),
        "required" if result.retraining_required else "not required",
    )


def known_viewer_rows(model: TrainedModel, ratings: pd.DataFrame) -> pd.DataFrame:
    """The rows of `ratings` by viewers `model` was trained on (existing viewers): the only
    ones the drift check and the champion/challenger comparison judge a model on."""
    return ratings[model.viewer_index(ratings["viewer_id"].to_numpy()) >= 0]


def model_drift(
    model: TrainedModel,
    benchmark: Mapping[str, Any],
    ratings: pd.DataFrame,
    film_genres: pd.DataFrame,
    *,
    thresholds: DriftThresholds,
    seed: int,
) -> DriftResult:
    """`detect_drift` of `model` on a round's ratings (viewer_id, film_id, rating) by viewers
    it knows (see `known_viewer_rows`); film_genres has one row per (film_id, genre)."""
    film_ids = ratings["film_id"].to_numpy()
    predicted = model.predict(ratings["viewer_id"].to_numpy(), film_ids)
    membership, genre_names = genre_matrix(film_genres, film_ids)
    return detect_drift(
        benchmark,
        ratings["rating"].to_numpy(np.float64),
        predicted,
        membership,
        genre_names,
        thresholds=thresholds,
        seed=seed,
    )


def _bootstrap_r2(
    true: np.ndarray,
    pred: np.ndarray,
    segments: np.ndarray,
    thresholds: DriftThresholds,
    seed: int,
) -> np.ndarray:
    """(B, segments) replicate R², drawn chunk by chunk so memory stays bounded."""
    rng = np.random.default_rng(seed)
    blocks = [
        compute_replicate_r2(true, pred, segments, counts)
        for counts in draw_resample_counts(len(true), thresholds.bootstrap_samples, rng)
    ]
    return np.concatenate(blocks, axis=0)


# --- champion versus challenger ---------------------------------------------------------------


class Outcome(StrEnum):
    """How one metric moved from champion to challenger on the shared holdout."""

    IMPROVED = "improvement"
    NOT_IMPROVED = "no improvement"
    DEGRADED = "degradation"
    STABLE = "remained stable"


@dataclass(frozen=True)
class MetricComparison:
    """Champion and challenger R² on the shared holdout for one metric, and its outcome.
    was_degraded: the metric was degraded in the drift result that triggered retraining."""

    metric: str
    was_degraded: bool
    champion_r2: float
    challenger_r2: float
    outcome: Outcome
    # From the paired comparison (engine/comparison.py): the 95 % paired-bootstrap interval of
    # challenger_r2 - champion_r2, both models' RMSE and the held-out ratings in the segment.
    ci_low: float | None = None
    ci_high: float | None = None
    champion_rmse: float | None = None
    challenger_rmse: float | None = None
    n: int | None = None

    def __post_init__(self) -> None:
        check_metric_name("metric", self.metric)
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError("ci_low and ci_high must both be numbers or both None")
        if self.ci_low is not None and not checked_float("ci_low", self.ci_low) <= checked_float(
            "ci_high", self.ci_high
        ):
            raise ValueError(f"ci_low {self.ci_low!r} must not exceed ci_high {self.ci_high!r}")
        if not isinstance(self.was_degraded, bool):
            raise ValueError(f"was_degraded must be True or False, got {self.was_degraded!r}")
        _r2_value("champion_r2", self.champion_r2)
        _r2_value("challenger_r2", self.challenger_r2)
        try:
            outcome = Outcome(self.outcome)
        except ValueError:
            raise ValueError(
                f"outcome must be one of {[o.value for o in Outcome]}, got {self.outcome!r}"
            ) from None
        object.__setattr__(self, "outcome", outcome)
        allowed = (
            {Outcome.IMPROVED, Outcome.NOT_IMPROVED, Outcome.DEGRADED}
            if self.was_degraded
            else {Outcome.STABLE, Outcome.DEGRADED}
        )
        if outcome not in allowed:
            kind = "a previously degraded" if self.was_degraded else "a stable"
            raise ValueError(f"outcome {outcome.value!r} is not possible for {kind} metric")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable."""
        return {
            "metric": self.metric,
            "was_degraded": self.was_degraded,
            "champion_r2": float(self.champion_r2),
            "challenger_r2": float(self.challenger_r2),
            "difference": float(self.challenger_r2 - self.champion_r2),
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "champion_rmse": self.champion_rmse,
            "challenger_rmse": self.challenger_rmse,
            "n": self.n,
            "outcome": self.outcome.value,
        }


def compare_models(
    champion: Mapping[str, float | None],
    challenger: Mapping[str, float | None],
    degraded: Collection[str],
    *,
    tolerance: float = 0.05,
) -> tuple[MetricComparison, ...]:
    """Outcome of every metric both models were judged on (R² on the same holdout).

    champion / challenger map metric names ("overall", "genre:<g>") to R², None when not
    judged; a metric that is None or missing on either side is skipped. degraded names the
    metrics degraded in the drift result. With t = tolerance (0.05 by the design), comparing
    in floating point exactly as written:
      previously degraded: challenger > champion + t -> IMPROVED;
                           challenger < champion - t -> DEGRADED; otherwise NOT_IMPROVED.
      stable:              challenger < champion - t -> DEGRADED; otherwise STABLE.
    A change of exactly t is therefore neither an improvement nor a degradation.
    Comparisons follow the champion mapping's order.
    """
    tolerance = checked_float("tolerance", tolerance, minimum=0)
    for name, mapping in (("champion", champion), ("challenger", challenger)):
        if not isinstance(mapping, Mapping):
            raise ValueError(
                f"{name} must be a mapping of metric -> R², got {type(mapping).__name__}"
            )
    if isinstance(degraded, str) or not isinstance(degraded, Collection):
        raise ValueError(f"degraded must be a collection of metric names, got {degraded!r}")
    degraded = set(degraded)
    comparisons: list[MetricComparison] = []
    for metric, champion_value in champion.items():
        check_metric_name("champion metric", metric)
        challenger_value = challenger.get(metric)
        if champion_value is None or challenger_value is None:
            logger.info(
                "%s not compared: an R² is missing (champion %s, challenger %s)",
                metric,
                champion_value,
                challenger_value,
            )
            continue
        champion_r2 = _r2_value(f"champion[{metric!r}]", champion_value)
        challenger_r2 = _r2_value(f"challenger[{metric!r}]", challenger_value)
        was_degraded = metric in degraded
        comparisons.append(
            MetricComparison(
                metric=metric,
                was_degraded=was_degraded,
                champion_r2=champion_r2,
                challenger_r2=challenger_r2,
                outcome=_outcome(champion_r2, challenger_r2, was_degraded, tolerance),
            )
        )
    compared = {c.metric for c in comparisons}
    missing = sorted(degraded - compared)
    if missing:
        logger.warning("degraded metric(s) %s could not be compared: no R² on both sides", missing)
    extra = sorted(set(challenger) - set(champion))
    if extra:
        logger.info("challenger metric(s) %s have no champion R² and are not compared", extra)
    return tuple(comparisons)


def _outcome(
    champion_r2: float, challenger_r2: float, was_degraded: bool, tolerance: float
) -> Outcome:
    # As written in compare_models' docstring, in floating point: a change of exactly the
    # tolerance is neither an improvement nor a degradation.
    if challenger_r2 < champion_r2 - tolerance:
        return Outcome.DEGRADED
    if was_degraded and challenger_r2 > champion_r2 + tolerance:
        return Outcome.IMPROVED
    return Outcome.NOT_IMPROVED if was_degraded else Outcome.STABLE


def metric_r2(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    membership: np.ndarray,
    genre_names: list[str],
    *,
    min_segment_size: int,
) -> dict[str, float | None]:
    """R² per metric name ("overall", then "genre:NAME" in genre_names' order), None where the
    segment has fewer than min_segment_size ratings or an undefined R²: one side of
    `compare_models`."""
    overall, per_genre = segment_scores(
        y_true, y_pred, membership, genre_names, min_segment_size=min_segment_size
    )
    return {
        OVERALL: overall.r2,
        **{genre_metric(genre): score.r2 for genre, score in per_genre.items()},
    }


def compare_on_holdout(
    champion: TrainedModel,
    challenger: TrainedModel,
    holdout: pd.DataFrame,
    film_genres: pd.DataFrame,
    *,
    degraded: Collection[str],
    tolerance: float,
    min_segment_size: int,
) -> tuple[MetricComparison, ...]:
    """`compare_models` of both models' R² on the same holdout ratings (viewer_id, film_id,
    rating), judged on the viewers the champion knows, as the drift check was."""
    known = known_viewer_rows(champion, holdout)
    viewers, films = known["viewer_id"].to_numpy(), known["film_id"].to_numpy()
    membership, genre_names = genre_matrix(film_genres, films)
    y_true = known["rating"].to_numpy(np.float64)

    def r2_of(model: TrainedModel) -> dict[str, float | None]:
        predicted = model.predict(viewers, films)
        return metric_r2(
            y_true, predicted, membership, genre_names, min_segment_size=min_segment_size
        )

    return compare_models(r2_of(champion), r2_of(challenger), degraded, tolerance=tolerance)


class Decision(StrEnum):
    """What happens to a challenger."""

    PROMOTE = "promote"
    REJECT = "reject"
    HUMAN_REVIEW = "human review"


def paired_outcome(was_degraded: bool, better: bool, worse: bool) -> Outcome:
    """A paired comparison's outcome from its tests' verdicts: degraded (further) whenever the
    degradation test rejected; else, for a previously degraded metric, improved when the
    improvement test did, and for a stable one stable."""
    if worse:
        return Outcome.DEGRADED
    if was_degraded:
        return Outcome.IMPROVED if better else Outcome.NOT_IMPROVED
    return Outcome.STABLE


# The design's decision matrix, verbatim. Key: (any degraded metric improved,
# any degraded metric degraded further, any stable metric degraded).
DECISION_MATRIX: Mapping[tuple[bool, bool, bool], Decision] = {
    (False, False, False): Decision.REJECT,
    (True, False, False): Decision.PROMOTE,
    (False, True, False): Decision.REJECT,
    (False, False, True): Decision.REJECT,
    (True, True, False): Decision.HUMAN_REVIEW,
    (False, True, True): Decision.REJECT,
    (True, False, True): Decision.HUMAN_REVIEW,
    (True, True, True): Decision.HUMAN_REVIEW,
}


def _matrix_key(comparisons: Sequence[MetricComparison]) -> tuple[bool, bool, bool]:
    return (
        any(c.was_degraded and c.outcome is Outcome.IMPROVED for c in comparisons),
        any(c.was_degraded and c.outcome is Outcome.DEGRADED for c in comparisons),
        any(not c.was_degraded and c.outcome is Outcome.DEGRADED for c in comparisons),
    )


def decide(comparisons: Sequence[MetricComparison]) -> Decision:
    """Promote, reject or send to human review, by `DECISION_MATRIX`. No comparisons at all
    is the (no, no, no) row: reject."""
    if not all(isinstance(c, MetricComparison) for c in comparisons):
        raise ValueError("comparisons must be MetricComparison instances (see compare_models)")
    return DECISION_MATRIX[_matrix_key(comparisons)]


def _change(comparison: MetricComparison) -> str:
    """R² before -> after, and the 95 % interval of the difference when it was measured."""
    text = f"{comparison.champion_r2:.2f} -> {comparison.challenger_r2:.2f}"
    if comparison.ci_low is None:
        return text
    return (
        f"{text}, 95 % CI of the difference {comparison.ci_low:+.3f} to {comparison.ci_high:+.3f}"
    )


def decision_reason(comparisons: Sequence[MetricComparison], decision: Decision) -> str:
    """One sentence for reviewers and the audit trail, e.g.
    "promote: genre:Action improved (0.05 -> 0.21); no stable metric degraded"."""
    decision = Decision(decision)
    if not comparisons:
        return f"{decision.value}: no metric could be compared"

    def listed(items: list[MetricComparison], verb: str) -> str:
        return ", ".join(f"{c.metric} {verb} ({_change(c)})" for c in items)

    improved = [c for c in comparisons if c.was_degraded and c.outcome is Outcome.IMPROVED]
    further = [c for c in comparisons if c.was_degraded and c.outcome is Outcome.DEGRADED]
    broken = [c for c in comparisons if not c.was_degraded and c.outcome is Outcome.DEGRADED]
    clauses = [listed(improved, "improved") if improved else "no degraded metric improved"]
    if further:
        clauses.append(listed(further, "degraded further"))
    clauses.append(listed(broken, "degraded") if broken else "no stable metric degraded")
    return f"{decision.value}: " + "; ".join(clauses)


def across_families(decision: Decision, reason: str, *, champion: str, challenger: str):
    """(decision, reason) for a challenger of another family than the champion's: what the
    matrix would promote goes to human review instead. Both models are judged on the same
    recent ratings, but a change of family changes what every list is made of (on the
    bundled data, SVD's own holdout P@10 is about a fifth of ALS's, docs/families.md) and the
    recent holdout only orders the films its viewers happened to rate; that trade-off is a
    reviewer's to make."""
    if decision is not Decision.PROMOTE or champion == challenger:
        return decision, reason
    return (
        Decision.HUMAN_REVIEW,
        f"{Decision.HUMAN_REVIEW.value}: the matrix would {reason}; the challenger is another "
        f"family ({challenger}, champion {champion}), whose lists a reviewer must judge",
    )
