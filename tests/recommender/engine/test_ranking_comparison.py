"""Champion and challenger judged by their lists on the same holdout (engine.ranking_comparison),
on a two-viewer, four-film table worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


# Viewer 1 held out films 1, 2 and 3 and loved only film 2; viewer 2 held out a 2-star film 3
# only (no relevant film: not judged); viewer 3 held out films 3 and 4, both loved.
HOLDOUT = pd.DataFrame(
    {
        "viewer_id": [1, 1, 1, 2, 3, 3],
        "film_id": [1, 2, 3, 3, 3, 4],
        "rating": [3.0, 5.0, 2.0, 2.0, 4.5, 4.0],
    }
)


def copies(holdout: pd.DataFrame, n: int) -> pd.DataFrame:
    """n copies of the holdout's viewers (viewer v of copy c is 10 c + v): the same figures,
    n times the evidence."""
    return pd.concat(
        [holdout.assign(viewer_id=holdout["viewer_id"] + 10 * c) for c in range(n)],
        ignore_index=True,
    )


def test_each_model_orders_each_viewers_held_out_films_and_is_scored_on_that_order():
    ranks_film_2_first = one_factor_model([1, 2, 3], [0.3, 0.4, 0.2, 0.1])
    ranks_film_4_first = one_factor_model([1, 2, 3], [0.1, 0.2, 0.3, 0.4], predicts_ratings=False)

    ranking = rank_on_holdout(ranks_film_2_first, ranks_film_4_first, HOLDOUT, k=2)

    # Viewer 1: the champion orders 2, 1, 3 (hit first: DCG 1, ideal 1); the challenger 3, 2, 1
    # (hit second: DCG 1/log2(3)). Viewer 3: both films relevant, any order is ideal.
    # Precision@2: viewer 1 has one hit in the first two for both; viewer 3 two of two.
    assert ranking.viewers == 2
    assert ranking.champion.ndcg_at_k == pytest.approx((1.0 + 1.0) / 2)
    assert ranking.challenger.ndcg_at_k == pytest.approx((1 / np.log2(3) + 1.0) / 2)
    assert ranking.champion.precision_at_k == ranking.challenger.precision_at_k == 0.75
    # Two viewers are too little evidence for a paired bootstrap to call the fall real.
    [ndcg] = compare_ranking(ranking, degraded=set(), tolerance=0.05)
    assert (ndcg.metric, ndcg.was_degraded, ndcg.outcome.value) == (
        "ranking:NDCG@2",
        False,
        "remained stable",
    )
    assert ndcg.ci_low < ndcg.challenger_r2 - ndcg.champion_r2 < ndcg.ci_high


def test_a_fall_in_ndcg_seen_on_many_viewers_is_a_degradation_with_its_interval():
    viewers = np.arange(1, 504)
    champion = one_factor_model(viewers, [0.3, 0.4, 0.2, 0.1])
    challenger = one_factor_model(viewers, [0.1, 0.2, 0.3, 0.4], predicts_ratings=False)

    ranking = rank_on_holdout(champion, challenger, copies(HOLDOUT, 50), k=2)
    [ndcg] = compare_ranking(ranking, degraded=set(), tolerance=0.05, seed=3)
    [again] = compare_ranking(ranking, degraded=set(), tolerance=0.05, seed=3)

    # Half the viewers lose 1 - 1/log2(3) of NDCG, half lose nothing: a mean fall of 0.185,
    # its 95 % interval well below the -0.05 margin.
    assert ranking.viewers == 100 and len(ranking.ndcg_differences) == 100
    difference = ndcg.challenger_r2 - ndcg.champion_r2
    assert difference == pytest.approx(-(1 - 1 / np.log2(3)) / 2)
    assert ndcg.outcome.value == "degradation" and ndcg.n == 100
    assert ndcg.ci_low < difference < ndcg.ci_high < -0.05
    assert again == ndcg, "the seed makes it reproducible"


def test_films_the_champion_did_not_serve_do_not_count_against_the_challenger():
    # Both models put viewer 1's loved film 2 first among the held-out films, however they
    # rank the rest of the catalogue (film 4, never held out, is the challenger's favourite).
    champion = one_factor_model([1, 3], [0.2, 0.9, 0.1, 0.0])
    challenger = one_factor_model([1, 3], [0.2, 0.5, 0.1, 0.9], predicts_ratings=False)

    ranking = rank_on_holdout(champion, challenger, HOLDOUT[HOLDOUT["viewer_id"] == 1], k=1)

    assert (
        ranking.champion.to_dict()
        == ranking.challenger.to_dict()
        == {
            "precision_at_k": 1.0,
            "ndcg_at_k": 1.0,
        }
    )


def test_the_ndcg_comparison_must_mend_an_overall_drift_and_follows_the_tolerance():
    viewers = np.arange(1, 504)
    champion = one_factor_model(viewers, [0.1, 0.2, 0.3, 0.4])
    challenger = one_factor_model(viewers, [0.3, 0.4, 0.2, 0.1], predicts_ratings=False)
    # Viewer 1's loved film 2 is first for the challenger only (NDCG@1 0 -> 1); viewer 3
    # loves both of theirs: a mean gain of 0.5 over 100 viewers.
    ranking = rank_on_holdout(champion, challenger, copies(HOLDOUT, 50), k=1)

    [improved] = compare_ranking(ranking, degraded={"overall"}, tolerance=0.05)
    [too_little] = compare_ranking(ranking, degraded={"overall"}, tolerance=1.0)

    assert (improved.was_degraded, improved.outcome.value) == (True, "improvement")
    assert too_little.outcome.value == "no improvement"


def test_viewers_one_model_does_not_know_are_left_out_and_no_figures_compare_nothing():
    champion = one_factor_model([2], [0.4, 0.3, 0.2, 0.1])
    challenger = one_factor_model([1, 2, 3], [0.4, 0.3, 0.2, 0.1])

    ranking = rank_on_holdout(champion, challenger, HOLDOUT, k=1)

    assert (ranking.viewers, ranking.champion, ranking.challenger) == (0, None, None)
    assert compare_ranking(ranking, degraded={"overall"}, tolerance=0.05) == ()
    assert ranking.to_dict()["champion"] is None


def test_a_ranking_family_is_ordered_by_its_unclipped_score():
    # Scores 3 + 4 and 3 + 5 both exceed the 5-star scale: clipped they would tie, and the
    # tie would go to the lower film id (film 3), the wrong one.
    model = one_factor_model([3], [0.0, 0.0, 4.0, 5.0], predicts_ratings=False)

    ranking = rank_on_holdout(
        model, model, HOLDOUT[HOLDOUT["viewer_id"] == 3].assign(rating=[2.0, 5.0]), k=1
    )

    assert ranking.champion.ndcg_at_k == 1.0
