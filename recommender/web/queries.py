"""Reads behind the web pages: each function gathers one page's data in a few queries and
returns plain values (dataclasses, lists, dicts) for the template and the chart builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.paginator import Page, Paginator
from django.db.models import Count, Q

from recommender.engine.artifact import ArtifactError
from recommender.models import DriftReport, ModelVersion, Rating, ScoringRun, Viewer
from recommender.selectors.registry import current_champion
from recommender.selectors.scoring import served_scoring_run
from recommender.services.jobs import TaskProgress, running_tasks, task_progress
from recommender.services.recommendations import Recommendations, viewer_recommendations
from recommender.services.scoring import NoChampionError
from simulation.models import SimulationRound, SimulationRun

GROUPS = ("all", "existing", "new")
LIST_METRICS = ("coverage", "diversity", "personalization")
GENRE_PREFIX = "genre:"
RATINGS_PER_PAGE = 50
Status = ModelVersion.Status


def metric_label(metric: str) -> str:
    """ "overall" -> "Overall", "genre:Action" -> "Action"."""
    return metric[len(GENRE_PREFIX) :] if metric.startswith(GENRE_PREFIX) else metric.capitalize()


def _drop_sort_key(metric: dict) -> tuple:
    return (not metric["degraded"], metric["metric"] != "overall", metric["metric"])


# --- dashboard --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftStatus:
    report: DriftReport
    metrics: list[dict]  # degraded first, each with a "label"
    degraded: list[str]
    not_judged: list[str]


def drift_status(report: DriftReport | None) -> DriftStatus | None:
    if report is None:
        return None
    metrics = sorted(
        ({**m, "label": metric_label(m["metric"])} for m in report.metrics), key=_drop_sort_key
    )
    return DriftStatus(
        report=report,
        metrics=metrics,
        degraded=[metric_label(m) for m in report.degraded],
        not_judged=[metric_label(m) for m in report.not_judged],
    )


def dashboard() -> dict:
    """The champion, the latest scoring run, round and drift report, how many challengers
    await review, and the tasks running now."""
    latest_round = SimulationRound.objects.select_related("run").order_by("-created_at", "-pk")
    return {
        "champion": current_champion(),
        "scoring_run": ScoringRun.objects.select_related("model_version").first(),
        "served_run": served_scoring_run(),
        "latest_round": latest_round.first(),
        "drift": drift_status(DriftReport.objects.select_related("round__run").first()),
        "pending_count": ModelVersion.objects.filter(status=Status.PENDING_REVIEW).count(),
        "tasks": running_tasks(),
    }


# --- metric history ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundPoint:
    """One simulated round as the metric charts see it: plain numbers, None where the round
    has no value (a group without viewers, a segment not judged)."""

    pk: int
    run_id: int
    number: int
    label: str  # "RUN.ROUND"
    interactions: int
    arrivals: int
    shift_active: bool
    served_by: int | None  # the model version that scored the round
    benchmark_r2: float | None  # that version's holdout benchmark
    benchmark_rmse: float | None
    r2: dict[str, float | None]  # per viewer group
    rmse: dict[str, float | None]
    genre_r2: dict[str, float | None]  # existing viewers, per genre
    lists: dict[str, dict[str, float | None]]  # per group: coverage, diversity, personalization
    drift_checked: bool
    drift_required: bool
    degraded: list[str]  # metric names, e.g. "overall", "genre:Action"
    decision: str | None
    challenger: int | None


@dataclass(frozen=True)
class MetricHistory:
    rounds: list[RoundPoint]
    genres: list[str]  # judged in at least one round
    never_judged: list[str]
    promotions: list[tuple[int, int]]  # (index of the first round served, version id)
    run: SimulationRun | None = None
    runs: list[SimulationRun] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.rounds]


def _group_value(accuracy: dict, group: str, key: str) -> float | None:
    return ((accuracy.get(group) or {}).get("overall") or {}).get(key)


def _round_point(round_: SimulationRound, versions: dict, drift: DriftReport | None) -> RoundPoint:
    metrics = round_.metrics or {}
    accuracy = metrics.get("accuracy") or {}
    lists = metrics.get("lists") or {}
    cycle = metrics.get("cycle") or {}
    served_by = round_.scoring_run.model_version_id if round_.scoring_run else None
    benchmark = (versions.get(served_by) or {}).get("overall") or {}
    per_genre = (accuracy.get("existing") or {}).get("per_genre") or {}
    return RoundPoint(
        pk=round_.pk,
        run_id=round_.run_id,
        number=round_.number,
        label=f"{round_.run_id}.{round_.number}",
        interactions=round_.interactions,
        arrivals=round_.arrivals,
        shift_active=round_.shift_active,
        served_by=served_by,
        benchmark_r2=benchmark.get("r2"),
        benchmark_rmse=benchmark.get("rmse"),
        r2={g: _group_value(accuracy, g, "r2") for g in GROUPS},
        rmse={g: _group_value(accuracy, g, "rmse") for g in GROUPS},
        genre_r2={g: s.get("r2") if s.get("judged", True) else None for g, s in per_genre.items()},
        lists={g: {m: (lists.get(g) or {}).get(m) for m in LIST_METRICS} for g in GROUPS},
        drift_checked=drift is not None,
        drift_required=bool(drift and drift.retraining_required),
        degraded=drift.degraded if drift else list(cycle.get("degraded") or []),
        decision=cycle.get("decision"),
        challenger=cycle.get("challenger"),
    )


def metric_history(*, run_id: int | None = None) -> MetricHistory:
    """Every simulated round in the order played (or one run's), with the champion that
    served it, its drift verdict and the figures the charts plot."""
    rounds = SimulationRound.objects.select_related("scoring_run").order_by("created_at", "pk")
    run = None
    if run_id is not None:
        run = SimulationRun.objects.filter(pk=run_id).first()
        rounds = rounds.filter(run_id=run_id)
    rounds = list(rounds)
    served = {r.scoring_run.model_version_id for r in rounds if r.scoring_run}
    versions = dict(ModelVersion.objects.filter(pk__in=served).values_list("pk", "metrics"))
    reports: dict[int, DriftReport] = {}
    for report in DriftReport.objects.filter(round__in=[r.pk for r in rounds]).order_by(
        "created_at", "pk"
    ):
        reports.setdefault(report.round_id, report)  # the first verdict on a round is the cycle's
    points = [_round_point(r, versions, reports.get(r.pk)) for r in rounds]

    seen = sorted({g for p in points for g in p.genre_r2})
    genres = [g for g in seen if any(p.genre_r2.get(g) is not None for p in points)]
    promotions = [
        (i, p.served_by)
        for i, p in enumerate(points)
        if i > 0 and p.served_by is not None and p.served_by != points[i - 1].served_by
    ]
    return MetricHistory(
        rounds=points,
        genres=genres,
        never_judged=[g for g in seen if g not in genres],
        promotions=promotions,
        run=run,
        runs=list(SimulationRun.objects.annotate(played=Count("rounds"))[:50]),
    )


# --- viewers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewerRatings:
    page: Page
    original: int
    simulated: int
    rounds: int


def viewer_ratings(viewer: Viewer, *, page: str | int | None) -> ViewerRatings:
    """The viewer's ratings, newest first, one page at a time, and how many of each origin."""
    ratings = (
        Rating.objects.filter(viewer=viewer)
        .select_related("film", "round")
        .order_by("-rated_at", "-pk")
    )
    counts = Rating.objects.filter(viewer=viewer).aggregate(
        original=Count("pk", filter=Q(origin=Rating.Origin.ORIGINAL)),
        simulated=Count("pk", filter=Q(origin=Rating.Origin.SIMULATED)),
        rounds=Count("round", distinct=True),
    )
    return ViewerRatings(page=Paginator(ratings, RATINGS_PER_PAGE).get_page(page), **counts)


@dataclass(frozen=True)
class ViewerList:
    recommendations: Recommendations | None
    problem: str = ""  # why there is no list, for the reader


def viewer_list(viewer: Viewer, *, n: int) -> ViewerList:
    """The viewer's current top-n list, or a plain reason why there is none."""
    try:
        return ViewerList(viewer_recommendations(viewer_id=viewer.source_id, n=n))
    except NoChampionError:
        return ViewerList(
            None, "No model has been trained yet, so there are no recommendations to show."
        )
    except (ArtifactError, OSError) as exc:
        return ViewerList(None, f"The champion's model file cannot be used: {exc}")


# --- models -----------------------------------------------------------------------------------


def model_versions(*, status: str | None) -> dict:
    versions = ModelVersion.objects.all()
    if status:
        versions = versions.filter(status=status)
    counts = dict(
        ModelVersion.objects.order_by().values_list("status").annotate(n=Count("pk")).all()
    )
    statuses = [(value, label, counts.get(value, 0)) for value, label in Status.choices]
    return {"versions": list(versions), "status": status, "statuses": statuses}


def benchmark_rows(version: ModelVersion) -> list[dict]:
    """The version's holdout benchmark per genre, by name."""
    per_genre = (version.metrics or {}).get("per_genre") or {}
    return [{"genre": genre, **score} for genre, score in sorted(per_genre.items())]


@dataclass(frozen=True)
class ComparisonRow:
    metric: str
    label: str
    champion_r2: float
    challenger_r2: float
    change: float
    outcome: str
    tone: str  # good / bad / neutral: how the outcome reads for the challenger


OUTCOME_TONE = {
    "improvement": "good",
    "degradation": "bad",
    "no improvement": "neutral",
    "remained stable": "neutral",
}


@dataclass(frozen=True)
class Review:
    version: ModelVersion
    champion_then: ModelVersion | None  # the champion it was compared with
    champion_now: ModelVersion | None
    degraded: list[ComparisonRow]
    stable: list[ComparisonRow]
    not_compared: list[str]  # degraded metrics with no R² on both sides
    holdout_ratings: int | None
    decision: str
    reason: str
    drift: DriftStatus | None

    @property
    def pending(self) -> bool:
        return self.version.status == Status.PENDING_REVIEW


def review(version: ModelVersion) -> Review:
    """Champion and challenger side by side, metric by metric, as retraining compared them
    (ModelVersion.comparison, written by services.retraining)."""
    comparison = version.comparison or {}
    rows = [
        ComparisonRow(
            metric=m["metric"],
            label=metric_label(m["metric"]),
            champion_r2=m["champion_r2"],
            challenger_r2=m["challenger_r2"],
            change=m["challenger_r2"] - m["champion_r2"],
            outcome=m["outcome"],
            tone=OUTCOME_TONE.get(m["outcome"], "neutral"),
        )
        for m in comparison.get("metrics", [])
    ]
    report = (
        DriftReport.objects.filter(pk=comparison["drift_report"]).first()
        if comparison.get("drift_report")
        else None
    )
    compared = {r.metric for r in rows}
    champion_then = (
        ModelVersion.objects.filter(pk=comparison["champion"]).first()
        if comparison.get("champion")
        else None
    )
    return Review(
        version=version,
        champion_then=champion_then,
        champion_now=current_champion(),
        degraded=[r for r in rows if r.metric in _was_degraded(comparison)],
        stable=[r for r in rows if r.metric not in _was_degraded(comparison)],
        not_compared=[
            metric_label(m) for m in (report.degraded if report else []) if m not in compared
        ],
        holdout_ratings=(comparison.get("holdout") or {}).get("ratings"),
        decision=comparison.get("decision", ""),
        reason=comparison.get("reason", ""),
        drift=drift_status(report),
    )


def _was_degraded(comparison: dict) -> set[str]:
    return {m["metric"] for m in comparison.get("metrics", []) if m.get("was_degraded")}


# --- simulations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulationStatus:
    run: SimulationRun
    rounds: list[SimulationRound]
    task: TaskProgress | None
    percent: int
    stage: str
    polling: bool  # the page should keep asking the task for progress
    skipped: str  # why the task did nothing (someone else held the model work)
    finished_at: datetime | None


def simulation_status(run: SimulationRun) -> SimulationStatus:
    """How far the run is: its own status and rounds, and its task's progress while it runs.
    The run's status decides (a task run eagerly leaves no state in the result backend)."""
    rounds = list(run.rounds.order_by("number"))
    task_id = run.task_id
    task = task_progress(task_id) if task_id else None
    played = round(100 * len(rounds) / max(run.rounds_planned, 1))
    skipped = ""
    if task is not None and isinstance(task.result, dict):
        skipped = str(task.result.get("skipped") or "")
    if run.status == SimulationRun.Status.COMPLETED:
        percent, stage = 100, "done"
    elif run.status == SimulationRun.Status.FAILED:
        percent, stage = played, "failed"
    elif task is not None and task.finished:
        percent, stage = played, "skipped" if skipped else task.stage
    else:
        percent = max(played, task.percent if task else 0)
        stage = (task.stage if task else "") or "queued"
    running = run.status == SimulationRun.Status.RUNNING
    return SimulationStatus(
        run=run,
        rounds=rounds,
        task=task,
        percent=percent,
        stage=stage,
        polling=running and task is not None and not task.finished,
        skipped=skipped,
        finished_at=run.finished_at,
    )


def recent_simulation_runs(limit: int = 10) -> list[SimulationRun]:
    return list(SimulationRun.objects.annotate(played=Count("rounds"))[:limit])
