"""The offline evaluation: metrics on a tiny example worked out by hand, the stratified split's
properties, and the rows of a small evaluation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recommender.engine.model import SVDConfig, TrainedModel
from recommender.engine.offline import (
    BASELINES,
    SERVED,
    Contender,
    ListJudge,
    Split,
    evaluate_offline,
    markdown_table,
    mean_average_precision,
    most_popular_lists,
    novelty,
    protocol_split,
    random_lists,
    stratified_split,
)
from recommender.engine.scoring import PopularityPenalty
from recommender.engine.training import fit_svd


def frame(rows: list[tuple[int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["viewer_id", "film_id", "rating"])


# --- metrics by hand --------------------------------------------------------------------------


def test_average_precision_of_a_list_worked_by_hand():
    # Viewer A: hits at ranks 1 and 3 of 4, 3 relevant films in all.
    #   precision at the hits: 1/1 and 2/3 -> sum 5/3; MAP divides by 3, MAP@4 by min(3, 4).
    # Viewer B: one hit at rank 2, 6 relevant films: sum 1/2; MAP / 6, MAP@4 / min(6, 4) = 4.
    hits = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=bool)
    n_relevant = np.array([3, 6])

    full = mean_average_precision(hits, n_relevant, cap_at_k=False)
    capped = mean_average_precision(hits, n_relevant, cap_at_k=True)

    assert full == pytest.approx(((5 / 3) / 3 + (1 / 2) / 6) / 2)
    assert capped == pytest.approx(((5 / 3) / 3 + (1 / 2) / 4) / 2)


def test_novelty_is_the_mean_self_information_of_listed_films():
    # Training counts 6, 1, 1 (8 ratings): film 0 is 3/4 of them, film 1 is 1/8.
    counts = np.array([6, 1, 1])
    lists = np.array([[0, 1], [1, -1]])  # three listed films, one padding

    expected = (-math.log2(6 / 8) - math.log2(1 / 8) - math.log2(1 / 8)) / 3
    assert novelty(lists, counts) == pytest.approx(expected)
    with pytest.raises(ValueError, match="no film is listed"):
        novelty(np.full((2, 2), -1), counts)


def tiny_split() -> Split:
    """Two viewers, films 10-14. Training: v1 rated 10, 11; v2 rated 10, 12. Film counts in
    training: 10 -> 2, 11 -> 1, 12 -> 1, 13 -> 1 (v3), 14 -> 1 (v3). Test (all relevant):
    v1: 12, 13; v2: 11. v3 has no test rating, so only v1 and v2 are ranked."""
    train = frame([(1, 10, 4), (1, 11, 3), (2, 10, 5), (2, 12, 2), (3, 13, 4), (3, 14, 1)])
    test = frame([(1, 12, 5), (1, 13, 1), (2, 11, 4)])
    return Split("recommenders", 0, train, test, test, None)


def test_a_testbed_judges_lists_as_worked_by_hand():
    bed = ListJudge.build(tiny_split(), k=2)
    assert bed.viewer_ids.tolist() == [1, 2]
    assert bed.catalogue.tolist() == [10, 11, 12, 13, 14]
    assert bed.n_relevant.tolist() == [2, 1]

    # v1 gets [13, 14]: hit at rank 1 of 2 relevant; v2 gets [12, 11]: hit at rank 2 of 1.
    figures = bed.judge(np.array([[13, 14], [12, 11]]))

    assert figures["precision_at_k"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert figures["recall_at_k"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    # v1: DCG 1/log2(2) = 1, ideal 1 + 1/log2(3); v2: DCG 1/log2(3), ideal 1.
    ideal_two = 1 + 1 / math.log2(3)
    assert figures["ndcg_at_k"] == pytest.approx((1 / ideal_two + 1 / math.log2(3)) / 2)
    # v1: (1/1) / 2; v2: (1/2) / 1.
    assert figures["map"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    # Films 11, 12, 13, 14 of the 5 in training.
    assert figures["coverage"] == pytest.approx(4 / 5)
    # Each listed film has 1 of the 6 training ratings.
    assert figures["novelty"] == pytest.approx(math.log2(6))
    # No film shared between the two lists: cosine similarity 0.
    assert figures["personalisation"] == pytest.approx(1.0)


def test_most_popular_lists_the_most_rated_unseen_films_lowest_id_first_on_ties():
    bed = ListJudge.build(tiny_split(), k=2)

    lists = most_popular_lists(bed)

    # Film 10 (2 ratings) is seen by both; the rest tie at 1 rating: lowest ids unseen.
    assert lists.tolist() == [[12, 13], [11, 13]]


def test_random_lists_are_seeded_and_never_repeat_a_seen_film():
    bed = ListJudge.build(tiny_split(), k=3)

    first, again = random_lists(bed, 5), random_lists(bed, 5)

    assert np.array_equal(first, again)
    # Exactly three films are unseen by each: the list is those three in some order.
    assert sorted(first[0]) == [12, 13, 14] and sorted(first[1]) == [11, 13, 14]


# --- the stratified split ---------------------------------------------------------------------


def ratings_with_counts(counts: list[int]) -> pd.DataFrame:
    films = np.repeat(np.arange(len(counts)) + 100, counts)
    viewers = np.concatenate([np.arange(c) for c in counts])
    return frame(list(zip(viewers, films, np.full(len(films), 3.0), strict=True)))


def test_each_film_is_split_75_25_rounding_halves_to_even():
    # round(0.75 x count): 1 -> 1, 2 -> 2 (1.5 rounds to 2), 4 -> 3, 6 -> 4 (4.5 to 4),
    # 10 -> 8 (7.5 to 8).
    ratings = ratings_with_counts([1, 2, 4, 6, 10])

    train, test = stratified_split(ratings, ratio=0.75, seed=42)

    in_train = train.groupby("film_id").size().reindex(range(100, 105), fill_value=0)
    assert in_train.tolist() == [1, 2, 3, 4, 8]
    assert len(train) + len(test) == len(ratings)
    assert not set(train.index) & set(test.index)


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    ratings = ratings_with_counts([20] * 30)

    train, _ = stratified_split(ratings, seed=42)
    again, _ = stratified_split(ratings, seed=42)
    other, _ = stratified_split(ratings, seed=43)

    assert train.index.tolist() == again.index.tolist()
    assert set(train.index) != set(other.index)


def test_the_split_draws_as_numpys_legacy_generator_in_row_order():
    # Microsoft's splitter: np.random.seed(42); np.random.rand(n), one draw per row, rows
    # ordered by (film, draw). With one film of 4 ratings, training holds the 3 smallest draws.
    ratings = ratings_with_counts([4])
    draws = np.random.RandomState(42).rand(4)

    train, test = stratified_split(ratings, seed=42)

    assert train.index.tolist() == np.argsort(draws)[:3].tolist()
    assert test.index.tolist() == [int(np.argmax(draws))]


def test_the_holdout_protocol_counts_ratings_of_4_or_more_as_relevant():
    ratings = frame([(v, f, 1.0 + (v + f) % 5) for v in range(20) for f in range(10)])

    split = protocol_split(ratings, "holdout", seed=3)

    assert len(split.test) == 40 and (split.relevant["rating"] >= 4).all()
    assert len(split.relevant) == int((split.test["rating"] >= 4).sum())
    with pytest.raises(ValueError, match="protocol must be one of recommenders, holdout"):
        protocol_split(ratings, "kfold")


# --- a whole evaluation -----------------------------------------------------------------------


def synthetic_ratings(seed: int = 0) -> pd.DataFrame:
    """60 viewers x 40 films, each viewer rating 15 films, popular films rated more often."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, 41)
    rows = []
    for viewer in range(60):
        films = rng.choice(40, size=15, replace=False, p=weights / weights.sum())
        rows += [(viewer, int(film), float(rng.integers(1, 6))) for film in films]
    return frame(rows)


