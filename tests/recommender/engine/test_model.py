"""SVDConfig validation and TrainedModel's prediction rule, on a model small enough to work
out by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.engine.model import (
    DENSE_SLOTS_SPARE,
    IdIndex,
    SVDConfig,
    TrainedModel,
    UnknownViewerError,
)


def hand_model() -> TrainedModel:
    """global mean 3; viewers 10, 20; films 100, 200, 300.

    raw predictions (before clipping to [0.5, 5]):
        viewer 10: 3 + 0.5 + [0.2, 0, -1] + [2, 1, 4]   = [5.7, 4.5, 6.5] -> [5.0, 4.5, 5.0]
        viewer 20: 3 - 0.5 + [0.2, 0, -1] + [2, -3, 0]  = [4.7, -0.5, 1.5] -> [4.7, 0.5, 1.5]
    """
    return TrainedModel(
        global_mean=3.0,
        viewer_ids=np.array([10, 20]),
        film_ids=np.array([100, 200, 300]),
        viewer_bias=np.array([0.5, -0.5]),
        film_bias=np.array([0.2, 0.0, -1.0]),
        viewer_factors=np.array([[2.0, 0.0], [0.0, 2.0]]),
        film_factors=np.array([[1.0, 1.0], [0.5, -1.5], [2.0, 0.0]]),
    )


def test_it_predicts_every_pair_as_worked_out_by_hand():
    model = hand_model()
    viewers = np.repeat([10, 20], 3)
    films = np.tile([100, 200, 300], 2)

    np.testing.assert_allclose(
        model.predict(viewers, films), [5.0, 4.5, 5.0, 4.7, 0.5, 1.5], rtol=0, atol=1e-12
    )


def test_unknown_ids_fall_back_to_the_biases_that_are_known():
    model = hand_model()

    predicted = model.predict([99, 10, 99, 20], [100, 999, 999, 300])

    # viewer unknown: 3 + 0.2; film unknown: 3 + 0.5; both: 3; known pair: 1.5
    np.testing.assert_allclose(predicted, [3.2, 3.5, 3.0, 1.5], rtol=0, atol=1e-12)


def test_it_maps_raw_ids_to_rows_with_minus_one_for_unknown_ones():
    model = TrainedModel(
        global_mean=3.0,
        viewer_ids=np.array([70, 5, 31]),
        film_ids=np.array([9, 2]),
        viewer_bias=np.zeros(3),
        film_bias=np.zeros(2),
        viewer_factors=np.zeros((3, 1)),
        film_factors=np.zeros((2, 1)),
    )

    assert model.viewer_index([5, 31, 70, 6, 0, 100]).tolist() == [1, 2, 0, -1, -1, -1]
    assert model.film_index(np.array([[2, 9], [3, 2]])).tolist() == [[1, 0], [-1, 1]]
    assert (model.n_viewers, model.n_films, model.n_factors) == (3, 2, 1)


ID = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=300, deadline=None)
@given(
    ids=st.lists(st.integers(-5, 40) | ID, unique=True, max_size=30),
    queries=st.lists(st.integers(-10, 50) | ID, max_size=40),
)
def test_an_id_index_finds_each_id_row_by_table_and_by_search_alike(ids, queries):
    expected = [ids.index(q) if q in ids else -1 for q in queries]
    by_table = IdIndex.build(np.array(ids, dtype=np.int64))
    by_search = IdIndex.build(np.array(ids, dtype=np.int64), dense=False)
    queries = np.array(queries, dtype=np.int64)

    assert by_search.table is None
    assert by_table.find(queries).tolist() == expected
    assert by_search.find(queries).tolist() == expected
    assert by_table.find(queries.reshape(-1, 1)).shape == (len(queries), 1)


def test_an_id_index_keeps_a_table_only_for_dense_ids():
    dense = IdIndex.build(np.arange(1, 270_001) * 3)  # 810k slots for 270k ids
    sparse = IdIndex.build(np.array([1, 2, DENSE_SLOTS_SPARE + 100]))

    assert dense.table is not None and len(dense.table) == 810_000 - 2
    assert dense.find(np.array([3, 4, 810_000, 810_003])).tolist() == [0, -1, 269_999, -1]
    assert sparse.table is None
    assert sparse.find(np.array([2, DENSE_SLOTS_SPARE + 100, 3])).tolist() == [1, 2, -1]


def test_predict_broadcasts_a_single_viewer_over_many_films():
    model = hand_model()

    assert model.predict(20, [100, 300]).tolist() == pytest.approx([4.7, 1.5])


def test_it_refuses_float_ids_rather_than_truncating_them():
    with pytest.raises(ValueError, match="viewer ids must be integer ids, got dtype float64"):
        hand_model().viewer_index([10.7])


def test_its_arrays_are_read_only_and_the_callers_stay_writable():
    bias = np.array([0.5, -0.5])
    model = dataclasses.replace(hand_model(), viewer_bias=bias)

    with pytest.raises(ValueError, match="read-only"):
        model.viewer_bias[0] = 9.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.global_mean = 1.0  # type: ignore[misc]
    bias[0] = 1.0  # the caller's array is untouched by the model's read-only view
    assert bias.flags.writeable


def test_models_compare_equal_by_value():
    assert hand_model() == hand_model()
    assert hand_model() != dataclasses.replace(hand_model(), global_mean=3.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"film_bias": np.zeros(2)}, r"film_bias has shape \(2,\), expected \(3,\)"),
        (
            {"viewer_factors": np.zeros((2, 3))},
            r"film_factors has shape \(3, 2\), expected \(3, 3\)",
        ),
        ({"viewer_ids": np.array([10, 10])}, "viewer_ids are not unique: 10"),
        ({"film_bias": np.array([0.0, np.nan, 0.0])}, "film_bias contains NaN"),
        ({"rating_min": 5.0}, "rating_min must be below rating_max"),
    ],
)
def test_it_refuses_inconsistent_arrays(change, message):
    fields = {
        f.name: getattr(hand_model(), f.name) for f in dataclasses.fields(TrainedModel) if f.init
    }
    with pytest.raises(ValueError, match=message):
        TrainedModel(**{**fields, **change})


def test_unknown_viewer_error_names_the_ids():
    error = UnknownViewerError(np.arange(1, 14))

    assert isinstance(error, ValueError)
    assert "13 viewer id(s) unknown to the model: 1, 2, 3" in str(error)
    assert "(and 3 more)" in str(error)
    assert error.viewer_ids.tolist() == list(range(1, 14))


def test_config_defaults_are_surprises_and_round_trip_as_a_dict():
    config = SVDConfig()

    assert config.as_dict() == {
        "n_factors": 100,
        "n_epochs": 20,
        "lr_all": 0.005,
        "reg_all": 0.02,
        "init_mean": 0.0,
        "init_std_dev": 0.1,
        "seed": 0,
    }
    assert SVDConfig.from_dict(SVDConfig(n_factors=7, seed=3).as_dict()) == SVDConfig(
        n_factors=7, seed=3
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_factors": 0}, "n_factors must be an integer >= 1, got 0"),
        ({"n_factors": 2.5}, "n_factors must be an integer >= 1, got 2.5"),
        ({"n_epochs": True}, "n_epochs must be an integer >= 1, got True"),
        ({"lr_all": 0.0}, "lr_all must be > 0, got 0.0"),
        ({"reg_all": -0.1}, "reg_all must be >= 0, got -0.1"),
        ({"init_std_dev": float("nan")}, "init_std_dev must be a finite number, got nan"),
        ({"seed": -1}, r"seed must be an integer from 0 to 4294967295, got -1"),
        ({"init_mean": "0"}, "init_mean must be a finite number, got '0'"),
    ],
)
def test_config_refuses_a_bad_value_naming_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        SVDConfig(**values)


def test_config_from_dict_refuses_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown SVDConfig field\(s\) \['factors'\]"):
        SVDConfig.from_dict({"factors": 10})
