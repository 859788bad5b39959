"""The monitor-and-retrain cycle that beat runs: judge the champion on the newest round of
interactions, and when the drift report requires it, train a challenger and decide."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from recommender.models import ModelVersion
from recommender.progress import ProgressCallback, no_progress
from recommender.selectors.monitoring import round_verdict_report
from recommender.selectors.ratings import latest_round_id
from recommender.services.monitoring import drift_report_create
from recommender.services.retraining import model_version_retrain
from recommender.services.scoring import scoring_run_create


@dataclass(frozen=True)
class CycleOutcome:
    round_id: int | None
    drift_report: int | None = None
    degraded: list[str] = field(default_factory=list)
    retrained: bool = False
    challenger: int | None = None
    decision: str | None = None
    reason: str = ""
    scoring_run: int | None = None  # the lists scored with a newly promoted champion

    def as_dict(self) -> dict:
        return asdict(self)


def monitor_and_retrain(
    *,
    actor: str,
    round_id: int | None = None,
    search: bool = False,
    seed: int = 0,
    rescore_on_promotion: bool = True,
    progress: ProgressCallback | None = None,
) -> CycleOutcome:
    """One cycle on the given round (the newest by default). A round that already has a drift
    report is not judged again: a second beat tick, or a task delivered twice, does nothing.
    After a promotion every viewer is scored with the new champion (a simulation, which
    scores at the start of every round anyway, turns that off)."""
    progress = progress or no_progress
    round_id = latest_round_id() if round_id is None else round_id
    if round_id is None:
        return CycleOutcome(round_id=None, reason="no rounds of recent interactions yet")
    done = round_verdict_report(round_id)
    if done is not None:
        return CycleOutcome(
            round_id=round_id,
            drift_report=done.pk,
            degraded=done.degraded,
            reason=f"round {round_id} was already monitored (drift report {done.pk})",
        )
    progress("monitoring", 0.0)
    drift = drift_report_create(actor=actor, round_id=round_id, seed=seed)
    if not drift.retraining_required:
        progress("done", 1.0)
        return CycleOutcome(
            round_id=round_id,
            drift_report=drift.pk,
            degraded=drift.degraded,
            reason="no drift: retraining not required",
        )
    progress("retraining", 0.2)
    result = model_version_retrain(
        actor=actor,
        search=search,
        seed=seed,
        progress=lambda stage, f: progress(f"retraining: {stage}", 0.2 + 0.7 * f),
    )
    scoring_run = None
    if rescore_on_promotion and result.challenger.status == ModelVersion.Status.CHAMPION:
        progress("scoring with the new champion", 0.9)
        scoring_run = scoring_run_create(actor=actor).pk
    progress("done", 1.0)
    return CycleOutcome(
        round_id=round_id,
        drift_report=drift.pk,
        degraded=drift.degraded,
        retrained=True,
        challenger=result.challenger.pk,
        decision=result.decision.value,
        reason=result.reason,
        scoring_run=scoring_run,
    )
