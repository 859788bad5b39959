"""Store a parsed dataset: idempotent, atomic, and on bulk paths rather than row-by-row ORM.

Importing the same files twice adds nothing; a file with a bad row is rejected by the reader
before anything is written; a database error mid-way rolls the whole import back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import IntegrityError, connection, transaction

from recommender.datasets import ParsedDataset, RatingFilter, read_movielens, read_movies_dataset
from recommender.models import Film, Genre, Rating, Viewer
from recommender.progress import ProgressCallback, no_progress
from recommender.services.binary_copy import (
    COPY_HEADER,
    COPY_TRAILER,
    POSTGRES_EPOCH,
    binary_rows,
)
from recommender.services.bulk_writes import flush_as_written
from recommender.services.maintenance import dead_ratings_reclaimed_on_failure

logger = logging.getLogger(__name__)

# Rows per bulk statement. 50,000 ratings is ~1.5 MB of CSV for COPY and ~0.1 s of
# executemany on SQLite: small enough for a smooth progress bar, large enough to be bulk.
RATING_BATCH = 50_000
# From this many ratings on, rebuilding the rating table's indexes and re-validating its
# foreign keys once is cheaper than maintaining them row by row (see _indexes_rebuilt_after).
REBUILD_MIN_ROWS = 200_000
# Below this share of the rows the table holds, an insert on the staging path (a round's
# ratings, a re-import) keeps the secondary indexes and updates them row by row; only the
# foreign keys are dropped and validated again (checked row by row they cost more than the
# insert). 3.1M ratings into 32M: the INSERT took 21.3 s with the film and round indexes
# kept against 22.4 s without them, and rebuilding those two afterwards took 17.5 s more.
INDEX_REBUILD_SHARE = 0.5
# bulk_create batch for films/viewers: SQLite allows 32,766 bound variables per statement.
OBJECT_BATCH = 2_000


@dataclass(frozen=True)
class ImportSummary:
    source: str
    viewers: int
    viewers_added: int
    films: int
    films_added: int
    rated_films: int
    ratings: int
    ratings_added: int
    genres: int
    seconds: float

    def as_line(self) -> str:
        return (
            f"viewers {self.viewers:,} ({self.viewers_added:,} new), "
            f"films {self.films:,} ({self.films_added:,} new, {self.rated_films:,} rated), "
            f"ratings {self.ratings:,} ({self.ratings_added:,} new), "
            f"genres {self.genres}, {self.seconds:.1f} s"
        )

    @property
    def ratings_per_second(self) -> float:
        return self.ratings / self.seconds if self.seconds > 0 else float("inf")


def dataset_import_movielens(
    *,
    directory: Path,
    rating_filter: RatingFilter | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    progress = progress or no_progress
    progress("reading files", 0.0)
    parsed = read_movielens(Path(directory), rating_filter)
    return dataset_store(parsed=parsed, progress=progress, started=started)


def dataset_import_movies_dataset(
    *,
    directory: Path,
    rating_filter: RatingFilter | None = None,
    small: bool = False,
    lenient_metadata: bool = False,
    on_skipped: Callable[[str], None] | None = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    progress = progress or no_progress
    progress("reading files", 0.0)
    parsed = read_movies_dataset(
        Path(directory),
        rating_filter,
        small=small,
        lenient_metadata=lenient_metadata,
        on_skipped=on_skipped,
    )
    return dataset_store(parsed=parsed, progress=progress, started=started)


def dataset_store(
    *, parsed: ParsedDataset, progress: ProgressCallback | None = None, started: float | None = None
) -> ImportSummary:
    started = time.perf_counter() if started is None else started
    progress = progress or no_progress
    # Reclaimed after the rollback: the atomic block exits first.
    with dead_ratings_reclaimed_on_failure(reason="a failed import"), transaction.atomic():
        progress("genres", 0.05)
        genre_ids = _store_genres(parsed.genre_names)
        progress("films", 0.1)
        film_ids, films_added = _store_films(parsed.films, genre_ids)
        progress("viewers", 0.2)
        viewer_sources = np.unique(parsed.ratings["viewer_id"].to_numpy())
        viewer_ids, viewers_added = _store_viewers(viewer_sources)
        ratings = pd.DataFrame(
            {
                "viewer_id": viewer_ids.loc[parsed.ratings["viewer_id"]].to_numpy(),
                "film_id": film_ids.loc[parsed.ratings["film_id"]].to_numpy(),
                "score": parsed.ratings["score"].to_numpy(),
                "timestamp": parsed.ratings["timestamp"].to_numpy(),
            }
        )
        ratings_added = ratings_bulk_insert(
            ratings, progress=lambda f: progress("ratings", 0.25 + 0.75 * f)
        )
    progress("done", 1.0)
    return ImportSummary(
        source=parsed.source,
        viewers=len(viewer_sources),
        viewers_added=viewers_added,
        films=len(parsed.films),
        films_added=films_added,
        rated_films=parsed.ratings["film_id"].nunique(),
        ratings=len(parsed.ratings),
        ratings_added=ratings_added,
        genres=len(parsed.genre_names),
        seconds=time.perf_counter() - started,
    )


def _store_genres(names: list[str]) -> dict[str, int]:
    Genre.objects.bulk_create([Genre(name=n) for n in names], ignore_conflicts=True)
    return dict(Genre.objects.filter(name__in=names).values_list("name", "id"))


def _store_films(films: pd.DataFrame, genre_ids: dict[str, int]) -> tuple[pd.Series, int]:
    """Insert films not stored yet (existing films are left as they are); map source_id -> pk."""
    existing = set(
        Film.objects.filter(source_id__in=films["source_id"].tolist()).values_list(
            "source_id", flat=True
        )
    )
    new = films[~films["source_id"].isin(existing)]
    Film.objects.bulk_create(
        [
            Film(
                source_id=int(r.source_id),
                title=r.title,
                year=None if pd.isna(r.year) else int(r.year),
                imdb_id=r.imdb_id,
                tmdb_id=None if pd.isna(r.tmdb_id) else int(r.tmdb_id),
            )
            for r in new.itertuples(index=False)
        ],
        batch_size=OBJECT_BATCH,
    )
    pks = pd.Series(
        dict(
            Film.objects.filter(source_id__in=films["source_id"].tolist()).values_list(
                "source_id", "id"
            )
        )
    )
    links = new[["source_id", "genres"]].explode("genres")
    Through = Film.genres.through
    Through.objects.bulk_create(
        [
            Through(film_id=int(film), genre_id=genre_ids[genre])
            for film, genre in zip(
                pks.loc[links["source_id"]].to_numpy(), links["genres"], strict=True
            )
        ],
        batch_size=OBJECT_BATCH,
        ignore_conflicts=True,
    )
    return pks, len(new)


def _store_viewers(source_ids: np.ndarray) -> tuple[pd.Series, int]:
    """Insert the viewers not stored yet; map source_id -> pk."""
    if connection.vendor == "postgresql":
        # One statement over an array: 270k viewers in well under a second, where building a
        # model object per viewer for bulk_create took 5 s of a full-size import.
        table = connection.ops.quote_name(Viewer._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (source_id, origin) SELECT source, %s "
                "FROM unnest(%s::bigint[]) AS source ON CONFLICT (source_id) DO NOTHING",
                [Viewer.Origin.ORIGINAL, source_ids.tolist()],
            )
            added = cursor.rowcount
    else:
        before = Viewer.objects.count()
        Viewer.objects.bulk_create(
            [Viewer(source_id=int(s)) for s in source_ids],
            batch_size=OBJECT_BATCH,
            ignore_conflicts=True,
        )
        added = Viewer.objects.count() - before
    pks = pd.Series(
        dict(
            Viewer.objects.filter(source_id__in=source_ids.tolist()).values_list("source_id", "id")
        )
    )
    return pks, added


def ratings_bulk_insert(
    ratings: pd.DataFrame,
    *,
    origin: str = Rating.Origin.ORIGINAL,
    round_id: int | None = None,
    progress: Callable[[float], None] | None = None,
    expect_new: bool = False,
) -> int:
    """Insert ratings (columns viewer_id and film_id as primary keys, score, timestamp in unix
    seconds) that are not stored yet; return how many were added. Call inside a transaction.
    expect_new: the caller knows of no stored (viewer, film) pair among them (a simulation
    round draws unrated films), so PostgreSQL inserts them without looking for one first, and
    only if one turns up inserts them again, skipping what is stored. Either way the same
    rows are added."""
    progress = progress or (lambda fraction: None)
    if ratings.empty:
        return 0
    if connection.vendor == "postgresql":
        flush_as_written()
        return _copy_ratings_postgresql(ratings, origin, round_id, progress, expect_new)
    return _insert_ratings_sqlite(ratings, origin, round_id, progress)


def _copy_ratings_postgresql(
    ratings: pd.DataFrame,
    origin: str,
    round_id: int | None,
    progress: Callable[[float], None],
    expect_new: bool,
) -> int:
    table_name = Rating._meta.db_table
    table = connection.ops.quote_name(table_name)
    bulk = len(ratings) >= REBUILD_MIN_ROWS
    rebuild = _indexes_rebuilt_after if bulk else _unchanged
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE viewer_id = ANY(%s))",
            [np.unique(ratings["viewer_id"].to_numpy()).tolist()],
        )
        if not cursor.fetchone()[0]:
            # None of these viewers has a rating yet, so no (viewer, film) pair can conflict:
            # COPY straight into the table. The unique constraint still checks it.
            with rebuild(cursor, table_name):
                _copy_binary(
                    cursor,
                    f"COPY {table} (viewer_id, film_id, score, rated_at, origin, round_id) "
                    "FROM STDIN WITH (FORMAT binary)",
                    ratings,
                    _rating_row_encoder(origin, round_id),
                    lambda f: progress(0.8 * f),
                )
            _analyzed(cursor, table)
            progress(1.0)
            return len(ratings)
        cursor.execute(
            "CREATE TEMP TABLE import_rating (viewer_id bigint, film_id bigint, score float8, ts bigint) "
            "ON COMMIT DROP"
        )
        _copy_binary(
            cursor,
            "COPY import_rating (viewer_id, film_id, score, ts) FROM STDIN WITH (FORMAT binary)",
            _in_key_order(ratings),
            _staging_rows,
            lambda f: progress(0.5 * f),
        )
        keep_indexes = bulk and len(ratings) < INDEX_REBUILD_SHARE * _stored_rows(
            cursor, table_name
        )
        with rebuild(cursor, table_name, keep_unique=True, keep_indexes=keep_indexes):
            added = _staged_inserted(cursor, table, origin, round_id, expect_new=expect_new)
        cursor.execute("DROP TABLE import_rating")
        _analyzed(cursor, table)
    progress(1.0)
    return added


def _staged_inserted(
    cursor, table: str, origin: str, round_id: int | None, *, expect_new: bool
) -> int:
    """Insert the staged ratings (import_rating) not stored yet; return how many were added.
    Rows already stored (same viewer and film) are kept as they are: re-import adds nothing.
    ON CONFLICT probes the unique (viewer, film) index row by row, in the staged order. An
    anti-join (NOT EXISTS) left the plan to the planner, which at 35M stored ratings sorted all
    of them for a merge anti-join: 73-76 s of a round's 3.3M, against 23 s.
    expect_new: a plain INSERT first, in a savepoint: ON CONFLICT's probe before each row
    costs a quarter of the insert (a round's 3.0M ratings into 29M: 19.3-21.2 s with it, 14.9-
    15.2 s without); a stored pair stops it at that row, and the insert is made again with
    the probe."""
    insert = (
        f"INSERT INTO {table} (viewer_id, film_id, score, rated_at, origin, round_id) "
        "SELECT i.viewer_id, i.film_id, i.score, to_timestamp(i.ts), %s::varchar, %s::bigint "
        "FROM import_rating i"
    )
    if expect_new:
        try:
            with transaction.atomic():
                cursor.execute(insert, [origin, round_id])
            return cursor.rowcount
        except IntegrityError as exc:  # a stored pair (or a bad row, refused again below)
            logger.info("ratings expected new include stored ones, skipped: %s", exc)
    cursor.execute(insert + " ON CONFLICT (viewer_id, film_id) DO NOTHING", [origin, round_id])
    return cursor.rowcount


def _in_key_order(ratings: pd.DataFrame) -> pd.DataFrame:
    """The ratings sorted by (viewer, film), the unique index's order. The staging table keeps
    that order and the INSERT below reads it in order, so its conflict probes and its index
    insertions walk the index instead of jumping about it: 3M new ratings into 26M (an
    anti-join probing the index then), the INSERT took 13-33 s sorted against 54-72 s in a
    round's order."""
    order = np.lexsort((ratings["film_id"].to_numpy(), ratings["viewer_id"].to_numpy()))
    return ratings.iloc[order]


