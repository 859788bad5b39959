"""Bulk writes on PostgreSQL that reach the disk while they run, not all at once later.

A scoring run's lists (436 MB at 270k viewers), a round's or an import's ratings and a pruning
of old runs dirty hundreds of MB of pages. PostgreSQL writes them into the kernel's page cache
and, by default (`backend_flush_after = 0`), leaves them there until the kernel's writeback (30
s later) or a checkpoint writes them: hundreds of MB at once, and other sessions' reads wait
behind that burst. Measured at full size: 296-630 MB dirty when `score` ended; on a slower
machine's disk the API's requests during the burst waited up to a second (docs/scaling.md,
"After `score`, the disk"). With `backend_flush_after` the session asks the kernel to start
writing after every BULK_FLUSH_AFTER_KB it writes, so the pages go out while the job runs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection


def flush_as_written() -> None:
    """Have this transaction's writes start on their way to disk as they are made
    (`RECOMMENDER["BULK_FLUSH_AFTER_KB"]`; 0 leaves PostgreSQL's own setting). Until the end of
    the transaction only; call inside one. Nothing to do on SQLite."""
    if not connection.in_atomic_block:
        raise RuntimeError("flush_as_written() holds for a transaction: call it inside one")
    if connection.vendor != "postgresql":
        return
    kilobytes = settings.RECOMMENDER["BULK_FLUSH_AFTER_KB"]
    if kilobytes == 0:
        return
    with connection.cursor() as cursor:
        # set_config(..., true) is SET LOCAL: it ends with the transaction (or its savepoint's
        # rollback), so pooled connections and later requests keep the server's setting.
        cursor.execute("SELECT set_config('backend_flush_after', %s, true)", [f"{kilobytes}kB"])
