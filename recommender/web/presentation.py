"""What the pages show, shaped from the selectors' records (no query of its own): the metric
history as the charts plot it, the dashboard's pieces, a version's benchmark table, and a
viewer's current list or a plain reason why there is none."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from recommender.attributes import record_from
from recommender.engine.artifact import ArtifactError
from recommender.engine.segments import VIEWER_GROUPS
from recommender.selectors import monitoring, registry, scoring
from recommender.selectors.registry import VersionRecord
from recommender.selectors.tasks import running_tasks
from recommender.services.cycle import CycleOutcome
from recommender.services.recommendations import Recommendations, viewer_recommendations
from recommender.services.scoring import NoChampionError
from simulation.metrics import RoundMetrics
from simulation.selectors import (
    RoundRecord,
    RunRecord,
    latest_round,
    recent_runs,
    round_history,
    simulation_run,
)

LIST_METRICS = ("coverage", "diversity", "personalization")
# How many runs the metric page offers to choose from.
RUNS_TO_CHOOSE = 50

logger = logging.getLogger(__name__)


# --- dashboard --------------------------------------------------------------------------------


# How a decision reads after "challenger vN".
OUTCOME_WORDS = {
    "promote": "promoted",
    "reject": "rejected",
    "human review": "sent to review",
}


def pluralize(count: int) -> str:
    return "" if count == 1 else "s"


def dashboard() -> dict[str, Any]:
    """The champion, the latest scoring run, round and drift report, how many challengers
    await review, and the tasks running now."""
    newest_round = latest_round()
    return {
        "champion": registry.champion_record(),
        "scoring_run": scoring.latest_scoring_run(),
        "served_run": scoring.served_scoring_run(),
        "latest_round": newest_round,
        "cycle_verdict": cycle_verdict(newest_round.metrics.cycle) if newest_round else "",
        "drift": monitoring.drift_status(monitoring.latest_drift_report()),
        "pending_count": registry.pending_review_count(),
        "tasks": running_tasks(),
    }


def cycle_verdict(cycle: CycleOutcome | None) -> str:
    """What the monitor-and-retrain cycle did on a round, in one line (the full reason is on
    the round's row of the metric page and on the challenger's page)."""
    if cycle is None:
        return ""
    if cycle.drift_report is None:
        return "not monitored"
    if not cycle.retrained:
        return (
            "no drift" if not cycle.degraded else f"drift in {len(cycle.degraded)}, no retraining"
        )
    drifted = f"drift in {len(cycle.degraded)} metric{pluralize(len(cycle.degraded))}"
    return f"{drifted}: challenger v{cycle.challenger} {OUTCOME_WORDS.get(cycle.decision, cycle.decision)}"


# --- metric history ---------------------------------------------------------------------------


EXPERIENCE_FIGURES = {
    "mean_true_rating": "mean true rating of consumed films",
    "liked_share": "share of consumed films rated 4+",
    "top_hit_rate": "share of top-10 slots consumed and liked",
}


@dataclass(frozen=True)
class RoundPoint:
    """One simulated round as the metric charts see it: plain numbers, None where the round
    has no value (a group without viewers, a segment not judged)."""

    pk: int
    run_id: int
    number: int
    label: str  # "run 1, round 2"
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
    # What viewers experienced overall: mean true rating of consumed films, share rated 4+,
    # share of top-10 slots consumed and liked (simulation.engine.round_experience).
    experience: dict[str, float | None]
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
    run: RunRecord | None = None
    runs: list[RunRecord] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.rounds]


def _overall(metrics: RoundMetrics, group: str, key: str) -> float | None:
    accuracy = metrics.accuracy.get(group)
    return getattr(accuracy.overall, key) if accuracy is not None else None


def _list_figure(metrics: RoundMetrics, group: str, key: str) -> float | None:
    figures = metrics.lists.get(group)
    return getattr(figures, key) if figures is not None else None


def _round_point(round_: RoundRecord, benchmarks: dict[int, dict]) -> RoundPoint:
    metrics, verdict, cycle = round_.metrics, round_.verdict, round_.metrics.cycle
    benchmark = (benchmarks.get(round_.served_by) or {}).get("overall") or {}
    existing = metrics.accuracy.get("existing")
    per_genre = existing.per_genre if existing is not None else {}
    return record_from(
        RoundPoint,
        round_,
        pk=round_.id,
        benchmark_r2=benchmark.get("r2"),
        benchmark_rmse=benchmark.get("rmse"),
        r2={g: _overall(metrics, g, "r2") for g in VIEWER_GROUPS},
        rmse={g: _overall(metrics, g, "rmse") for g in VIEWER_GROUPS},
        genre_r2={g: s.r2 if s.judged else None for g, s in per_genre.items()},
        lists={g: {m: _list_figure(metrics, g, m) for m in LIST_METRICS} for g in VIEWER_GROUPS},
        experience={
            key: (metrics.experience.get("overall") or {}).get(key) for key in EXPERIENCE_FIGURES
        },
        drift_checked=verdict is not None,
        drift_required=bool(verdict and verdict.retraining_required),
        degraded=verdict.degraded if verdict else list(cycle.degraded if cycle else []),
        decision=cycle.decision if cycle else None,
        challenger=cycle.challenger if cycle else None,
    )


def metric_history(*, run_id: int | None = None) -> MetricHistory:
    """Every simulated round in the order played (or one run's), with the champion that
    served it, its drift verdict and the figures the charts plot."""
    rounds = round_history(run_id=run_id)
    benchmarks = registry.version_benchmarks({r.served_by for r in rounds if r.served_by})
    points = [_round_point(r, benchmarks) for r in rounds]
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
        run=simulation_run(run_id) if run_id is not None else None,
        runs=recent_runs(limit=RUNS_TO_CHOOSE),
    )


# --- models -----------------------------------------------------------------------------------


def benchmark_rows(version: VersionRecord) -> list[dict]:
    """The version's holdout benchmark per genre, by name."""
    per_genre = version.metrics.get("per_genre") or {}
    return [{"genre": genre, **score} for genre, score in sorted(per_genre.items())]


# --- viewers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewerList:
    recommendations: Recommendations | None
    problem: str = ""  # why there is no list, for the reader


def viewer_list(*, source_id: int, n: int) -> ViewerList:
    """The viewer's current top-n list, or a plain reason why there is none."""
    try:
        return ViewerList(viewer_recommendations(viewer_id=source_id, n=n))
    except NoChampionError:
        return ViewerList(
            None, "No model has been trained yet, so there are no recommendations to show."
        )
    except (ArtifactError, OSError) as exc:
        # The detail names a server path and hashes: for the operators' log, not for a viewer.
        logger.error(
            "viewer %s's list: the champion's model file cannot be used: %s", source_id, exc
        )
        return ViewerList(
            None,
            "Recommendations are unavailable right now: the model cannot be used. "
            "The operators have been told (details in the server log).",
        )
