"""Scoring runs: rank every viewer with the champion and store the lists compactly.

Two ways to make a run. `score_and_store` does everything in one process. The sharded path
spreads the viewers over many workers: `scoring_run_start` creates the run and hands it the
model-work lease, each `scoring_shard_store` ranks and stores one deterministic slice of the
viewers, and `scoring_run_complete` checks that every viewer has a list, computes the run's
metrics from the stored lists and marks it completed (or failed, naming the missing shards).
Both paths share the ranking, metrics and storage code below, so a sharded run's lists and
metrics equal an unsharded run's (tests/recommender/test_scoring_sharded.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommender.engine.artifact import load_model
from recommender.engine.checks import is_int
from recommender.engine.list_sums import ListSums
from recommender.engine.model import TrainedModel
from recommender.engine.scoring import PopularityPenalty, Ranking
from recommender.engine.serving import FilmStats, list_metrics, rank_every_viewer
from recommender.models import (
    ModelVersion,
    RoundFilmStats,
    RunFilmStats,
    ScoredList,
    ScoringRun,
    ShardListSums,
)
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import (
    film_genres_frame,
    film_stats,
    ratings_frame,
    snapshot_bounds,
    viewer_ratings_frame,
    viewers_frame,
)
from recommender.selectors.registry import current_champion
from recommender.selectors.scoring import run_film_stats, shard_list_sums
from recommender.selectors.serving import newest_rating_id
from recommender.services.binary_copy import COPY_HEADER, COPY_TRAILER, binary_rows
from recommender.services.bulk_writes import flush_as_written
from recommender.services.gate import wait_at_test_gate
from recommender.services.leases import (
    interrupted_work_reap,
    lease_acquire,
    lease_acquire_after_reaps,
    lease_release,
    lease_renew,
)

logger = logging.getLogger(__name__)

# Lists per INSERT: 2,000 rows of ~1.4 kB stay well under any statement-size limit.
LIST_BATCH = 2_000
# Lists per block of the binary COPY: 10,000 x about 1.5 kB.
LIST_COPY_ROWS = 10_000


class NoChampionError(RuntimeError):
    """Nothing to score or serve with: no version has been promoted yet. One message for
    every place that raises it: `raise NoChampionError()`."""

    def __init__(self, message: str = "no champion model yet: train one first (manage.py train)"):
        super().__init__(message)


def default_penalty() -> PopularityPenalty:
    return PopularityPenalty(
        transform=settings.RECOMMENDER["POPULARITY_TRANSFORM"],
        alpha=settings.RECOMMENDER["POPULARITY_ALPHA"],
    )


def penalty_with(transform: str | None = None, alpha: float | None = None) -> PopularityPenalty:
    """The default penalty with the given transform and / or alpha instead."""
    penalty = default_penalty()
    return PopularityPenalty(
        transform=transform or penalty.transform, alpha=penalty.alpha if alpha is None else alpha
    )


def champion_model() -> tuple[ModelVersion, TrainedModel]:
    """The champion and its verified arrays. Raises NoChampionError or ArtifactIntegrityError."""
    version = current_champion()
    if version is None:
        raise NoChampionError()
    return version, _version_model(version)


def _version_model(version: ModelVersion) -> TrainedModel:
    return load_model(Path(version.artifact_path), sha256=version.artifact_sha256)


@dataclass(frozen=True)
class ScoringOutcome:
    run: ScoringRun
    version: ModelVersion
    ranking: Ranking
    # The snapshot's ratings as read (ratings_frame), when asked for with keep_ratings.
    ratings: pd.DataFrame | None = None


def scoring_run_create(
    *,
    actor: str,
    penalty: PopularityPenalty | None = None,
    progress: ProgressCallback | None = None,
) -> ScoringRun:
    """Score every viewer with the champion. The run is served only once it is completed;
    if anything fails it is marked failed and the previous completed run keeps serving."""
    return score_and_store(actor=actor, penalty=penalty, progress=progress).run


def score_and_store(
    *,
    actor: str,
    penalty: PopularityPenalty | None = None,
    progress: ProgressCallback | None = None,
    keep_ratings: bool = False,
) -> ScoringOutcome:
    """scoring_run_create, also handing back the ranking (a simulation round chooses from it)
    and, with keep_ratings, the ratings it read (a round's oracle can learn from them instead of
    reading 26M ratings again; kept, they stay in memory while the lists are stored)."""
    progress = progress or no_progress
    version, model = champion_model()
    # What the run reads, recorded: a rating past it is new to the run, so the viewer's list
    # is computed again when asked for (services.recommendations), however it was stored.
    snapshot = snapshot_bounds()
    run = ScoringRun.objects.create(
        model_version=version,
        parameters={**_run_parameters(penalty), "snapshot": snapshot},
        created_by=actor,
    )
    try:
        progress("loading ratings", 0.0)
        wait_at_test_gate("scoring")
        ratings = ratings_frame(rating_pk_max=snapshot["rating_pk_max"])
        viewers = viewers_frame()
        # Once per snapshot: the penalty, the fallback and the metrics' catalogue share them.
        stats = FilmStats.from_ratings(ratings)
        ranking = _rank(
            run,
            model,
            ratings,
            viewers,
            stats,
            progress=lambda f: progress("scoring", 0.05 + 0.75 * f),
        )
        kept_ratings = ratings if keep_ratings else None
        del ratings
        progress("metrics", 0.8)
        metrics = _run_metrics(run, ranking, model, stats.film_ids)
        progress("storing lists", 0.9)
        with transaction.atomic():
            _store_lists(run, ranking, viewers)
            _store_film_stats(run, stats)
            run.status = ScoringRun.Status.COMPLETED
            run.finished_at = timezone.now()
            run.viewers = len(ranking.viewer_ids)
            run.metrics = metrics
            run.save(update_fields=["status", "finished_at", "viewers", "metrics"])
    except Exception as exc:
        _run_fail(run.pk, f"{type(exc).__name__}: {exc}")
        raise
    progress("done", 1.0)
    return ScoringOutcome(run=run, version=version, ranking=ranking, ratings=kept_ratings)


# --- sharded scoring --------------------------------------------------------------------------


def scoring_run_lease_owner(run_id: int) -> str:
    """The model-work lease's owner while a sharded run is in flight: the run, not a task."""
    return f"scoring-run:{run_id}"


