from django.core.management import BaseCommand, CommandError

from recommender.management.jobs import MODEL_WORK_ERRORS
from recommender.management.tables import format_table
from simulation.management.commands.simulate import add_simulation_arguments, play_or_queue
from simulation.metrics import RoundMetrics
from simulation.services import SimulationParameterError


class Command(BaseCommand):
    help = "Score -> simulate -> monitor -> retrain if required, round after round."

    def add_arguments(self, parser):
        add_simulation_arguments(parser)
        parser.add_argument(
            "--search", action="store_true", help="hyperparameter search when retraining"
        )

    def handle(self, *args, **options):
        try:
            run = play_or_queue(self, options, name="cycle", monitor=True, search=options["search"])
        except (SimulationParameterError, *MODEL_WORK_ERRORS) as exc:
            raise CommandError(str(exc)) from exc
        if run is None:
            return
        # How often each shifted genre was recommended, per list: what a promotion should move.
        shifted = sorted((run.parameters or {}).get("shift") or {})
        rows = []
        for round_ in run.rounds.order_by("number"):
            metrics = RoundMetrics.from_json(round_.metrics)
            cycle = metrics.cycle
            counts = metrics.lists["all"].genre_counts if "all" in metrics.lists else {}
            rows.append(
                (
                    round_.number,
                    "yes" if round_.shift_active else "no",
                    metrics.accuracy["existing"].overall.r2,
                    *(f"{counts.get(genre, 0.0):.1f}" for genre in shifted),
                    ", ".join(cycle.degraded) or "-",
                    f"v{cycle.challenger}: {cycle.decision}" if cycle.retrained else "-",
                )
            )
        self.stdout.write(f"cycle {run.pk}: {run.rounds_planned} rounds")
        headers = ["round", "shift", "R² existing"]
        headers += [f"{genre} per list" for genre in shifted]
        self.stdout.write(format_table([*headers, "degraded", "retraining"], rows))
