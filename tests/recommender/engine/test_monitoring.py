"""Drift monitoring and the champion/challenger decision: the design's decision matrix row by
row, the promotion tolerance at its boundary, drift on hand-made rounds, and the vectorised
bootstrap against a straightforward per-replicate loop kept here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender.engine.evaluation import segment_scores
from recommender.engine.model import TrainedModel
from recommender.engine.monitoring import (
    DECISION_MATRIX,
    Decision,
    DriftResult,
    DriftThresholds,
    MetricComparison,
    MetricDrift,
    Outcome,
    across_families,
    compare_models,
    compare_on_holdout,
    compute_replicate_r2,
    decide,
    decision_reason,
    detect_drift,
    draw_resample_counts,
    extract_metric_r2,
    known_viewer_rows,
    metric_r2,
)

GENRES = ["Action", "Comedy", "Drama"]


def make_round(n: int, seed: int, *, noise: float = 0.5, genres: list[str] = GENRES):
    """n interactions, each in exactly one genre; predictions = truth + Gaussian noise, so
    R² is about 1 - noise² (truth has unit variance)."""
    rng = np.random.default_rng(seed)
    y_true = rng.normal(3.5, 1.0, n)
    y_pred = y_true + rng.normal(0.0, noise, n)
    genre = rng.integers(0, max(len(genres), 1), n)
    membership = genre[:, None] == np.arange(len(genres))
    return y_true, y_pred, membership


def benchmark_of(y_true, y_pred, membership, genres, *, min_segment_size: int = 100) -> dict:
    """The champion's benchmark dict, shaped like Evaluation.to_dict()."""
    overall, per_genre = segment_scores(
        y_true, y_pred, membership, genres, min_segment_size=min_segment_size
    )
    return {
        "overall": overall.to_dict(),
        "per_genre": {g: s.to_dict() for g, s in per_genre.items()},
    }


def by_metric(result: DriftResult) -> dict[str, MetricDrift]:
    return {m.metric: m for m in result.metrics}


# --- the decision matrix ----------------------------------------------------------------------

# Concrete R² on the shared holdout. genre:Action and genre:Drama were degraded in the drift
# result; overall was stable.
DEGRADED = {"genre:Action", "genre:Drama"}
ACTION = {True: (0.05, 0.21), False: (0.05, 0.07)}  # improved / not improved
DRAMA = {True: (0.30, 0.20), False: (0.30, 0.31)}  # degraded further / not improved
OVERALL = {True: (0.30, 0.22), False: (0.30, 0.29)}  # stable metric degraded / stable


@pytest.mark.parametrize(
    ("improved", "further", "stable_degraded", "expected"),
    [
        (False, False, False, Decision.REJECT),
        (True, False, False, Decision.PROMOTE),
        (False, True, False, Decision.REJECT),
        (False, False, True, Decision.REJECT),
        (True, True, False, Decision.HUMAN_REVIEW),
        (False, True, True, Decision.REJECT),
        (True, False, True, Decision.HUMAN_REVIEW),
        (True, True, True, Decision.HUMAN_REVIEW),
    ],
)
def test_the_decision_follows_the_design_matrix_row_by_row(
    improved, further, stable_degraded, expected
):
    pairs = {
        "overall": OVERALL[stable_degraded],
        "genre:Action": ACTION[improved],
        "genre:Drama": DRAMA[further],
    }
    comparisons = compare_models(
        {m: champion for m, (champion, _) in pairs.items()},
        {m: challenger for m, (_, challenger) in pairs.items()},
        DEGRADED,
    )
    outcomes = {c.metric: c.outcome for c in comparisons}

    assert outcomes["genre:Action"] is (Outcome.IMPROVED if improved else Outcome.NOT_IMPROVED)
    assert outcomes["genre:Drama"] is (Outcome.DEGRADED if further else Outcome.NOT_IMPROVED)
    assert outcomes["overall"] is (Outcome.DEGRADED if stable_degraded else Outcome.STABLE)
    assert decide(comparisons) is expected
    assert DECISION_MATRIX[(improved, further, stable_degraded)] is expected


def test_the_matrix_covers_every_combination_exactly_once():
    assert len(DECISION_MATRIX) == 8
    assert {type(k) for key in DECISION_MATRIX for k in key} == {bool}


def test_nothing_to_compare_is_a_rejection():
    assert decide(()) is Decision.REJECT
    assert decision_reason((), Decision.REJECT) == "reject: no metric could be compared"


