"""Paired champion / challenger comparison on the same held-out interactions.

Both models predict the same held-out ratings, so per segment the difference of their R² is
(MSE_champion - MSE_challenger) / Var(ratings in the segment): the fall in squared error over
the segment's spread (the same variance on both sides, so this is exactly the R² difference).
Its uncertainty comes from a paired bootstrap by viewer: per viewer and segment the
difference of squared errors is summed once, and a replicate is a row of viewer
multiplicities (one matrix product for all replicates and segments), so the two models are
always judged on the same resampled interactions.

Outcomes, with t the tolerance (PROMOTION_TOLERANCE, R² units) and one test per call:
- previously degraded metric: IMPROVED when "difference <= t" is rejected; DEGRADED when
  "difference >= -t" is rejected; otherwise NOT_IMPROVED;
- stable metric: DEGRADED when "difference >= -t" is rejected (worse by more than the
  non-inferiority margin t, beyond chance); otherwise STABLE (within the margin).
The p-values of every test made are corrected together (Holm or BH, as for drift), so a
comparison's chance of any wrong call is bounded by alpha. The stored interval is the 95 %
percentile interval of the difference. The decision matrix (engine/monitoring.py) then
decides from the outcomes.

Pure numpy: no Django.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.engine.drift import (
    ChangeTest,
    adjust_p_values,
    bootstrap_p_value,
    segment_columns,
)
from recommender.engine.model import TrainedModel
from recommender.engine.monitoring import (
    MetricComparison,
    draw_resample_counts,
    known_viewer_rows,
    paired_outcome,
)
from recommender.engine.ranking_comparison import (
    RankingComparison,
    compare_ranking,
    rank_on_holdout,
)
from recommender.engine.serving import genre_matrix


def _viewer_sums(
    viewers: np.ndarray, values: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per viewer and segment: the sum of `values` over the segment's interactions, and their
    count."""
    _, cluster = np.unique(viewers, return_inverse=True)
    n = len(values)
    to_viewers = sparse.csr_matrix(
        (np.ones(n), (cluster.ravel(), np.arange(n))), shape=(int(cluster.max()) + 1, n)
    )
    return to_viewers @ (values[:, None] * weights), to_viewers @ weights


def _paired_replicates(
    viewers: np.ndarray,
    gain: np.ndarray,
    weights: np.ndarray,
    scale: np.ndarray,
    test: ChangeTest,
    seed: int,
) -> np.ndarray:
    """(B, segments) bootstrap replicates of the R² difference, resampling viewers."""
    sums, sizes = _viewer_sums(viewers, gain, weights)
    rng = np.random.default_rng(seed)
    blocks = []
    for draws in draw_resample_counts(sums.shape[0], test.bootstrap_samples, rng):
        drawn = draws.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            blocks.append((drawn @ sums) / (drawn @ sizes) / scale)
    # A replicate without a segment's viewers says nothing about it: no difference.
    return np.nan_to_num(np.concatenate(blocks, axis=0), nan=0.0)


