"""Reads on the request path: what serving one viewer's list reads per request (their stored
list, their rating activity, their ratings, the listed films). The per-film statistics the
service holds between new ratings are read by selectors.ratings.film_stats.

Plain SQL: these run on every request, and building the same statements through the ORM
cost ten times as much as running them (measured on the bundled data, SQLite, one list
served from a run: 2.9 ms through the ORM, 0.17 ms as SQL; the whole request was ~7 ms of
server CPU). Table and column names come from the models, so they follow any rename.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from django.db import connection

from recommender.models import Film, Genre, ModelVersion, Rating, ScoredList, ScoringRun, Viewer
from recommender.selectors.scoring import scored_list_arrays


@dataclass(frozen=True)
class StoredList:
    """One viewer's list in a scoring run, still packed as stored."""

    viewer_pk: int
    viewer_id: int  # source id
    from_model: bool
    film_ids: bytes | memoryview
    scores: bytes | memoryview
    predicted: bytes | memoryview

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Film ids, ranking scores, predicted ratings: unpacked by the one reader of the
        stored format."""
        packed = ScoredList(film_ids=self.film_ids, scores=self.scores, predicted=self.predicted)
        return scored_list_arrays(packed)


@dataclass(frozen=True)
class RatingActivity:
    count: int  # the viewer's ratings
    rated_since: bool  # any of them newer than what the run read


@dataclass(frozen=True, eq=False)
class ViewerRatings:
    """A viewer's ratings, oldest row first (the order a scoring run reads them in, so a
    fold-in sums in the same order)."""

    film_ids: np.ndarray  # int64 source ids
    scores: np.ndarray  # float64


@dataclass(frozen=True)
class FilmDescription:
    title: str
    year: int | None
    genres: tuple[str, ...]  # in no particular order


@functools.cache
def _statements() -> dict[str, str]:
    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def column(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    round_model = Rating._meta.get_field("round").related_model
    film_genre = Film.genres.through
    return {
        "stored_list": (
            f"SELECT s.{column(ScoredList, 'viewer')}, v.{column(Viewer, 'source_id')}, "
            f"s.{column(ScoredList, 'from_model')}, s.{column(ScoredList, 'film_ids')}, "
            f"s.{column(ScoredList, 'scores')}, s.{column(ScoredList, 'predicted')} "
            f"FROM {table(ScoredList)} s JOIN {table(Viewer)} v "
            f"ON v.{column(Viewer, 'id')} = s.{column(ScoredList, 'viewer')} "
            f"WHERE s.{column(ScoredList, 'run')} = %s AND v.{column(Viewer, 'source_id')} = %s"
        ),
        "activity_since": (
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN r.{column(Rating, 'rated_at')} >= %s "
            f"OR g.{column(round_model, 'created_at')} >= %s THEN 1 ELSE 0 END), 0) "
            f"FROM {table(Rating)} r LEFT JOIN {table(round_model)} g "
            f"ON g.{column(round_model, 'id')} = r.{column(Rating, 'round')} "
            f"WHERE r.{column(Rating, 'viewer')} = %s"
        ),
        "activity_after": (
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN r.{column(Rating, 'id')} > %s "
            f"THEN 1 ELSE 0 END), 0) FROM {table(Rating)} r "
            f"WHERE r.{column(Rating, 'viewer')} = %s"
        ),
        "ratings": (
            f"SELECT f.{column(Film, 'source_id')}, r.{column(Rating, 'score')} "
            f"FROM {table(Rating)} r JOIN {table(Film)} f "
            f"ON f.{column(Film, 'id')} = r.{column(Rating, 'film')} "
            f"WHERE r.{column(Rating, 'viewer')} = %s ORDER BY r.{column(Rating, 'id')}"
        ),
        "newest_rating": f"SELECT MAX({column(Rating, 'id')}) FROM {table(Rating)}",
        # served_scoring_run's run, its champion and the newest rating, in one round trip.
        "serving_state": (
            f"SELECT c.{column(ModelVersion, 'id')}, (SELECT r.{column(ScoringRun, 'id')} "
            f"FROM {table(ScoringRun)} r WHERE r.{column(ScoringRun, 'status')} = %s "
            f"AND r.{column(ScoringRun, 'model_version')} = c.{column(ModelVersion, 'id')} "
            f"ORDER BY r.{column(ScoringRun, 'finished_at')} DESC LIMIT 1), "
            f"(SELECT MAX({column(Rating, 'id')}) FROM {table(Rating)}) "
            f"FROM (SELECT 1 AS one) o LEFT JOIN {table(ModelVersion)} c "
            f"ON c.{column(ModelVersion, 'status')} = %s"
        ),
        "films": (
            f"SELECT f.{column(Film, 'source_id')}, f.{column(Film, 'title')}, "
            f"f.{column(Film, 'year')}, g.{column(Genre, 'name')} "
            f"FROM {table(Film)} f LEFT JOIN {table(film_genre)} fg "
            f"ON fg.{column(film_genre, 'film')} = f.{column(Film, 'id')} "
            f"LEFT JOIN {table(Genre)} g ON g.{column(Genre, 'id')} = fg.{column(film_genre, 'genre')} "
            f"WHERE f.{column(Film, 'source_id')} IN "
        ),
    }


def _fetch(name: str, params: list, *, suffix: str = "") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_statements()[name] + suffix, params)
        return cursor.fetchall()


def stored_list(*, run_pk: int, viewer_id: int) -> StoredList | None:
    """The viewer's (by source id) list in the run, or None when the run has none for them."""
    rows = _fetch("stored_list", [run_pk, viewer_id])
    if not rows:
        return None
    viewer_pk, viewer_id, from_model, film_ids, scores, predicted = rows[0]
    return StoredList(viewer_pk, viewer_id, bool(from_model), film_ids, scores, predicted)


