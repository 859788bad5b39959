"""Drift as change against a like-for-like reference (the default rule, "reference").

The champion's errors on the current round are compared with its own errors on a reference:
rounds it served before (the same kind of population: recommended films, chosen and rated by
simulated or real viewers), not its training holdout (a random sample of real ratings whose R²
sits elsewhere). Per segment (overall, each genre):

- the statistic is the rise of the mean squared error, scaled by the reference segment's
  rating variance: effect = (MSE_round - MSE_ref) / Var_ref. That is exactly the drop in R²
  with both R² measured at the reference's spread, so the thresholds keep their R² units,
  while the judgement rests on the error alone: a round whose ratings happen to spread less
  (which moves R² a lot on recommended films) does not move the effect;
- a two-sample bootstrap (reference and round resampled separately, by viewer, B replicates,
  seeded, one matrix product per side) gives the effect's interval and a
  one-sided p-value for "the error did not rise" (effect <= 0);
- the p-values of all judged segments are corrected together (Holm by default, or
  Benjamini-Hochberg), and a segment is degraded when its change is significant after the
  correction (corrected p-value below alpha) AND its effect exceeds its threshold: the
  threshold is the minimum effect worth acting on, the test guards against chance.

Pure numpy: no Django, no global randomness.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from recommender.engine.checks import checked_float, checked_int
from recommender.engine.model import TrainedModel
from recommender.engine.monitoring import (
    DriftResult,
    DriftThresholds,
    MetricDrift,
    draw_resample_counts,
    known_viewer_rows,
)
from recommender.engine.segments import OVERALL, genre_metric
from recommender.engine.serving import genre_matrix

logger = logging.getLogger(__name__)


class DriftRule(StrEnum):
    """Which rule judges a round: the champion's own earlier rounds (default), or the original
    system's training benchmark with fixed thresholds."""

    REFERENCE = "reference"
    BENCHMARK = "benchmark"


class Correction(StrEnum):
    """Multiple-testing control across the segments of one round: Holm bounds the chance of
    any false alarm (family-wise), Benjamini-Hochberg the expected share of false alarms."""

    HOLM = "holm"
    BH = "bh"


class ReferenceWindow(StrEnum):
    """Which earlier rounds form the reference: the first K the champion served (a fixed
    baseline), or the K most recent (follows slow, harmless change)."""

    FIRST = "first"
    ROLLING = "rolling"


class Interval(StrEnum):
    """How the effect's interval and p-value are found: the viewer bootstrap, the analytic
    (delta-method) interval of the same viewer-clustered ratio, or the analytic one only
    where both sides have at least `analytic_min_viewers` viewers (the bootstrap's cost grows
    with viewers x replicates x segments; the normal approximation is good there)."""

    AUTO = "auto"
    BOOTSTRAP = "bootstrap"
    ANALYTIC = "analytic"


@dataclass(frozen=True)
class ChangeTest:
    """The significance side of the reference rule: family-wise (or false-discovery) error
    rate alpha, the correction across segments, and how the interval is found."""

    alpha: float = 0.05
    correction: Correction = Correction.HOLM
    bootstrap_samples: int = 1000
    interval: Interval = Interval.AUTO
    analytic_min_viewers: int = 20_000

    def __post_init__(self) -> None:
        alpha = checked_float("alpha", self.alpha)
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
        try:
            object.__setattr__(self, "correction", Correction(self.correction))
        except ValueError:
            raise ValueError(
                f"correction must be one of {[c.value for c in Correction]}, "
                f"got {self.correction!r}"
            ) from None
        checked_int("bootstrap_samples", self.bootstrap_samples, minimum=20)
        checked_int("analytic_min_viewers", self.analytic_min_viewers, minimum=2)
        try:
            object.__setattr__(self, "interval", Interval(self.interval))
        except ValueError:
            raise ValueError(
                f"interval must be one of {[i.value for i in Interval]}, got {self.interval!r}"
            ) from None

    def analytic_for(self, viewers: int) -> bool:
        """Whether sides of at least `viewers` viewers each are judged analytically."""
        if self.interval is Interval.AUTO:
            return viewers >= self.analytic_min_viewers
        return self.interval is Interval.ANALYTIC