def compare_paired(
    y_true: np.ndarray,
    champion_pred: np.ndarray,
    challenger_pred: np.ndarray,
    segments: np.ndarray,
    metrics: Sequence[str],
    viewers: np.ndarray,
    *,
    degraded: Collection[str],
    tolerance: float,
    min_segment_size: int,
    test: ChangeTest,
    seed: int,
) -> tuple[MetricComparison, ...]:
    """Outcome of every segment with at least min_segment_size held-out ratings that vary
    (see the module docstring); segments: (n, len(metrics)) bool."""
    y_true = np.asarray(y_true, dtype=np.float64)
    weights = np.asarray(segments, dtype=np.float64)
    counts = weights.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = y_true @ weights / counts
        variance = (y_true**2) @ weights / counts - mean**2
        champion_mse = ((y_true - champion_pred) ** 2) @ weights / counts
        challenger_mse = ((y_true - challenger_pred) ** 2) @ weights / counts
    columns = np.flatnonzero((counts >= min_segment_size) & (variance > 1e-12))
    if columns.size == 0:
        return ()
    gain = (champion_pred - y_true) ** 2 - (challenger_pred - y_true) ** 2
    replicates = _paired_replicates(
        np.asarray(viewers), gain, weights[:, columns], variance[columns], test, seed
    )
    scale = variance[columns]
    difference = (champion_mse[columns] - challenger_mse[columns]) / scale
    was_degraded = np.array([metrics[i] in set(degraded) for i in columns])
    margin = np.full(columns.size, float(tolerance))
    p_better = bootstrap_p_value(replicates, difference, margin, upper=True)
    p_worse = bootstrap_p_value(replicates, difference, -margin, upper=False)
    # The family: the improvement test of each previously degraded metric, and the
    # degradation test of every metric.
    family = np.concatenate([p_better[was_degraded], p_worse])
    adjusted = adjust_p_values(family, test.correction)
    better = np.zeros(columns.size, dtype=bool)
    better[was_degraded] = adjusted[: was_degraded.sum()] < test.alpha
    worse = adjusted[was_degraded.sum() :] < test.alpha
    low, high = np.quantile(replicates, [0.025, 0.975], axis=0)
    return tuple(
        MetricComparison(
            metric=metrics[i],
            was_degraded=bool(was_degraded[j]),
            champion_r2=float(1.0 - champion_mse[i] / variance[i]),
            challenger_r2=float(1.0 - challenger_mse[i] / variance[i]),
            outcome=paired_outcome(bool(was_degraded[j]), bool(better[j]), bool(worse[j])),
            ci_low=float(low[j]),
            ci_high=float(high[j]),
            champion_rmse=float(np.sqrt(champion_mse[i])),
            challenger_rmse=float(np.sqrt(challenger_mse[i])),
            n=int(counts[i]),
        )
        for j, i in enumerate(columns)
    )


def paired_on_holdout(
    champion: TrainedModel,
    challenger: TrainedModel,
    holdout: pd.DataFrame,
    film_genres: pd.DataFrame,
    *,
    degraded: Collection[str],
    tolerance: float,
    min_segment_size: int,
    seed: int,
    test: ChangeTest | None = None,
) -> tuple[MetricComparison, ...]:
    """`compare_paired` of both models on the same holdout ratings (viewer_id, film_id,
    rating), judged on the viewers the champion knows, as the drift check was."""
    known = known_viewer_rows(champion, holdout)
    viewers, films = known["viewer_id"].to_numpy(), known["film_id"].to_numpy()
    membership, genre_names = genre_matrix(film_genres, films)
    columns, metrics = segment_columns(membership, genre_names)
    return compare_paired(
        known["rating"].to_numpy(np.float64),
        champion.predict(viewers, films),
        challenger.predict(viewers, films),
        columns,
        metrics,
        viewers,
        degraded=degraded,
        tolerance=tolerance,
        min_segment_size=min_segment_size,
        test=test or ChangeTest(),
        seed=seed,
    )


def judge_challenger(
    champion: TrainedModel,
    challenger: TrainedModel,
    holdout: pd.DataFrame,
    film_genres: pd.DataFrame,
    *,
    degraded: Collection[str],
    tolerance: float,
    min_segment_size: int,
    seed: int,
    test: ChangeTest | None = None,
) -> tuple[tuple[MetricComparison, ...], RankingComparison]:
    """Everything the decision matrix judges a challenger on: R² per segment, paired
    (`paired_on_holdout`), and both models' order of the same held-out films
    (`rank_on_holdout`). When either model predicts no ratings its R² is only a calibration,
    so the overall NDCG@10 comparison is one more metric for the matrix."""
    comparisons = paired_on_holdout(
        champion,
        challenger,
        holdout,
        film_genres,
        degraded=degraded,
        tolerance=tolerance,
        min_segment_size=min_segment_size,
        seed=seed,
        test=test,
    )
    ranking = rank_on_holdout(champion, challenger, holdout)
    if not (champion.predicts_ratings and challenger.predicts_ratings):
        comparisons = (
            *comparisons,
            *compare_ranking(ranking, degraded=degraded, tolerance=tolerance, test=test, seed=seed),
        )
    return comparisons, ranking