def svd(seed: int = 1) -> Contender:
    return Contender(
        name="svd",
        predicts_ratings=True,
        config=SVDConfig(n_factors=4, n_epochs=5, seed=seed),
        train=fit_svd,
    )


def test_an_evaluation_has_every_baseline_each_family_and_the_served_row():
    ratings = synthetic_ratings()

    result = evaluate_offline(
        ratings,
        protocol="recommenders",
        contenders=[svd()],
        served_family="svd",
        served_penalty=PopularityPenalty("log", 0.875),
        new_user_threshold=5,
        k=5,
        sweep=True,
    )

    assert [row.name for row in result.rows] == [*BASELINES, "svd", SERVED]
    assert result.row("svd").rmse is not None and result.row("most popular").rmse is None
    assert result.row("svd").parameters["n_factors"] == 4
    assert result.dataset["ratings"] == len(ratings) and result.seed == 42
    # The sweep's point without a penalty is the family's own row.
    unpenalised = [p for p in result.sweep if p.alpha == 0.0]
    assert {p.ndcg_at_k for p in unpenalised} == {result.row("svd").ndcg_at_k}
    table = markdown_table([row.as_dict() for row in result.rows], 5)
    assert table.splitlines()[0].split("|")[2:9] == [
        " RMSE   ",
        " MAE    ",
        " P@5    ",
        " R@5    ",
        " NDCG@5 ",
        " MAP@5  ",
        " coverage ",
    ]


def test_the_served_row_without_a_penalty_equals_the_familys_row_for_known_viewers():
    # Every ranked viewer has well over 5 training ratings, so the product serves them all
    # from the model: without a penalty its lists are the family's own.
    result = evaluate_offline(
        synthetic_ratings(),
        protocol="holdout",
        contenders=[svd()],
        served_family="svd",
        served_penalty=None,
        new_user_threshold=5,
        k=5,
    )

    served, family = result.row(SERVED), result.row("svd")
    assert (served.precision_at_k, served.ndcg_at_k) == (family.precision_at_k, family.ndcg_at_k)


def test_a_ranking_familys_calibrated_rmse_is_reported_and_marked():
    def train(ratings: pd.DataFrame, config: SVDConfig) -> TrainedModel:
        return fit_svd(ratings, config)

    ranking = Contender("rankish", False, SVDConfig(n_factors=2, n_epochs=2), train)

    result = evaluate_offline(
        synthetic_ratings(),
        protocol="recommenders",
        contenders=[ranking],
        served_family=None,
        served_penalty=None,
        new_user_threshold=5,
        k=5,
    )

    table = markdown_table([row.as_dict() for row in result.rows], 5)
    assert f"{result.row('rankish').rmse:.4f}*" in table
    assert "calibrated rating" in table
    with pytest.raises(ValueError, match="served family 'svd' is not among"):
        evaluate_offline(
            synthetic_ratings(),
            protocol="recommenders",
            contenders=[ranking],
            served_family="svd",
            served_penalty=None,
            new_user_threshold=5,
        )