def test_the_reason_names_what_moved_in_one_sentence():
    comparisons = compare_models(
        {"overall": 0.30, "genre:Action": 0.05},
        {"overall": 0.31, "genre:Action": 0.21},
        {"genre:Action"},
    )
    decision = decide(comparisons)

    assert decision is Decision.PROMOTE
    assert decision_reason(comparisons, decision) == (
        "promote: genre:Action improved (0.05 -> 0.21); no stable metric degraded"
    )


def test_the_reason_lists_further_and_stable_degradations():
    comparisons = compare_models(
        {"overall": 0.30, "genre:Action": 0.05, "genre:Drama": 0.40},
        {"overall": 0.20, "genre:Action": 0.21, "genre:Drama": 0.10},
        {"genre:Action", "genre:Drama"},
    )

    assert decision_reason(comparisons, decide(comparisons)) == (
        "human review: genre:Action improved (0.05 -> 0.21); "
        "genre:Drama degraded further (0.40 -> 0.10); overall degraded (0.30 -> 0.20)"
    )


# --- compare_models ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("was_degraded", "champion", "challenger", "expected"),
    [
        # exactly the tolerance (0.05) either way is neither better nor worse
        (True, 0.30, 0.35, Outcome.NOT_IMPROVED),
        (True, 0.30, 0.25, Outcome.NOT_IMPROVED),
        (False, 0.30, 0.25, Outcome.STABLE),
        (False, 0.30, 0.35, Outcome.STABLE),
        # just beyond it
        (True, 0.30, 0.35 + 1e-9, Outcome.IMPROVED),
        (True, 0.30, 0.25 - 1e-9, Outcome.DEGRADED),
        (False, 0.30, 0.25 - 1e-9, Outcome.DEGRADED),
        # a stable metric that improves a lot is still only stable
        (False, 0.30, 0.90, Outcome.STABLE),
    ],
)
def test_compare_models_at_the_tolerance_boundary(was_degraded, champion, challenger, expected):
    (comparison,) = compare_models(
        {"genre:Action": champion},
        {"genre:Action": challenger},
        {"genre:Action"} if was_degraded else set(),
    )

    assert comparison == MetricComparison(
        metric="genre:Action",
        was_degraded=was_degraded,
        champion_r2=champion,
        challenger_r2=challenger,
        outcome=expected,
    )


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.1, 0.3])
def test_a_change_of_exactly_the_tolerance_is_never_an_outcome(tolerance):
    champion = 0.2
    comparisons = compare_models(
        {"genre:Up": champion, "genre:Down": champion, "overall": champion},
        {
            "genre:Up": champion + tolerance,
            "genre:Down": champion - tolerance,
            "overall": champion - tolerance,
        },
        {"genre:Up", "genre:Down"},
        tolerance=tolerance,
    )

    assert [c.outcome for c in comparisons] == [
        Outcome.NOT_IMPROVED,
        Outcome.NOT_IMPROVED,
        Outcome.STABLE,
    ]


def test_metrics_not_judged_on_either_side_are_skipped():
    comparisons = compare_models(
        {"overall": 0.3, "genre:Action": None, "genre:Drama": 0.2, "genre:Horror": 0.1},
        {"overall": 0.3, "genre:Action": 0.4, "genre:Drama": None, "genre:Western": 0.1},
        {"genre:Action"},
    )

    assert [c.metric for c in comparisons] == ["overall"]


def test_compare_models_refuses_bad_input_by_name():
    with pytest.raises(ValueError, match="tolerance must be >= 0, got -0.1"):
        compare_models({}, {}, set(), tolerance=-0.1)
    with pytest.raises(ValueError, match=r"challenger\['overall'\] must be a finite number"):
        compare_models({"overall": 0.3}, {"overall": float("nan")}, set())
    with pytest.raises(ValueError, match="champion metric must be"):
        compare_models({"Action": 0.3}, {"Action": 0.3}, set())
    with pytest.raises(ValueError, match="degraded must be a collection"):
        compare_models({}, {}, "overall")


