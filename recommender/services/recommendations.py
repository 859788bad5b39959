"""One viewer's recommendations: the service behind the JSON API and the web pages.

A viewer's list is read from the served scoring run (the champion's latest completed run)
while it is still right for them. It is computed on the fly instead when the viewer is not in
that run, has rated films since it started (they must not be recommended again, and a
cold-start viewer may have become an existing one), or asks for more films than it stored.
After a simulation round that is most viewers: the round scores first and stores the
ratings after, so the on-the-fly path is a normal path, not a rare one, and is kept cheap:

- the champion's arrays and its film side (engine.scoring.FilmSide) are held in memory per
  process (`champion_cache`), keyed by its version id and artifact sha256, so a promotion
  (another version) or a different file loads afresh, and an unchanged champion is never
  re-read per request;
- per-film rating counts and means (the popularity penalty and the cold-start fallback need
  all viewers' ratings) are aggregated in the database and held until a newer rating exists;
- per request only the viewer's own rows and the films listed are read (selectors.serving,
  plain SQL): one query for the serving state and the viewer in it (their list in the served
  run, their rating count and newest rating), their ratings when the list is computed, the
  descriptions of listed films not held (a description is held for a minute, a catalogue
  edit drops it: imports only add films); the ranking is the engine's, the kernel a scoring run
  uses (engine.serving.rank_one_viewer, or popular_for_one_viewer for a cold-start viewer),
  so an on-the-fly list is the list a fresh scoring run would store for that viewer.

Each path reads as load (selectors) -> compute (engine) -> describe.

A stored list is still right for its viewer while they have not rated since the run read the
ratings (its snapshot: their newest rating id is not past the run's), whatever others rated.
A list answered is held per viewer on the same terms (`ChampionCache.held_list`: the same
champion and served run, the viewer's rating count and newest rating unchanged) and answered
again from memory: with the token and permission lookups held too
(recommender.api.authentication), a repeated request costs the first query alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from types import EllipsisType

import numpy as np
from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save

from recommender.engine.artifact import load_model
from recommender.engine.checks import is_int
from recommender.engine.model import TrainedModel, UnknownViewerError
from recommender.engine.scoring import FilmSide, PopularityPenalty
from recommender.engine.serving import FilmStats, popular_for_one_viewer, rank_one_viewer
from recommender.models import Film, Genre, ScoringRun
from recommender.selectors.ratings import film_stats
from recommender.selectors.registry import current_champion
from recommender.selectors.scoring import latest_film_stats
from recommender.selectors.serving import (
    FilmDescription,
    ServedViewer,
    film_descriptions,
    newest_rating_id,
    rated_since_run_started,
    scoring_run,
    served_viewer,
    viewer_ratings,
)
from recommender.services.scoring import NoChampionError, default_penalty

logger = logging.getLogger(__name__)

SOURCE_MODEL = "model"
SOURCE_FALLBACK = "fallback"
COMPUTED_FROM_RUN = "scoring_run"
COMPUTED_ON_THE_FLY = "on_the_fly"
# Lists held per process (about 2 kB each for 10 films): enough for the viewers active at once.
HELD_LISTS = 20_000
# Film descriptions held per process (about 300 B each: the whole catalogue at full size is
# 45k films, 14 MB). Imports only add films, so a description changes only when somebody edits
# a film or a genre: the process that saves it drops what it holds (signals), the others
# answer the old title for at most DESCRIPTION_HOLD_SECONDS.
HELD_DESCRIPTIONS = 100_000
DESCRIPTION_HOLD_SECONDS = 60.0


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
    if not is_int(n) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    # Ids past 64 bits cannot be stored, so no viewer has them (and SQLite would overflow).
    if not is_int(viewer_id) or not -(2**63) <= viewer_id < 2**63:
        raise UnknownViewerError.not_found(viewer_id)
    viewer = served_viewer(viewer_id=viewer_id)
    held = champion_cache.held_list(viewer, n)
    if held is not None:
        return held
    if viewer.viewer_pk is None:
        raise UnknownViewerError.not_found(viewer_id)
    run = champion_cache.run(viewer.state.served_run_id)
    result = None
    if run is not None and viewer.stored is not None:
        result = _stored_list(run, viewer, n)
    if result is None:
        result = _computed_list(viewer, run, n)
    champion_cache.hold_list(viewer, n, result)
    return result


# --- the served run ---------------------------------------------------------------------------


def _stored_list(run: ScoringRun, viewer: ServedViewer, n: int) -> Recommendations | None:
    """The viewer's list in `run`, or None when it is no longer right for them: they rated a
    film since the run read the ratings, or crossed the new-user threshold."""
    scored = viewer.stored
    film_ids, scores, predicted = scored.arrays()
    if n > len(film_ids) and len(film_ids) >= _stored_length(run):
        return None  # the run kept fewer films than asked for; there may be more
    threshold = run.parameters.get("new_user_threshold", _new_user_threshold())
    if scored.from_model != (viewer.rating_count > threshold):
        return None
    newest_read = (run.parameters.get("snapshot") or {}).get("rating_pk_max")
    if newest_read is not None:
        rated_since = viewer.rated_after(newest_read)
    else:
        rated_since = rated_since_run_started(viewer_pk=viewer.viewer_pk, run=run)
    if rated_since:
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


def _computed_list(viewer: ServedViewer, run: ScoringRun | None, n: int) -> Recommendations:
    """What a fresh scoring run would store for this viewer, top n, ranked now: the model
    (folded in if it was not trained on the viewer) past the new-user threshold, the
    popularity fallback below it; films already rated are never listed."""
    champion = champion_cache.champion(run)
    viewer_id = viewer.viewer_id
    rated = viewer_ratings(viewer_pk=viewer.viewer_pk)
    stats = champion_cache.film_stats(newest=viewer.state.newest_rating_id)
    from_model = len(rated.film_ids) > _new_user_threshold()
    if from_model:
        film_ids, scores, predicted = rank_one_viewer(
            champion.model,
            champion_cache.film_side(champion, stats, _penalty(run)),
            viewer_id,
            rated_film_ids=rated.film_ids,
            rated_scores=rated.scores,
            n=n,
        )
    else:
        film_ids, scores, predicted = popular_for_one_viewer(
            stats.stats, viewer_id, rated_film_ids=rated.film_ids, n=n
        )
    return Recommendations(
        viewer_id=viewer_id,
        source=SOURCE_MODEL if from_model else SOURCE_FALLBACK,
        computed=COMPUTED_ON_THE_FLY,
        scoring_run_id=None,
        model_version_id=champion.version_id,
        films=_described(film_ids, scores, predicted),
    )


def _penalty(run: ScoringRun | None) -> PopularityPenalty:
    """The served run's penalty, so lists computed on the fly rank like the stored ones; the
    scoring service's default when nothing has been scored with the champion yet."""
    recorded = run.parameters.get("penalty") if run is not None else None
    return PopularityPenalty(**recorded) if recorded else default_penalty()


