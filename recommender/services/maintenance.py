"""Reclaiming the rating table's dead rows on PostgreSQL.

A rolled-back import or round (an error, a worker killed mid-way) leaves every rating it
inserted behind as a dead row, and a simulation reset leaves the simulated ratings it deleted.
Their index entries stay until VACUUM removes them, and they sit at the top of the primary
key, where `MAX(id)` (the newest rating, which every API request reads: selectors.serving)
starts its walk. Measured at 6.7M ratings after a rolled-back insert of 600k: MAX(id) took
2.6-3.3 ms instead of 0.1-0.8 ms, and the API at 200 requests/s saturated both cores (p99
3.0 s, 153 requests/s achieved, against p99 9.9 ms at 200 requests/s before the rollback); a
round at full size inserts 3M. Autovacuum would clear them only past 20 % of the table (5M
rows at full size) and may be off altogether (it is on this project's machines), so the
writers reclaim them themselves: model work when it takes the lease (a killed holder's
rollback is counted by then) and when it fails, an import that fails, a simulation reset;
and beat every 10 minutes (the task `recommender.reclaim_dead_ratings`), for a process killed
outright with no model work after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from recommender.models import Rating

logger = logging.getLogger(__name__)

# Dead rows PostgreSQL may keep before the table is vacuumed: 50k dead index entries are about
# 125 index pages, a fraction of a millisecond per MAX(id). Normal work leaves none (ratings
# are only added), so only a rollback or a reset crosses it.
DEAD_RATINGS_THRESHOLD = 50_000


def dead_ratings_reclaim(*, reason: str) -> int:
    """VACUUM (and ANALYZE) the rating table when PostgreSQL counts more than
    DEAD_RATINGS_THRESHOLD dead rows in it. Returns how many dead rows it counted when it
    vacuumed, else 0: on SQLite (whose deletes and rollbacks leave nothing behind), inside a
    transaction (VACUUM cannot run there; the next caller outside one reclaims them), below
    the threshold. `reason` says in the log why it was asked."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 0
    table = connection.ops.quote_name(Rating._meta.db_table)
    with connection.cursor() as cursor:
        # This connection's own rollback is counted once its statistics are flushed, which
        # PostgreSQL does when it next waits for a statement, at most once a second unless
        # asked to (PostgreSQL 15 and later; before, the next lease holder counts them).
        if connection.pg_version >= 150000:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass", [table]
        )
        row = cursor.fetchone()
        dead = int(row[0]) if row else 0
        if dead <= DEAD_RATINGS_THRESHOLD:
            return 0
        started = time.perf_counter()
        cursor.execute(f"VACUUM (ANALYZE) {table}")
    logger.info(
        "vacuumed the rating table (%s dead rows, %s) in %.1f s",
        f"{dead:,}",
        reason,
        time.perf_counter() - started,
    )
    return dead


def dead_ratings_reclaim_quietly(*, reason: str) -> int:
    """dead_ratings_reclaim as its callers use it: an error of its own is logged, never
    raised, so it cannot fail the work around it (a reset that committed, work about to start)
    or hide that work's own error (the database gone, which may be why the work failed)."""
    try:
        return dead_ratings_reclaim(reason=reason)
    except Exception:
        logger.warning("could not reclaim the rating table's dead rows (%s)", reason, exc_info=True)
        return 0


@contextmanager
def dead_ratings_reclaimed_on_failure(*, reason: str) -> Iterator[None]:
    """Run the block; when it fails or is interrupted (Ctrl-C), reclaim what its rollback left
    (dead_ratings_reclaim_quietly) before the error goes on. Enter it outside the block's
    transaction, so the rollback has happened by then."""
    try:
        yield
    except BaseException:
        dead_ratings_reclaim_quietly(reason=reason)
        raise
