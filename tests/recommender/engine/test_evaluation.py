"""Holdout evaluation on the hand-worked model: accuracy overall and per genre, segments too
small to judge, and ranking metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from recommender.engine.evaluation import SegmentScore, evaluate_model
from recommender.engine.metrics import r2, rmse
from recommender.engine.model import EmptyRatingsError
from tests.recommender.engine.test_model import hand_model

# hand_model() predicts: viewer 10 -> films 100, 200, 300: 5.0, 4.5, 5.0
#                        viewer 20 -> films 100, 200, 300: 4.7, 0.5, 1.5
HOLDOUT = pd.DataFrame(
    {"viewer_id": [10, 20, 20], "film_id": [200, 100, 300], "rating": [4.0, 5.0, 1.0]}
)
# errors -0.5, 0.3, -0.5
TRAIN = pd.DataFrame({"viewer_id": [10, 20], "film_id": [100, 200], "rating": [5.0, 1.0]})
FILM_GENRES = pd.DataFrame(
    {
        "film_id": [100, 200, 200, 300, 400],
        "genre": ["Drama", "Drama", "Comedy", "Horror", "Western"],
    }
)


def test_overall_and_per_genre_accuracy_by_hand():
    evaluation = evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES, min_segment_size=2)

    # overall: SSE 0.25 + 0.09 + 0.25 = 0.59; mean 10/3, SST 26/3
    assert evaluation.overall.n == 3 and evaluation.overall.judged
    assert evaluation.overall.rmse == pytest.approx(math.sqrt(0.59 / 3))
    assert evaluation.overall.r2 == pytest.approx(1 - 0.59 / (26 / 3))
    # Drama: films 100 and 200 -> ratings 5.0 (pred 4.7) and 4.0 (pred 4.5): SSE 0.34, SST 0.5
    drama = evaluation.per_genre["Drama"]
    assert (drama.n, drama.judged) == (2, True)
    assert drama.rmse == pytest.approx(math.sqrt(0.34 / 2))
    assert drama.r2 == pytest.approx(1 - 0.34 / 0.5)


def test_segments_below_the_minimum_size_are_not_judged_and_have_no_numbers():
    evaluation = evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES, min_segment_size=2)

    assert evaluation.per_genre["Comedy"] == SegmentScore(n=1, rmse=None, r2=None, judged=False)
    assert evaluation.per_genre["Horror"] == SegmentScore(n=1, rmse=None, r2=None, judged=False)
    # a genre with no holdout rating at all is still reported
    assert evaluation.per_genre["Western"] == SegmentScore(n=0, rmse=None, r2=None, judged=False)
    assert sorted(evaluation.per_genre) == ["Comedy", "Drama", "Horror", "Western"]


def test_with_the_default_minimum_nothing_this_small_is_judged():
    evaluation = evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES)

    assert evaluation.overall == SegmentScore(n=3, rmse=None, r2=None, judged=False)
    assert not any(score.judged for score in evaluation.per_genre.values())


def test_a_segment_cannot_be_unjudged_and_carry_a_number():
    with pytest.raises(ValueError, match="not judged has no rmse or r2"):
        SegmentScore(n=5, rmse=0.9, r2=None, judged=False)


def test_ranking_metrics_by_hand_at_k_1_and_2():
    # Relevant (>= 4): viewer 10 -> film 200, viewer 20 -> film 100. Train excludes 10's film 100
    # and 20's film 200. Lists: viewer 10 -> [300 (5.0), 200 (4.5)], viewer 20 -> [100, 300].
    at_1 = evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES, train=TRAIN, k=1)
    at_2 = evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES, train=TRAIN, k=2)

    assert (at_1.precision_at_k, at_1.recall_at_k, at_1.ndcg_at_k) == pytest.approx((0.5, 0.5, 0.5))
    assert at_2.precision_at_k == pytest.approx(0.5)
    assert at_2.recall_at_k == pytest.approx(1.0)
    assert at_2.ndcg_at_k == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert at_2.ranked_viewers == 2 and at_2.k == 2


def test_without_training_ratings_there_are_no_ranking_metrics():
    evaluation = evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES)

    assert evaluation.precision_at_k is None and evaluation.ndcg_at_k is None


def test_viewers_unknown_to_the_model_are_left_out_of_the_ranking():
    holdout = pd.concat(
        [HOLDOUT, pd.DataFrame({"viewer_id": [77], "film_id": [100], "rating": [5.0]})]
    )

    evaluation = evaluate_model(hand_model(), holdout, film_genres=FILM_GENRES, train=TRAIN, k=1)

    assert evaluation.ranked_viewers == 2 and evaluation.precision_at_k == pytest.approx(0.5)
    assert evaluation.overall.n == 4


def test_the_result_is_plain_json_with_null_for_insufficient_data():
    evaluation = evaluate_model(
        hand_model(), HOLDOUT, film_genres=FILM_GENRES, min_segment_size=2, train=TRAIN, k=1
    )

    data = json.loads(json.dumps(evaluation.to_dict(), allow_nan=False))

    assert data["per_genre"]["Comedy"] == {"n": 1, "rmse": None, "r2": None, "judged": False}
    assert data["overall"]["judged"] is True and isinstance(data["overall"]["rmse"], float)
    assert data["precision_at_k"] == 0.5 and data["k"] == 1


def test_an_empty_holdout_is_refused():
    with pytest.raises(EmptyRatingsError, match="the holdout is empty"):
        evaluate_model(hand_model(), HOLDOUT.iloc[:0], film_genres=FILM_GENRES)


def test_a_bad_minimum_segment_size_is_refused():
    with pytest.raises(ValueError, match="min_segment_size must be an integer >= 1, got 0"):
        evaluate_model(hand_model(), HOLDOUT, film_genres=FILM_GENRES, min_segment_size=0)


def test_per_genre_scores_agree_with_the_metric_functions_on_random_data():
    rng = np.random.default_rng(0)
    model = hand_model()
    holdout = pd.DataFrame(
        {
            "viewer_id": rng.choice([10, 20, 30], 400),
            "film_id": rng.choice([100, 200, 300, 400], 400),
            "rating": rng.choice(np.arange(1, 11) / 2, 400),
        }
    )

    evaluation = evaluate_model(model, holdout, film_genres=FILM_GENRES, min_segment_size=50)

    for genre, films in {"Drama": [100, 200], "Comedy": [200], "Horror": [300]}.items():
        part = holdout[holdout["film_id"].isin(films)]
        predicted = model.predict(part["viewer_id"].to_numpy(), part["film_id"].to_numpy())
        score = evaluation.per_genre[genre]
        assert score.n == len(part)
        assert score.rmse == pytest.approx(rmse(part["rating"], predicted), abs=1e-12)
        assert score.r2 == pytest.approx(r2(part["rating"], predicted), abs=1e-12)