# --- the champion and film statistics, held in memory -----------------------------------------


@dataclass(frozen=True, eq=False)
class HeldChampion:
    """The champion's arrays, and the film side of its predictions built once (without the
    popularity penalty, which changes with every new rating)."""

    version_id: int
    sha256: str
    model: TrainedModel
    film_side: FilmSide


@dataclass(frozen=True, eq=False)
class HeldStats:
    newest_rating: int | None  # the newest rating id when the figures were read
    stats: FilmStats


@dataclass(frozen=True, eq=False)
class _HeldPenalised:
    champion: HeldChampion  # compared by identity, as is stats: new ones are new objects
    stats: HeldStats
    penalty: PopularityPenalty
    film_side: FilmSide


class ChampionCache:
    """What serving a list on the fly needs that is costly to rebuild per request, held per
    process: the champion (loaded and integrity-checked once, kept until the champion
    changes), the per-film rating figures (kept until a newer rating exists, then updated
    with the new ratings), the film side with the popularity penalty over those figures, the
    served run, the lists answered (each kept while it is still its viewer's, the
    HELD_LISTS most recently asked) and the listed films' descriptions (each for
    DESCRIPTION_HOLD_SECONDS). `clear()` drops it all (tests, whose databases reuse ids; a
    process that must free memory); `forget_titles()` drops what holds a title.

    Reads never block; loading is serialised, so two threads that miss at once load the file
    (or aggregate the figures) once."""

    def __init__(self) -> None:
        self._champion: HeldChampion | None = None
        self._stats: HeldStats | None = None
        self._penalised: _HeldPenalised | None = None
        self._run: ScoringRun | None = None
        self._lists: OrderedDict[tuple[int, int], tuple[tuple, Recommendations]] = OrderedDict()
        self._descriptions: dict[int, tuple[float, FilmDescription]] = {}
        self._champion_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._lists_lock = threading.Lock()
        self._descriptions_lock = threading.Lock()

    @property
    def held_champion(self) -> HeldChampion | None:
        """The champion held now, without checking that it still is the champion."""
        return self._champion

    def champion(self, run: ScoringRun | None) -> HeldChampion:
        """The champion, held. Raises NoChampionError, or ArtifactError for a bad file."""
        held = self._champion
        # The served run's version is the champion (served_scoring_run) and a version's
        # artifact never changes, so a held model of that version needs no further query.
        if run is not None and held is not None and held.version_id == run.model_version_id:
            return held
        version = current_champion()
        if version is None:
            raise NoChampionError()
        key = (version.pk, version.artifact_sha256)
        if held is not None and (held.version_id, held.sha256) == key:
            return held
        with self._champion_lock:
            held = self._champion
            if held is None or (held.version_id, held.sha256) != key:
                model = load_model(Path(version.artifact_path), sha256=version.artifact_sha256)
                held = HeldChampion(*key, model=model, film_side=FilmSide.build(model))
                self._champion = held
                logger.info("serving model v%s held in memory (%s)", version.pk, model)
        return held

    def film_stats(self, *, newest: int | None | EllipsisType = ...) -> HeldStats:
        """Rating count and mean of every rated film over all ratings. Ratings are only ever
        added, or deleted newest first (a simulation reset), so the newest rating id, one
        index lookup, says whether the held figures are still the current ones; when ratings
        were added, only those are aggregated and added to the held figures. A process
        holding none starts from the newest scoring run's stored figures (RunFilmStats) plus
        the ratings since its snapshot: at 26M ratings the full aggregate took 14 s, which a
        server's first request paid (and past its worker timeout, under load, again and
        again), the figures of the ratings of a round since about 1 s.
        newest: the newest rating id when the caller has just read it."""
        if newest is ...:
            newest = newest_rating_id()
        held = self._stats
        if held is not None and held.newest_rating == newest:
            return held
        with self._stats_lock:
            held = self._stats
            if held is not None and held.newest_rating == newest:
                return held
            if held is not None and newest is not None and (held.newest_rating or 0) < newest:
                stats = _added(held.stats, held.newest_rating or 0, newest)
            else:
                stats = _from_snapshot(newest) or film_stats(rating_pk_max=newest)
            held = self._stats = HeldStats(newest_rating=newest, stats=stats)
        return held

    def film_side(
        self, champion: HeldChampion, stats: HeldStats, penalty: PopularityPenalty
    ) -> FilmSide:
        """The champion's film side with `penalty` over the held rating counts, as
        rank_every_viewer applies it; the bare film side when the penalty changes nothing."""
        if not penalty.is_active:
            return champion.film_side
        held = self._penalised
        if (
            held is not None
            and held.champion is champion
            and held.stats is stats
            and held.penalty == penalty
        ):
            return held.film_side
        film_side = champion.film_side.penalised(
            penalty, stats.stats.counts_of(champion.model.film_ids)
        )
        self._penalised = _HeldPenalised(champion, stats, penalty, film_side)
        return film_side

    def run(self, run_id: int | None) -> ScoringRun | None:
        """The served run by id, held: a completed run never changes (pruning deletes only
        runs nobody is served from)."""
        if run_id is None:
            return None
        held = self._run
        if held is None or held.pk != run_id:
            held = self._run = scoring_run(run_id)
        return held

    def held_list(self, viewer: ServedViewer, n: int) -> Recommendations | None:
        """The list answered before for (viewer, n), if it is still theirs: the same
        champion and served run, and the viewer has not rated since (the same rating count
        and newest rating). Other viewers' ratings leave it held: they move the popularity
        figures a little, which the next scoring run takes in, as a stored list would."""
        with self._lists_lock:
            held = self._lists.get((viewer.viewer_id, n))
            if held is None or held[0] != _held_key(viewer):
                return None
            self._lists.move_to_end((viewer.viewer_id, n))
            return held[1]

    def hold_list(self, viewer: ServedViewer, n: int, recommendations: Recommendations) -> None:
        with self._lists_lock:
            self._lists[(viewer.viewer_id, n)] = (_held_key(viewer), recommendations)
            self._lists.move_to_end((viewer.viewer_id, n))
            if len(self._lists) > HELD_LISTS:
                self._lists.popitem(last=False)

    def descriptions(self, film_ids: list[int]) -> dict[int, FilmDescription]:
        """Title, year and genres of each film (selectors.serving.film_descriptions), those
        read in the last DESCRIPTION_HOLD_SECONDS from memory, the rest in one query; films
        not in the catalogue are absent, and asked for again next time."""
        now = time.monotonic()
        found = {}
        with self._descriptions_lock:
            for film_id in film_ids:
                held = self._descriptions.get(film_id)
                if held is not None and now - held[0] <= DESCRIPTION_HOLD_SECONDS:
                    found[film_id] = held[1]
        missing = [film_id for film_id in film_ids if film_id not in found]
        if missing:
            read = film_descriptions(film_ids=missing)
            with self._descriptions_lock:
                if len(self._descriptions) + len(read) > HELD_DESCRIPTIONS:
                    self._descriptions.clear()
                self._descriptions.update((film_id, (now, d)) for film_id, d in read.items())
            found.update(read)
        return found

    def forget_titles(self, **_signal) -> None:
        """Drop the held descriptions and lists, which hold films' titles (an edited film or
        genre); the champion and the rating figures do not depend on them."""
        with self._lists_lock:
            self._lists.clear()
        with self._descriptions_lock:
            self._descriptions.clear()

    def clear(self) -> None:
        with self._champion_lock:
            self._champion = None
            self._penalised = None
            self._run = None
        with self._stats_lock:
            self._stats = None
        self.forget_titles()


