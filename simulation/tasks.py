"""Celery tasks of the simulation: thin entry points over simulation.services."""

from __future__ import annotations

import logging

from celery import shared_task

from recommender.tasks import progress_reporter
from simulation.models import SimulationRun
from simulation.services import simulation_run_execute

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="simulation.run")
def run_simulation(self, run_id: int, monitor: bool = False, search: bool = False) -> int | None:
    """Play the run's remaining rounds (with `monitor`, the monitor-and-retrain cycle). Safe to
    deliver twice: rounds already played are skipped."""
    run = SimulationRun.objects.filter(pk=run_id).first()
    if run is None:
        logger.warning("simulation run %s no longer exists; nothing to do", run_id)
        return None
    simulation_run_execute(
        run=run, monitor=monitor, search=search, progress=progress_reporter(self)
    )
    return run.pk
