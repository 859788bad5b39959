"""One viewer's recommendations: the service behind the JSON API and the web pages.

A viewer's list is read from the served scoring run (the champion's latest completed run)
while it is still right for them. It is computed on the fly instead when the viewer is not in
that run, has rated films since it started (they must not be recommended again, and a
cold-start viewer may have become an existing one), or asks for more films than it stored.
After a simulation round that is most viewers: the round scores first and stores the
ratings after, so the on-the-fly path is a normal path, not a rare one, and is kept cheap:

- the champion's arrays are held in memory per process, keyed by its version id and artifact
  sha256, so a promotion (another version) or a different file loads afresh, and an
  unchanged champion is never re-read per request;
- per-film rating counts and means (the popularity penalty and the cold-start fallback need
  all viewers' ratings) are aggregated in the database and held per process until a newer
  rating exists;
- per request only the viewer's own rows (their list, their ratings) and the films listed are
  read, as plain SQL (see "reads on the request path" for why); the ranking is score_viewers's arithmetic for one viewer with the film side built
  once per model (_HeldModel), or popularity_ranking for a cold-start viewer, so an
  on-the-fly list is the list a fresh scoring run would store for that viewer.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import Avg, Count

from recommender.engine.artifact import load_model
from recommender.engine.model import TrainedModel
from recommender.engine.scoring import (
    PopularityPenalty,
    build_seen_matrix,
    film_popularity,
    popularity_ranking,
    top_n,
)
from recommender.engine.serving import FilmStats, fold_in_viewers
from recommender.models import (
    Film,
    Genre,
    ModelVersion,
    Rating,
    ScoredList,
    ScoringRun,
    Viewer,
)
from recommender.selectors.registry import current_champion
from recommender.selectors.scoring import scored_list_arrays, served_scoring_run
from recommender.services.scoring import NoChampionError, default_penalty

logger = logging.getLogger(__name__)

SOURCE_MODEL = "model"
SOURCE_FALLBACK = "fallback"
COMPUTED_FROM_RUN = "scoring_run"
COMPUTED_ON_THE_FLY = "on_the_fly"


class UnknownViewerError(LookupError):
    """No viewer has this (source) id."""

    def __init__(self, viewer_id: int):
        self.viewer_id = viewer_id
        super().__init__(f"viewer {viewer_id} not found")


@dataclass(frozen=True)
class RecommendedFilm:
    rank: int  # 1 = best
    film_id: int  # the film's source (MovieLens) id
    title: str
    year: int | None
    genres: list[str]
    # The model's predicted rating; for the popularity fallback, the film's mean rating.
    predicted_rating: float
    # What the list is ordered by: the prediction minus the popularity penalty for the model,
    # rating count x mean rating for the fallback.
    score: float


@dataclass(frozen=True)
class Recommendations:
    viewer_id: int  # source id
    source: str  # SOURCE_MODEL, or SOURCE_FALLBACK (cold-start popularity)
    computed: str  # COMPUTED_FROM_RUN or COMPUTED_ON_THE_FLY
    scoring_run_id: int | None  # the run the list was read from (None when computed on the fly)
    # The champion the list was served under (a fallback list is ranked by popularity alone).
    model_version_id: int | None
    films: list[RecommendedFilm]


def viewer_recommendations(*, viewer_id: int, n: int = 10) -> Recommendations:
    """The viewer's best `n` films, from the served scoring run when it is still right for
    them, computed on the fly with the champion otherwise.

    Raises ValueError for an n below 1, UnknownViewerError for an unknown viewer,
    NoChampionError when there is no champion to rank with, and the artifact errors of
    engine.artifact when the champion's file fails its integrity check.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    # Ids past 64 bits cannot be stored, so no viewer has them (and SQLite would overflow).
    if (
        isinstance(viewer_id, bool)
        or not isinstance(viewer_id, int)
        or not -(2**63) <= viewer_id < 2**63
    ):
        raise UnknownViewerError(viewer_id)
    run = served_scoring_run()
    scored = _read_stored_list(run.pk, viewer_id) if run is not None else None
    if scored is not None:
        stored = _stored_list(run, scored, n)
        if stored is not None:
            return stored
        viewer_pk = scored.viewer_pk
    else:
        viewer_pk = Viewer.objects.filter(source_id=viewer_id).values_list("pk", flat=True).first()
        if viewer_pk is None:
            raise UnknownViewerError(viewer_id)
    return _computed_list(viewer_pk, viewer_id, run, n)


# --- the served run ---------------------------------------------------------------------------


