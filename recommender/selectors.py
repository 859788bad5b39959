"""Reads: load what the engine needs as DataFrames, and find what is being served."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.models import Film, ModelVersion, Rating, ScoredList, ScoringRun, Viewer


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


def champion() -> ModelVersion | None:
    return ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()


def served_scoring_run() -> ScoringRun | None:
    """The latest completed scoring run of the current champion: the lists being served.
    A run that failed or is still running is never served."""
    return (
        ScoringRun.objects.filter(
            status=ScoringRun.Status.COMPLETED, model_version__status=ModelVersion.Status.CHAMPION
        )
        .order_by("-finished_at")
        .first()
    )


def scored_list_arrays(scored: ScoredList) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unpack a stored list: film source ids, ranking scores, predicted ratings."""
    return (
        np.frombuffer(bytes(scored.film_ids), dtype="<i4").astype(np.int64),
        np.frombuffer(bytes(scored.scores), dtype="<f4"),
        np.frombuffer(bytes(scored.predicted), dtype="<f4"),
    )