def bootstrap_p_value(replicates: np.ndarray, estimate, bound, *, upper: bool):
    """Centred bootstrap p-value of H0 "difference <= bound" (upper False: ">= bound"), per
    column of the (B, ...) replicates: how often their spread around the estimate reaches
    as far as the estimate is from the bound."""
    centred = replicates - estimate
    if upper:
        hits = centred >= (estimate - bound)
    else:
        hits = centred <= (estimate - bound)
    return (1.0 + hits.sum(axis=0)) / (replicates.shape[0] + 1.0)


def adjust_p_values(p_values: Sequence[float], correction: Correction) -> np.ndarray:
    """Corrected p-values (same order): Holm's step-down or Benjamini-Hochberg's step-up.
    A hypothesis is rejected at level alpha when its corrected p-value is below alpha."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return p
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise ValueError(f"p-values must lie in [0, 1], got {p.tolist()}")
    if Correction(correction) is Correction.BH:
        from scipy.stats import false_discovery_control  # see _change_test on the import

        return false_discovery_control(p, method="bh")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))  # m, m-1, ..., 1
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


@dataclass(frozen=True)
class SegmentSums:
    """Per segment and side: interactions, mean squared error, rating mean and variance."""

    n: np.ndarray
    mse: np.ndarray
    variance: np.ndarray


def _segment_sums(true: np.ndarray, pred: np.ndarray, members: np.ndarray) -> SegmentSums:
    # Column by column: a float copy of the whole membership matrix (rows x segments) was
    # 2.2 GB for the 13M interactions of a round and its three reference rounds.
    squared_errors, squares = (true - pred) ** 2, true**2
    sums = np.array(
        [
            [column.sum(), squared_errors @ column, true @ column, squares @ column]
            for column in (members[:, j].astype(np.float64) for j in range(members.shape[1]))
        ]
    ).reshape(-1, 4)
    n, error_sum, total, square_sum = sums.T
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = error_sum / n
        mean = total / n
        variance = square_sum / n - mean**2
    return SegmentSums(n=n, mse=mse, variance=np.maximum(variance, 0.0))


@dataclass(frozen=True)
class ViewerSums:
    """One side's squared errors and interaction counts summed per viewer (rows) and judged
    segment (columns): all that the viewer bootstrap and the analytic interval need."""

    errors: np.ndarray
    counts: np.ndarray

    @property
    def viewers(self) -> int:
        return self.errors.shape[0]


def _viewer_sums(side: RoundErrors, columns: np.ndarray) -> ViewerSums:
    """Per viewer and segment the squared errors and counts, summed once, a segment at a time
    (memory of a few arrays of one value per interaction, whatever the number of segments)."""
    viewers, cluster = np.unique(side.viewers, return_inverse=True)
    cluster = cluster.ravel()
    squared_errors = (side.y_true - side.y_pred) ** 2
    errors = np.empty((len(viewers), len(columns)))
    counts = np.empty((len(viewers), len(columns)))
    for j, column in enumerate(columns):
        members = side.segments[:, column]
        errors[:, j] = np.bincount(
            cluster, weights=np.where(members, squared_errors, 0.0), minlength=len(viewers)
        )
        counts[:, j] = np.bincount(cluster, weights=members, minlength=len(viewers))
    return ViewerSums(errors=errors, counts=counts)


def _bootstrap_mse(sums: ViewerSums, samples: int, rng) -> np.ndarray:
    """(B, segments) mean squared error of every bootstrap replicate of one side, resampling
    viewers (clusters), not interactions: a viewer's errors on one round are correlated (the
    model misjudges some viewers' tastes as a whole), and treating them as independent would
    understate the noise. A replicate is a row of viewer multiplicities."""
    blocks = []
    for draws in draw_resample_counts(sums.viewers, samples, rng):
        drawn = draws.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            blocks.append((drawn @ sums.errors) / (drawn @ sums.counts))
    return np.concatenate(blocks, axis=0)


def _mse_variance(sums: ViewerSums) -> np.ndarray:
    """Per segment, the variance of the side's MSE = sum(errors) / sum(counts) over viewers
    drawn at random: the delta method for a ratio estimator with the viewer as the cluster
    (the analytic counterpart of _bootstrap_mse's spread)."""
    viewers = sums.viewers
    mean_count = sums.counts.sum(axis=0) / viewers
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = sums.errors.sum(axis=0) / sums.counts.sum(axis=0)
        residual = sums.errors - mse * sums.counts
        spread = (residual**2).sum(axis=0) / (viewers - 1)
        return spread / (viewers * mean_count**2)


@dataclass(frozen=True)
class RoundErrors:
    """One side of the comparison: ratings, the champion's predictions, (n, segments) bool
    membership (column 0 "overall", all True, then one column per genre), and the viewer of
    each interaction (the bootstrap resamples viewers)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    segments: np.ndarray
    viewers: np.ndarray


def segment_columns(membership: np.ndarray, genre_names: Sequence[str]) -> tuple[np.ndarray, list]:
    """Membership with an "overall" column first, and the metric names of the columns."""
    members = np.asarray(membership, dtype=bool)
    columns = np.column_stack([np.ones(members.shape[0], dtype=bool), members])
    return columns, [OVERALL, *(genre_metric(g) for g in genre_names)]


def detect_change(
    reference: RoundErrors,
    current: RoundErrors,
    metrics: Sequence[str],
    *,
    thresholds: DriftThresholds,
    test: ChangeTest,
    seed: int,
) -> DriftResult:
    """Judge the current round against the reference, segment by segment (see the module
    docstring). A segment is judged when both sides have at least thresholds.min_segment_size
    interactions in it and the reference's ratings in it vary; the rest are not judged."""
    seed = checked_int("seed", seed, minimum=0)
    _check_sides(reference, current, len(metrics))
    ref = _segment_sums(reference.y_true, reference.y_pred, reference.segments)
    cur = _segment_sums(current.y_true, current.y_pred, current.segments)
    judged = (
        (ref.n >= thresholds.min_segment_size)
        & (cur.n >= thresholds.min_segment_size)
        & (ref.variance > 0)
    )
    columns = np.flatnonzero(judged)
    not_judged = tuple(metrics[i] for i in np.flatnonzero(~judged))
    if columns.size == 0:
        return DriftResult(metrics=(), not_judged=not_judged)
    effect = (cur.mse[columns] - ref.mse[columns]) / ref.variance[columns]
    threshold = np.array([thresholds.threshold_for(metrics[i]) for i in columns])
    interval, p_values, (low, high) = _change_test(
        reference, current, columns, ref.variance[columns], effect, test, thresholds, seed
    )
    adjusted = adjust_p_values(p_values, test.correction)
    drifts = tuple(
        MetricDrift(
            metric=metrics[i],
            benchmark_r2=float(1.0 - ref.mse[i] / ref.variance[i]),
            current_r2=float(1.0 - cur.mse[i] / ref.variance[i]),
            drop=float((cur.mse[i] - ref.mse[i]) / ref.variance[i]),
            threshold=float(threshold[j]),
            degraded=bool(adjusted[j] < test.alpha and effect[j] > threshold[j]),
            ci_low=float(low[j]),
            ci_high=float(high[j]),
            significant=bool(low[j] > 0.0),
            n=int(cur.n[i]),
            above_threshold=bool(low[j] > threshold[j]),
            reference_n=int(ref.n[i]),
            reference_rmse=float(np.sqrt(ref.mse[i])),
            current_rmse=float(np.sqrt(cur.mse[i])),
            round_r2=_round_r2(cur, i),
            p_value=float(p_values[j]),
            p_adjusted=float(adjusted[j]),
        )
        for j, i in enumerate(columns)
    )
    result = DriftResult(metrics=drifts, not_judged=not_judged, interval=interval.value)
    logger.info("drift (%s): %d judged, degraded %s", interval, len(drifts), result.degraded)
    return result


def _check_sides(reference: RoundErrors, current: RoundErrors, n_metrics: int) -> None:
    for name, side in (("reference", reference), ("current", current)):
        n = len(side.y_true)
        if (
            side.segments.shape != (n, n_metrics)
            or side.y_pred.shape != (n,)
            or len(side.viewers) != n
        ):
            raise ValueError(
                f"{name}: shapes disagree: y_true {side.y_true.shape}, y_pred "
                f"{side.y_pred.shape}, viewers {np.shape(side.viewers)}, segments "
                f"{side.segments.shape} for {n_metrics} metrics"
            )


def _change_test(
    reference: RoundErrors,
    current: RoundErrors,
    columns: np.ndarray,
    scale: np.ndarray,
    effect: np.ndarray,
    test: ChangeTest,
    thresholds: DriftThresholds,
    seed: int,
) -> tuple[Interval, np.ndarray, np.ndarray]:
    """Per judged segment: the one-sided p-value of "no rise in error" (effect <= 0), and the
    `thresholds.confidence` interval of the effect (2, segments): by the viewer bootstrap,
    or analytically for large sides (ChangeTest.interval); and which of the two it was."""
    # Imported here, not at the top: scipy.optimize and scipy.stats add about 50 MB to every
    # web and worker process that imports this module, and only the drift check needs them.
    from scipy.stats import norm

    sides = _viewer_sums(reference, columns), _viewer_sums(current, columns)
    tail = (1.0 - thresholds.confidence) / 2.0
    if test.analytic_for(min(side.viewers for side in sides)):
        error = np.sqrt(_mse_variance(sides[0]) + _mse_variance(sides[1])) / scale
        with np.errstate(divide="ignore", invalid="ignore"):
            p_values = np.where(error > 0, norm.sf(effect / error), (effect <= 0) * 1.0)
        reach = norm.isf(tail) * error
        return Interval.ANALYTIC, p_values, np.array([effect - reach, effect + reach])
    rng = np.random.default_rng(seed)
    samples = test.bootstrap_samples
    ref_mse, cur_mse = (_bootstrap_mse(side, samples, rng) for side in sides)
    replicates = (cur_mse - ref_mse) / scale
    # Centred bootstrap: how often the replicates' spread around the estimate reaches as far
    # as the estimate itself. A replicate with an empty segment (NaN) counts against.
    excess = np.nan_to_num(replicates - effect, nan=np.inf) >= effect
    p_values = (1.0 + excess.sum(axis=0)) / (samples + 1.0)
    return Interval.BOOTSTRAP, p_values, np.nanquantile(replicates, [tail, 1.0 - tail], axis=0)


def _round_r2(sums: SegmentSums, i: int) -> float | None:
    """The round's own R² in segment i (with its own spread), None when its ratings are equal."""
    if not sums.variance[i] > 0:
        return None
    return float(1.0 - sums.mse[i] / sums.variance[i])


def model_change(
    model: TrainedModel,
    reference: pd.DataFrame,
    current: pd.DataFrame,
    film_genres: pd.DataFrame,
    *,
    thresholds: DriftThresholds,
    test: ChangeTest,
    seed: int,
) -> DriftResult:
    """`detect_change` of `model` on the current round's ratings (viewer_id, film_id, rating)
    against the reference rounds' ratings, both restricted to the viewers it knows."""
    reference = known_viewer_rows(model, reference)
    current = known_viewer_rows(model, current)
    films = np.concatenate([reference["film_id"].to_numpy(), current["film_id"].to_numpy()])
    membership, genre_names = genre_matrix(film_genres, films)
    columns, metrics = segment_columns(membership, genre_names)
    sides = []
    for frame, rows in (
        (reference, columns[: len(reference)]),
        (current, columns[len(reference) :]),
    ):
        predicted = model.predict(frame["viewer_id"].to_numpy(), frame["film_id"].to_numpy())
        viewers = frame["viewer_id"].to_numpy()
        sides.append(RoundErrors(frame["rating"].to_numpy(np.float64), predicted, rows, viewers))
    return detect_change(*sides, metrics, thresholds=thresholds, test=test, seed=seed)