def _stored_rows(cursor, table_name: str) -> float:
    """The planner's estimate of the table's rows (kept by ANALYZE, which every bulk insert
    runs): a catalogue read instead of a count over millions of rows."""
    cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table_name])
    return max(0.0, float(cursor.fetchone()[0]))  # -1 before the first ANALYZE


def _analyzed(cursor, table: str) -> None:
    """Refresh the planner's statistics of the rating table after a bulk insert (a sample of
    30k rows: about 1 s at 32M). Autovacuum would, later: until then the planner judged by the
    statistics of before. After a round stored 3M simulated ratings, it estimated one rating
    with a round, hashed all of them to show the admin's newest 100 simulated: 37 s, against
    0.26 s once analysed."""
    cursor.execute(f"ANALYZE {table}")


def _copy_binary(cursor, statement: str, ratings: pd.DataFrame, encode, progress) -> None:
    with cursor.copy(statement) as copy:
        copy.write(COPY_HEADER)
        for start in range(0, len(ratings), RATING_BATCH):
            copy.write(encode(ratings.iloc[start : start + RATING_BATCH]))
            progress(min(1.0, (start + RATING_BATCH) / len(ratings)))
        copy.write(COPY_TRAILER)


def _staging_rows(ratings: pd.DataFrame) -> bytes:
    return binary_rows(
        len(ratings),
        [
            ("viewer", ">i8", ratings["viewer_id"].to_numpy()),
            ("film", ">i8", ratings["film_id"].to_numpy()),
            ("score", ">f8", ratings["score"].to_numpy()),
            ("ts", ">i8", ratings["timestamp"].to_numpy()),
        ],
    )


