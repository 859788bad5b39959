"""Simulation runs: each round scores every viewer with the champion, lets them choose and
rate films, stores the ratings, and measures how well the served model predicted them."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from recommender.engine.artifact import ArtifactError, load_model, save_model
from recommender.engine.model import TrainedModel
from recommender.engine.scoring import PopularityPenalty
from recommender.engine.segments import VIEWER_GROUPS
from recommender.models import Rating, RunFilmStats, Viewer
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.ratings import (
    RatingsFingerprint,
    film_genres_frame,
    film_pks,
    genre_names,
    newest_rating_time,
    ratings_fingerprint,
    ratings_frame,
    viewer_count,
    viewers_frame,
)
from recommender.selectors.registry import current_champion
from recommender.services.cycle import CycleOutcome, monitor_and_retrain
from recommender.services.gate import wait_at_test_gate
from recommender.services.imports import ratings_bulk_insert
from recommender.services.jobs import job_enqueue
from recommender.services.lifecycle import model_version_approve
from recommender.services.maintenance import dead_ratings_reclaim_quietly
from recommender.services.monitoring import accuracy_by_segment, drift_report_create
from recommender.services.retraining import model_version_retrain
from recommender.services.scoring import (
    NoChampionError,
    ScoringOutcome,
    round_film_stats_store,
    score_and_store,
)
from recommender.tracking import track_run
from simulation.engine import (
    BehaviourConfig,
    RoundDraw,
    TasteShift,
    count_arrivals,
    oracle_recipe,
    play_round,
    round_experience,
    train_oracle,
)
from simulation.metrics import GroupAccuracy, ListFigures, RoundMetrics
from simulation.models import SimulationRound, SimulationRun
from simulation.selectors import oracle_trained_on
from simulation.shifts import unknown_genre_problems

if TYPE_CHECKING:
    from collections.abc import Callable

    from celery import Task

logger = logging.getLogger(__name__)

DAY = 86_400
TOP = 10  # the top of a list whose hits a round's experience counts


class SimulationParameterError(ValueError):
    """A simulation parameter is wrong; the message names it. Nothing was written."""


@dataclass(frozen=True)
class SimulationParameters:
    rounds: int = 1
    seed: int = 0
    # None: the SIM_TRUTH setting ("oracle" by default). "model" is the original system's
    # self-referential mode: the champion's prediction is the true rating, so on an unshifted
    # segment no challenger can beat it.
    truth: str | None = None
    shift: dict[str, float] = field(default_factory=dict)
    shift_start: int = 1
    arrivals: float | None = None
    popularity_transform: str | None = None
    popularity_alpha: float | None = None
    sigma: float | str | None = None  # None: the SIM_RATING_SIGMA setting; "auto": calibrate_sigma
    max_interactions: int | None = None
    decay: float | None = None
    round_days: int = 1

    def resolved(self) -> SimulationParameters:
        """Defaults from settings filled in, every value checked (errors name the parameter)."""
        sim, rec = settings.SIMULATION, settings.RECOMMENDER
        values = asdict(self)
        defaults = {
            "truth": sim["TRUTH"],
            "arrivals": sim["ARRIVAL_SHARE"],
            "popularity_transform": rec["POPULARITY_TRANSFORM"],
            "popularity_alpha": rec["POPULARITY_ALPHA"],
            "sigma": sim["RATING_SIGMA"],
            "max_interactions": sim["MAX_INTERACTIONS"],
            "decay": sim["CHOICE_DECAY"],
        }
        values.update({k: v for k, v in defaults.items() if values[k] is None})
        resolved = SimulationParameters(**values)
        resolved.check()
        return resolved

    def check(self) -> None:
        if not isinstance(self.rounds, int) or self.rounds < 1:
            raise SimulationParameterError(f"rounds must be at least 1, got {self.rounds}")
        if self.truth not in SimulationRun.Truth.values:
            raise SimulationParameterError(
                f"truth must be one of {', '.join(SimulationRun.Truth.values)}, got {self.truth!r}"
            )
        if not 0.0 <= float(self.arrivals) <= 1.0:
            raise SimulationParameterError(
                f"arrivals must be a share between 0 and 1, got {self.arrivals}"
            )
        if self.round_days < 1:
            raise SimulationParameterError(f"round_days must be at least 1, got {self.round_days}")
        if self.sigma != "auto" and not float(self.sigma) > 0:
            raise SimulationParameterError(f"sigma must be > 0 or 'auto', got {self.sigma}")
        if self.shift:
            known = genre_names()
            unknown = unknown_genre_problems(self.shift, known)
            if unknown:
                raise SimulationParameterError(
                    f"shift: {'; '.join(unknown)}; known genres: {', '.join(sorted(known))}"
                )
        try:
            self.taste_shift()
            self.behaviour()
            self.penalty()
        except ValueError as exc:
            raise SimulationParameterError(str(exc)) from exc

    def taste_shift(self) -> TasteShift | None:
        if not self.shift:
            return None
        try:
            return TasteShift(multipliers=self.shift, start_round=self.shift_start)
        except ValueError as exc:
            raise SimulationParameterError(f"shift: {exc}") from exc

    def behaviour(self) -> BehaviourConfig:
        sigma = settings.SIMULATION["RATING_SIGMA"] if self.sigma == "auto" else float(self.sigma)
        return BehaviourConfig(
            max_interactions=self.max_interactions, decay=self.decay, sigma=sigma
        )

    def penalty(self) -> PopularityPenalty:
        return PopularityPenalty(transform=self.popularity_transform, alpha=self.popularity_alpha)

    @classmethod
    def of_run(cls, run: SimulationRun) -> SimulationParameters:
        """The parameters a run was recorded with (unknown keys of older runs ignored)."""
        return cls(**{k: v for k, v in run.parameters.items() if k in cls.__dataclass_fields__})


def simulation_run_create(*, parameters: SimulationParameters, actor: str) -> SimulationRun:
    """Check everything, then record the run. Raises SimulationParameterError or NoChampionError."""
    parameters = parameters.resolved()
    if current_champion() is None:
        raise NoChampionError()
    latest = newest_rating_time() or timezone.now()
    return SimulationRun.objects.create(
        seed=parameters.seed,
        truth=parameters.truth,
        parameters=asdict(parameters),
        time_origin=int(latest.timestamp()) + 1,
        rounds_planned=parameters.rounds,
        created_by=actor,
    )


def simulation_round_play(
    *, run: SimulationRun, number: int, progress: ProgressCallback | None = None
) -> SimulationRound:
    """One round, stored in one transaction: a failure leaves no trace of it. Load (arrivals,
    the champion's lists, the oracle, film genres) -> simulation.engine.play_round -> store
    (the round, its ratings, its RoundMetrics)."""
    progress = progress or no_progress
    started = time.perf_counter()
    parameters = SimulationParameters.of_run(run)
    rng = np.random.default_rng([run.seed, number])
    window_start = run.time_origin + (number - 1) * parameters.round_days * DAY
    window = (window_start, window_start + parameters.round_days * DAY)

    with transaction.atomic():
        progress("arrivals", 0.0)
        arrivals = count_arrivals(viewer_count(), float(parameters.arrivals), rng)
        _create_arrivals(arrivals)

        scored, oracle = _scored_with_oracle(run, parameters, progress)

        progress("choosing", 0.6)
        film_genres = film_genres_frame()
        draw = play_round(
            scored.ranking,
            **_round_inputs(run, parameters, scored),
            oracle=oracle,
            round_number=number,
            film_genres=film_genres,
            rng=rng,
            window=window,
            calibration_seed=run.seed,
        )
        if draw.sigma_calibrated:
            _keep_calibrated_sigma(run, draw.sigma, target_r2=scored.version.r2)

        progress("storing", 0.8)
        round_ = SimulationRound.objects.create(
            run=run,
            number=number,
            scoring_run=scored.run,
            window_start=_at(window[0]),
            window_end=_at(window[1]),
            arrivals=arrivals,
            interactions=len(draw.ratings),
            shift_active=draw.shift_active,
        )
        _store_ratings(round_, draw)
        round_film_stats_store(round_id=round_.pk, run=scored.run)

        progress("metrics", 0.9)
        metrics = _round_metrics(draw, scored, film_genres, seconds=time.perf_counter() - started)
        round_.metrics = metrics.to_json()
        round_.save(update_fields=["metrics"])
    _track_round(run, round_, scored)
    progress("done", 1.0)
    return round_


def _scored_with_oracle(
    run: SimulationRun, parameters: SimulationParameters, progress: ProgressCallback
) -> tuple[ScoringOutcome, TrainedModel | None]:
    """The round's scoring run, and its oracle when the truth is an oracle's. Whether one is
    trained is known before scoring, so scoring keeps the ratings it read only then."""
    truth_by_oracle = parameters.truth == SimulationRun.Truth.ORACLE
    oracle_source = _oracle_source(run) if truth_by_oracle else None
    progress("scoring", 0.1)
    scored = score_and_store(
        actor=f"simulation:{run.pk}",
        penalty=parameters.penalty(),
        keep_ratings=oracle_source is not None and oracle_source.artifact is None,
    )
    if oracle_source is None:
        return scored, None
    progress("oracle", 0.6)
    oracle = _oracle(run, oracle_source, scored)
    return replace(scored, ratings=None), oracle  # learnt from: freed before the round goes on


def _round_inputs(
    run: SimulationRun, parameters: SimulationParameters, scored: ScoringOutcome
) -> dict:
    """The engine's inputs that depend on the run's state: the behaviour (with the sigma
    calibrated in an earlier round), whether to calibrate sigma now, the shift."""
    behaviour = parameters.behaviour()
    calibrate_to_r2 = None
    if parameters.sigma == "auto":
        if run.sigma_calibrated is not None:
            behaviour = replace(behaviour, sigma=float(run.sigma_calibrated))
        elif scored.version.r2 is None:
            raise SimulationParameterError("sigma: 'auto' needs the champion's holdout R²")
        else:
            calibrate_to_r2 = scored.version.r2
    return {
        "behaviour": behaviour,
        "calibrate_to_r2": calibrate_to_r2,
        "shift": parameters.taste_shift(),
    }


def _keep_calibrated_sigma(run: SimulationRun, sigma: float, *, target_r2: float) -> None:
    """The sigma calibrated on the run's first round serves every later round."""
    run.sigma_calibrated = sigma
    run.save(update_fields=["sigma_calibrated"])
    logger.info("simulation %s: calibrated sigma %.4f for R² %.4f", run.pk, sigma, target_r2)


def _round_metrics(
    draw: RoundDraw, scored: ScoringOutcome, film_genres: pd.DataFrame, *, seconds: float
) -> RoundMetrics:
    """How well the served predictions matched the simulated ratings, per viewer group, the
    scoring run's figures of the lists served this round, and what viewers experienced."""
    rows_of = {"all": slice(None), "existing": draw.from_model, "new": ~draw.from_model}
    accuracy = {
        group: GroupAccuracy.from_json(
            accuracy_by_segment(
                draw.ratings[rows_of[group]],
                draw.predicted[rows_of[group]],
                draw.membership[rows_of[group]],
                draw.genre_names,
            )
        )
        for group in VIEWER_GROUPS
    }
    return RoundMetrics(
        sigma=draw.sigma,
        accuracy=accuracy,
        lists={group: ListFigures.from_json(x) for group, x in scored.run.metrics.items()},
        seconds=seconds,
        experience=round_experience(draw, scored.ranking.film_ids[:, :TOP], film_genres),
    )


def _track_round(run: SimulationRun, round_: SimulationRound, scored: ScoringOutcome) -> None:
    track_run(
        job_type="simulation-round",
        name=f"simulation-{run.pk}-round-{round_.number}",
        config={**run.parameters, "round": round_.number, "champion": scored.version.pk},
        metrics={
            **round_.metrics,
            "interactions": round_.interactions,
            "arrivals": round_.arrivals,
        },
    )


@dataclass(frozen=True)
class _OracleSource:
    """Where a round's oracle comes from, known before the round scores: the run's own
    artifact, an earlier run's trained on the same original ratings with the same trainer and
    configuration, or (artifact None) training on the original ratings, which the round's
    scoring then keeps for it when they are all its snapshot holds."""

    artifact: tuple[str, str] | None  # (file, sha256)
    fingerprint: RatingsFingerprint | None = None  # of the original ratings; None: the run's own
    trainer: str = ""  # SIM_ORACLE_TRAINER as the label was made with it, when not own
    label: str = ""  # the fingerprint and the recipe, as run.oracle_ratings stores them

    @property
    def own(self) -> bool:
        """The run's own oracle (its artifact already recorded on the run)."""
        return self.fingerprint is None


def _oracle_source(run: SimulationRun) -> _OracleSource:
    if run.oracle_artifact_path:
        return _OracleSource(artifact=(run.oracle_artifact_path, run.oracle_artifact_sha256))
    fingerprint = ratings_fingerprint(origin=Rating.Origin.ORIGINAL)
    trainer = settings.SIMULATION["ORACLE_TRAINER"]
    label = f"{fingerprint}; {oracle_recipe(trainer)}"
    return _OracleSource(
        artifact=oracle_trained_on(label),
        fingerprint=fingerprint,
        trainer=trainer,
        label=label,
    )


def _oracle(run: SimulationRun, source: _OracleSource, scored: ScoringOutcome) -> TrainedModel:
    """The run's oracle from `source`; a new one is trained when there is none to reuse
    (training it is the costliest part of a data set's first round), on the ratings scoring
    just read when they are exactly the original ones, else on the original ones read again."""
    if source.own:
        path, sha256 = source.artifact
        return load_model(Path(path), sha256=sha256)
    oracle = None
    if source.artifact is not None:
        path, sha256 = source.artifact
        try:
            oracle = load_model(Path(path), sha256=sha256)
        except ArtifactError as exc:  # deleted or altered since: train a new one
            logger.warning("the earlier oracle cannot be used, training a new one: %s", exc)
    if oracle is None:
        oracle = train_oracle(_original_ratings(run, source, scored), source.trainer)
        artifact = save_model(oracle, Path(settings.RECOMMENDER["ARTIFACT_DIR"]))
        path, sha256 = str(artifact.path), artifact.sha256
    run.oracle_artifact_path, run.oracle_artifact_sha256 = path, sha256
    run.oracle_ratings = source.label
    # Saved outside the round's transaction would be nicer, but the artifact is content-addressed,
    # so a rolled-back round only leaves a file that the next attempt reuses.
    run.save(update_fields=["oracle_artifact_path", "oracle_artifact_sha256", "oracle_ratings"])
    return oracle


def _original_ratings(
    run: SimulationRun, source: _OracleSource, scored: ScoringOutcome
) -> pd.DataFrame:
    """The original ratings, in id order: the frame scoring read when its snapshot holds them
    and nothing else (a data set's first run; 16 s of reading at 26M ratings saved), else
    read again. Either way the same frame, so the same oracle (tested)."""
    snapshot_max = scored.run.parameters["snapshot"]["rating_pk_max"]
    if (
        scored.ratings is not None
        and snapshot_max is not None
        and source.fingerprint.describes(scored.ratings, rating_pk_max=snapshot_max)
    ):
        logger.info(
            "simulation %s: the oracle learns from the %d ratings the round's scoring read",
            run.pk, len(scored.ratings),
        )  # fmt: skip
        return scored.ratings
    logger.info("simulation %s: the oracle learns from the original ratings, read again", run.pk)
    return ratings_frame(origin=Rating.Origin.ORIGINAL)


def _create_arrivals(count: int) -> None:
    if count == 0:
        return
    start = (Viewer.objects.aggregate(top=Max("source_id"))["top"] or 0) + 1
    Viewer.objects.bulk_create(
        [Viewer(source_id=start + i, origin=Viewer.Origin.SIMULATED) for i in range(count)],
        batch_size=2000,
    )


def _store_ratings(round_: SimulationRound, draw: RoundDraw) -> None:
    viewers = viewers_frame().set_index("viewer_id")["pk"]
    films = film_pks()
    frame = pd.DataFrame(
        {
            "viewer_id": viewers.loc[draw.viewer_ids].to_numpy(),
            "film_id": films.loc[draw.film_ids].to_numpy(),
            "score": draw.ratings,
            "timestamp": draw.timestamps,
        }
    )
    # The draw picks films from each viewer's list, which holds none they had rated when the
    # round's scoring read the ratings.
    ratings_bulk_insert(frame, origin=Rating.Origin.SIMULATED, round_id=round_.pk, expect_new=True)


def _at(unix_seconds: int):
    return pd.Timestamp(unix_seconds, unit="s", tz="UTC").to_pydatetime()


def simulation_run_launch(
    *,
    parameters: SimulationParameters,
    actor: str,
    task: Task,
    monitor: bool = True,
    search: bool = False,
) -> SimulationRun:
    """Record a run and queue `task` (simulation.tasks.run_simulation, passed in by the entry
    point: services never import tasks) on it once the run is committed (with `monitor`, the
    monitor-and-retrain cycle); the task id is kept on the run for its page. The model-work
    lease is taken here, so a second launch is refused at once (AlreadyRunningError) and
    records nothing."""
    launched = None
    try:
        with transaction.atomic():
            run = simulation_run_create(parameters=parameters, actor=actor)
            run.task_id = job_enqueue(
                task,
                kwargs={"run_id": run.pk, "monitor": monitor, "search": search},
                purpose="the simulation cycle" if monitor else "a simulation",
            )
            run.save(update_fields=["task_id"])
            launched = run
    except Exception:
        # Eager mode (no worker): the task ran in this process after the commit and failed;
        # the run has recorded the failure itself, and its page shows it.
        if launched is None or not SimulationRun.objects.filter(pk=launched.pk).exists():
            raise
        logger.exception("simulation run %s failed", launched.pk)
    return launched


def simulation_run_execute(
    *,
    run: SimulationRun,
    monitor: bool = False,
    search: bool = False,
    progress: ProgressCallback | None = None,
    after_round: Callable[[], None] | None = None,
) -> SimulationRun:
    """Play every planned round not played yet (safe to call again after an interruption).

    With `monitor`, this is the monitor-and-retrain cycle: after each round the champion is
    checked for drift on it, and when retraining is required a challenger is trained and
    promoted, rejected or sent to review. Each round's outcome is kept in its metrics.
    `after_round` is called once each round and its outcome are stored (the entry points draw
    the metric charts there)."""
    progress = progress or no_progress
    actor = f"simulation:{run.pk}"
    done = set(run.rounds.values_list("number", flat=True))
    if run.status != SimulationRun.Status.RUNNING:  # resumed after a failure or interruption
        run.status, run.error, run.finished_at = SimulationRun.Status.RUNNING, "", None
        run.save(update_fields=["status", "error", "finished_at"])
    # Share of a round's progress bar taken by playing it; monitoring takes the rest.
    share = 0.6 if monitor else 1.0
    try:
        for number in range(1, run.rounds_planned + 1):
            if number in done:
                continue

            def report(stage: str, fraction: float, n: int = number) -> None:
                progress(f"round {n}: {stage}", ((n - 1) + fraction) / run.rounds_planned)

            round_ = simulation_round_play(
                run=run, number=number, progress=lambda s, f: report(s, share * f)
            )
            if monitor:
                report("monitoring", 0.6)
                outcome = _monitor_round(round_, actor, search, report)
                metrics = RoundMetrics.from_json(round_.metrics)
                round_.metrics = replace(metrics, cycle=outcome).to_json()
                round_.save(update_fields=["metrics"])
            if after_round is not None:
                after_round()
            wait_at_test_gate("between rounds")
    except Exception as exc:
        SimulationRun.objects.filter(pk=run.pk).update(
            status=SimulationRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}",
        )
        raise
    run.status = SimulationRun.Status.COMPLETED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    return run


