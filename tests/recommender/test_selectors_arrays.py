"""The array reader (selectors.arrays, and the frames of selectors.ratings built on it) returns
exactly what the ORM returned, on PostgreSQL (binary COPY) and SQLite (batched fetches)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.models import Film, Rating, Viewer
from recommender.selectors import arrays
from recommender.selectors.arrays import ArrayReadError, query_arrays, queryset_arrays
from recommender.selectors.ratings import (
    film_pks,
    ratings_frame,
    viewers_frame,
    window_ratings,
)


def orm_ratings(queryset) -> pd.DataFrame:
    """What ratings_frame returned before it read arrays: ORM tuples in id order."""
    rows = queryset.order_by("pk").values_list("viewer__source_id", "film__source_id", "score")
    frame = pd.DataFrame.from_records(list(rows), columns=["viewer_id", "film_id", "rating"])
    return frame.astype({"viewer_id": "int64", "film_id": "int64", "rating": "float64"})


def test_ratings_frame_equals_the_orm_reading(bundled_subset):
    frame = ratings_frame()
    expected = orm_ratings(Rating.objects.all())
    assert len(frame) > 10_000
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    original = ratings_frame(origin=Rating.Origin.ORIGINAL)
    pd.testing.assert_frame_equal(original, expected, check_exact=True)


def test_ratings_frame_restores_id_order_whatever_the_scan_order(bundled_subset):
    """Scores rewritten in place move rows on PostgreSQL (a new tuple at the heap's end), so a
    scan no longer returns them in id order; the frame still is."""
    first = Rating.objects.order_by("pk")[:50].values_list("pk", flat=True)
    Rating.objects.filter(pk__in=list(first)).update(score=1.5)
    frame = ratings_frame()
    pd.testing.assert_frame_equal(frame, orm_ratings(Rating.objects.all()), check_exact=True)
    assert (frame["rating"].iloc[:50] == 1.5).all()


def test_filtered_frames_equal_the_orm_reading(bundled_subset):
    some = Rating.objects.filter(viewer__source_id__lt=40, score__gte=3)
    pd.testing.assert_frame_equal(ratings_frame(queryset=some), orm_ratings(some), check_exact=True)
    moment = Rating.objects.order_by("rated_at")[5_000].rated_at
    window = window_ratings(since=moment)  # original ratings, and those since: all of them
    pd.testing.assert_frame_equal(window, orm_ratings(Rating.objects.all()), check_exact=True)
    assert len(ratings_frame(queryset=some)) == some.count() > 1_000
    pd.testing.assert_frame_equal(  # read in one query instead of blocks of ids
        ratings_frame(queryset=some, selective=True), orm_ratings(some), check_exact=True
    )


def test_viewer_and_film_frames_equal_the_orm_reading(bundled_subset):
    viewers = viewers_frame()
    rows = list(Viewer.objects.values_list("pk", "source_id"))
    assert viewers["pk"].tolist() == [pk for pk, _ in rows]
    assert viewers["viewer_id"].tolist() == [source for _, source in rows]
    assert viewers.dtypes.tolist() == [np.dtype("int64")] * 2
    films = film_pks()
    assert films.to_dict() == dict(Film.objects.values_list("source_id", "pk"))


def test_an_empty_result_is_empty_arrays_of_the_types(db):
    frame = ratings_frame()
    assert len(frame) == 0
    assert frame.dtypes.tolist() == [np.dtype("int64"), np.dtype("int64"), np.dtype("float64")]


def test_rows_spanning_many_stream_blocks_are_all_read(bundled_subset, monkeypatch):
    """Blocks of a few hundred ids (PostgreSQL) and batches of 7 rows (SQLite): every row is
    read once, in id order."""
    monkeypatch.setattr(arrays, "BLOCK_ROWS", 333)
    monkeypatch.setattr(arrays, "FETCH_ROWS", 7)
    pd.testing.assert_frame_equal(
        ratings_frame(), orm_ratings(Rating.objects.all()), check_exact=True
    )


def test_only_eight_byte_numbers_are_read_as_arrays(db):
    with pytest.raises(ValueError, match="only 8-byte integer and float columns"):
        queryset_arrays(Film.objects.values_list("pk"), ["i4"])


def test_a_null_is_refused_not_dropped(postgresql, bundled_subset):
    """A NULL makes its row's packed bytes NULL, which string_agg would skip silently."""
    with pytest.raises(ArrayReadError, match="column 1: 3 of 10 rows hold a NULL"):
        query_arrays(
            "SELECT g::int8, (CASE WHEN g >= 7 THEN NULL ELSE g END)::int8 "
            "FROM generate_series(0, 9) g",
            [],
            ["i8", "i8"],
        )