def _rating_row_encoder(origin: str, round_id: int | None) -> Callable[[pd.DataFrame], bytes]:
    encoded_origin = origin.encode()

    def encode(ratings: pd.DataFrame) -> bytes:
        micros = (ratings["timestamp"].to_numpy(np.int64) - POSTGRES_EPOCH) * 1_000_000
        return binary_rows(
            len(ratings),
            [
                ("viewer", ">i8", ratings["viewer_id"].to_numpy()),
                ("film", ">i8", ratings["film_id"].to_numpy()),
                ("score", ">f8", ratings["score"].to_numpy()),
                ("at", ">i8", micros),
                ("origin", f"S{len(encoded_origin)}", encoded_origin),
                ("round", None if round_id is None else ">i8", round_id),
            ],
        )

    return encode


@contextmanager
def _unchanged(
    cursor, table_name: str, *, keep_unique: bool = False, keep_indexes: bool = False
) -> Iterator[None]:
    yield


@contextmanager
def _indexes_rebuilt_after(
    cursor, table_name: str, *, keep_unique: bool = False, keep_indexes: bool = False
) -> Iterator[None]:
    """PostgreSQL's recipe for populating a table: drop its secondary indexes and foreign keys,
    load, then rebuild each index in one sort and validate each foreign key in one join.
    keep_unique: the unique constraints stay (a load that looks rows up by them).
    keep_indexes: the secondary indexes stay too (a load small beside the table), so only the
    foreign keys are dropped and validated again.

    Measured on 2M ratings: 36 s with per-row index updates and deferred per-row FK checks,
    against a few seconds this way. The definitions are read back from the catalogue, so the
    rebuilt constraints are exactly Django's. All of it is inside the import's transaction:
    a failure restores everything, and the ALTERs lock the table against writers meanwhile.
    """
    table = connection.ops.quote_name(table_name)
    kinds = "('f')" if keep_unique else "('f', 'u')"  # foreign keys, unique constraints
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        f"WHERE conrelid = %s::regclass AND contype IN {kinds} ORDER BY contype DESC",
        [table_name],
    )
    constraints = cursor.fetchall()
    indexes = []
    if not keep_indexes:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [table_name],
        )
        indexes = cursor.fetchall()
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    # ALTER TABLE refuses to run while deferred FK checks of this transaction's earlier
    # inserts (films, viewers) are pending: run those checks now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for name, _definition, _kind in constraints:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
    for name, _definition in indexes:
        cursor.execute(f"DROP INDEX {name}")
    yield
    for name, definition, kind in constraints:
        quoted = connection.ops.quote_name(name)
        if kind == "u":
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quoted} {definition}")
        else:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quoted} {definition} NOT VALID")
            cursor.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {quoted}")
    for _name, definition in indexes:
        cursor.execute(definition)
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def _insert_ratings_sqlite(
    ratings: pd.DataFrame, origin: str, round_id: int | None, progress: Callable[[float], None]
) -> int:
    table = connection.ops.quote_name(Rating._meta.db_table)
    # datetime(ts, 'unixepoch') yields Django's own UTC text format for DateTimeField.
    # Only the (viewer, film) conflict is skipped: INSERT OR IGNORE would also drop, silently,
    # a row breaking NOT NULL or a CHECK (a timestamp datetime() cannot hold gave NULL).
    sql = (
        f"INSERT INTO {table} (viewer_id, film_id, score, rated_at, origin, round_id) "
        "VALUES (%s, %s, %s, datetime(%s, 'unixepoch'), %s, %s) "
        "ON CONFLICT (viewer_id, film_id) DO NOTHING"
    )
    added = 0
    with connection.cursor() as cursor:
        for start in range(0, len(ratings), RATING_BATCH):
            part = ratings.iloc[start : start + RATING_BATCH]
            rows = zip(
                part["viewer_id"].tolist(),
                part["film_id"].tolist(),
                part["score"].tolist(),
                part["timestamp"].tolist(),
                [origin] * len(part),
                [round_id] * len(part),
                strict=True,
            )
            cursor.executemany(sql, rows)
            added += max(cursor.rowcount, 0)
            progress(min(1.0, (start + RATING_BATCH) / len(ratings)))
    return added