def test_a_comparison_refuses_an_outcome_its_kind_of_metric_cannot_have():
    with pytest.raises(ValueError, match="'improvement' is not possible for a stable metric"):
        MetricComparison("overall", False, 0.3, 0.5, Outcome.IMPROVED)
    with pytest.raises(ValueError, match="'remained stable' is not possible for a previously"):
        MetricComparison("overall", True, 0.3, 0.3, Outcome.STABLE)
    # the string value is accepted and becomes the enum
    comparison = MetricComparison("overall", True, 0.3, 0.4, "no improvement")
    assert comparison.outcome is Outcome.NOT_IMPROVED
    assert json.loads(json.dumps(comparison.to_dict()))["outcome"] == "no improvement"


# --- detect_drift -----------------------------------------------------------------------------


def test_a_round_scored_exactly_like_its_benchmark_is_not_degraded():
    y_true, y_pred, membership = make_round(3000, seed=1)
    benchmark = benchmark_of(y_true, y_pred, membership, GENRES)

    result = detect_drift(
        benchmark, y_true, y_pred, membership, GENRES, thresholds=DriftThresholds(), seed=7
    )

    assert result.degraded == [] and not result.retraining_required
    assert result.stable == ["overall", "genre:Action", "genre:Comedy", "genre:Drama"]
    assert result.not_judged == ()
    for drift in result.metrics:
        assert drift.drop == pytest.approx(0.0, abs=1e-12)
        assert drift.ci_low < 0.0 < drift.ci_high and not drift.significant


def test_an_unshifted_round_from_the_same_viewers_is_not_degraded():
    benchmark = benchmark_of(*make_round(12_000, seed=1), GENRES)
    y_true, y_pred, membership = make_round(12_000, seed=2)

    result = detect_drift(
        benchmark, y_true, y_pred, membership, GENRES, thresholds=DriftThresholds(), seed=7
    )

    assert not result.retraining_required
    assert len(result.stable) == 4
    for drift in result.metrics:
        assert abs(drift.drop) < drift.threshold


def test_a_genre_with_bad_predictions_is_degraded_while_the_others_are_stable():
    y_true, y_pred, membership = make_round(6000, seed=3)
    benchmark = benchmark_of(y_true, y_pred, membership, GENRES)
    action = membership[:, 0]
    # the served model now knows nothing about Action: predictions unrelated to the ratings
    bad = y_pred.copy()
    bad[action] = np.random.default_rng(4).normal(3.5, 1.0, action.sum())

    for thresholds in (DriftThresholds(), DriftThresholds(require_significance=True)):
        result = detect_drift(
            benchmark, y_true, bad, membership, GENRES, thresholds=thresholds, seed=7
        )
        metrics = by_metric(result)

        assert result.degraded == ["overall", "genre:Action"]
        assert result.stable == ["genre:Comedy", "genre:Drama"]
        assert result.retraining_required
        action_drift = metrics["genre:Action"]
        assert action_drift.current_r2 < 0 and action_drift.drop > 1.0
        assert action_drift.significant and action_drift.ci_low > 0.1
        assert metrics["genre:Comedy"].drop == pytest.approx(0.0, abs=1e-12)
        assert (metrics["genre:Action"].threshold, metrics["overall"].threshold) == (0.1, 0.02)


def test_a_small_segment_and_a_segment_without_benchmark_are_never_judged():
    genres = GENRES + ["Western", "Noir"]
    y_true, y_pred, membership = make_round(3000, seed=5, genres=genres)
    benchmark = benchmark_of(y_true, y_pred, membership, genres)
    benchmark["per_genre"]["Noir"] = {"n": 40, "rmse": None, "r2": None, "judged": False}
    benchmark["per_genre"]["Horror"] = {"n": 500, "rmse": 0.9, "r2": 0.4, "judged": True}
    # this round, Westerns are few and their predictions terrible
    western = np.flatnonzero(membership[:, 3])
    keep = np.ones(len(y_true), dtype=bool)
    keep[western[30:]] = False
    y_true, y_pred, membership = y_true[keep], y_pred[keep].copy(), membership[keep]
    y_pred[membership[:, 3]] = 0.5

    result = detect_drift(
        benchmark, y_true, y_pred, membership, genres, thresholds=DriftThresholds(), seed=7
    )

    assert membership[:, 3].sum() == 30
    assert result.not_judged == ("genre:Western", "genre:Noir", "genre:Horror")
    assert "genre:Western" not in by_metric(result)
    assert "genre:Western" not in result.degraded and "genre:Western" not in result.stable
    assert set(by_metric(result)) == {"overall", "genre:Action", "genre:Comedy", "genre:Drama"}


