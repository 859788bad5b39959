"""Champion and challenger ranked on the same recent holdout: how well each orders the films
each viewer actually rated there.

The drift check and `compare_models` judge rating predictions (R²). For a ranking family (one
that predicts no ratings, see engine.families) R² measures only its calibration, so a
challenger of another family is also judged by its ranking: each model orders each viewer's
held-out films by its own ranking score (`TrainedModel.ranking_scores`), a rating of at least
`relevant_min` counting as relevant, and precision@k and NDCG@k of that order are averaged
over the viewers both models know who have a relevant held-out film.

Why the held-out films only: the recent holdout holds films viewers chose from the lists the
*champion* served. Judging each model's top k over the whole catalogue would score the
champion on its own exposure (after `make demo`, NDCG@10 0.473 for the ALS champion against
0.010 for an SVD challenger, while on a random holdout of original ratings the two give 0.254
and 0.043). Ordering the same films for both models is a fair race, conditional on exposure.

When either model predicts no ratings, the overall NDCG@k comparison is one more
`MetricComparison` for the decision matrix (`compare_ranking`).

Pure numpy and pandas: no Django.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.engine.drift import ChangeTest, adjust_p_values, bootstrap_p_value
from recommender.engine.model import TrainedModel
from recommender.engine.monitoring import (
    MetricComparison,
    Outcome,
    compare_models,
    draw_resample_counts,
    paired_outcome,
)
from recommender.engine.segments import OVERALL, ranking_metric

# As the holdout benchmark (engine.evaluation.evaluate_model): the top 10, relevant >= 4 stars.
RANKING_K = 10
RELEVANT_MIN = 4.0


@dataclass(frozen=True)
class RankingFigures:
    precision_at_k: float
    ndcg_at_k: float

    def to_dict(self) -> dict[str, float]:
        return {"precision_at_k": float(self.precision_at_k), "ndcg_at_k": float(self.ndcg_at_k)}


@dataclass(frozen=True)
class RankingComparison:
    """Both models' figures on the same viewers; None for both when no viewer known to both
    had a relevant held-out rating."""

    k: int
    relevant_min: float
    viewers: int
    champion: RankingFigures | None
    challenger: RankingFigures | None
    # Per judged viewer, challenger's NDCG@k minus champion's: what compare_ranking's paired
    # bootstrap resamples. Not stored with the comparison.
    ndcg_differences: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "relevant_min": self.relevant_min,
            "viewers": self.viewers,
            "champion": None if self.champion is None else self.champion.to_dict(),
            "challenger": None if self.challenger is None else self.challenger.to_dict(),
        }


def rank_on_holdout(
    champion: TrainedModel,
    challenger: TrainedModel,
    holdout: pd.DataFrame,
    *,
    k: int = RANKING_K,
    relevant_min: float = RELEVANT_MIN,
) -> RankingComparison:
    """P@k and NDCG@k of each model's order of every viewer's held-out films (viewer_id,
    film_id, rating), over the viewers both models know with a relevant held-out film."""
    viewers = holdout["viewer_id"].to_numpy()
    shared = holdout[
        (champion.viewer_index(viewers) >= 0) & (challenger.viewer_index(viewers) >= 0)
    ]
    relevant = shared["rating"].to_numpy() >= relevant_min
    judged = shared["viewer_id"].isin(shared.loc[relevant, "viewer_id"]).to_numpy()
    shared, relevant = shared[judged], relevant[judged]
    if shared.empty:
        return RankingComparison(k, relevant_min, 0, None, None)
    per_viewer = [
        viewer_figures(
            shared["viewer_id"].to_numpy(),
            shared["film_id"].to_numpy(),
            model.ranking_scores(shared["viewer_id"], shared["film_id"]),
            relevant,
            k=k,
        )
        for model in (champion, challenger)
    ]
    figures = [RankingFigures(float(p.mean()), float(n.mean())) for p, n in per_viewer]
    return RankingComparison(
        k,
        relevant_min,
        int(shared["viewer_id"].nunique()),
        figures[0],
        figures[1],
        ndcg_differences=per_viewer[1][1] - per_viewer[0][1],
    )


def order_figures(
    viewer_ids: np.ndarray,
    film_ids: np.ndarray,
    scores: np.ndarray,
    relevant: np.ndarray,
    *,
    k: int,
) -> RankingFigures:
    """Precision@k and NDCG@k of `viewer_figures`, averaged over viewers."""
    precision, ndcg = viewer_figures(viewer_ids, film_ids, scores, relevant, k=k)
    return RankingFigures(float(precision.mean()), float(ndcg.mean()))


def viewer_figures(
    viewer_ids: np.ndarray,
    film_ids: np.ndarray,
    scores: np.ndarray,
    relevant: np.ndarray,
    *,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Precision@k and NDCG@k per viewer (in ascending viewer id) of each viewer's items
    ordered by score (ties by film id). Precision@k is the relevant share of the first
    min(k, n) items of a viewer with n items; NDCG@k divides by the ideal order of the same
    items. Every viewer must have a relevant item. Vectorised: one lexsort, no loop over
    viewers."""
    order = np.lexsort((film_ids, -scores, viewer_ids))
    viewers, hits = viewer_ids[order], relevant[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, viewers[1:] != viewers[:-1]])
    sizes = np.diff(np.r_[starts, len(viewers)])
    position = np.arange(len(viewers)) - np.repeat(starts, sizes)
    in_top = position < k
    discount = np.where(in_top, 1.0 / np.log2(position + 2.0), 0.0)
    dcg = np.add.reduceat(hits * discount, starts)
    # The ideal order puts a viewer's relevant items first: their count, capped at k.
    n_relevant = np.add.reduceat(hits, starts)
    ideal_discount = np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))
    idcg = ideal_discount[np.minimum(n_relevant, k).astype(int) - 1]
    precision = np.add.reduceat(hits * in_top, starts) / np.minimum(sizes, k)
    return precision, dcg / idcg


