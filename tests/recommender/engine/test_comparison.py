"""The paired champion / challenger comparison: the difference is exactly the R² difference on
the shared holdout, its interval comes from a paired viewer bootstrap, and outcomes follow the
interval against the tolerance (an improvement smaller than the tolerance is no improvement,
a stable segment is degraded only when worse by more than the margin beyond chance)."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.comparison import compare_paired
from recommender.engine.drift import ChangeTest, segment_columns
from recommender.engine.evaluation import segment_scores
from recommender.engine.monitoring import Decision, Outcome, decide

GENRES = ["Action", "Comedy", "Drama"]


def holdout(n: int = 6000, seed: int = 0):
    """Held-out ratings of 400 viewers, one genre per film, and a champion that misses them
    by Gaussian noise."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, len(GENRES), n)
    membership = genre[:, None] == np.arange(len(GENRES))
    y_true = rng.normal(3.5, 0.9, n)
    champion = y_true + rng.normal(0.0, 0.6, n)
    segments, metrics = segment_columns(membership, GENRES)
    return y_true, champion, segments, metrics, rng.integers(0, 400, n), membership


def compare(y_true, champion, challenger, segments, metrics, viewers, *, degraded, seed=0):
    return compare_paired(
        y_true,
        champion,
        challenger,
        segments,
        metrics,
        viewers,
        degraded=degraded,
        tolerance=0.05,
        min_segment_size=100,
        test=ChangeTest(bootstrap_samples=500),
        seed=seed,
    )


def by_metric(comparisons):
    return {c.metric: c for c in comparisons}


def test_the_difference_is_the_r2_difference_on_the_same_ratings():
    y_true, champion, segments, metrics, viewers, membership = holdout()
    challenger = champion + np.random.default_rng(1).normal(0, 0.2, len(champion))

    result = by_metric(
        compare(y_true, champion, challenger, segments, metrics, viewers, degraded=[])
    )

    for predicted, side in ((champion, "champion_r2"), (challenger, "challenger_r2")):
        overall, per_genre = segment_scores(y_true, predicted, membership, GENRES)
        assert getattr(result["overall"], side) == pytest.approx(overall.r2)
        assert getattr(result["genre:Drama"], side) == pytest.approx(per_genre["Drama"].r2)


def test_a_challenger_that_mends_a_degraded_genre_is_promoted():
    y_true, champion, segments, metrics, viewers, membership = holdout()
    action = membership[:, 0]
    champion = champion.copy()
    champion[action] += 0.6  # the champion overrates action films (the taste moved)
    challenger = champion.copy()
    challenger[action] -= 0.6

    comparisons = compare(
        y_true, champion, challenger, segments, metrics, viewers, degraded=["genre:Action"]
    )

    action_row = by_metric(comparisons)["genre:Action"]
    assert action_row.outcome is Outcome.IMPROVED and action_row.ci_low > 0.05
    assert (
        action_row.ci_low <= action_row.challenger_r2 - action_row.champion_r2 <= action_row.ci_high
    )
    assert by_metric(comparisons)["genre:Drama"].outcome is Outcome.STABLE
    assert decide(comparisons) is Decision.PROMOTE


def test_an_improvement_smaller_than_the_tolerance_is_no_improvement_however_sure():
    y_true, champion, segments, metrics, viewers, membership = holdout(n=60_000)
    # The challenger removes a fifth of the error on Action: about +0.03 in R², sure but small.
    challenger = champion.copy()
    action = membership[:, 0]
    challenger[action] = y_true[action] + (champion[action] - y_true[action]) * 0.975

    row = by_metric(
        compare(y_true, champion, challenger, segments, metrics, viewers, degraded=["genre:Action"])
    )["genre:Action"]

    assert row.ci_low > 0 and row.ci_high < 0.05
    assert row.outcome is Outcome.NOT_IMPROVED


def test_a_stable_genre_made_clearly_worse_is_degraded_and_a_small_wobble_is_not():
    y_true, champion, segments, metrics, viewers, membership = holdout()
    rng = np.random.default_rng(2)
    challenger = champion.copy()
    comedy, drama = membership[:, 1], membership[:, 2]
    challenger[comedy] += rng.normal(0, 0.8, comedy.sum())  # much worse on comedy
    challenger[drama] += rng.normal(0, 0.05, drama.sum())  # a wobble within the margin

    result = by_metric(
        compare(y_true, champion, challenger, segments, metrics, viewers, degraded=[])
    )

    assert (
        result["genre:Comedy"].outcome is Outcome.DEGRADED
        and result["genre:Comedy"].ci_high < -0.05
    )
    assert result["genre:Drama"].outcome is Outcome.STABLE
    assert decide(tuple(result.values())) is Decision.REJECT


def test_the_same_model_twice_changes_nothing_and_is_rejected():
    y_true, champion, segments, metrics, viewers, _ = holdout()

    comparisons = compare(
        y_true, champion, champion.copy(), segments, metrics, viewers, degraded=["overall"]
    )

    assert all(c.ci_low == c.ci_high == 0.0 for c in comparisons)
    assert by_metric(comparisons)["overall"].outcome is Outcome.NOT_IMPROVED
    assert decide(comparisons) is Decision.REJECT


def test_the_comparison_is_reproducible_from_its_seed_and_serialises():
    y_true, champion, segments, metrics, viewers, _ = holdout()
    challenger = champion + np.random.default_rng(3).normal(0, 0.3, len(champion))

    first = [
        c.to_dict()
        for c in compare(
            y_true, champion, challenger, segments, metrics, viewers, degraded=[], seed=5
        )
    ]
    again = [
        c.to_dict()
        for c in compare(
            y_true, champion, challenger, segments, metrics, viewers, degraded=[], seed=5
        )
    ]

    assert first == again
    assert first[0]["difference"] == pytest.approx(
        first[0]["challenger_r2"] - first[0]["champion_r2"]
    )
    assert first[0]["n"] == len(y_true) and first[0]["champion_rmse"] == pytest.approx(
        0.6, abs=0.02
    )