def _monitor_round(round_: SimulationRound, actor: str, search: bool, report) -> CycleOutcome:
    return monitor_and_retrain(
        actor=actor,
        round_id=round_.pk,
        search=search,
        seed=round_.run.seed + round_.number,
        rescore_on_promotion=False,  # the next round scores with the champion first
        progress=lambda stage, f: report(stage, 0.6 + 0.4 * f),
    )


@dataclass(frozen=True)
class ResetSummary:
    ratings: int
    rounds: int
    runs: int
    viewers: int


def simulation_reset() -> ResetSummary:
    """Delete simulated ratings, rounds, runs and arrived viewers. Original ratings are never
    touched: only rows with origin=simulated are deleted."""
    with transaction.atomic():
        ratings = Rating.objects.filter(origin=Rating.Origin.SIMULATED).delete()[0]
        # Scoring runs' stored film figures counted those ratings: a server aggregates afresh.
        RunFilmStats.objects.all().delete()
        rounds = SimulationRound.objects.count()
        runs = SimulationRun.objects.count()
        SimulationRun.objects.all().delete()
        viewers = (
            Viewer.objects.filter(origin=Viewer.Origin.SIMULATED)
            .delete()[1]
            .get("recommender.Viewer", 0)
        )
    # The deleted ratings stay in the rating table's indexes until vacuumed (on PostgreSQL).
    dead_ratings_reclaim_quietly(reason="after a simulation reset")
    return ResetSummary(ratings=ratings, rounds=rounds, runs=runs, viewers=viewers)