def _added(stats: FilmStats, after: int, newest: int) -> FilmStats:
    """`stats` (the figures up to rating `after`) with the ratings after it, up to `newest`."""
    new = film_stats(rating_pk_after=after, rating_pk_max=newest)
    return stats.combined(new.film_ids, new.counts, new.sums)


def _from_snapshot(newest: int | None) -> FilmStats | None:
    """The figures from the newest stored ones that count no rating past `newest` (a scoring
    run's or a round's, selectors.scoring.latest_film_stats) and the ratings since; None when
    none are stored."""
    latest = latest_film_stats(rating_pk_max=newest) if newest is not None else None
    if latest is None:
        return None
    snapshot, stored = latest
    return stored if newest == snapshot else _added(stored, snapshot, newest)


def _held_key(viewer: ServedViewer) -> tuple:
    """What a held list of the viewer's stays right under."""
    state = viewer.state
    return (state.champion_id, state.served_run_id, viewer.rating_count, viewer.newest_rating_id)


champion_cache = ChampionCache()


def _clear_on_catalogue_edits() -> None:
    """An edited film or genre (the admin) drops the descriptions and lists this process
    holds: its title may be in them."""
    forget = champion_cache.forget_titles
    for model in (Film, Genre):
        for signal in (post_save, post_delete):
            signal.connect(forget, sender=model, dispatch_uid=f"held-{model}")
    m2m_changed.connect(forget, sender=Film.genres.through, dispatch_uid="held-film-genres")


_clear_on_catalogue_edits()


# --- film descriptions ------------------------------------------------------------------------


def _described(
    film_ids: np.ndarray, scores: np.ndarray, predicted: np.ndarray
) -> list[RecommendedFilm]:
    """Title, year and genres of each listed film, in list order."""
    wanted = [int(f) for f in film_ids]
    films = champion_cache.descriptions(wanted)
    missing = [f for f in wanted if f not in films]
    if missing:
        # A film deleted from the catalogue after the run: left out rather than shown blank.
        logger.warning("recommended film(s) no longer in the catalogue: %s", missing)
    return [
        RecommendedFilm(
            rank=rank,
            film_id=film_id,
            title=films[film_id].title,
            year=films[film_id].year,
            genres=sorted(films[film_id].genres),
            predicted_rating=float(rating),
            score=float(score),
        )
        for rank, (film_id, score, rating) in enumerate(
            zip(wanted, scores.tolist(), predicted.tolist(), strict=True), start=1
        )
        if film_id in films
    ]
