"""Ratings, viewers, films and genres for model work: DataFrames, never one object per row."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from django.db.models import Max

from recommender.models import Film, Genre, Rating, Viewer


def ratings_frame(*, origin: str | None = None, queryset=None) -> pd.DataFrame:
    """Ratings as viewer_id, film_id (source ids), rating: all of them, those of one origin,
    or those of the given Rating queryset."""
    if queryset is None:
        queryset = Rating.objects.all() if origin is None else Rating.objects.filter(origin=origin)
    # In id order: models trained on the same ratings must see them in the same order (SVD's
    # epochs are order-dependent), and PostgreSQL returns a scan in no set order.
    rows = queryset.order_by("pk").values_list("viewer__source_id", "film__source_id", "score")
    frame = pd.DataFrame.from_records(
        list(rows.iterator(chunk_size=50_000)), columns=["viewer_id", "film_id", "rating"]
    )
    return frame.astype({"viewer_id": "int64", "film_id": "int64", "rating": "float64"})


def latest_round_id() -> int | None:
    """The newest round of simulated ratings, None before the first round is played."""
    return Rating.objects.filter(origin=Rating.Origin.SIMULATED).aggregate(latest=Max("round_id"))[
        "latest"
    ]


def round_ratings(round_id: int) -> pd.DataFrame:
    """The ratings of one simulated round, as `ratings_frame`."""
    return ratings_frame(queryset=Rating.objects.filter(round_id=round_id))


def rounds_ratings(round_ids: list[int]) -> pd.DataFrame:
    """The ratings of several simulated rounds together, as `ratings_frame`."""
    return ratings_frame(queryset=Rating.objects.filter(round_id__in=list(round_ids)))


def simulated_ratings_since(moment: datetime) -> pd.DataFrame:
    """Simulated ratings of every round played since `moment` (e.g. a model's training): the
    recent interactions a challenger is compared with it on."""
    return ratings_frame(
        queryset=Rating.objects.filter(
            origin=Rating.Origin.SIMULATED, round__created_at__gte=moment
        )
    )


def window_ratings(
    *, last_rounds: int | None = None, since: datetime | None = None
) -> pd.DataFrame:
    """The ratings a model learns from: all of them; the original ones plus those of the last
    `last_rounds` simulated rounds; or the original ones plus those rated since `since`."""
    queryset = Rating.objects.all()
    if last_rounds is not None:
        rounds = (
            Rating.objects.filter(origin=Rating.Origin.SIMULATED)
            .order_by("-round_id")
            .values_list("round_id", flat=True)
            .distinct()[:last_rounds]
        )
        queryset = queryset.filter(origin=Rating.Origin.ORIGINAL) | queryset.filter(
            round_id__in=list(rounds)
        )
    elif since is not None:
        queryset = queryset.filter(origin=Rating.Origin.ORIGINAL) | queryset.filter(
            rated_at__gte=since
        )
    return ratings_frame(queryset=queryset)


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


def genre_names() -> set[str]:
    """The names of every imported genre."""
    return set(Genre.objects.values_list("name", flat=True))


def viewer_count() -> int:
    return Viewer.objects.count()


def newest_rating_time() -> datetime | None:
    """When the newest rating was made (simulated time for simulated ones)."""
    return Rating.objects.aggregate(latest=Max("rated_at"))["latest"]


def snapshot_bounds() -> dict[str, int]:
    """The newest viewer and rating primary keys: what a scoring run that reads in parts
    (sharded) may see, so every part reads the same data."""
    return {
        "viewer_pk_max": Viewer.objects.aggregate(top=Max("pk"))["top"] or 0,
        "rating_pk_max": Rating.objects.aggregate(top=Max("pk"))["top"] or 0,
    }
