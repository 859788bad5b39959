"""The reference drift rule: the multiple-testing corrections against hand computation, and
detect_change on hand-made rounds: the same world raises no alarm (at about the stated
rate), a biased genre is caught, a change under the threshold or a change of spread alone is
not, and the bootstrap is reproducible from its seed."""

from __future__ import annotations

import numpy as np
import pytest

from recommender.engine.drift import (
    ChangeTest,
    Correction,
    RoundErrors,
    adjust_p_values,
    detect_change,
    segment_columns,
)
from recommender.engine.monitoring import DriftThresholds

GENRES = ["Action", "Comedy", "Drama", "Horror"]


def make_side(
    n: int,
    seed: int,
    *,
    bias: dict[str, float] | None = None,
    spread: float = 0.8,
    noise: float = 0.55,
    viewers: int = 300,
):
    """n interactions of `viewers` viewers, each film in one genre; the truth's spread around
    3.5 is `spread`, predictions miss it by Gaussian noise, and a genre in `bias` is rated
    that much lower than predicted (a shift of taste)."""
    rng = np.random.default_rng(seed)
    genre = rng.integers(0, len(GENRES), n)
    membership = genre[:, None] == np.arange(len(GENRES))
    predicted = rng.normal(3.5, spread, n)
    truth = predicted + rng.normal(0.0, noise, n)
    for name, amount in (bias or {}).items():
        truth[membership[:, GENRES.index(name)]] -= amount
    segments, metrics = segment_columns(membership, GENRES)
    return RoundErrors(truth, predicted, segments, rng.integers(0, viewers, n)), metrics


def judge(reference, current, metrics, *, seed=0, test=None, thresholds=None):
    return detect_change(
        reference,
        current,
        metrics,
        thresholds=thresholds or DriftThresholds(),
        test=test or ChangeTest(bootstrap_samples=400),
        seed=seed,
    )


def test_holm_multiplies_the_ordered_p_values_by_the_remaining_count_and_keeps_them_monotone():
    adjusted = adjust_p_values([0.01, 0.04, 0.03, 0.2], Correction.HOLM)

    # Sorted 0.01, 0.03, 0.04, 0.2 times 4, 3, 2, 1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.2.
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert adjust_p_values([0.5, 0.6], Correction.HOLM) == pytest.approx([1.0, 1.0])


def test_benjamini_hochberg_scales_by_m_over_rank_from_the_top():
    adjusted = adjust_p_values([0.01, 0.04, 0.03, 0.2], Correction.BH)

    # m / rank: 0.01*4/1 = 0.04; 0.03*4/2 = 0.06; 0.04*4/3 = 0.0533 -> min from above 0.0533.
    assert adjusted == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])


def test_a_p_value_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]"):
        adjust_p_values([0.2, 1.5], Correction.HOLM)


def test_the_same_world_raises_an_alarm_in_at_most_a_few_of_forty_rounds():
    alarms = 0
    for seed in range(40):
        reference, metrics = make_side(6000, seed)
        current, _ = make_side(3000, 1000 + seed)
        alarms += judge(reference, current, metrics, seed=seed).retraining_required
    # Holm at alpha 0.05 plus the thresholds as minimum effect: expected well under 2 of 40.
    assert alarms <= 2


def test_a_genre_rated_lower_is_degraded_and_the_others_are_not():
    reference, metrics = make_side(6000, 1)
    current, _ = make_side(3000, 2, bias={"Action": 0.4})

    result = judge(reference, current, metrics)

    assert "genre:Action" in result.degraded
    assert not {"genre:Comedy", "genre:Drama", "genre:Horror"} & set(result.degraded)
    action = next(m for m in result.metrics if m.metric == "genre:Action")
    # Error rises by bias² (0.16) over the reference spread (0.8² + 0.55²): about 0.17.
    assert action.drop == pytest.approx(0.16 / (0.64 + 0.3025), abs=0.06)
    assert action.p_adjusted < 0.05 and action.ci_low > 0 and action.drop > action.threshold
    assert action.current_rmse > action.reference_rmse
    assert action.reference_n == pytest.approx(1500, rel=0.1)


def test_a_significant_rise_smaller_than_the_threshold_is_not_degraded():
    reference, metrics = make_side(200_000, 3, viewers=20_000)
    current, _ = make_side(100_000, 4, bias={"Action": 0.15}, viewers=20_000)

    result = judge(reference, current, metrics)

    action = next(m for m in result.metrics if m.metric == "genre:Action")
    assert action.p_adjusted < 0.05, "with this many interactions the rise is significant"
    assert action.drop < action.threshold and not action.degraded


def test_a_round_whose_ratings_spread_less_has_a_lower_r2_but_no_drift():
    reference, metrics = make_side(6000, 5, spread=0.9)
    current, _ = make_side(3000, 6, spread=0.45)

    result = judge(reference, current, metrics)

    overall = result.metrics[0]
    assert overall.round_r2 < overall.benchmark_r2 - 0.2, "the round's own R² falls"
    assert abs(overall.drop) < 0.05 and not result.retraining_required


