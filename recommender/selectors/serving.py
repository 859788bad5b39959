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
import psycopg
from django.db import connection
from django.db.backends.utils import CursorDebugWrapper

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
        return scored_list_arrays(self)  # duck-typed: the same three packed fields


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
        "activity_since": (
            f"SELECT COALESCE(SUM(CASE WHEN r.{column(Rating, 'rated_at')} >= %s "
            f"OR g.{column(round_model, 'created_at')} >= %s THEN 1 ELSE 0 END), 0) "
            f"FROM {table(Rating)} r LEFT JOIN {table(round_model)} g "
            f"ON g.{column(round_model, 'id')} = r.{column(Rating, 'round')} "
            f"WHERE r.{column(Rating, 'viewer')} = %s"
        ),
        # Each film's source id by a lookup per rating: as a join, PostgreSQL misjudges a
        # viewer's few hundred ratings (its estimate is an average over 270k viewers) and
        # hashes all 45k films, 7 ms per request at full size against 0.8 ms this way.
        "ratings": (
            f"SELECT (SELECT f.{column(Film, 'source_id')} FROM {table(Film)} f "
            f"WHERE f.{column(Film, 'id')} = r.{column(Rating, 'film')}), "
            f"r.{column(Rating, 'score')} FROM {table(Rating)} r "
            f"WHERE r.{column(Rating, 'viewer')} = %s ORDER BY r.{column(Rating, 'id')}"
        ),
        "newest_rating": f"SELECT MAX({column(Rating, 'id')}) FROM {table(Rating)}",
        "served_viewer": _served_viewer_statement(table, column),
        "films": (
            f"SELECT f.{column(Film, 'source_id')}, f.{column(Film, 'title')}, "
            f"f.{column(Film, 'year')}, g.{column(Genre, 'name')} "
            f"FROM {table(Film)} f LEFT JOIN {table(film_genre)} fg "
            f"ON fg.{column(film_genre, 'film')} = f.{column(Film, 'id')} "
            f"LEFT JOIN {table(Genre)} g ON g.{column(Genre, 'id')} = fg.{column(film_genre, 'genre')} "
            f"WHERE f.{column(Film, 'source_id')} IN "
        ),
    }


def _served_viewer_statement(table, column) -> str:
    """Everything a request needs before it knows which path answers, in one round trip:
    the champion, its served run (served_scoring_run) and the newest rating; the viewer with
    a source id, their list in the served run, and their rating count and newest rating id.
    Parameters: the completed status, the champion status, the source id twice."""
    return (
        f"SELECT st.champion, st.run, st.newest, v.{column(Viewer, 'id')}, "
        f"s.{column(ScoredList, 'from_model')}, s.{column(ScoredList, 'film_ids')}, "
        f"s.{column(ScoredList, 'scores')}, s.{column(ScoredList, 'predicted')}, "
        f"a.rated, a.newest "
        f"FROM (SELECT c.{column(ModelVersion, 'id')} AS champion, "
        f"(SELECT r.{column(ScoringRun, 'id')} FROM {table(ScoringRun)} r "
        f"WHERE r.{column(ScoringRun, 'status')} = %s "
        f"AND r.{column(ScoringRun, 'model_version')} = c.{column(ModelVersion, 'id')} "
        f"ORDER BY r.{column(ScoringRun, 'finished_at')} DESC LIMIT 1) AS run, "
        f"(SELECT MAX({column(Rating, 'id')}) FROM {table(Rating)}) AS newest "
        f"FROM (SELECT 1 AS one) o LEFT JOIN {table(ModelVersion)} c "
        f"ON c.{column(ModelVersion, 'status')} = %s) st "
        f"LEFT JOIN {table(Viewer)} v ON v.{column(Viewer, 'source_id')} = %s "
        f"LEFT JOIN {table(ScoredList)} s ON s.{column(ScoredList, 'run')} = st.run "
        f"AND s.{column(ScoredList, 'viewer')} = v.{column(Viewer, 'id')} "
        # Count and newest id in one aggregate over the viewer's index entries. MAX(id)
        # alone, PostgreSQL reads the primary key backwards until it meets one of the
        # viewer's ratings: the whole table for a viewer who rated nothing lately.
        f"LEFT JOIN (SELECT r.{column(Rating, 'viewer')} AS viewer, COUNT(*) AS rated, "
        f"MAX(r.{column(Rating, 'id')}) AS newest FROM {table(Rating)} r "
        f"JOIN {table(Viewer)} w ON w.{column(Viewer, 'id')} = r.{column(Rating, 'viewer')} "
        f"WHERE w.{column(Viewer, 'source_id')} = %s "
        f"GROUP BY r.{column(Rating, 'viewer')}) a ON a.viewer = v.{column(Viewer, 'id')}"
    )