def _stored_list(run: ScoringRun, scored: _StoredList, n: int) -> Recommendations | None:
    """The viewer's list in `run`, or None when it is no longer right for them."""
    film_ids, scores, predicted = scored.arrays()
    if n > len(film_ids) and len(film_ids) >= _stored_length(run):
        return None  # the run kept fewer films than asked for; there may be more
    count, rated_since = _read_rating_activity(scored.viewer_pk, run)
    threshold = run.parameters.get("new_user_threshold", _new_user_threshold())
    group_changed = scored.from_model != (count > threshold)
    if rated_since or group_changed:
        return None
    return Recommendations(
        viewer_id=scored.viewer_id,
        source=SOURCE_MODEL if scored.from_model else SOURCE_FALLBACK,
        computed=COMPUTED_FROM_RUN,
        scoring_run_id=run.pk,
        model_version_id=run.model_version_id,
        films=_described(film_ids[:n], scores[:n], predicted[:n]),
    )


def _stored_length(run: ScoringRun) -> int:
    """How many films a full list of `run` holds (shorter lists ran out of unseen films)."""
    parameters = run.parameters
    return int(parameters.get("list_length", 0)) + int(parameters.get("buffer", 0))


def _new_user_threshold() -> int:
    return int(settings.RECOMMENDER["NEW_USER_THRESHOLD"])


# --- on the fly -------------------------------------------------------------------------------


def _computed_list(
    viewer_pk: int, viewer_id: int, run: ScoringRun | None, n: int
) -> Recommendations:
    """What a fresh scoring run would store for this viewer, top n, ranked now: the model
    (folded in if it was not trained on the viewer) past the new-user threshold, the
    popularity fallback below it; films already rated are never listed."""
    held = _held_champion(run)
    rated = _read_ratings(viewer_pk)
    rated_film_ids = np.array([film for film, _ in rated], dtype=np.int64)
    held_stats = _film_stats()
    stats = held_stats.stats
    from_model = len(rated) > _new_user_threshold()
    if from_model:
        penalty = _penalty(run)
        film_ids, scores, predicted = held.rank_one_viewer(
            viewer_id,
            rated_film_ids=rated_film_ids,
            rated_scores=np.array([score for _, score in rated], dtype=np.float64),
            film_penalty=_film_penalty(held, held_stats, penalty),
            n=n,
        )
    else:
        viewer_ids = np.array([viewer_id], dtype=np.int64)
        ranking = popularity_ranking(
            stats.film_ids,
            counts=stats.counts,
            means=stats.means,
            viewer_ids=viewer_ids,
            seen=build_seen_matrix(
                viewer_ids,
                stats.film_ids,
                rated_viewer_ids=np.repeat(viewer_ids, len(rated_film_ids)),
                rated_film_ids=rated_film_ids,
            ),
            n=n,
        )
        listed = ranking.film_ids[0] >= 0  # padded with -1 when films run out
        film_ids = ranking.film_ids[0][listed]
        scores, predicted = ranking.scores[0][listed], ranking.predicted[0][listed]
    return Recommendations(
        viewer_id=viewer_id,
        source=SOURCE_MODEL if from_model else SOURCE_FALLBACK,
        computed=COMPUTED_ON_THE_FLY,
        scoring_run_id=None,
        model_version_id=held.version_id,
        films=_described(film_ids, scores, predicted),
    )


def _penalty(run: ScoringRun | None) -> PopularityPenalty:
    """The served run's penalty, so lists computed on the fly rank like the stored ones; the
    scoring service's default when nothing has been scored with the champion yet."""
    recorded = run.parameters.get("penalty") if run is not None else None
    return PopularityPenalty(**recorded) if recorded else default_penalty()


