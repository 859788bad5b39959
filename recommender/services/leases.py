"""One piece of model work at a time: training, retraining, scoring and the monitor-and-retrain
cycle hold the MODEL_WORK lease while they run.

A lease is a row with an owner token (the Celery task id, or the command's host and pid) and
an expiry that a heartbeat thread keeps pushing forward. A second request is answered with who
is busy since when ("retraining already running since 03:12, task 5f3a...") and queues
nothing. A holder killed with SIGKILL stops renewing, so its lease lapses after
LEASE_SECONDS; the same task redelivered by the broker carries the same id and takes its lease
back at once. Whoever acquires the lease owns all model work, so anything still marked
training or running at that moment was interrupted: `interrupted_work_reap` marks it failed,
and the ratings its rollback left dead are vacuumed (services.maintenance), as they are when
the work fails.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from recommender.models import Lease, ModelVersion, ScoringRun
from recommender.services.maintenance import (
    dead_ratings_reclaim_quietly,
    dead_ratings_reclaimed_on_failure,
)

logger = logging.getLogger(__name__)

MODEL_WORK = "model-work"
# A worker starting takes the lease for a moment to reap (recsite.celery.reap_interrupted_work):
# work asked for in that moment waits for it, up to REAP_WAIT_SECONDS, instead of being refused
# (a task queued as a second worker started was skipped: "reaping interrupted work already
# running").
REAPING_AT_START = "reaping interrupted work"
REAP_WAIT_SECONDS = 10.0


class AlreadyRunningError(RuntimeError):
    """Someone else holds the lease; the message says what, since when and who."""

    def __init__(self, lease: Lease):
        self.lease = lease
        since = timezone.localtime(lease.acquired_at)
        who = lease.owner if lease.owner.startswith("command:") else f"task {lease.owner}"
        super().__init__(f"{lease.purpose} already running since {since:%H:%M}, {who}")


def command_owner() -> str:
    """The owner token of a synchronous management command."""
    return f"command:{socket.gethostname()}:{os.getpid()}"


def lease_acquire(*, owner: str, purpose: str, seconds: float, name: str = MODEL_WORK) -> Lease:
    """Take the lease, or take it back when `owner` already holds it (a redelivered task).
    Raises AlreadyRunningError when another owner holds an unexpired lease."""
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    with transaction.atomic():
        # One conditional UPDATE: atomic on PostgreSQL and SQLite alike, so two racing
        # requests cannot both take an expired lease.
        taken = (
            Lease.objects.filter(name=name)
            .filter(Q(expires_at__lte=now) | Q(owner=owner))
            .update(owner=owner, purpose=purpose, acquired_at=now, expires_at=expires)
        )
        if not taken:
            try:
                with transaction.atomic():
                    Lease.objects.create(
                        name=name, owner=owner, purpose=purpose, acquired_at=now, expires_at=expires
                    )
            except IntegrityError:
                raise AlreadyRunningError(Lease.objects.get(name=name)) from None
    return Lease(name=name, owner=owner, purpose=purpose, acquired_at=now, expires_at=expires)


def lease_renew(*, owner: str, seconds: float, name: str = MODEL_WORK) -> bool:
    """Push the expiry forward; False when the lease is no longer ours."""
    expires = timezone.now() + timedelta(seconds=seconds)
    return bool(Lease.objects.filter(name=name, owner=owner).update(expires_at=expires))


def lease_release(*, owner: str, name: str = MODEL_WORK) -> bool:
    return bool(Lease.objects.filter(name=name, owner=owner).delete()[0])


def lease_holder(name: str = MODEL_WORK) -> Lease | None:
    """The current, unexpired lease, if anyone holds one."""
    return Lease.objects.filter(name=name, expires_at__gt=timezone.now()).first()


class _Heartbeat(threading.Thread):
    """Renews the lease every third of its lifetime until stopped. Runs in its own thread with
    its own database connection, so a long numpy call in the main thread keeps the lease."""

    def __init__(self, owner: str, name: str, seconds: float):
        super().__init__(name=f"lease-heartbeat-{name}", daemon=True)
        self.owner, self.lease_name, self.seconds = owner, name, seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.seconds / 3):
                try:
                    if not lease_renew(
                        owner=self.owner, seconds=self.seconds, name=self.lease_name
                    ):
                        logger.error("lost the %s lease held by %s", self.lease_name, self.owner)
                        return
                except Exception:  # a transient database error: try again next beat
                    logger.warning("could not renew the %s lease", self.lease_name, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()


@dataclass(frozen=True)
class ReapSummary:
    model_versions: int
    scoring_runs: int

    def __bool__(self) -> bool:
        return bool(self.model_versions or self.scoring_runs)


def interrupted_work_reap(*, actor: str) -> ReapSummary:
    """Mark work left half-done by a dead holder as failed. Call only while holding
    MODEL_WORK: then nothing else can legitimately be training or scoring."""
    from recommender.services.registry import model_version_transition

    reason = "interrupted: the process running it stopped before it finished"
    versions = 0
    with transaction.atomic():
        for version in ModelVersion.objects.select_for_update().filter(
            status=ModelVersion.Status.TRAINING
        ):
            model_version_transition(
                version=version, to_status=ModelVersion.Status.FAILED, actor=actor, reason=reason
            )
            versions += 1
        runs = ScoringRun.objects.filter(status=ScoringRun.Status.RUNNING).update(
            status=ScoringRun.Status.FAILED, finished_at=timezone.now(), error=reason
        )
    summary = ReapSummary(model_versions=versions, scoring_runs=runs)
    if summary:
        logger.warning("%s: marked %s as failed (%s)", actor, summary, reason)
    return summary


def lease_acquire_after_reaps(*, owner: str, purpose: str, seconds: float) -> Lease:
    """lease_acquire for a task starting its work (exclusive_model_work, a sharded scoring
    run's start), waiting while the holder is a worker's start-up reap; any other holder is
    refused at once. A reap takes milliseconds, unless a killed holder left dead ratings to
    vacuum (7.4 s for 3.6M of them at 38.8M ratings, docs/scaling.md): past REAP_WAIT_SECONDS
    the work is refused as before. A web request queueing work (services.jobs) does not wait:
    it answers at once with who holds the lease."""
    deadline = time.monotonic() + REAP_WAIT_SECONDS
    while True:
        try:
            return lease_acquire(owner=owner, purpose=purpose, seconds=seconds)
        except AlreadyRunningError as busy:
            if busy.lease.purpose != REAPING_AT_START or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


@contextmanager
def exclusive_model_work(*, owner: str, purpose: str) -> Iterator[Lease]:
    """Hold MODEL_WORK for the duration of the block (see the module docstring)."""
    seconds = settings.RECOMMENDER["LEASE_SECONDS"]
    lease = lease_acquire_after_reaps(owner=owner, purpose=purpose, seconds=seconds)
    # Inside an outer transaction (a test, a caller's atomic block) the lease row is not
    # visible to other connections until commit, so a heartbeat could only block on it.
    heartbeat = None if connection.in_atomic_block else _Heartbeat(owner, MODEL_WORK, seconds)
    if heartbeat:
        heartbeat.start()
    try:
        interrupted_work_reap(actor=f"reaper ({purpose}, {owner})")
        # A holder killed mid-write left its rolled-back ratings behind as dead rows.
        dead_ratings_reclaim_quietly(reason=f"before {purpose}")
        # The work's own rollback (an error, or Ctrl-C), reclaimed before the lease lets anyone
        # else start: about 6-9 s at 32M ratings. A process killed outright leaves it to the
        # next holder, a restarted worker's first of all (recsite.celery).
        with dead_ratings_reclaimed_on_failure(reason=f"{purpose} failed"):
            yield lease
    finally:
        if heartbeat:
            heartbeat.stopped.set()
            heartbeat.join()
        try:
            lease_release(owner=owner)
        except Exception:  # the lease lapses by itself; the work's own outcome matters more
            logger.warning("could not release the model-work lease of %s", owner, exc_info=True)
