"""A file's duplicated keys are found by one stable sort of packed integer keys (26M ratings'
(viewer, film) pairs in about 1 s): the rows it flags must be exactly pandas' keep="first"
ones, and a duplicate must still be refused with its line when the ids are too far apart to
pack."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.datasets import DatasetError, _duplicated_rows
from recommender.services.imports import dataset_import_movielens
from tests.recommender.fixtures import MOVIES, write_movielens

HEADER = "userId,movieId,rating,timestamp\n"
TOP = 2**63 - 1


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(st.integers(-3, 3), st.integers(-(2**40), 2**40) | st.integers(0, 4)),
        max_size=60,
    )
)
def test_flags_the_rows_pandas_flags_on_integer_keys(pairs):
    frame = pd.DataFrame(pairs, columns=["viewer_id", "film_id"], dtype="int64")
    expected = frame.duplicated(["viewer_id", "film_id"], keep="first").to_numpy()
    np.testing.assert_array_equal(_duplicated_rows(frame, ["viewer_id", "film_id"]), expected)


@pytest.mark.parametrize(
    "columns",
    [
        {"a": [1, TOP, 1, TOP, 1], "b": [-TOP - 1, TOP, -TOP - 1, 5, TOP]},  # ranges overflow
        {"a": ["x", "y", "x", "x", "z"], "b": [1, 2, 1, 2, 1]},  # a text key
        {"a": [1.5, 2.0, 1.5, 1.5, 2.0], "b": [1, 2, 1, 2, 2]},  # a float key
    ],
    ids=["overflow", "text", "float"],
)
def test_keys_that_cannot_be_packed_give_pandas_answer(columns):
    frame = pd.DataFrame(columns)
    expected = frame.duplicated(["a", "b"], keep="first").to_numpy()
    assert expected.any()
    np.testing.assert_array_equal(_duplicated_rows(frame, ["a", "b"]), expected)


def test_an_empty_frame_has_no_duplicates():
    frame = pd.DataFrame({"a": np.array([], dtype=np.int64)})
    assert _duplicated_rows(frame, ["a"]).tolist() == []


@pytest.mark.django_db
def test_a_duplicate_rating_between_ids_too_far_apart_to_pack_is_refused_with_its_line(tmp_path):
    directory = write_movielens(
        tmp_path,
        movies=MOVIES + f"{TOP},Top (2000),Drama\n",
        ratings=HEADER
        + f"1,{TOP},4.0,964982703\n{TOP},1,3.0,964982703\n1,1,2.0,964982703\n"
        + f"{TOP},1,5.0,964982704\n",
    )
    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=directory)
    assert str(error.value) == (
        f"ratings.csv, line 5, field 'movieId': duplicate rating of viewer {TOP} for film 1 "
        "(first at line 3)"
    )
