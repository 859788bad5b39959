"""Query results as numpy arrays, one array per column, never one Python object per row.

Model work reads tens of millions of ratings; through the ORM each one became a tuple of
Python objects (about 220 B at the peak, 540k rows/s measured). Here PostgreSQL streams the
rows with `COPY (query) TO STDOUT (FORMAT binary)` through psycopg 3's copy, and numpy parses
each block of the stream with a structured dtype (a row of four 8-byte columns is 50 B on the
wire and 32 B in the arrays). SQLite has no COPY: rows are fetched in bounded batches and each
batch becomes arrays before the next is read.

Only fixed-width, non-null columns are read this way (integers and floats); the columns' types
are given by the caller and checked against the stream.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.db import connection

# Bytes of the COPY stream parsed at once, and rows per SQLite batch: both bound the memory
# of the raw rows to a few MB beside the arrays being built.
COPY_BLOCK_BYTES = 8 << 20
FETCH_ROWS = 50_000

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_TRAILER = b"\xff\xff"


class ArrayReadError(RuntimeError):
    """The database sent something the array reader cannot parse (a NULL, another width)."""


def queryset_arrays(queryset, dtypes: Sequence[str]) -> list[np.ndarray]:
    """The rows of a `values_list` queryset as one array per selected column, in the
    database's order (unordered unless the queryset orders). dtypes: one numpy type per
    column, 'i8' (bigint) or 'f8' (double precision); columns must be NOT NULL."""
    sql, params = queryset.query.sql_with_params()
    return query_arrays(sql, list(params), dtypes)


def query_arrays(sql: str, params: list, dtypes: Sequence[str]) -> list[np.ndarray]:
    """The rows of a SELECT (with %s placeholders) as one array per column."""
    dtypes = [np.dtype(code) for code in dtypes]
    for dtype in dtypes:
        if dtype.itemsize != 8 or dtype.kind not in "if":
            raise ValueError(f"only 8-byte integer and float columns are read as arrays: {dtype}")
    if connection.vendor == "postgresql":
        return _copy_arrays(sql, params, dtypes)
    return _fetched_arrays(sql, params, dtypes)


def _fetched_arrays(sql: str, params: list, dtypes: list[np.dtype]) -> list[np.ndarray]:
    row = np.dtype([(f"c{i}", dtype) for i, dtype in enumerate(dtypes)])
    blocks = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while batch := cursor.fetchmany(FETCH_ROWS):
            blocks.append(np.array(batch, dtype=row))
    return _columns(blocks, row)


def _wire_row(dtypes: list[np.dtype]) -> np.dtype:
    """One tuple of the binary COPY format: a field count, then per field its byte length and
    its big-endian value."""
    fields = [("n_fields", ">i2")]
    for i, dtype in enumerate(dtypes):
        fields += [(f"len{i}", ">i4"), (f"c{i}", dtype.newbyteorder(">"))]
    return np.dtype(fields)


def _copy_arrays(sql: str, params: list, dtypes: list[np.dtype]) -> list[np.ndarray]:
    wire = _wire_row(dtypes)
    row = np.dtype([(f"c{i}", dtype) for i, dtype in enumerate(dtypes)])
    blocks: list[np.ndarray] = []
    pending: list[bytes] = []
    pending_bytes = 0
    header_seen = False
    with connection.cursor() as cursor:
        # The psycopg cursor under Django's wrapper: Django binds parameters on the client, so
        # the placeholders are filled before the statement reaches COPY (which takes none).
        with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params) as copy:
            for chunk in copy:
                pending.append(bytes(chunk))
                pending_bytes += len(chunk)
                if pending_bytes < COPY_BLOCK_BYTES:
                    continue
                data = b"".join(pending)
                if not header_seen:
                    data, header_seen = _skip_header(data), True
                rest = _parse_rows(data, wire, row, len(dtypes), blocks)
                pending, pending_bytes = [rest], len(rest)
    data = b"".join(pending)
    if not header_seen:
        data = _skip_header(data)
    rest = _parse_rows(data, wire, row, len(dtypes), blocks)
    if rest != _TRAILER:
        raise ArrayReadError(
            f"the COPY stream ended with {len(rest)} unparsed byte(s): a NULL or a column "
            "of another width"
        )
    return _columns(blocks, row)


def _skip_header(data: bytes) -> bytes:
    if not data.startswith(_SIGNATURE):
        raise ArrayReadError("the COPY stream does not start with the binary signature")
    extension = int.from_bytes(data[15:19], "big")
    return data[19 + extension :]


def _parse_rows(
    data: bytes, wire: np.dtype, row: np.dtype, width: int, blocks: list[np.ndarray]
) -> bytes:
    """Parse the whole rows at the start of `data` into `blocks`; return the bytes left."""
    # A row is at least 14 bytes and the 2-byte trailer only ends the stream, so whole rows
    # never take in the trailer.
    count = len(data) // wire.itemsize
    if count:
        parsed = np.frombuffer(data, dtype=wire, count=count)
        _check_widths(parsed, width)
        block = np.empty(count, dtype=row)
        for i in range(width):
            block[f"c{i}"] = parsed[f"c{i}"]
        blocks.append(block)
    return data[count * wire.itemsize :]


def _check_widths(parsed: np.ndarray, width: int) -> None:
    """Refuse the block at its first row that is not `width` 8-byte values (rows after a bad
    one are misaligned, so only the first says what is wrong)."""
    lengths = np.stack([parsed[f"len{i}"] for i in range(width)], axis=1)
    bad = (parsed["n_fields"] != width) | (lengths != 8).any(axis=1)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    if parsed["n_fields"][first] != width:
        raise ArrayReadError(f"a row of the COPY stream does not have {width} columns")
    column = int(np.argmax(lengths[first] != 8))
    found = int(lengths[first, column])
    what = "NULL" if found == -1 else f"{found} bytes"
    raise ArrayReadError(f"column {column} holds {what} where 8 bytes were expected")


def _columns(blocks: list[np.ndarray], row: np.dtype) -> list[np.ndarray]:
    """One contiguous array per column, built column by column so at most one column is
    held twice."""
    columns = []
    for name in row.names:
        if blocks:
            columns.append(np.concatenate([block[name] for block in blocks]))
        else:
            columns.append(np.empty(0, dtype=row[name]))
    return columns