def test_with_significance_required_a_noisy_drop_over_the_threshold_is_not_degraded():
    # 120 noisy Noir interactions (R² about 0.36): a drop of 0.12 is over the genre threshold
    # (0.1) but well inside the bootstrap's uncertainty (95% interval about -0.06..0.35).
    y_true, y_pred, membership = make_round(120, seed=11, noise=0.85, genres=["Noir"])
    benchmark = benchmark_of(y_true, y_pred, membership, ["Noir"])
    benchmark["per_genre"]["Noir"]["r2"] += 0.12

    strict = detect_drift(
        benchmark,
        y_true,
        y_pred,
        membership,
        ["Noir"],
        thresholds=DriftThresholds(require_significance=True),
        seed=7,
    )
    lenient = detect_drift(
        benchmark, y_true, y_pred, membership, ["Noir"], thresholds=DriftThresholds(), seed=7
    )

    noir = by_metric(strict)["genre:Noir"]
    assert noir.drop == pytest.approx(0.12) and noir.drop > noir.threshold
    assert noir.ci_low < 0.0 < noir.ci_high and not noir.significant
    assert not noir.degraded and not strict.retraining_required
    assert lenient.degraded == ["genre:Noir"]
    assert by_metric(lenient)["genre:Noir"].ci_low == noir.ci_low  # same seed, same resamples


def test_the_bootstrap_interval_is_reproducible_and_contains_the_point_drop():
    benchmark = benchmark_of(*make_round(2000, seed=1), GENRES)
    y_true, y_pred, membership = make_round(2000, seed=2, noise=0.6)

    def run(seed: int) -> DriftResult:
        return detect_drift(
            benchmark, y_true, y_pred, membership, GENRES, thresholds=DriftThresholds(), seed=seed
        )

    first, again, other = run(42), run(42), run(43)

    assert first == again
    assert first.to_dict() == again.to_dict()
    assert [m.ci_low for m in first.metrics] != [m.ci_low for m in other.metrics]
    for drift in first.metrics:
        assert drift.ci_low <= drift.drop <= drift.ci_high


def test_the_interval_narrows_like_one_over_the_square_root_of_n():
    # The 4n round repeats the n round four times: the same empirical distribution, so only
    # the sample size changes and the width should halve (up to resampling noise).
    thresholds = DriftThresholds(bootstrap_samples=2000, min_segment_size=10)
    benchmark = {"overall": {"n": 1, "rmse": 0.5, "r2": 0.75, "judged": True}, "per_genre": {}}
    y_true, y_pred, membership = make_round(500, seed=3, genres=[])
    widths = {}
    for copies in (1, 4):
        (drift,) = detect_drift(
            benchmark,
            np.tile(y_true, copies),
            np.tile(y_pred, copies),
            np.tile(membership, (copies, 1)),
            [],
            thresholds=thresholds,
            seed=1,
        ).metrics
        assert drift.n == 500 * copies
        widths[copies] = drift.ci_high - drift.ci_low

    assert widths[1] / widths[4] == pytest.approx(2.0, rel=0.1)


def test_a_higher_confidence_gives_a_wider_interval():
    y_true, y_pred, membership = make_round(1000, seed=8)
    benchmark = benchmark_of(y_true, y_pred, membership, GENRES)

    def width(confidence: float) -> float:
        thresholds = DriftThresholds(confidence=confidence)
        result = detect_drift(
            benchmark, y_true, y_pred, membership, GENRES, thresholds=thresholds, seed=1
        )
        return result.metrics[0].ci_high - result.metrics[0].ci_low

    assert width(0.99) > width(0.95) > width(0.5)


# --- the vectorised bootstrap against a per-replicate loop ------------------------------------


def loop_r2(y_true, y_pred, segments, counts) -> np.ndarray:
    """Reference: build every resample explicitly and compute each segment's R² by the
    textbook formula."""
    result = np.full((counts.shape[0], segments.shape[1]), np.nan)
    for b in range(counts.shape[0]):
        rows = np.repeat(np.arange(len(y_true)), counts[b])
        for s in range(segments.shape[1]):
            picked = rows[segments[rows, s]]
            truth, predicted = y_true[picked], y_pred[picked]
            result[b, s] = 1 - np.sum((truth - predicted) ** 2) / np.sum(
                (truth - truth.mean()) ** 2
            )
    return result