@dataclass(frozen=True)
class GenreShiftExperiment:
    baseline: SimulationRun
    shifted: SimulationRun
    after: SimulationRun | None
    drift_report_id: int
    degraded: list[str]
    decision: str | None
    reason: str
    challenger_status: str | None
    genre_counts_before: dict[str, float]
    genre_counts_after: dict[str, float] | None
    # Champion vs challenger per metric, each difference with its paired 95 % interval
    # (MetricComparison.to_dict()); empty when nothing was retrained.
    comparisons: list[dict] = field(default_factory=list)


def experiment_genre_shift(
    *,
    genre: str,
    multiplier: float,
    truth: str | None = None,
    shifted_rounds: int = 3,
    seed: int = 0,
    approve_as=None,
    progress: ProgressCallback | None = None,
) -> GenreShiftExperiment:
    """The original system's experiment: a baseline round, rounds with one genre's true
    ratings multiplied, a drift check on each round, retraining and a decision, then a new round under the
    new champion (if promoted), comparing how often each genre is recommended before and
    after. `approve_as`: a reviewer account that approves a challenger sent to review."""
    progress = progress or no_progress
    actor = "command:experiment"
    common = {"seed": seed, "truth": truth, "arrivals": 0.0}
    shift = {genre: multiplier}

    progress("baseline round", 0.0)
    baseline = _play(SimulationParameters(rounds=1, **common), actor=actor)
    before = _genre_counts(baseline)
    progress("shifted rounds", 0.2)
    shifted = _play(
        SimulationParameters(rounds=shifted_rounds, shift=shift, **{**common, "seed": seed + 1}),
        actor=actor,
    )
    progress("drift checks", 0.5)
    drift = _judge_rounds([baseline, shifted], actor=actor, seed=seed)
    decision, reason, status, comparisons = None, "no drift detected: nothing to retrain", None, []
    if drift.retraining_required:
        progress("retraining", 0.6)
        decision, reason, status, comparisons = _retrain_and_decide(
            actor=actor, seed=seed, approve_as=approve_as
        )

    after = None
    if status == "champion":
        progress("round under the new champion", 0.85)
        after = _play(
            SimulationParameters(rounds=1, shift=shift, **{**common, "seed": seed + 2}),
            actor=actor,
        )
    progress("done", 1.0)
    return GenreShiftExperiment(
        baseline=baseline,
        shifted=shifted,
        after=after,
        drift_report_id=drift.pk,
        degraded=drift.degraded,
        decision=decision,
        reason=reason,
        challenger_status=status,
        genre_counts_before=before,
        genre_counts_after=None if after is None else _genre_counts(after),
        comparisons=comparisons,
    )