def _fetch(name: str, params: list, *, suffix: str = "") -> list[tuple]:
    with _statement_cursor() as cursor:
        cursor.execute(_statements()[name] + suffix, params)
        return cursor.fetchall()


def _statement_cursor():
    """A cursor for the statements above. On PostgreSQL it binds parameters on the server,
    so psycopg prepares a statement once the connection has run it `prepare_threshold` times
    (settings: 5) and PostgreSQL skips parsing and planning it from then on: the
    serving-state query took 1.1 ms of database CPU per request at full size, 0.3 ms
    prepared. The ORM's own cursors bind on the client, where psycopg never prepares, so
    this touches no other query. Django's wrapper is kept: the health check of a kept
    connection, errors raised as django.db's, queries counted and logged as any other. (Django's
    own cursors also read timestamps in the connection's time zone; none of these statements
    returns one.)"""
    if connection.vendor != "postgresql":
        return connection.cursor()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        bound = psycopg.Cursor(connection.connection)
    if connection.queries_logged:
        return _StatementDebugCursor(bound, connection)
    return connection.make_cursor(bound)


class _StatementDebugCursor(CursorDebugWrapper):
    """Django's query log for these statements, with their text as written (placeholders;
    the parameters are logged beside it): Django reads the text back from the driver, which
    keeps none for a prepared statement's run, so the log said None."""

    def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
        return super().debug_sql(sql, params, use_last_executed_query=False, many=many)


@dataclass(frozen=True)
class ServingState:
    """What every list served depends on besides the viewer: the champion, its served run
    (served_scoring_run) and the newest rating."""

    champion_id: int | None
    served_run_id: int | None
    newest_rating_id: int | None


@dataclass(frozen=True)
class ServedViewer:
    """One viewer as the serving state finds them (`served_viewer`)."""

    state: ServingState
    viewer_id: int  # source id, as asked for
    viewer_pk: int | None  # None: no viewer has that source id
    stored: StoredList | None  # their list in the served run, if it has one
    rating_count: int
    newest_rating_id: int | None  # their newest rating's id (None: no ratings)

    def rated_after(self, rating_pk: int) -> bool:
        """Whether any of their ratings is newer than rating `rating_pk` (a run's snapshot)."""
        return self.newest_rating_id is not None and self.newest_rating_id > rating_pk


def served_viewer(*, viewer_id: int) -> ServedViewer:
    """The serving state and the viewer with this source id in it, in one query: their list
    in the served run, their rating count and newest rating."""
    params = [
        ScoringRun.Status.COMPLETED.value,
        ModelVersion.Status.CHAMPION.value,
        viewer_id,
        viewer_id,
    ]
    [row] = _fetch("served_viewer", params)
    champion, run, newest, viewer_pk, from_model, film_ids, scores, predicted, count, own = row
    stored = None
    if film_ids is not None:
        stored = StoredList(viewer_pk, viewer_id, bool(from_model), film_ids, scores, predicted)
    return ServedViewer(
        state=ServingState(champion, run, newest),
        viewer_id=viewer_id,
        viewer_pk=viewer_pk,
        stored=stored,
        rating_count=int(count or 0),
        newest_rating_id=own,
    )


def rated_since_run_started(*, viewer_pk: int, run: ScoringRun) -> bool:
    """Whether the viewer rated a film since `run` started: for a run that recorded no
    snapshot (runs before snapshots were recorded; a run that records one is judged by
    ServedViewer.rated_after, without this query).

    It read the ratings after starting, so a rating stored while it ran counts as new, which
    at worst recomputes a list. Simulated ratings carry simulated time in rated_at, so their
    round's (wall-clock) creation time says when they were stored; a rating made through the
    product itself carries the real time. An import of historical ratings after the run is
    not seen this way (its rated_at is old): that needs the snapshot."""
    since = connection.ops.adapt_datetimefield_value(run.started_at)
    [(newer,)] = _fetch("activity_since", [since, since, viewer_pk])
    return bool(newer)


def viewer_ratings(*, viewer_pk: int) -> ViewerRatings:
    """The viewer's ratings (film source id, score), oldest row first."""
    rows = _fetch("ratings", [viewer_pk])
    film_ids, scores = zip(*rows, strict=True) if rows else ((), ())
    return ViewerRatings(
        film_ids=np.array(film_ids, dtype=np.int64),
        scores=np.array(scores, dtype=np.float64),
    )


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
