"""Query results as numpy arrays, one array per column, never one Python object per row.

Model work reads tens of millions of ratings; through the ORM each one became a tuple of
Python objects (about 220 B at the peak, 540k rows/s measured).

PostgreSQL packs the rows itself: each selected value is turned into its 8-byte big-endian
binary form (`int8send`, `float8send`) and, for a block of up to BLOCK_ROWS rows, each column
is concatenated into one `bytea` (`string_agg`), which numpy reads as an array. A block is a
range of primary keys (an index range scan), so a 26M-row table is 26 queries of about 32 MB
each. This beats `COPY ... TO STDOUT (FORMAT binary)`: psycopg hands a COPY stream over one
row message at a time through Python, about 3 us per row, 85 s for 26M ratings on the 2-core
machine; the packed blocks take a fraction of that (docs/scaling.md).

SQLite has no such functions: rows are fetched in bounded batches and each batch becomes
arrays before the next is read.

Only 8-byte integer and float columns are read this way, and they must not be NULL (a NULL is
refused by name rather than silently dropped).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import psycopg
from django.db import connection
from django.db.models import Max, Min

# Rows per packed block on PostgreSQL (a block of four columns is 32 MB), and rows per SQLite
# batch: both bound the memory of the raw rows beside the arrays being built.
BLOCK_ROWS = 1_000_000
FETCH_ROWS = 50_000

_SEND = {"i": "int8send({}::int8)", "f": "float8send({}::float8)"}


class ArrayReadError(RuntimeError):
    """The database sent something the array reader cannot read (a NULL)."""


def queryset_arrays(queryset, dtypes: Sequence[str], *, in_blocks: bool = True) -> list[np.ndarray]:
    """The rows of a `values_list` queryset as one array per selected column. dtypes: one
    numpy type per column, 'i8' or 'f8'; columns must be NOT NULL. The order is the
    database's (unordered unless the queryset orders; on PostgreSQL, blocks in primary-key
    order, rows within a block as scanned).

    in_blocks=False reads a selective queryset (one shard's viewers, one round) in one query,
    so the database can use the filter's index once instead of once per block of ids; up to
    100M rows."""
    dtypes = _checked(dtypes)
    if connection.vendor != "postgresql" or not in_blocks:
        sql, params = queryset.query.sql_with_params()
        return query_arrays(sql, list(params), dtypes)
    top = queryset.model._default_manager.order_by().aggregate(low=Min("pk"), high=Max("pk"))
    blocks: list[list[np.ndarray]] = [[] for _ in dtypes]
    if top["low"] is not None:
        for start in range(top["low"], top["high"] + 1, BLOCK_ROWS):
            part = queryset.filter(pk__gte=start, pk__lt=start + BLOCK_ROWS)
            sql, params = part.query.sql_with_params()
            _packed_block(sql, list(params), dtypes, blocks)
    return _columns(blocks, dtypes)


def query_arrays(sql: str, params: list, dtypes: Sequence[str]) -> list[np.ndarray]:
    """The rows of a SELECT (with %s placeholders) as one array per column, read in one
    block on PostgreSQL (for results of up to a few million rows)."""
    dtypes = _checked(dtypes)
    if connection.vendor != "postgresql":
        return _fetched_arrays(sql, params, dtypes)
    blocks: list[list[np.ndarray]] = [[] for _ in dtypes]
    _packed_block(sql, params, dtypes, blocks)
    return _columns(blocks, dtypes)


def _checked(dtypes: Sequence[str]) -> list[np.dtype]:
    dtypes = [np.dtype(code) for code in dtypes]
    for dtype in dtypes:
        if dtype.itemsize != 8 or dtype.kind not in "if":
            raise ValueError(f"only 8-byte integer and float columns are read as arrays: {dtype}")
    return dtypes


def _packed_block(
    sql: str, params: list, dtypes: list[np.dtype], blocks: list[list[np.ndarray]]
) -> None:
    """Run `sql` with each column packed into one bytea by the database; append each column.
    The aggregates of one query read the same rows in the same order, so the columns line up
    (string_agg of bytea is not parallel-aware before PostgreSQL 16, so no worker reorders
    them); the row count checks it."""
    names = [f"c{i}" for i in range(len(dtypes))]
    packed = ", ".join(
        f"string_agg({_SEND[dtype.kind].format(f'q.{name}')}, ''::bytea)"
        for name, dtype in zip(names, dtypes, strict=True)
    )
    statement = f"SELECT COUNT(*), {packed} FROM ({sql}) AS q({', '.join(names)})"
    connection.ensure_connection()
    # A psycopg cursor binding on the server, for binary results: Django's own cursors bind
    # on the client, which returns a bytea as hex text (twice the bytes, then decoded).
    with psycopg.Cursor(connection.connection) as cursor:
        # prepare=False: no server-side prepared statement (safe behind PgBouncer).
        cursor.execute(statement, params, binary=True, prepare=False)
        count, *columns = cursor.fetchone()
    if not count:
        return
    for i, (data, dtype) in enumerate(zip(columns, dtypes, strict=True)):
        parsed = 0 if data is None else len(data) // 8
        if parsed != count:
            # A NULL value is skipped by string_agg: the column comes back short.
            raise ArrayReadError(
                f"column {i}: {count - parsed} of {count} rows hold a NULL where a number "
                "was expected"
            )
        blocks[i].append(np.frombuffer(data, dtype=dtype.newbyteorder(">")).astype(dtype))


def _fetched_arrays(sql: str, params: list, dtypes: list[np.dtype]) -> list[np.ndarray]:
    row = np.dtype([(f"c{i}", dtype) for i, dtype in enumerate(dtypes)])
    blocks: list[list[np.ndarray]] = [[] for _ in dtypes]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_ROWS):
            parsed = np.array(batch, dtype=row)
            for i in range(len(dtypes)):
                blocks[i].append(parsed[f"c{i}"].copy())
    return _columns(blocks, dtypes)


def _columns(blocks: list[list[np.ndarray]], dtypes: list[np.dtype]) -> list[np.ndarray]:
    """One contiguous array per column, each column's blocks freed as soon as it is joined,
    so at most one column is held twice."""
    columns = []
    for parts, dtype in zip(blocks, dtypes, strict=True):
        columns.append(np.concatenate(parts) if parts else np.empty(0, dtype=dtype))
        parts.clear()
    return columns