def test_resample_counts_are_draws_with_replacement_in_bounded_chunks():
    chunks = list(draw_resample_counts(40, 7, np.random.default_rng(0), max_cells=100))

    assert [c.shape for c in chunks] == [(2, 40), (2, 40), (2, 40), (1, 40)]
    counts = np.concatenate(chunks)
    assert (counts.sum(axis=1) == 40).all() and (counts >= 0).all()
    assert (counts.max(axis=1) > 1).all()  # with replacement: something drawn twice
    again = np.concatenate(
        list(draw_resample_counts(40, 7, np.random.default_rng(0), max_cells=100))
    )
    assert np.array_equal(counts, again)


def test_vectorised_replicate_r2_equals_the_per_replicate_loop():
    rng = np.random.default_rng(21)
    n = 40
    y_true = rng.choice(np.arange(0.5, 5.5, 0.5), n)
    y_pred = np.clip(y_true + rng.normal(0, 0.7, n), 0.5, 5.0)
    # overlapping genres: a film can be in several
    segments = np.column_stack([np.ones(n, bool), rng.random(n) < 0.6, rng.random(n) < 0.5])
    counts = np.concatenate(list(draw_resample_counts(n, 9, rng, max_cells=100)))

    vectorised = compute_replicate_r2(y_true, y_pred, segments, counts)

    np.testing.assert_allclose(
        vectorised, loop_r2(y_true, y_pred, segments, counts), rtol=0, atol=1e-9
    )


def test_detect_drift_interval_is_the_percentile_interval_of_the_loop_reference():
    y_true, y_pred, membership = make_round(90, seed=13, genres=["Action", "Drama"])
    benchmark = benchmark_of(y_true, y_pred, membership, ["Action", "Drama"], min_segment_size=10)
    benchmark["overall"]["r2"] = 0.9
    thresholds = DriftThresholds(min_segment_size=10, bootstrap_samples=60, confidence=0.9)

    result = detect_drift(
        benchmark, y_true, y_pred, membership, ["Action", "Drama"], thresholds=thresholds, seed=5
    )

    counts = np.concatenate(list(draw_resample_counts(90, 60, np.random.default_rng(5))))
    segments = np.column_stack([np.ones(90, bool), membership])
    reference = loop_r2(y_true, y_pred, segments, counts)
    for j, drift in enumerate(result.metrics):
        drops = drift.benchmark_r2 - reference[:, j]
        low, high = np.quantile(drops, [0.05, 0.95])
        assert (drift.ci_low, drift.ci_high) == pytest.approx((low, high), abs=1e-9)


def test_replicates_with_constant_ratings_have_no_r2():
    y_true = np.array([4.0, 4.0, 4.0, 1.0])
    y_pred = np.array([3.0, 4.0, 5.0, 1.0])
    segments = np.array([[True], [True], [True], [True]])
    counts = np.array([[2, 1, 1, 0], [0, 0, 0, 4], [1, 1, 1, 1]])

    r2 = compute_replicate_r2(y_true, y_pred, segments, counts)

    assert np.isnan(r2[0, 0]) and np.isnan(r2[1, 0])
    assert r2[2, 0] == pytest.approx(1 - 2 / 6.75)


# --- types, validation, serialisation --------------------------------------------------------


def test_the_result_serialises_to_json():
    y_true, y_pred, membership = make_round(600, seed=3)
    benchmark = benchmark_of(y_true, y_pred, membership, GENRES)
    result = detect_drift(
        benchmark, y_true, y_pred - 0.6, membership, GENRES, thresholds=DriftThresholds(), seed=1
    )

    data = json.loads(json.dumps(result.to_dict()))

    assert data["retraining_required"] is True
    assert data["degraded"] == result.degraded
    assert data["metrics"][0]["metric"] == "overall"
    assert set(data["metrics"][0]) == {
        "metric", "benchmark_r2", "current_r2", "drop", "threshold", "degraded",
        "ci_low", "ci_high", "significant", "above_threshold", "n", "reference_n",
        "reference_rmse", "current_rmse", "round_r2", "p_value", "p_adjusted",
    }  # fmt: skip
    # The benchmark rule fills the round's own error and R² beside the drop.
    overall = data["metrics"][0]
    assert overall["current_rmse"] == pytest.approx(np.sqrt(np.mean((y_true - y_pred + 0.6) ** 2)))
    assert overall["round_r2"] == overall["current_r2"] and overall["p_value"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("overall_r2_drop", -0.01, "overall_r2_drop must be >= 0, got -0.01"),
        ("genre_r2_drop", float("nan"), "genre_r2_drop must be a finite number"),
        ("min_segment_size", 0, "min_segment_size must be an integer >= 1, got 0"),
        ("min_segment_size", 10.5, "min_segment_size must be an integer >= 1, got 10.5"),
        ("require_significance", "yes", "require_significance must be True or False"),
        ("confidence", 1.0, r"confidence must be between 0 and 1 \(exclusive\), got 1.0"),
        ("bootstrap_samples", 1, "bootstrap_samples must be an integer >= 2, got 1"),
        ("bootstrap_samples", True, "bootstrap_samples must be an integer >= 2, got True"),
    ],
)
def test_thresholds_refuse_bad_values_by_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        DriftThresholds(**{field: value})


