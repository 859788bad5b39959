from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.arguments import integer
from recommender.management.jobs import add_async_argument, launch
from recommender.management.progress import progress_bar
from recommender.management.tables import format_table
from recommender.services.monitoring import NothingToMonitorError, drift_report_create
from recommender.services.scoring import NoChampionError


def drift_table(report) -> str:
    rows = [
        (
            m["metric"],
            m["n"],
            m["benchmark_r2"],
            m["current_r2"],
            m["drop"],
            m["threshold"],
            f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]",
            "yes" if m["significant"] else "no",
            "yes" if m.get("above_threshold") else "no",
            "DEGRADED" if m["degraded"] else "stable",
        )
        for m in report.metrics
    ]
    headers = [
        "metric",
        "ratings",
        "benchmark R²",
        "current R²",
        "drop",
        "threshold",
        "95% CI of drop",
        "significant",
        "above threshold",
        "verdict",
    ]
    return format_table(headers, rows)


class Command(BaseCommand):
    help = "Check the champion for drift on the newest round of interactions and print the report."

    def add_arguments(self, parser):
        parser.add_argument(
            "--round",
            type=integer,
            dest="round_id",
            help="a simulation round id (default: the newest)",
        )
        parser.add_argument(
            "--significance",
            action="store_true",
            help="degraded only when the whole confidence interval of the drop is above the threshold",
        )
        parser.add_argument("--seed", type=integer, default=0)
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, round_id, significance, seed, **options):
        if options["run_async"]:
            kwargs = {"round_id": round_id, "require_significance": significance, "seed": seed}
            launch(self, tasks.monitor, kwargs=kwargs)
            return
        try:
            with progress_bar("monitor", enabled=not options["no_progress"]) as progress:
                report = drift_report_create(
                    actor="command:monitor",
                    round_id=round_id,
                    require_significance=significance or None,
                    seed=seed,
                    progress=progress,
                )
        except (NothingToMonitorError, NoChampionError, ArtifactIntegrityError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"drift report {report.pk}: champion v{report.model_version_id} on round {report.round_id}"
        )
        self.stdout.write(drift_table(report))
        if report.not_judged:
            self.stdout.write(
                f"not judged (too few interactions or no benchmark): {', '.join(report.not_judged)}"
            )
        verdict = (
            "required: " + ", ".join(report.degraded)
            if report.retraining_required
            else "not required"
        )
        self.stdout.write(f"retraining {verdict}")