def test_segments_too_small_on_either_side_are_not_judged():
    reference, metrics = make_side(300, 7)
    current, _ = make_side(2000, 8)

    result = judge(reference, current, metrics)

    assert result.not_judged == ("genre:Action", "genre:Comedy", "genre:Drama", "genre:Horror")
    assert [m.metric for m in result.metrics] == ["overall"]


def test_the_same_seed_gives_the_same_verdict_and_another_seed_a_close_one():
    reference, metrics = make_side(4000, 9)
    current, _ = make_side(2000, 10, bias={"Drama": 0.2})

    first = judge(reference, current, metrics, seed=3).to_dict()
    again = judge(reference, current, metrics, seed=3).to_dict()
    other = judge(reference, current, metrics, seed=4).to_dict()

    assert first == again
    assert first != other
    lows = [m["ci_low"] for m in first["metrics"]], [m["ci_low"] for m in other["metrics"]]
    assert np.allclose(*lows, atol=0.03)


def test_errors_shared_within_viewers_widen_the_interval():
    rng = np.random.default_rng(11)
    reference, metrics = make_side(4000, 11, viewers=100)
    current, _ = make_side(2000, 12, viewers=100)
    # The same errors, but each viewer's interactions err together: a viewer-level offset.
    clustered = RoundErrors(
        current.y_true + rng.normal(0, 0.5, 100)[current.viewers],
        current.y_pred,
        current.segments,
        current.viewers,
    )

    plain = judge(reference, current, metrics).metrics[0]
    shared = judge(reference, clustered, metrics).metrics[0]

    assert (shared.ci_high - shared.ci_low) > 1.5 * (plain.ci_high - plain.ci_low)


def with_viewer_offsets(side: RoundErrors, seed: int, spread: float = 0.4) -> RoundErrors:
    """The side's truth with a per-viewer offset: each viewer's errors shared, as real ones are."""
    offsets = np.random.default_rng(seed).normal(0, spread, side.viewers.max() + 1)
    return RoundErrors(
        side.y_true + offsets[side.viewers], side.y_pred, side.segments, side.viewers
    )


def test_the_analytic_interval_agrees_with_the_viewer_bootstrap_on_clustered_errors():
    reference, metrics = make_side(40_000, 21, viewers=4_000)
    current, _ = make_side(40_000, 22, viewers=4_000, bias={"Comedy": 0.45, "Drama": 0.05})
    reference, current = with_viewer_offsets(reference, 23), with_viewer_offsets(current, 24)

    boot = judge(
        reference, current, metrics, test=ChangeTest(bootstrap_samples=4000, interval="bootstrap")
    )
    analytic = judge(reference, current, metrics, test=ChangeTest(interval="analytic"))

    for b, a in zip(boot.metrics, analytic.metrics, strict=True):
        assert (a.metric, a.drop) == (b.metric, b.drop)
        width = b.ci_high - b.ci_low
        assert a.ci_low == pytest.approx(b.ci_low, abs=0.08 * width), a.metric
        assert a.ci_high == pytest.approx(b.ci_high, abs=0.08 * width), a.metric
        assert a.p_value == pytest.approx(b.p_value, abs=0.03), a.metric
    assert analytic.degraded == boot.degraded == ["overall", "genre:Comedy"]
    # Each interaction its own viewer: ignoring the clusters would understate the noise.
    unclustered = [
        RoundErrors(side.y_true, side.y_pred, side.segments, np.arange(len(side.y_true)))
        for side in (reference, current)
    ]
    naive = judge(*unclustered, metrics, test=ChangeTest(interval="analytic")).metrics[0]
    overall = analytic.metrics[0]
    assert overall.ci_high - overall.ci_low > 1.3 * (naive.ci_high - naive.ci_low)


def test_auto_takes_the_analytic_interval_only_when_both_sides_have_enough_viewers():
    reference, metrics = make_side(4000, 25, viewers=300)
    current, _ = make_side(3000, 26, viewers=250, bias={"Drama": 0.2})
    analytic = judge(reference, current, metrics, test=ChangeTest(interval="analytic"))
    bootstrap = judge(reference, current, metrics, test=ChangeTest(interval="bootstrap"))

    assert judge(reference, current, metrics, test=ChangeTest(analytic_min_viewers=250)) == analytic
    assert (
        judge(reference, current, metrics, test=ChangeTest(analytic_min_viewers=251)) == bootstrap
    )
    assert analytic != bootstrap


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"alpha": 0.0}, "alpha must be between 0 and 1"),
        ({"correction": "bonferroni"}, "correction must be one of"),
        ({"bootstrap_samples": 5}, "bootstrap_samples"),
        ({"interval": "normal"}, "interval must be one of"),
        ({"analytic_min_viewers": 1}, "analytic_min_viewers"),
    ],
)
def test_bad_test_settings_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        ChangeTest(**arguments)


def test_sides_whose_shapes_disagree_are_refused_naming_the_side():
    reference, metrics = make_side(500, 13)
    current, _ = make_side(500, 14)
    short = RoundErrors(current.y_true, current.y_pred[:-1], current.segments, current.viewers)

    with pytest.raises(ValueError, match="current: shapes disagree"):
        judge(reference, short, metrics)
