"""Champion and challenger judged by their lists on the same holdout (engine.ranking_comparison),
on a two-viewer, four-film table worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.engine.model import TrainedModel
from recommender.engine.ranking_comparison import compare_ranking, rank_on_holdout


def one_factor_model(viewer_ids, film_scores, *, predicts_ratings=True) -> TrainedModel:
    """score(v, f) = 3 + film_scores[f] for every viewer: a fixed ranking of the films."""
    films = np.arange(1, len(film_scores) + 1)
    return TrainedModel(
        global_mean=3.0,
        viewer_ids=np.asarray(viewer_ids),
        film_ids=films,
        viewer_bias=np.zeros(len(viewer_ids)),
        film_bias=np.zeros(len(films)),
        viewer_factors=np.ones((len(viewer_ids), 1)),
        film_factors=np.asarray(film_scores, dtype=float)[:, None],
        family="svd" if predicts_ratings else "als",
        predicts_ratings=predicts_ratings,
    )


# Viewer 1 has seen film 1 and loves film 2 (held out); viewer 2 holds out a 2-star film 3.
SEEN = pd.DataFrame({"viewer_id": [1, 2], "film_id": [1, 1], "rating": [4.0, 4.0]})
HOLDOUT = pd.DataFrame({"viewer_id": [1, 2], "film_id": [2, 3], "rating": [5.0, 2.0]})


def test_each_model_is_scored_by_its_own_top_k_on_the_same_viewers():
    ranks_film_2_first = one_factor_model([1, 2], [0.4, 0.3, 0.2, 0.1])
    ranks_film_4_first = one_factor_model([1, 2], [0.1, 0.2, 0.3, 0.4], predicts_ratings=False)

    ranking = rank_on_holdout(ranks_film_2_first, ranks_film_4_first, HOLDOUT, SEEN, k=1)

    # Only viewer 1 has a relevant (>= 4) held-out rating; film 1 is seen, so the champion's
    # top 1 is film 2 (a hit), the challenger's film 4 (a miss).
    assert ranking.viewers == 1
    assert ranking.champion.to_dict() == {"precision_at_k": 1.0, "ndcg_at_k": 1.0}
    assert ranking.challenger.to_dict() == {"precision_at_k": 0.0, "ndcg_at_k": 0.0}
    [ndcg] = compare_ranking(ranking, degraded=set(), tolerance=0.05)
    assert (ndcg.metric, ndcg.was_degraded, ndcg.outcome.value) == (
        "ranking:NDCG@1",
        False,
        "degradation",
    )


def test_the_ndcg_comparison_must_mend_an_overall_drift_and_follows_the_tolerance():
    champion = one_factor_model([1, 2], [0.1, 0.2, 0.3, 0.4])
    challenger = one_factor_model([1, 2], [0.4, 0.3, 0.2, 0.1], predicts_ratings=False)
    ranking = rank_on_holdout(champion, challenger, HOLDOUT, SEEN, k=1)

    [improved] = compare_ranking(ranking, degraded={"overall"}, tolerance=0.05)
    [too_little] = compare_ranking(ranking, degraded={"overall"}, tolerance=1.0)

    assert (improved.was_degraded, improved.outcome.value) == (True, "improvement")
    assert too_little.outcome.value == "no improvement"


def test_viewers_one_model_does_not_know_are_left_out_and_no_figures_compare_nothing():
    champion = one_factor_model([2], [0.4, 0.3, 0.2, 0.1])
    challenger = one_factor_model([1, 2], [0.4, 0.3, 0.2, 0.1])

    ranking = rank_on_holdout(champion, challenger, HOLDOUT, SEEN, k=1)

    assert (ranking.viewers, ranking.champion, ranking.challenger) == (0, None, None)
    assert compare_ranking(ranking, degraded={"overall"}, tolerance=0.05) == ()
    assert ranking.to_dict()["champion"] is None
