"""PostgreSQL's binary COPY format, built from numpy arrays: rows in bulk without one Python
object per row, for the rating import and a scoring run's lists."""

from __future__ import annotations

import numpy as np

# A fixed header, then per row a 16-bit field count and per field a 32-bit length and the
# value in network byte order (length -1: NULL, no value); a -1 field count ends the data.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
# timestamptz travels as microseconds since 2000-01-01 UTC.
POSTGRES_EPOCH = 946_684_800


def binary_rows(count: int, fields: list[tuple[str, object, object]]) -> bytes:
    """`count` rows as one numpy structured array. fields: (name, numpy dtype of the value as
    it travels, or None for NULL, values). Integers and floats travel big-endian (">i8");
    a bytea is its raw bytes, so a fixed-length array field is given as a subarray dtype
    such as ("<i4", (120,)), the same number of elements in every row."""
    layout = [("fields", ">i2")]
    for name, kind, _ in fields:
        layout.append((f"{name}_len", ">i4"))
        if kind is not None:
            layout.append((name, kind))
    rows = np.empty(count, dtype=np.dtype(layout))
    rows["fields"] = len(fields)
    for name, kind, values in fields:
        rows[f"{name}_len"] = -1 if kind is None else np.dtype(kind).itemsize
        if kind is not None:
            rows[name] = values
    return rows.tobytes()