def test_a_metric_drift_refuses_inconsistent_numbers():
    good = dict(
        metric="genre:Action", benchmark_r2=0.3, current_r2=0.1, drop=0.2, threshold=0.1,
        degraded=True, ci_low=0.05, ci_high=0.35, significant=True, n=200,
    )  # fmt: skip
    MetricDrift(**good)
    for change, message in [
        ({"drop": 0.1}, "drop must equal benchmark_r2 - current_r2"),
        ({"threshold": 0.25}, "degraded is True but drop 0.2 does not exceed threshold 0.25"),
        ({"significant": False}, "significant must be True"),
        ({"above_threshold": True}, "above_threshold must be False"),
        ({"ci_low": None}, "ci_low and ci_high must both be numbers or both None"),
        ({"ci_low": 0.4}, "ci_low 0.4 must not exceed ci_high 0.35"),
        ({"metric": "Action"}, 'metric must be "overall" or "genre:<genre>"'),
        ({"current_r2": 1.5, "drop": -1.2}, "current_r2 is an R² and cannot exceed 1"),
        ({"n": -1}, "n must be an integer >= 0, got -1"),
    ]:
        with pytest.raises(ValueError, match=message):
            MetricDrift(**{**good, **change})


def test_a_drift_result_names_each_segment_once():
    drift = MetricDrift("overall", 0.3, 0.3, 0.0, 0.02, False, -0.1, 0.1, False, 500)
    with pytest.raises(ValueError, match=r"repeated: \['overall'\]"):
        DriftResult(metrics=(drift,), not_judged=("overall",))


def test_detect_drift_refuses_a_malformed_benchmark_and_mismatched_arrays():
    y_true, y_pred, membership = make_round(300, seed=1)
    benchmark = benchmark_of(y_true, y_pred, membership, GENRES)

    def run(bench=benchmark, pred=y_pred, members=membership, genres=GENRES, seed=1):
        return detect_drift(
            bench, y_true, pred, members, genres, thresholds=DriftThresholds(), seed=seed
        )

    with pytest.raises(ValueError, match="benchmark has no 'per_genre' entry"):
        run(bench={"overall": benchmark["overall"]})
    with pytest.raises(ValueError, match=r"benchmark\['per_genre'\]\['Action'\]\['r2'\]"):
        run(bench={**benchmark, "per_genre": {"Action": {"r2": "high", "judged": True}}})
    with pytest.raises(ValueError, match="shapes disagree"):
        run(pred=y_pred[:-1])
    with pytest.raises(ValueError, match="shapes disagree"):
        run(genres=GENRES[:2])
    with pytest.raises(ValueError, match="genre_names must be distinct"):
        run(genres=["Action", "Action", "Drama"])
    with pytest.raises(ValueError, match="y_true and y_pred must be finite"):
        run(pred=np.where(membership[:, 0], np.nan, y_pred))
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        run(seed=-1)


def test_extract_metric_r2_reads_an_evaluation_dict():
    evaluation = {
        "overall": {"n": 900, "rmse": 0.9, "r2": 0.3, "judged": True},
        "per_genre": {
            "Action": {"n": 400, "rmse": 0.8, "r2": 0.25, "judged": True},
            "Western": {"n": 12, "rmse": None, "r2": None, "judged": False},
        },
        "k": 10,
    }

    assert extract_metric_r2(evaluation) == {
        "overall": 0.3,
        "genre:Action": 0.25,
        "genre:Western": None,
    }


