from datetime import datetime

from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.management.arguments import integer
from recommender.management.jobs import (
    MODEL_WORK_ERRORS,
    add_async_argument,
    launch,
    model_work_with_progress,
)
from recommender.management.tables import format_table
from recommender.services.retraining import TrainingWindow, model_version_retrain


def _interval(comparison: dict) -> str:
    if comparison.get("ci_low") is None:
        return "-"
    return f"[{comparison['ci_low']:+.3f}, {comparison['ci_high']:+.3f}]"


def comparison_table(comparisons: list[dict]) -> str:
    """Per metric both R² on the shared holdout, their difference and its paired-bootstrap
    95 % interval, and the outcome."""
    rows = [
        (
            c["metric"],
            "degraded" if c["was_degraded"] else "stable",
            c["champion_r2"],
            c["challenger_r2"],
            f"{c['challenger_r2'] - c['champion_r2']:+.3f}",
            _interval(c),
            c["outcome"],
        )
        for c in comparisons
    ]
    headers = [
        "metric",
        "before",
        "champion R²",
        "challenger R²",
        "difference",
        "95% CI",
        "outcome",
    ]
    return format_table(headers, rows)


class Command(BaseCommand):
    help = (
        "Train a challenger, compare it with the champion on the same recent holdout, and decide."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--search", action="store_true", help="randomised hyperparameter search first"
        )
        parser.add_argument(
            "--last-rounds", type=integer, help="train on original ratings plus the last K rounds"
        )
        parser.add_argument(
            "--since", type=datetime.fromisoformat, help="original ratings plus those since DATE"
        )
        parser.add_argument("--seed", type=integer, default=0)
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, **options):
        try:
            window = TrainingWindow(last_rounds=options["last_rounds"], since=options["since"])
            if options["run_async"]:
                kwargs = {
                    "search": options["search"],
                    "seed": options["seed"],
                    "last_rounds": options["last_rounds"],
                    "since": options["since"].isoformat() if options["since"] else None,
                }
                launch(self, tasks.retrain, kwargs=kwargs, purpose="retraining")
                return
            with model_work_with_progress("retraining", bar="retrain", options=options) as progress:
                outcome = model_version_retrain(
                    actor="command:retrain",
                    window=window,
                    search=options["search"],
                    seed=options["seed"],
                    progress=progress,
                )
        except (*MODEL_WORK_ERRORS, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"challenger v{outcome.challenger.pk} vs champion v{outcome.champion.pk} "
            f"on {outcome.challenger.comparison['holdout']['ratings']:,} held-out recent ratings"
        )
        self.stdout.write(comparison_table(outcome.comparisons))
        self.stdout.write(
            f"decision: {outcome.decision.value} ({outcome.reason}); v{outcome.challenger.pk} is now {outcome.challenger.status}"
        )
