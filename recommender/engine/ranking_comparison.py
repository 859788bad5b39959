"""Champion and challenger ranked on the same recent holdout: what each one's top k finds.

The drift check and `compare_models` judge rating predictions (R²). For a ranking family (one
that predicts no ratings, see engine.families) R² measures only its calibration, so a
challenger of another family is also judged by its lists: precision@k and NDCG@k of both
models on the same held-out ratings, a rating of at least `relevant_min` counting as relevant,
over the viewers both models know, each ranking the films the viewer had not rated outside
the holdout. When either model predicts no ratings, the overall NDCG@k comparison is one more
`MetricComparison` for the decision matrix (`compare_ranking`).

Pure numpy and pandas: no Django.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recommender.engine.evaluation import ranking_metrics
from recommender.engine.model import TrainedModel
from recommender.engine.monitoring import MetricComparison, compare_models
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
    seen: pd.DataFrame,
    *,
    k: int = RANKING_K,
    relevant_min: float = RELEVANT_MIN,
) -> RankingComparison:
    """P@k and NDCG@k of both models on the holdout ratings (viewer_id, film_id, rating) of
    the viewers both know; `seen` holds the ratings outside the holdout, whose films are not
    ranked again for their viewer."""
    viewers = holdout["viewer_id"].to_numpy()
    shared = holdout[
        (champion.viewer_index(viewers) >= 0) & (challenger.viewer_index(viewers) >= 0)
    ]
    figures = [
        ranking_metrics(model, shared, seen, k=k, threshold=relevant_min)
        for model in (champion, challenger)
    ]
    if figures[0] is None or figures[1] is None:
        return RankingComparison(k, relevant_min, 0, None, None)
    (champion_p, _, champion_ndcg, ranked), (challenger_p, _, challenger_ndcg, _) = figures
    return RankingComparison(
        k,
        relevant_min,
        int(ranked),
        RankingFigures(champion_p, champion_ndcg),
        RankingFigures(challenger_p, challenger_ndcg),
    )


def compare_ranking(
    ranking: RankingComparison, *, degraded: Collection[str], tolerance: float
) -> tuple[MetricComparison, ...]:
    """The overall NDCG@k comparison ("ranking:NDCG@k") as a `MetricComparison` by the same
    tolerance rule as R² (`compare_models`). It counts as previously degraded when the overall
    R² was: a drift of the whole model must then be mended in its lists too, and otherwise
    the lists must not get worse. Empty when there are no figures to compare."""
    if ranking.champion is None or ranking.challenger is None:
        return ()
    name = ranking_metric(f"NDCG@{ranking.k}")
    return compare_models(
        {name: ranking.champion.ndcg_at_k},
        {name: ranking.challenger.ndcg_at_k},
        {name} if OVERALL in degraded else set(),
        tolerance=tolerance,
    )
