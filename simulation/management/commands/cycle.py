from django.core.management import BaseCommand, CommandError
from django.db import transaction

from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.jobs import launch, model_work
from recommender.management.progress import progress_bar
from recommender.management.tables import format_table
from recommender.services.monitoring import NothingToMonitorError
from recommender.services.registry import TrainingError
from recommender.services.scoring import NoChampionError
from simulation.management.commands.simulate import add_simulation_arguments, parameters_from
from simulation.services import (
    SimulationParameterError,
    simulation_run_create,
    simulation_run_execute,
)
from simulation.tasks import run_simulation


class Command(BaseCommand):
    help = "Score -> simulate -> monitor -> retrain if required, round after round."

    def add_arguments(self, parser):
        add_simulation_arguments(parser)
        parser.add_argument(
            "--search", action="store_true", help="hyperparameter search when retraining"
        )

    def handle(self, *args, **options):
        try:
            if options["run_async"]:
                with transaction.atomic():  # no run is recorded unless its task is queued
                    run = simulation_run_create(
                        parameters=parameters_from(options), actor="command:cycle"
                    )
                    kwargs = {"run_id": run.pk, "monitor": True, "search": options["search"]}
                    launch(self, run_simulation, kwargs=kwargs, purpose="the simulation cycle")
                self.stdout.write(f"simulation run {run.pk} queued")
                return
            with model_work("the simulation cycle"):
                run = simulation_run_create(
                    parameters=parameters_from(options), actor="command:cycle"
                )
                with progress_bar("cycle", enabled=not options["no_progress"]) as progress:
                    run = simulation_run_execute(
                        run=run, monitor=True, search=options["search"], progress=progress
                    )
        except (
            SimulationParameterError,
            NoChampionError,
            ArtifactIntegrityError,
            NothingToMonitorError,
            TrainingError,
        ) as exc:
            raise CommandError(str(exc)) from exc
        rows = []
        for round_ in run.rounds.order_by("number"):
            cycle = round_.metrics["cycle"]
            rows.append(
                (
                    round_.number,
                    "yes" if round_.shift_active else "no",
                    round_.metrics["accuracy"]["existing"]["overall"]["r2"],
                    ", ".join(cycle["degraded"]) or "-",
                    f"v{cycle['challenger']}: {cycle['decision']}" if cycle["retrained"] else "-",
                )
            )
        self.stdout.write(f"cycle {run.pk}: {run.rounds_planned} rounds")
        self.stdout.write(
            format_table(["round", "shift", "R² existing", "degraded", "retraining"], rows)
        )