def test_the_module_imports_without_django():
    code = (
        "import sys; import recommender.engine.monitoring; "
        "assert not any(m == 'django' or m.startswith('django.') for m in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=root, env={"PYTHONPATH": str(root)}
    )


def test_with_significance_a_drop_must_exceed_the_threshold_with_confidence_not_just_zero():
    """A drop a little over the threshold, clearly above 0 but not clearly above 0.1: the
    original rule flags it, the significance rule does not; a clearly larger drop is flagged
    by both."""
    y_true, y_pred, membership = make_round(1500, seed=3)
    benchmark = benchmark_of(y_true, y_pred, membership, GENRES)
    action = membership[:, 0]
    noise = np.random.default_rng(8).normal(0.0, 1.0, action.sum())

    def action_drift(scale: float, require_significance: bool) -> MetricDrift:
        served = y_pred.copy()
        served[action] += scale * noise
        thresholds = DriftThresholds(require_significance=require_significance)
        result = detect_drift(
            benchmark, y_true, served, membership, GENRES, thresholds=thresholds, seed=7
        )
        return by_metric(result)["genre:Action"]

    slight = action_drift(0.35, require_significance=False)
    assert 0.1 < slight.drop < 0.13 and slight.ci_low < 0.1 < slight.ci_high
    assert slight.significant and not slight.above_threshold and slight.degraded
    assert not action_drift(0.35, require_significance=True).degraded

    clear = action_drift(0.45, require_significance=True)
    assert clear.ci_low > 0.1 and clear.above_threshold and clear.degraded


def _random_model(seed: int, viewer_ids: np.ndarray, film_ids: np.ndarray) -> TrainedModel:
    rng = np.random.default_rng(seed)
    return TrainedModel(
        global_mean=3.5,
        viewer_ids=viewer_ids,
        film_ids=film_ids,
        viewer_bias=rng.normal(0, 0.3, len(viewer_ids)),
        film_bias=rng.normal(0, 0.3, len(film_ids)),
        viewer_factors=rng.normal(0, 0.5, (len(viewer_ids), 3)),
        film_factors=rng.normal(0, 0.5, (len(film_ids), 3)),
    )


def test_the_holdout_comparison_judges_both_models_on_the_viewers_the_champion_knows():
    rng = np.random.default_rng(0)
    films = np.arange(1, 41)
    holdout = pd.DataFrame(
        {
            "viewer_id": rng.integers(1, 81, 3000),  # viewers 61-80 are new to the champion
            "film_id": rng.choice(films, 3000),
            "rating": rng.choice(np.arange(1, 11) / 2, 3000),
        }
    )
    film_genres = pd.DataFrame(
        {"film_id": films, "genre": np.where(films % 2 == 0, "Action", "Drama")}
    )
    champion = _random_model(1, np.arange(1, 61), films)
    challenger = _random_model(2, np.arange(1, 81), films)

    comparisons = compare_on_holdout(
        champion,
        challenger,
        holdout,
        film_genres,
        degraded={"genre:Action"},
        tolerance=0.05,
        min_segment_size=100,
    )

    known = known_viewer_rows(champion, holdout)
    assert 0 < len(known) < len(holdout) and known["viewer_id"].max() <= 60
    viewers, film_ids = known["viewer_id"].to_numpy(), known["film_id"].to_numpy()
    membership = np.column_stack([film_ids % 2 == 0, film_ids % 2 == 1])
    y_true = known["rating"].to_numpy()

    def r2(model):
        predicted = model.predict(viewers, film_ids)
        return metric_r2(y_true, predicted, membership, ["Action", "Drama"], min_segment_size=100)

    assert list(r2(champion)) == ["overall", "genre:Action", "genre:Drama"]
    assert comparisons == compare_models(
        r2(champion), r2(challenger), {"genre:Action"}, tolerance=0.05
    )


@pytest.mark.parametrize("decision", list(Decision))
def test_a_challenger_of_another_family_is_never_promoted_on_its_own(decision):
    reason = f"{decision.value}: genre:Action improved (0.05 -> 0.25)"

    same = across_families(decision, reason, champion="als", challenger="als")
    other = across_families(decision, reason, champion="als", challenger="svd")

    assert same == (decision, reason)
    if decision is Decision.PROMOTE:
        assert other[0] is Decision.HUMAN_REVIEW
        assert "svd" in other[1] and "als" in other[1] and reason in other[1]
    else:
        assert other == (decision, reason), "only a promotion is held back"
