"""Ratings, viewers, films and genres for model work: DataFrames, never one object per row."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from django.db.models import Count, Max, Min, Sum

from recommender.engine.model import IdIndex
from recommender.engine.serving import FilmStats
from recommender.models import Film, Genre, Rating, Viewer
from recommender.selectors.arrays import query_arrays, queryset_arrays


def ratings_frame(
    *,
    origin: str | None = None,
    queryset=None,
    selective: bool = False,
    rating_pk_max: int | None = None,
) -> pd.DataFrame:
    """Ratings as viewer_id, film_id (source ids), rating: all of them, those of one origin,
    or those of the given Rating queryset; with rating_pk_max, only those up to that id (a
    snapshot). Read as arrays (selectors.arrays), in id order.
    selective: the queryset picks a small part through an index (read in one query)."""
    if queryset is None:
        queryset = Rating.objects.all() if origin is None else Rating.objects.filter(origin=origin)
    if rating_pk_max is not None:
        queryset = queryset.filter(pk__lte=rating_pk_max)
    # The rating table's own columns: joining viewers and films in the database took 26 of the
    # 42 s of a 26M-rating COPY; their source ids are mapped here instead, once per table.
    rows = queryset.order_by().values_list("pk", "viewer_id", "film_id", "score")
    pks, viewer_pks, film_pks_, scores = queryset_arrays(
        rows, ["i8", "i8", "i8", "f8"], in_blocks=not selective
    )
    # In id order: models trained on the same ratings must see them in the same order (SVD's
    # epochs are order-dependent), and PostgreSQL returns a scan in no set order. Sorting the
    # ids here is an argsort of one int array; the database would sort all four columns.
    if pks.size > 1 and not (pks[1:] > pks[:-1]).all():
        order = np.argsort(pks, kind="stable")
        viewer_pks, film_pks_, scores = viewer_pks[order], film_pks_[order], scores[order]
        del order
    del pks
    viewer_ids = _source_ids(Viewer, viewer_pks)
    del viewer_pks
    film_ids = _source_ids(Film, film_pks_)
    del film_pks_
    return pd.DataFrame(
        {"viewer_id": viewer_ids, "film_id": film_ids, "rating": scores}, copy=False
    )


def _source_ids(model, pks: np.ndarray) -> np.ndarray:
    """The source ids of `model` rows (Viewer or Film) by primary key: the table's (pk,
    source_id) pairs read once, looked up through an IdIndex (a table by pk when the keys are
    dense, a binary search otherwise)."""
    if not pks.size:
        return np.empty(0, dtype=np.int64)
    table_pks, sources = queryset_arrays(
        model.objects.order_by("pk").values_list("pk", "source_id"), ["i8", "i8"]
    )
    rows = IdIndex.build(table_pks, f"{model.__name__} keys").find(pks)
    missing = rows < 0
    if missing.any():
        raise RuntimeError(
            f"{model.__name__} {int(pks[missing][0])} was deleted while its ratings were read"
        )
    return sources[rows]


def viewer_ratings_frame(
    *, viewer_pk_from: int, viewer_pk_to: int, rating_pk_max: int
) -> pd.DataFrame:
    """As `ratings_frame`, the ratings of the viewers with primary keys in [viewer_pk_from,
    viewer_pk_to] up to rating_pk_max: a part of what one scoring shard reads. A range of
    viewer keys the planner can judge (a list of keys, or a range of source ids joined to
    the viewers, it misjudged: a parallel scan of every rating for either)."""
    return ratings_frame(
        queryset=Rating.objects.filter(
            pk__lte=rating_pk_max, viewer_id__gte=viewer_pk_from, viewer_id__lte=viewer_pk_to
        ),
        selective=True,
    )


def film_stats(
    *, rating_pk_max: int | None = None, rating_pk_after: int | None = None
) -> FilmStats:
    """Rating count, sum and mean of every rated film over all ratings (or those up to
    rating_pk_max, a snapshot; or only those after rating_pk_after, the ratings since one),
    aggregated by the database: 45k rows instead of 26M."""
    queryset = Rating.objects.all()
    if rating_pk_max is not None:
        queryset = queryset.filter(pk__lte=rating_pk_max)
    if rating_pk_after is not None:
        queryset = queryset.filter(pk__gt=rating_pk_after)
    rows = (
        queryset.order_by()
        .values("film__source_id")
        .annotate(size=Count("pk"), total=Sum("score"))
        .order_by("film__source_id")
        .values_list("film__source_id", "size", "total")
    )
    # One block: the groups are per film, not per rating id (45k rows).
    sql, params = rows.query.sql_with_params()
    return FilmStats.from_sums(*query_arrays(sql, list(params), ["i8", "i8", "f8"]))


@dataclass(frozen=True)
class RatingsFingerprint:
    """The ratings of one origin in a few figures: what a model trained on them is found by."""

    count: int
    first: int | None
    last: int | None
    total: float

    def __str__(self) -> str:
        return f"ratings {self.count}, ids {self.first}-{self.last}, sum {self.total:.6f}"

    def describes(self, ratings: pd.DataFrame, *, rating_pk_max: int) -> bool:
        """Whether `ratings`, every rating up to rating_pk_max (ratings_frame's snapshot), are
        exactly these: as many, none of them newer than the snapshot, the same sum. Then no
        rating of another origin is in the snapshot, and a model can learn from it instead of
        reading these again."""
        return (
            len(ratings) == self.count
            and (self.last is None or self.last <= rating_pk_max)
            and math.isclose(float(ratings["rating"].sum()), self.total, rel_tol=1e-9)
        )


def ratings_fingerprint(*, origin: str) -> RatingsFingerprint:
    """The ratings of one origin in a few figures (count, id range, sum of scores): one
    aggregate over the table, so that what was trained on a snapshot can be found again."""
    figures = Rating.objects.filter(origin=origin).aggregate(
        count=Count("pk"), first=Min("pk"), last=Max("pk"), total=Sum("score")
    )
    return RatingsFingerprint(**{**figures, "total": float(figures["total"] or 0.0)})


def latest_round_id() -> int | None:
    """The newest round of simulated ratings, None before the first round is played."""
    return Rating.objects.filter(origin=Rating.Origin.SIMULATED).aggregate(latest=Max("round_id"))[
        "latest"
    ]


def round_ratings(round_id: int) -> pd.DataFrame:
    """The ratings of one simulated round, as `ratings_frame`."""
    return ratings_frame(queryset=Rating.objects.filter(round_id=round_id), selective=True)


def rounds_ratings(round_ids: list[int]) -> pd.DataFrame:
    """The ratings of several simulated rounds together, as `ratings_frame`."""
    return ratings_frame(queryset=Rating.objects.filter(round_id__in=list(round_ids)))


def simulated_ratings_since(moment: datetime, *, excluding_rounds=()) -> pd.DataFrame:
    """Simulated ratings of every round played since `moment` (e.g. a model's training) but
    those of `excluding_rounds` (round ids): the recent interactions a challenger is compared
    with it on."""
    queryset = Rating.objects.filter(origin=Rating.Origin.SIMULATED, round__created_at__gte=moment)
    if excluding_rounds:
        queryset = queryset.exclude(round_id__in=list(excluding_rounds))
    return ratings_frame(queryset=queryset)


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
    """Every viewer, rated or not: pk and source_id (as viewer_id), by source id."""
    pks, viewer_ids = queryset_arrays(
        Viewer.objects.order_by("source_id").values_list("pk", "source_id"), ["i8", "i8"]
    )
    return pd.DataFrame({"pk": pks, "viewer_id": viewer_ids}, copy=False)


def film_pks() -> pd.Series:
    """Film primary keys indexed by source id."""
    source_ids, pks = queryset_arrays(
        Film.objects.order_by("source_id").values_list("source_id", "pk"), ["i8", "i8"]
    )
    return pd.Series(pks, index=source_ids, dtype="int64")


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
