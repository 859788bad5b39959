"""Scoring runs and the stored lists being served."""

from __future__ import annotations

import numpy as np

from recommender.engine.list_sums import ListSums
from recommender.engine.serving import FilmStats
from recommender.models import (
    ModelVersion,
    PackedFilmStats,
    RoundFilmStats,
    RunFilmStats,
    ScoredList,
    ScoringRun,
    ShardListSums,
)


def served_scoring_run() -> ScoringRun | None:
    """The latest completed scoring run of the current champion: the lists being served.
    A run that failed or is still running is never served."""
    return (
        ScoringRun.objects.filter(
            status=ScoringRun.Status.COMPLETED, model_version__status=ModelVersion.Status.CHAMPION
        )
        .order_by("-finished_at")
        .first()
    )


def latest_scoring_run() -> ScoringRun | None:
    """The scoring run started last, whatever its state or model version."""
    return ScoringRun.objects.select_related("model_version").order_by("-started_at").first()


def scored_list_arrays(scored: ScoredList) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unpack a stored list: film source ids, ranking scores, predicted ratings. `scored`: a
    ScoredList, or anything with its three packed fields (selectors.serving.StoredList)."""
    return (
        scored_list_film_ids(scored),
        np.frombuffer(bytes(scored.scores), dtype="<f4"),
        np.frombuffer(bytes(scored.predicted), dtype="<f4"),
    )


def scored_list_film_ids(scored: ScoredList) -> np.ndarray:
    """A stored list's film source ids alone (int64)."""
    return np.frombuffer(bytes(scored.film_ids), dtype="<i4").astype(np.int64)


def run_film_stats(run_pk: int) -> FilmStats | None:
    """The per-film figures stored with a scoring run (over its snapshot), None when it has
    none (a run from before they were stored, or whose ratings a simulation reset deleted)."""
    return _unpacked(RunFilmStats.objects.filter(run_id=run_pk).first())


def latest_film_stats(*, rating_pk_max: int | None = None) -> tuple[int, FilmStats] | None:
    """The newest stored per-film figures (they depend on the ratings, not on the model): a
    scoring run's over its snapshot (RunFilmStats) or a round's once its ratings were in
    (RoundFilmStats), whichever counts more; with rating_pk_max, the newest that counts no
    rating past it. The newest rating id they count and the figures; None when none is
    stored."""
    runs = RunFilmStats.objects.select_related("run").filter(
        run__parameters__snapshot__rating_pk_max__isnull=False
    )
    rounds = RoundFilmStats.objects.all()
    if rating_pk_max is not None:
        runs = runs.filter(run__parameters__snapshot__rating_pk_max__lte=rating_pk_max)
        rounds = rounds.filter(rating_pk_max__lte=rating_pk_max)
    candidates = []
    run_stored = runs.order_by("-run_id").first()
    if run_stored is not None:
        candidates.append((int(run_stored.run.parameters["snapshot"]["rating_pk_max"]), run_stored))
    round_stored = rounds.order_by("-rating_pk_max").first()
    if round_stored is not None:
        candidates.append((round_stored.rating_pk_max, round_stored))
    if not candidates:
        return None
    counted, stored = max(candidates, key=lambda candidate: candidate[0])
    return counted, _unpacked(stored)


def shard_list_sums(run_pk: int, catalogue_size: int) -> dict[int, ListSums]:
    """The list sums each shard of a sharded run stored with its lists, by shard number;
    catalogue_size: the run's films (ValueError when stored sums do not fit it)."""
    return {
        row.shard: ListSums.unpack(row.scalars, bytes(row.arrays), catalogue_size)
        for row in ShardListSums.objects.filter(run_id=run_pk)
    }


def _unpacked(stored: PackedFilmStats | None) -> FilmStats | None:
    if stored is None:
        return None
    return FilmStats.from_sums(
        np.frombuffer(bytes(stored.film_ids), dtype="<i8"),
        np.frombuffer(bytes(stored.counts), dtype="<i8"),
        np.frombuffer(bytes(stored.sums), dtype="<f8"),
    )
