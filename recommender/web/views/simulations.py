"""The simulation launcher: a form that records a run and starts the monitor-and-retrain
cycle task, and the run's page with its progress."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from recommender.services.leases import AlreadyRunningError
from recommender.services.scoring import NoChampionError
from recommender.web.forms import SimulationForm
from recommender.web.views.access import page, require_launcher
from simulation.selectors import recent_runs, simulation_status
from simulation.services import SimulationParameterError, simulation_run_launch
from simulation.tasks import run_simulation

logger = logging.getLogger(__name__)


@page
@require_http_methods(["GET", "POST"])
def simulate(request: HttpRequest) -> HttpResponse:
    require_launcher(request.user)
    form = SimulationForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            run = simulation_run_launch(
                parameters=form.parameters(),
                actor=f"user:{request.user.get_username()}",
                task=run_simulation,
            )
        except (SimulationParameterError, NoChampionError, AlreadyRunningError) as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("web:simulation-detail", run_id=run.pk)
    context = {"form": form, "runs": recent_runs()}
    return render(request, "web/simulate.html", context)


@page
@require_GET
def simulation_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    require_launcher(request.user)
    status = simulation_status(run_id)
    if status is None:
        raise Http404(f"No simulation {run_id}.")
    return render(request, "web/simulation_detail.html", {"status": status})
