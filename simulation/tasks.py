"""Celery tasks of the simulation: thin entry points over simulation.services."""

from __future__ import annotations

import logging

from celery import shared_task

from recommender.tasks import (
    RETRY_OPTIONS,
    draw_metric_charts,
    exclusively,
    progress_reporter,
    task_actor,
)
from simulation.models import SimulationRun
from simulation.services import SimulationParameters, simulation_run_create, simulation_run_execute

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="simulation.run", **RETRY_OPTIONS)
def run_simulation(self, run_id: int, monitor: bool = False, search: bool = False) -> dict:
    """Play the run's remaining rounds (with `monitor`, the monitor-and-retrain cycle). Safe to
    deliver twice: rounds already played are skipped, and monitored rounds are not judged
    again. Holds the model-work lease: every round scores with the champion, and the cycle
    may retrain and promote."""
    run = SimulationRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("simulation run %s no longer exists; nothing to do", run_id)
        return {"skipped": f"simulation run {run_id} no longer exists"}

    def work() -> dict:
        simulation_run_execute(
            run=run,
            monitor=monitor,
            search=search,
            progress=progress_reporter(self),
            after_round=lambda: draw_metric_charts(run.pk),
        )
        return {"simulation_run": run.pk, "rounds": run.rounds.count()}

    purpose = "the simulation cycle" if monitor else "a simulation"
    return exclusively(self, purpose, work)


@shared_task(bind=True, name="simulation.cycle", **RETRY_OPTIONS)
def simulation_cycle(self, rounds: int = 1, seed: int | None = None, search: bool = False) -> dict:
    """The optional beat schedule: play `rounds` new simulated rounds with the cycle on, with the
    default parameters. A new run per task; the same task redelivered resumes its own run."""

    def work() -> dict:
        actor = task_actor(self)
        run = SimulationRun.objects.filter(created_by=actor).first()
        if run is None:
            parameters = SimulationParameters(
                rounds=rounds, seed=SimulationRun.objects.count() if seed is None else seed
            )
            run = simulation_run_create(parameters=parameters, actor=actor)
        simulation_run_execute(
            run=run,
            monitor=True,
            search=search,
            progress=progress_reporter(self),
            after_round=lambda: draw_metric_charts(run.pk),
        )
        return {"simulation_run": run.pk, "rounds": run.rounds.count()}

    return exclusively(self, "the simulation cycle", work)
