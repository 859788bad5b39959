"""Scoring runs and the stored lists being served."""

from __future__ import annotations

import numpy as np

from recommender.engine.list_sums import ListSums
from recommender.engine.serving import FilmStats
from recommender.models import ModelVersion, RunFilmStats, ScoredList, ScoringRun, ShardListSums


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


def latest_film_stats() -> tuple[int, FilmStats] | None:
    """The newest stored per-film figures, of whichever scoring run (they depend on the
    ratings, not on the model): the newest rating id they count and the figures. None when
    no run stored any."""
    stored = (
        RunFilmStats.objects.select_related("run")
        .filter(run__parameters__snapshot__rating_pk_max__isnull=False)
        .order_by("-run_id")
        .first()
    )
    if stored is None:
        return None
    return int(stored.run.parameters["snapshot"]["rating_pk_max"]), _unpacked(stored)


def shard_list_sums(run_pk: int, catalogue_size: int) -> dict[int, ListSums]:
    """The list sums each shard of a sharded run stored with its lists, by shard number;
    catalogue_size: the run's films (ValueError when stored sums do not fit it)."""
    return {
        row.shard: ListSums.unpack(row.scalars, bytes(row.arrays), catalogue_size)
        for row in ShardListSums.objects.filter(run_id=run_pk)
    }


def _unpacked(stored: RunFilmStats | None) -> FilmStats | None:
    if stored is None:
        return None
    return FilmStats.from_sums(
        np.frombuffer(bytes(stored.film_ids), dtype="<i8"),
        np.frombuffer(bytes(stored.counts), dtype="<i8"),
        np.frombuffer(bytes(stored.sums), dtype="<f8"),
    )