def _judge_rounds(runs: list[SimulationRun], *, actor: str, seed: int):
    """A drift report on every round of the runs, in play order, as the cycle makes them: the
    reference rule builds its reference from the rounds judged clean before (the baseline),
    never from a shifted round that was not judged. Returns the last report."""
    report = None
    for run in runs:
        for round_ in run.rounds.order_by("number"):
            report = drift_report_create(actor=actor, round_id=round_.pk, seed=seed)
    return report


def _play(parameters: SimulationParameters, *, actor: str) -> SimulationRun:
    return simulation_run_execute(run=simulation_run_create(parameters=parameters, actor=actor))


def _genre_counts(run: SimulationRun) -> dict[str, float]:
    """How often each genre was recommended per top list, over all viewers, in the run's only
    round."""
    return RoundMetrics.from_json(run.rounds.get().metrics).lists["all"].genre_counts


def _retrain_and_decide(*, actor: str, seed: int, approve_as) -> tuple[str, str, str, list]:
    """Retrain, and approve a challenger sent to review when a reviewer is given: (decision,
    reason, the challenger's status now, the comparisons it was decided on)."""
    outcome = model_version_retrain(actor=actor, seed=seed)
    if outcome.decision.value == "human review" and approve_as is not None:
        model_version_approve(
            version_id=outcome.challenger.pk, reviewer=approve_as, comment="experiment"
        )
    outcome.challenger.refresh_from_db(fields=["status"])
    status = outcome.challenger.status
    return outcome.decision.value, outcome.reason, status, outcome.comparisons
