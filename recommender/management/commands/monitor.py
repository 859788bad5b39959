from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.artifact import ArtifactIntegrityError
from recommender.management.arguments import integer
from recommender.management.jobs import add_async_argument, launch
from recommender.management.progress import progress_bar
from recommender.management.tables import format_table
from recommender.services.monitoring import NothingToMonitorError, drift_report_create
from recommender.services.scoring import NoChampionError


def _number(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def drift_table(report) -> str:
    """The judged metrics. Under the reference rule the reference is the champion's earlier
    rounds and both R² are at the reference's spread (the drop is the rise in error over that
    spread); under the benchmark rule it is the training holdout."""
    reference = report.thresholds.get("rule", "benchmark") == "reference"
    rows = [
        (
            m["metric"],
            m["n"],
            m["benchmark_r2"],
            m["current_r2"],
            _number(m.get("reference_rmse")),
            _number(m.get("current_rmse")),
            m["drop"],
            m["threshold"],
            f"[{m['ci_low']:.3f}, {m['ci_high']:.3f}]",
            _number(m.get("p_adjusted")) if reference else ("yes" if m["significant"] else "no"),
            "DEGRADED" if m["degraded"] else "stable",
        )
        for m in report.metrics
    ]
    headers = [
        "metric",
        "ratings",
        "reference R²" if reference else "benchmark R²",
        "current R²",
        "reference RMSE",
        "current RMSE",
        "drop",
        "threshold",
        "95% CI of drop",
        f"p ({report.thresholds.get('correction', '')})" if reference else "significant",
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
        parser.add_argument(
            "--rule",
            choices=["reference", "benchmark"],
            help="against the champion's earlier rounds (default, DRIFT_RULE) or its training benchmark",
        )
        parser.add_argument("--seed", type=integer, default=0)
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, round_id, significance, rule, seed, **options):
        if options["run_async"]:
            kwargs = {
                "round_id": round_id,
                "require_significance": significance,
                "seed": seed,
                "rule": rule,
            }
            launch(self, tasks.monitor, kwargs=kwargs)
            return
        try:
            with progress_bar("monitor", enabled=not options["no_progress"]) as progress:
                report = drift_report_create(
                    actor="command:monitor",
                    round_id=round_id,
                    require_significance=significance or None,
                    rule=rule,
                    seed=seed,
                    progress=progress,
                )
        except (NothingToMonitorError, NoChampionError, ArtifactIntegrityError) as exc:
            raise CommandError(str(exc)) from exc
        tasks.draw_metric_charts()
        self.stdout.write(
            f"drift report {report.pk}: champion v{report.model_version_id} on round {report.round_id}"
        )
        self.stdout.write(drift_table(report))
        if report.not_judged:
            self.stdout.write(
                f"not judged (too few interactions, no benchmark or no reference round yet): "
                f"{', '.join(report.not_judged)}"
            )
        verdict = (
            "required: " + ", ".join(report.degraded)
            if report.retraining_required
            else "not required"
        )
        self.stdout.write(f"retraining {verdict}")