def viewer_pk_by_source_id(*, viewer_id: int) -> int | None:
    """The primary key of the viewer with this source id, None when there is none."""
    return Viewer.objects.filter(source_id=viewer_id).values_list("pk", flat=True).first()


def rating_activity(*, viewer_pk: int, run: ScoringRun) -> RatingActivity:
    """How many ratings the viewer has, and whether any of them is newer than what `run`
    read.

    A run that records its snapshot (the newest rating id it read; sharded runs do) says
    exactly. Otherwise the run's start is the line: it read the ratings after starting, so a
    rating stored while it ran counts as new, which at worst recomputes a list. Simulated
    ratings carry simulated time in rated_at, so their round's (wall-clock) creation time says
    when they were stored; a rating made through the product itself carries the real time.
    An import of historical ratings after the run is not seen this way (its rated_at is old):
    that needs the snapshot."""
    newest_read = (run.parameters.get("snapshot") or {}).get("rating_pk_max")
    if newest_read is not None:
        [(count, newer)] = _fetch("activity_after", [newest_read, viewer_pk])
    else:
        since = connection.ops.adapt_datetimefield_value(run.started_at)
        [(count, newer)] = _fetch("activity_since", [since, since, viewer_pk])
    return RatingActivity(count=int(count), rated_since=bool(newer))


def viewer_ratings(*, viewer_pk: int) -> ViewerRatings:
    """The viewer's ratings (film source id, score), oldest row first."""
    rows = _fetch("ratings", [viewer_pk])
    return ViewerRatings(
        film_ids=np.array([film for film, _ in rows], dtype=np.int64),
        scores=np.array([score for _, score in rows], dtype=np.float64),
    )


@dataclass(frozen=True)
class ServingState:
    """What every list served depends on besides the viewer: the champion, its served run
    (served_scoring_run) and the newest rating. While all three are unchanged, a list once
    answered is still the answer."""

    champion_id: int | None
    served_run_id: int | None
    newest_rating_id: int | None


def serving_state() -> ServingState:
    """The champion's id, its served run's id and the newest rating id, in one query."""
    rows = _fetch(
        "serving_state", [ScoringRun.Status.COMPLETED.value, ModelVersion.Status.CHAMPION.value]
    )
    return ServingState(*rows[0])


def scoring_run(run_pk: int) -> ScoringRun | None:
    return ScoringRun.objects.filter(pk=run_pk).first()


def newest_rating_id() -> int | None:
    """The highest rating id (None without ratings): ratings are only ever added, or deleted
    newest first (a simulation reset), so it says whether any rating changed."""
    return _fetch("newest_rating", [])[0][0]


def film_descriptions(*, film_ids: list[int]) -> dict[int, FilmDescription]:
    """Title, year and genre names of each film by source id (one query for all of them);
    films not in the catalogue are absent."""
    if not film_ids:
        return {}
    placeholders = "(" + ", ".join(["%s"] * len(film_ids)) + ")"
    found: dict[int, tuple[str, int | None, list[str]]] = {}
    for source_id, title, year, genre in _fetch("films", film_ids, suffix=placeholders):
        entry = found.setdefault(source_id, (title, year, []))
        if genre is not None:  # a film without genres comes back once, with no name
            entry[2].append(genre)
    return {
        source_id: FilmDescription(title=title, year=year, genres=tuple(genres))
        for source_id, (title, year, genres) in found.items()
    }
