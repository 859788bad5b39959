"""Simulation runs and their rounds as the web pages and the JSON API show them: a round's
identity, its figures (RoundMetrics) and its verdict; a run's state and progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet

from recommender.attributes import record_from
from recommender.selectors.monitoring import DriftReportRecord, round_verdicts
from recommender.selectors.tasks import TaskProgress, task_progress
from simulation.metrics import RoundMetrics
from simulation.models import SimulationRound, SimulationRun

RunStatus = SimulationRun.Status


@dataclass(frozen=True)
class RoundRecord:
    """One played round: who served it, what it measured, and its verdict."""

    id: int
    run_id: int
    number: int
    rounds_planned: int  # by its run
    played_at: datetime
    shift_active: bool
    interactions: int
    arrivals: int
    scoring_run_id: int | None
    served_by: int | None  # the champion whose lists the viewers chose from
    metrics: RoundMetrics
    verdict: DriftReportRecord | None  # the first drift report on the round

    @property
    def label(self) -> str:
        """How pages and charts name a round: "run 1, round 2"."""
        return f"run {self.run_id}, round {self.number}"


def _round_records(rounds: QuerySet[SimulationRound]) -> list[RoundRecord]:
    rows = list(rounds.select_related("scoring_run", "run"))
    verdicts = round_verdicts(r.pk for r in rows)
    return [
        RoundRecord(
            id=r.pk,
            run_id=r.run_id,
            number=r.number,
            rounds_planned=r.run.rounds_planned,
            played_at=r.created_at,
            shift_active=r.shift_active,
            interactions=r.interactions,
            arrivals=r.arrivals,
            scoring_run_id=r.scoring_run_id,
            served_by=r.scoring_run.model_version_id if r.scoring_run is not None else None,
            metrics=RoundMetrics.from_json(r.metrics),
            verdict=verdicts.get(r.pk),
        )
        for r in rows
    ]


def round_history(*, run_id: int | None = None) -> list[RoundRecord]:
    """Every round in the order played, or one run's."""
    rounds = SimulationRound.objects.order_by("created_at", "pk")
    if run_id is not None:
        rounds = rounds.filter(run_id=run_id)
    return _round_records(rounds)


def recent_rounds(*, limit: int) -> list[RoundRecord]:
    """The newest `limit` rounds, oldest first."""
    newest = SimulationRound.objects.order_by("-created_at", "-pk")[:limit]
    return list(reversed(_round_records(newest)))


def latest_round() -> RoundRecord | None:
    records = recent_rounds(limit=1)
    return records[0] if records else None


# --- runs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    id: int
    seed: int
    truth: str
    truth_label: str
    parameters: dict[str, Any]  # what was asked for: rounds, shift, arrivals, ...
    rounds_planned: int
    played: int  # rounds played so far
    status: str
    status_label: str
    created_at: datetime
    created_by: str
    finished_at: datetime | None
    error: str


def _run_record(run: SimulationRun, played: int) -> RunRecord:
    return record_from(
        RunRecord,
        run,
        truth_label=run.get_truth_display(),
        parameters=run.parameters or {},
        played=played,
        status_label=run.get_status_display(),
    )


def recent_runs(*, limit: int = 10) -> list[RunRecord]:
    """The newest runs first, with how many rounds each has played."""
    runs = SimulationRun.objects.annotate(played=Count("rounds"))[:limit]
    return [_run_record(run, run.played) for run in runs]


def simulation_run(run_id: int) -> RunRecord | None:
    run = SimulationRun.objects.filter(pk=run_id).annotate(played=Count("rounds")).first()
    return _run_record(run, run.played) if run is not None else None


@dataclass(frozen=True)
class SimulationStatus:
    run: RunRecord
    rounds: list[RoundRecord]  # by number
    task: TaskProgress | None
    percent: int
    stage: str
    polling: bool  # the page should keep asking the task for progress
    skipped: str  # why the task did nothing (someone else held the model work)
    finished_at: datetime | None


def _progress(run: SimulationRun, played: int, task: TaskProgress | None) -> tuple[int, str, str]:
    """percent, stage, and why the task skipped the run ("" if it did not). The run's status
    decides (a task run eagerly leaves no state in the result backend)."""
    percent = round(100 * played / max(run.rounds_planned, 1))
    skipped = ""
    if task is not None and isinstance(task.result, dict):
        skipped = str(task.result.get("skipped") or "")
    if run.status == RunStatus.COMPLETED:
        return 100, "done", skipped
    if run.status == RunStatus.FAILED:
        return percent, "failed", skipped
    if task is not None and task.finished:
        return percent, "skipped" if skipped else task.stage, skipped
    percent = max(percent, task.percent if task else 0)
    return percent, (task.stage if task else "") or "queued", skipped


def simulation_status(run_id: int) -> SimulationStatus | None:
    """How far the run is: its own status and rounds, and its task's progress while it runs."""
    run = SimulationRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    rounds = _round_records(run.rounds.order_by("number"))
    task_id = run.task_id
    task = task_progress(task_id) if task_id else None
    percent, stage, skipped = _progress(run, len(rounds), task)
    return SimulationStatus(
        run=_run_record(run, len(rounds)),
        rounds=rounds,
        task=task,
        percent=percent,
        stage=stage,
        polling=run.status == RunStatus.RUNNING and task is not None and not task.finished,
        skipped=skipped,
        finished_at=run.finished_at,
    )


def oracle_trained_on(fingerprint: str) -> tuple[str, str] | None:
    """(file, sha256) of the newest oracle trained on data with this fingerprint, if any."""
    return (
        SimulationRun.objects.filter(oracle_ratings=fingerprint)
        .exclude(oracle_artifact_path="")
        .order_by("-pk")
        .values_list("oracle_artifact_path", "oracle_artifact_sha256")
        .first()
    )