def sharded_lease_seconds() -> int:
    """How long a sharded run's lease lasts without news. Shards renew it as they start and
    finish; the longest silence of a live run is a shard whose worker died, redelivered after
    the broker's visibility timeout and then running up to the hard time limit."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    return int(visibility + settings.CELERY_TASK_TIME_LIMIT)


def scoring_run_start(
    *,
    actor: str,
    owner: str,
    shards: int,
    penalty: PopularityPenalty | None = None,
) -> ScoringRun:
    """Start a sharded scoring run of the champion: take the model-work lease as `owner`
    (waiting for a starting worker's reap; AlreadyRunningError when anyone else holds it),
    reap work a dead holder left, create the run (running, not served) and hand the lease over
    to the run itself (`scoring_run_lease_owner`), since the run outlives the task that starts
    it.

    The run records its shard count and a snapshot of the data (highest viewer and rating
    ids), so every shard ranks the same viewers against the same ratings even if an import
    adds rows meanwhile."""
    if not is_int(shards) or shards < 1:
        raise ValueError(f"shards must be a positive integer, got {shards!r}")
    seconds = sharded_lease_seconds()
    lease_acquire_after_reaps(owner=owner, purpose="scoring", seconds=seconds)
    run = None
    try:
        interrupted_work_reap(actor=f"reaper (sharded scoring, {owner})")
        version, _ = champion_model()  # verifies the artifact before any shard is queued
        snapshot = snapshot_bounds()
        run = ScoringRun.objects.create(
            model_version=version,
            parameters={**_run_parameters(penalty), "shards": shards, "snapshot": snapshot},
            created_by=actor,
        )
        # Once for the run: every shard and the metrics read them instead of aggregating.
        _store_film_stats(run, film_stats(rating_pk_max=snapshot["rating_pk_max"]))
        # Release and take in one transaction: nobody can slip in between (a racing INSERT of
        # the lease row waits for this commit, then finds the run's row).
        with transaction.atomic():
            lease_release(owner=owner)
            lease_acquire(
                owner=scoring_run_lease_owner(run.pk),
                purpose=f"scoring run {run.pk} ({shards} shards)",
                seconds=seconds,
            )
    except Exception as exc:
        if run is not None:
            _run_fail(run.pk, f"{type(exc).__name__}: {exc}")
        lease_release(owner=owner)
        raise
    return run


def scoring_shard_store(
    *, run_id: int, shard: int, shards: int, progress: ProgressCallback | None = None
) -> int:
    """Rank the viewers of one shard (viewers sorted by id, split into `shards` nearly equal
    slices) and store their lists in one transaction; return how many. The shard reads only
    its viewers' ratings, plus the per-film statistics of the whole snapshot (one GROUP BY),
    so its memory is proportional to its slice. Safe to deliver twice: the shard replaces its own rows. A run that is no longer
    running (completed, failed or reaped) is left alone and 0 is returned."""
    progress = progress or no_progress
    run = ScoringRun.objects.select_related("model_version").filter(pk=run_id).first()
    if run is None or run.status != ScoringRun.Status.RUNNING:
        logger.warning("scoring run %s shard %s not scored: the run is not running", run_id, shard)
        return 0
    if run.parameters.get("shards") != shards or not 0 <= shard < shards:
        raise ValueError(
            f"shard {shard} of {shards} does not fit scoring run {run_id}, which has "
            f"{run.parameters.get('shards')} shard(s)"
        )
    _renew_run_lease(run_id)
    progress("loading ratings", 0.0)
    viewers = _shards(run)[shard]
    stored = 0
    if len(viewers):
        model = _version_model(run.model_version)
        film_stats = _run_film_stats(run)
        ranking = _rank(
            run,
            model,
            _shard_ratings(run, viewers),
            viewers,
            film_stats,
            progress=lambda f: progress("scoring", 0.1 + 0.8 * f),
        )
        top = run.parameters["list_length"]
        sums = ListSums.of(
            ranking.film_ids[:, :top],
            ranking.from_model,
            model=model,
            catalogue_ids=film_stats.film_ids,
        )
        progress("storing lists", 0.9)
        with transaction.atomic():
            if not ScoringRun.objects.filter(pk=run_id, status=ScoringRun.Status.RUNNING).exists():
                logger.warning("scoring run %s ended while shard %s was scoring", run_id, shard)
                return 0
            # A redelivered shard replaces what an earlier delivery stored.
            ScoredList.objects.filter(run_id=run_id, viewer_id__in=viewers["pk"].tolist()).delete()
            _store_lists(run, ranking, viewers)
            scalars, arrays = sums.pack()
            ShardListSums.objects.update_or_create(
                run=run, shard=shard, defaults={"scalars": scalars, "arrays": arrays}
            )
        stored = ranking.n_viewers
    _renew_run_lease(run_id)
    progress("done", 1.0)
    return stored


def scoring_run_complete(*, run_id: int) -> ScoringRun | None:
    """Finish a sharded run once its shards have run: check that every viewer of the snapshot
    has a list, add up the list sums each shard stored with its lists into the run's metrics
    (an unsharded run's, to rounding: nobody reads every list), mark the run completed and
    release its lease. When shards are missing the run is marked failed with an error naming
    them, and the previous completed run keeps serving. A run that already ended is returned
    unchanged (the callback delivered twice)."""
    run = ScoringRun.objects.select_related("model_version").filter(pk=run_id).first()
    if run is None or run.status != ScoringRun.Status.RUNNING:
        lease_release(owner=scoring_run_lease_owner(run_id))
        return run
    shards = _shards(run)
    stored = set(ScoredList.objects.filter(run=run).values_list("viewer_id", flat=True))
    missing = [i for i, part in enumerate(shards) if not set(part["pk"].tolist()) <= stored]
    if missing:
        unlisted = sum(len(set(part["pk"].tolist()) - stored) for part in shards)
        expected = sum(len(part) for part in shards)
        return scoring_run_fail(
            run_id=run_id,
            error=(
                f"shard(s) {', '.join(map(str, missing))} of 0-{len(shards) - 1} did not store "
                f"their lists: {unlisted:,} of {expected:,} viewers have none"
            ),
        )
    catalogue_ids = _run_film_stats(run).film_ids
    with_viewers = [i for i, part in enumerate(shards) if len(part)]
    stored_sums = shard_list_sums(run.pk, len(catalogue_ids))
    if unsummed := [i for i in with_viewers if i not in stored_sums]:
        return scoring_run_fail(
            run_id=run_id,
            error=f"shard(s) {', '.join(map(str, unsummed))} stored lists but not their sums",
        )
    sums = sum((stored_sums[i] for i in with_viewers), ListSums.empty(len(catalogue_ids)))
    metrics = sums.metrics(film_genres=film_genres_frame(), catalogue_ids=catalogue_ids)
    # Completed only if still running: a reaper that marked it failed meanwhile wins.
    ScoringRun.objects.filter(pk=run_id, status=ScoringRun.Status.RUNNING).update(
        status=ScoringRun.Status.COMPLETED,
        finished_at=timezone.now(),
        viewers=metrics["all"]["viewers"],
        metrics=metrics,
    )
    lease_release(owner=scoring_run_lease_owner(run_id))
    run.refresh_from_db()
    return run


def scoring_run_fail(*, run_id: int, error: str) -> ScoringRun | None:
    """Mark a sharded run failed (if still running), drop the lists its shards stored and
    release its lease. The previous completed run keeps serving."""
    try:
        if _run_fail(run_id, error):
            ScoredList.objects.filter(run_id=run_id).delete()
            ShardListSums.objects.filter(run_id=run_id).delete()
    finally:
        # Released even when dropping the partial rows fails: the run is already marked
        # failed, and a held lease would block all model work until it lapses (about 2 h).
        lease_release(owner=scoring_run_lease_owner(run_id))
    return ScoringRun.objects.filter(pk=run_id).first()


# --- shared by both paths ---------------------------------------------------------------------


def _run_parameters(penalty: PopularityPenalty | None) -> dict:
    penalty = default_penalty() if penalty is None else penalty
    config = settings.RECOMMENDER
    return {
        "list_length": config["LIST_LENGTH"],
        "buffer": config["LIST_BUFFER"],
        "new_user_threshold": config["NEW_USER_THRESHOLD"],
        "penalty": {"transform": penalty.transform, "alpha": penalty.alpha},
    }


def _rank(
    run: ScoringRun,
    model: TrainedModel,
    ratings: pd.DataFrame,
    viewers: pd.DataFrame,
    film_stats: FilmStats,
    *,
    progress,
) -> Ranking:
    """Rank `viewers` (a slice or all of them) with the run's parameters: `ratings` holds at
    least every rating of theirs, `film_stats` are those of every rating of the snapshot
    (popularity is over all viewers, whatever the slice)."""
    parameters = run.parameters
    return rank_every_viewer(
        model,
        ratings,
        viewers["viewer_id"].to_numpy(),
        new_user_threshold=parameters["new_user_threshold"],
        n=parameters["list_length"] + parameters["buffer"],
        penalty=PopularityPenalty(**parameters["penalty"]),
        progress=progress,
        film_stats=film_stats,
        threads=settings.RECOMMENDER["SCORING_THREADS"],
    )


def _run_metrics(
    run: ScoringRun, ranking: Ranking, model: TrainedModel, catalogue_ids: np.ndarray
) -> dict:
    return list_metrics(
        ranking,
        model=model,
        film_genres=film_genres_frame(),
        catalogue_ids=catalogue_ids,
        top=run.parameters["list_length"],
    )


def _run_fail(run_id: int, error: str) -> bool:
    """Mark a running run failed; False when it had already ended."""
    return bool(
        ScoringRun.objects.filter(pk=run_id, status=ScoringRun.Status.RUNNING).update(
            status=ScoringRun.Status.FAILED, finished_at=timezone.now(), error=error
        )
    )


def _store_lists(run: ScoringRun, ranking: Ranking, viewers: pd.DataFrame) -> None:
    flush_as_written()
    pks = (
        pd.Series(viewers["pk"].to_numpy(), index=viewers["viewer_id"].to_numpy())
        .loc[ranking.viewer_ids]
        .to_numpy()
    )
    if ranking.film_ids.size and ranking.film_ids.max() >= 2**31:
        raise ValueError("film ids above 2^31 cannot be stored in the int32 list format")
    # Lists are padded with -1 at the end; the stored list drops the padding.
    lengths = np.count_nonzero(ranking.film_ids >= 0, axis=1)
    if connection.vendor == "postgresql":
        _copy_lists(run, ranking, pks, lengths)
        return
    film_ids = ranking.film_ids.astype("<i4")
    scores = ranking.scores.astype("<f4")
    predicted = ranking.predicted.astype("<f4")
    ScoredList.objects.bulk_create(
        (
            ScoredList(
                run=run,
                viewer_id=int(pks[i]),
                from_model=bool(ranking.from_model[i]),
                film_ids=film_ids[i, :length].tobytes(),
                scores=scores[i, :length].tobytes(),
                predicted=predicted[i, :length].tobytes(),
            )
            for i, length in enumerate(lengths)
        ),
        batch_size=LIST_BATCH,
    )


def _copy_lists(run: ScoringRun, ranking: Ranking, pks: np.ndarray, lengths: np.ndarray) -> None:
    """The lists through binary COPY, LIST_COPY_ROWS at a time, each block's rows grouped by
    list length so that every group is one structured array (270k lists: about 5 s, against
    49 s for the ORM's INSERTs, and no 270k model objects)."""
    table = connection.ops.quote_name(ScoredList._meta.db_table)
    statement = (
        f"COPY {table} (run_id, viewer_id, from_model, film_ids, scores, predicted) "
        "FROM STDIN WITH (FORMAT binary)"
    )
    with connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(COPY_HEADER)
        for start in range(0, len(pks), LIST_COPY_ROWS):
            block = np.arange(start, min(start + LIST_COPY_ROWS, len(pks)))
            for length in np.unique(lengths[block]):
                rows = block[lengths[block] == length]
                copy.write(
                    binary_rows(
                        len(rows),
                        [
                            ("run", ">i8", run.pk),
                            ("viewer", ">i8", pks[rows]),
                            ("from_model", "?", ranking.from_model[rows]),
                            ("films", ("<i4", (length,)), ranking.film_ids[rows, :length]),
                            ("scores", ("<f4", (length,)), ranking.scores[rows, :length]),
                            ("predicted", ("<f4", (length,)), ranking.predicted[rows, :length]),
                        ],
                    )
                )
        copy.write(COPY_TRAILER)


# --- the sharded run's snapshot ---------------------------------------------------------------


def _renew_run_lease(run_id: int) -> None:
    if not lease_renew(owner=scoring_run_lease_owner(run_id), seconds=sharded_lease_seconds()):
        # Lapsed and taken by other model work, which reaped the run: the status checks
        # before storing and completing keep this shard from changing anything.
        logger.warning("scoring run %s no longer holds the model-work lease", run_id)


def _shards(run: ScoringRun) -> list[pd.DataFrame]:
    """The run's viewers (those of its snapshot) sorted by primary key, in `shards` slices
    whose sizes differ by at most one: each slice a range of keys, which its ratings are read
    by. Deterministic: every shard task computes the same split."""
    viewers = viewers_frame()
    viewers = viewers[viewers["pk"] <= run.parameters["snapshot"]["viewer_pk_max"]]
    viewers = viewers.sort_values("pk", kind="stable").reset_index(drop=True)
    bounds = np.linspace(0, len(viewers), run.parameters["shards"] + 1).round().astype(int)
    return [viewers.iloc[start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


# Viewers per query when a shard reads its ratings (about 1.6M ratings at full size after a
# few rounds). The whole slice in one query was one packed block of every column, copied
# twice on its way into numpy: 1.6 GB peak for a quarter of 44M ratings, for a frame of
# 0.3 GB.
_SHARD_READ_VIEWERS = 10_000


def _shard_ratings(run: ScoringRun, viewers: pd.DataFrame) -> pd.DataFrame:
    """The snapshot's ratings of one shard's viewers (a range of primary keys), read
    _SHARD_READ_VIEWERS viewers at a time. Each viewer's ratings stay in id order, as a whole
    read gives them (a fold-in sums them in that order)."""
    rating_pk_max = run.parameters["snapshot"]["rating_pk_max"]
    pks = viewers["pk"].to_numpy()
    parts = [
        viewer_ratings_frame(
            viewer_pk_from=int(pks[start]),
            viewer_pk_to=int(pks[min(start + _SHARD_READ_VIEWERS, len(pks)) - 1]),
            rating_pk_max=rating_pk_max,
        )
        for start in range(0, len(pks), _SHARD_READ_VIEWERS)
    ]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _run_film_stats(run: ScoringRun) -> FilmStats:
    """Per-film count and mean over the run's snapshot, as stored when it started (aggregated
    again for a run started before they were stored); its film ids (sorted) are the rated
    films, what could be recommended."""
    stored = run_film_stats(run.pk)
    if stored is not None:
        return stored
    return film_stats(rating_pk_max=run.parameters["snapshot"]["rating_pk_max"])


def _store_film_stats(run: ScoringRun, stats: FilmStats) -> None:
    """Keep the run's per-film figures (models.RunFilmStats), replacing any stored before."""
    RunFilmStats.objects.update_or_create(run=run, defaults=_packed_film_stats(stats))


def round_film_stats_store(*, round_id: int, run: ScoringRun) -> None:
    """After a simulation round has stored its ratings (in its transaction), keep the per-film
    figures of every rating up to the newest (models.RoundFilmStats): those `run`, the round's
    scoring run, stored over its snapshot, plus the ratings since, the round's, aggregated
    once. Nothing is kept when the run stored none."""
    before = run_film_stats(run.pk)
    newest = newest_rating_id()
    if before is None or newest is None:
        return
    snapshot = run.parameters["snapshot"]["rating_pk_max"]
    since = film_stats(rating_pk_after=snapshot, rating_pk_max=newest)
    stats = before.combined(since.film_ids, since.counts, since.sums)
    RoundFilmStats.objects.update_or_create(
        round_id=round_id, defaults={"rating_pk_max": newest, **_packed_film_stats(stats)}
    )


def _packed_film_stats(stats: FilmStats) -> dict[str, bytes]:
    return {
        "film_ids": stats.film_ids.astype("<i8").tobytes(),
        "counts": stats.counts.astype("<i8").tobytes(),
        "sums": stats.sums.astype("<f8").tobytes(),
    }
