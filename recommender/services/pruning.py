"""Pruning old scoring runs: each run stores one list per viewer (436 MB at 270k viewers,
docs/scaling.md), so runs are deleted once nobody can be served from them.

Kept: the served run (the champion's latest completed run), the `keep` newest completed runs
before it (a rollback to the previous champion finds its lists), every run started after it
(a run in flight, or the run of a version about to be promoted) and every running run. The
rest is deleted, lists first. Without a served run nothing is deleted: there is nothing to
count back from."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from recommender.engine.checks import is_int
from recommender.models import ScoredList, ScoringRun
from recommender.selectors.scoring import served_scoring_run
from recommender.services.bulk_writes import flush_as_written

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PruneOutcome:
    served_run_id: int | None
    kept_run_ids: list[int]
    deleted_run_ids: list[int]
    deleted_lists: int


def scoring_runs_prune(*, keep: int | None = None, actor: str) -> PruneOutcome:
    """Delete the scoring runs no longer needed (see the module); `keep` defaults to the
    KEEP_SCORING_RUNS setting."""
    keep = settings.RECOMMENDER["KEEP_SCORING_RUNS"] if keep is None else keep
    if not is_int(keep) or keep < 0:
        raise ValueError(f"keep must be a non-negative integer, got {keep!r}")
    with transaction.atomic():
        served = served_scoring_run()
        if served is None:
            return PruneOutcome(None, [], [], 0)
        # Lock the runs so a run completing meanwhile cannot be half-judged.
        runs = list(
            ScoringRun.objects.select_for_update()
            .order_by("-started_at", "-pk")
            .values_list("pk", "status", "started_at")
        )
        before = [
            pk
            for pk, status, started in runs
            if pk != served.pk
            and status == ScoringRun.Status.COMPLETED
            and (started, pk) < (served.started_at, served.pk)
        ]
        kept = {served.pk, *before[:keep]}
        kept |= {
            pk
            for pk, status, started in runs
            if status == ScoringRun.Status.RUNNING or (started, pk) > (served.started_at, served.pk)
        }
        doomed = [pk for pk, _, _ in runs if pk not in kept]
        # Deleting a run's lists marks every one of their pages (436 MB at full size).
        flush_as_written()
        deleted_lists, _ = ScoredList.objects.filter(run_id__in=doomed).delete()
        ScoringRun.objects.filter(pk__in=doomed).delete()
    if doomed:
        logger.info(
            "%s pruned scoring run(s) %s (%s lists); kept %s",
            actor,
            doomed,
            deleted_lists,
            sorted(kept),
        )
    return PruneOutcome(served.pk, sorted(kept), sorted(doomed), deleted_lists)