# --- the champion, held in memory -------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _HeldModel:
    """The champion's arrays, and the film side of its predictions built once.

    rank_one_viewer is engine.scoring.score_viewers for one viewer, same arithmetic in the
    same order (biases folded into one product, clip, penalty, -inf for seen films, top_n),
    so its list is the one a scoring run stores. It exists because score_viewers rebuilds the
    (films x factors) film side on every call: 7 MB and ~3 ms per request at 100 factors and
    9,000 films, more than all the rest of a request. The tests hold the two equal.
    """

    version_id: int
    sha256: str
    model: TrainedModel
    film_side_t: np.ndarray  # [q_f, b_f, 1] per film, transposed: (factors + 2, films)

    @classmethod
    def build(cls, version: ModelVersion, model: TrainedModel) -> _HeldModel:
        film_side = np.hstack(
            [model.film_factors, model.film_bias[:, None], np.ones((model.n_films, 1))]
        )
        film_side_t = np.ascontiguousarray(film_side.T)
        film_side_t.flags.writeable = False
        return cls(version.pk, version.artifact_sha256, model, film_side_t)

    def rank_one_viewer(
        self,
        viewer_id: int,
        *,
        rated_film_ids: np.ndarray,
        rated_scores: np.ndarray,
        film_penalty: np.ndarray | None,
        n: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Film ids, ranking scores and predicted ratings (float32, as stored) of the
        viewer's n best unrated films."""
        model = self.model
        row = int(model.viewer_index(np.array([viewer_id]))[0])
        if row < 0:
            # A viewer the model was not trained on (an arrival past the threshold).
            model = fold_in_viewers(
                model,
                pd.DataFrame(
                    {
                        "viewer_id": np.full(len(rated_film_ids), viewer_id, dtype=np.int64),
                        "film_id": rated_film_ids,
                        "rating": rated_scores,
                    }
                ),
            )
            row = int(model.viewer_index(np.array([viewer_id]))[0])
        viewer_side = np.hstack(
            [model.viewer_factors[row], [1.0], [model.global_mean + model.viewer_bias[row]]]
        )[None, :]
        block = viewer_side @ self.film_side_t
        np.clip(block, model.rating_min, model.rating_max, out=block)
        if film_penalty is not None:
            block -= film_penalty
        seen = model.film_index(rated_film_ids)
        block[0, seen[seen >= 0]] = -np.inf
        top, top_scores = top_n(block, n)
        top, top_scores = top[0], top_scores[0]
        listed = np.isfinite(top_scores)  # fewer than n unrated films: the rest are -inf
        top, top_scores = top[listed], top_scores[listed]
        rating = top_scores if film_penalty is None else top_scores + film_penalty[top]
        predicted = np.clip(rating, model.rating_min, model.rating_max)
        return model.film_ids[top], top_scores.astype(np.float32), predicted.astype(np.float32)


_held_model: _HeldModel | None = None
# Serialises loading only: two threads missing the cache at once load the file once.
_model_load_lock = threading.Lock()


def serving_model() -> tuple[int, TrainedModel]:
    """The champion's version id and arrays, held in memory (see _held_champion)."""
    held = _held_champion(None)
    return held.version_id, held.model


def _held_champion(run: ScoringRun | None) -> _HeldModel:
    """The champion, loaded (and integrity-checked) once per process and kept until the
    champion changes. Raises NoChampionError, or ArtifactError for a bad file."""
    global _held_model
    held = _held_model
    # The served run's version is the champion (served_scoring_run) and a version's
    # artifact never changes, so a held model of that version needs no further query.
    if run is not None and held is not None and held.version_id == run.model_version_id:
        return held
    version = current_champion()
    if version is None:
        raise NoChampionError("no champion model yet: train one first (manage.py train)")
    if held is not None and (held.version_id, held.sha256) == (
        version.pk,
        version.artifact_sha256,
    ):
        return held
    with _model_load_lock:
        held = _held_model
        if held is None or (held.version_id, held.sha256) != (version.pk, version.artifact_sha256):
            model = load_model(Path(version.artifact_path), sha256=version.artifact_sha256)
            held = _held_model = _HeldModel.build(version, model)
            logger.info("serving model v%s held in memory (%s)", version.pk, model)
    return held


def forget_held_state() -> None:
    """Drop the held champion and film statistics (tests; a process that must free memory)."""
    global _held_model, _held_stats, _held_penalty
    with _model_load_lock:
        _held_model = None
    with _stats_lock:
        _held_stats = None
        _held_penalty = None


# --- per-film statistics and the popularity penalty, held in memory ---------------------------


@dataclass(frozen=True, eq=False)
class _HeldStats:
    newest_rating: int | None  # the newest rating id when the figures were read
    stats: FilmStats


@dataclass(frozen=True, eq=False)
class _HeldPenalty:
    version_id: int
    stats: _HeldStats  # compared by identity: new figures are a new object
    penalty: PopularityPenalty
    per_film: np.ndarray  # in the model's film order


_held_stats: _HeldStats | None = None
_held_penalty: _HeldPenalty | None = None
_stats_lock = threading.Lock()


def _film_stats() -> _HeldStats:
    """Rating count and mean of every rated film over all ratings (FilmStats.from_ratings's
    figures), aggregated by the database. Ratings are only ever added, or deleted newest
    first (a simulation reset), so the newest rating id, one index lookup, says whether the
    held figures are still the current ones."""
    global _held_stats
    newest = _read_newest_rating()
    held = _held_stats
    if held is not None and held.newest_rating == newest:
        return held
    with _stats_lock:
        held = _held_stats
        if held is None or held.newest_rating != newest:
            rows = (
                Rating.objects.values("film__source_id")
                .annotate(size=Count("pk"), mean=Avg("score"))
                .order_by("film__source_id")
                .values_list("film__source_id", "size", "mean")
            )
            frame = pd.DataFrame.from_records(list(rows), columns=["film_id", "size", "mean"])
            stats = FilmStats(
                film_ids=frame["film_id"].to_numpy(np.int64),
                counts=frame["size"].to_numpy(np.int64),
                means=frame["mean"].to_numpy(np.float64),
            )
            held = _held_stats = _HeldStats(newest_rating=newest, stats=stats)
    return held


def _film_penalty(
    model: _HeldModel, stats: _HeldStats, penalty: PopularityPenalty
) -> np.ndarray | None:
    """alpha x popularity of each of the model's films, as score_viewers computes it from the
    counts rank_every_viewer gives it; None when the penalty changes nothing."""
    global _held_penalty
    if not penalty.is_active:
        return None
    held = _held_penalty
    if (
        held is not None
        and held.version_id == model.version_id
        and held.stats is stats
        and held.penalty == penalty
    ):
        return held.per_film
    counts = (
        pd.Series(stats.stats.counts, index=stats.stats.film_ids)
        .reindex(model.model.film_ids, fill_value=0)
        .to_numpy()
    )
    per_film = penalty.alpha * film_popularity(counts, penalty.transform)
    per_film.flags.writeable = False
    _held_penalty = _HeldPenalty(model.version_id, stats, penalty, per_film)
    return per_film


# --- film descriptions ------------------------------------------------------------------------


def _described(
    film_ids: np.ndarray, scores: np.ndarray, predicted: np.ndarray
) -> list[RecommendedFilm]:
    """Title, year and genres of each listed film, in list order."""
    wanted = [int(f) for f in film_ids]
    films = _read_films(wanted)
    missing = [f for f in wanted if f not in films]
    if missing:
        # A film deleted from the catalogue after the run: left out rather than shown blank.
        logger.warning("recommended film(s) no longer in the catalogue: %s", missing)
    return [
        RecommendedFilm(
            rank=rank,
            film_id=film_id,
            title=films[film_id][0],
            year=films[film_id][1],
            genres=sorted(films[film_id][2]),
            predicted_rating=float(rating),
            score=float(score),
        )
        for rank, (film_id, score, rating) in enumerate(
            zip(wanted, scores.tolist(), predicted.tolist(), strict=True), start=1
        )
        if film_id in films
    ]


# --- reads on the request path ----------------------------------------------------------------
# Plain SQL: these run on every request, and building the same statements through the ORM
# cost ten times as much as running them (measured on the bundled data, SQLite, one list
# served from a run: 2.9 ms through the ORM, 0.17 ms as SQL; the whole request was ~7 ms of
# server CPU). Table and column names come from the models, so they follow any rename.


@dataclass(frozen=True)
class _StoredList:
    viewer_pk: int
    viewer_id: int
    from_model: bool
    film_ids: bytes
    scores: bytes
    predicted: bytes

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Film ids, ranking scores, predicted ratings: unpacked by the one reader of the
        stored format."""
        packed = ScoredList(film_ids=self.film_ids, scores=self.scores, predicted=self.predicted)
        return scored_list_arrays(packed)


@functools.cache
def _statements() -> dict[str, str]:
    def table(model) -> str:
        return connection.ops.quote_name(model._meta.db_table)

    def column(model, name: str) -> str:
        return connection.ops.quote_name(model._meta.get_field(name).column)

    round_model = Rating._meta.get_field("round").related_model
    film_genre = Film.genres.through
    return {
        "stored_list": (
            f"SELECT s.{column(ScoredList, 'viewer')}, v.{column(Viewer, 'source_id')}, "
            f"s.{column(ScoredList, 'from_model')}, s.{column(ScoredList, 'film_ids')}, "
            f"s.{column(ScoredList, 'scores')}, s.{column(ScoredList, 'predicted')} "
            f"FROM {table(ScoredList)} s JOIN {table(Viewer)} v "
            f"ON v.{column(Viewer, 'id')} = s.{column(ScoredList, 'viewer')} "
            f"WHERE s.{column(ScoredList, 'run')} = %s AND v.{column(Viewer, 'source_id')} = %s"
        ),
        "activity_since": (
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN r.{column(Rating, 'rated_at')} >= %s "
            f"OR g.{column(round_model, 'created_at')} >= %s THEN 1 ELSE 0 END), 0) "
            f"FROM {table(Rating)} r LEFT JOIN {table(round_model)} g "
            f"ON g.{column(round_model, 'id')} = r.{column(Rating, 'round')} "
            f"WHERE r.{column(Rating, 'viewer')} = %s"
        ),
        "activity_after": (
            f"SELECT COUNT(*), COALESCE(SUM(CASE WHEN r.{column(Rating, 'id')} > %s "
            f"THEN 1 ELSE 0 END), 0) FROM {table(Rating)} r "
            f"WHERE r.{column(Rating, 'viewer')} = %s"
        ),
        "ratings": (
            f"SELECT f.{column(Film, 'source_id')}, r.{column(Rating, 'score')} "
            f"FROM {table(Rating)} r JOIN {table(Film)} f "
            f"ON f.{column(Film, 'id')} = r.{column(Rating, 'film')} "
            f"WHERE r.{column(Rating, 'viewer')} = %s ORDER BY r.{column(Rating, 'id')}"
        ),
        "newest_rating": f"SELECT MAX({column(Rating, 'id')}) FROM {table(Rating)}",
        "films": (
            f"SELECT f.{column(Film, 'source_id')}, f.{column(Film, 'title')}, "
            f"f.{column(Film, 'year')}, g.{column(Genre, 'name')} "
            f"FROM {table(Film)} f LEFT JOIN {table(film_genre)} fg "
            f"ON fg.{column(film_genre, 'film')} = f.{column(Film, 'id')} "
            f"LEFT JOIN {table(Genre)} g ON g.{column(Genre, 'id')} = fg.{column(film_genre, 'genre')} "
            f"WHERE f.{column(Film, 'source_id')} IN "
        ),
    }


def _fetch(name: str, params: list, *, suffix: str = "") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_statements()[name] + suffix, params)
        return cursor.fetchall()


def _read_stored_list(run_pk: int, viewer_id: int) -> _StoredList | None:
    rows = _fetch("stored_list", [run_pk, viewer_id])
    if not rows:
        return None
    viewer_pk, viewer_id, from_model, film_ids, scores, predicted = rows[0]
    return _StoredList(viewer_pk, viewer_id, bool(from_model), film_ids, scores, predicted)


def _read_rating_activity(viewer_pk: int, run: ScoringRun) -> tuple[int, bool]:
    """How many ratings the viewer has, and whether any of them is newer than what `run`
    read.

    A run that records its snapshot (the newest rating id it read; sharded runs do) says
    exactly. Otherwise the run's start is the line: it read the ratings after starting, so a
    rating stored while it ran counts as new, which at worst recomputes a list. Simulated
    ratings carry simulated time in rated_at, so their round's (wall-clock) creation time says
    when they were stored; a rating made through the product itself carries the real time.
    An import of historical ratings after the run is not seen this way (its rated_at is old):
    that needs the snapshot."""
    newest_read = (run.parameters.get("snapshot") or {}).get("rating_pk_max")
    if newest_read is not None:
        [(count, newer)] = _fetch("activity_after", [newest_read, viewer_pk])
    else:
        since = connection.ops.adapt_datetimefield_value(run.started_at)
        [(count, newer)] = _fetch("activity_since", [since, since, viewer_pk])
    return int(count), bool(newer)


def _read_ratings(viewer_pk: int) -> list[tuple[int, float]]:
    """(film source id, score) of each of the viewer's ratings, oldest row first (the order
    a scoring run reads them in, so a fold-in sums in the same order)."""
    return _fetch("ratings", [viewer_pk])


def _read_newest_rating() -> int | None:
    return _fetch("newest_rating", [])[0][0]


def _read_films(source_ids: list[int]) -> dict[int, tuple[str, int | None, list[str]]]:
    """Title, year and genre names of each film by source id (one query for all of them)."""
    if not source_ids:
        return {}
    placeholders = "(" + ", ".join(["%s"] * len(source_ids)) + ")"
    films: dict[int, tuple[str, int | None, list[str]]] = {}
    for source_id, title, year, genre in _fetch("films", source_ids, suffix=placeholders):
        entry = films.setdefault(source_id, (title, year, []))
        if genre is not None:  # a film without genres comes back once, with no name
            entry[2].append(genre)
    return films