def compare_ranking(
    ranking: RankingComparison,
    *,
    degraded: Collection[str],
    tolerance: float,
    test: ChangeTest | None = None,
    seed: int = 0,
) -> tuple[MetricComparison, ...]:
    """The overall NDCG@k comparison ("ranking:NDCG@k") as a `MetricComparison`, decided as
    the paired R² differences are (engine.comparison): a paired bootstrap by viewer of the
    mean NDCG difference, "difference <= t" and "difference >= -t" tested at test.alpha (its
    two tests corrected together), the 95 % percentile interval stored. It counts as
    previously degraded when the overall R² was: a drift of the whole model must then be
    mended in its lists too, and otherwise the lists must not get worse. Without per-viewer
    figures (a comparison read back from storage) the plain tolerance rule decides. Empty
    when there are no figures to compare."""
    if ranking.champion is None or ranking.challenger is None:
        return ()
    name = ranking_metric(f"NDCG@{ranking.k}")
    was_degraded = OVERALL in degraded
    differences = ranking.ndcg_differences
    if differences is None or len(differences) < 2:
        return compare_models(
            {name: ranking.champion.ndcg_at_k},
            {name: ranking.challenger.ndcg_at_k},
            {name} if was_degraded else set(),
            tolerance=tolerance,
        )
    outcome, low, high = _paired_outcome(
        differences, was_degraded, tolerance, test or ChangeTest(), seed
    )
    return (
        MetricComparison(
            metric=name,
            was_degraded=was_degraded,
            champion_r2=ranking.champion.ndcg_at_k,
            challenger_r2=ranking.challenger.ndcg_at_k,
            outcome=outcome,
            ci_low=low,
            ci_high=high,
            n=len(differences),
        ),
    )


def _paired_outcome(
    differences: np.ndarray, was_degraded: bool, tolerance: float, test: ChangeTest, seed: int
) -> tuple[Outcome, float, float]:
    """The outcome of per-viewer differences by a paired bootstrap of their mean (the tests of
    compare_ranking's docstring), and the 95 % percentile interval."""
    estimate = float(differences.mean())
    replicates = np.concatenate(
        [
            draws @ differences / len(differences)
            for draws in draw_resample_counts(
                len(differences), test.bootstrap_samples, np.random.default_rng(seed)
            )
        ]
    )
    p_better = bootstrap_p_value(replicates, estimate, tolerance, upper=True)
    p_worse = bootstrap_p_value(replicates, estimate, -tolerance, upper=False)
    adjusted = adjust_p_values([p_better, p_worse] if was_degraded else [p_worse], test.correction)
    low, high = np.quantile(replicates, [0.025, 0.975])
    outcome = paired_outcome(
        was_degraded, was_degraded and adjusted[0] < test.alpha, adjusted[-1] < test.alpha
    )
    return outcome, float(low), float(high)
