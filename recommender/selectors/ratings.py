"""Ratings, viewers, films and genres for model work: DataFrames, never one object per row."""

from __future__ import annotations

import pandas as pd

from recommender.models import Film, Rating, Viewer


def ratings_frame(*, origin: str | None = None, queryset=None) -> pd.DataFrame:
    """Ratings as viewer_id, film_id (source ids), rating: all of them, those of one origin,
    or those of the given Rating queryset."""
    if queryset is None:
        queryset = Rating.objects.all() if origin is None else Rating.objects.filter(origin=origin)
    rows = queryset.values_list("viewer__source_id", "film__source_id", "score")
    frame = pd.DataFrame.from_records(
        list(rows.iterator(chunk_size=50_000)), columns=["viewer_id", "film_id", "rating"]
    )
    return frame.astype({"viewer_id": "int64", "film_id": "int64", "rating": "float64"})


def film_genres_frame() -> pd.DataFrame:
    """One row per (film source id, genre name)."""
    rows = Film.genres.through.objects.values_list("film__source_id", "genre__name")
    return pd.DataFrame.from_records(list(rows), columns=["film_id", "genre"]).astype(
        {"film_id": "int64"}
    )


def viewers_frame() -> pd.DataFrame:
    """Every viewer, rated or not: pk and source_id."""
    rows = Viewer.objects.values_list("pk", "source_id")
    return pd.DataFrame.from_records(list(rows), columns=["pk", "viewer_id"]).astype("int64")


def film_pks() -> pd.Series:
    """Film primary keys indexed by source id."""
    rows = list(Film.objects.values_list("source_id", "pk"))
    return pd.Series([pk for _, pk in rows], index=[source for source, _ in rows], dtype="int64")
