from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.management.jobs import (
    MODEL_WORK_ERRORS,
    add_async_argument,
    launch,
    model_work_with_progress,
)
from recommender.services.cycle import monitor_and_retrain


class Command(BaseCommand):
    help = (
        "What beat runs daily: judge the champion on the newest round (once per round) and, "
        "when the drift report requires it, retrain and decide; after a promotion, score again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--search", action="store_true", help="hyperparameter search when retraining"
        )
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, search, **options):
        if options["run_async"]:
            launch(
                self,
                tasks.monitor_and_retrain,
                kwargs={"search": search},
                purpose="the monitor-and-retrain cycle",
            )
            return
        try:
            with model_work_with_progress(
                "the monitor-and-retrain cycle", bar="cycle", options=options
            ) as progress:
                outcome = monitor_and_retrain(
                    actor="command:monitor_and_retrain", search=search, progress=progress
                )
        except MODEL_WORK_ERRORS as exc:
            raise CommandError(str(exc)) from exc
        tasks.draw_metric_charts()
        line = f"round {outcome.round_id}: {outcome.reason}" if outcome.round_id else outcome.reason
        if outcome.retrained:
            line += f"\nchallenger v{outcome.challenger}: {outcome.decision}"
        if outcome.scoring_run:
            line += (
                f"\nscored every viewer with the new champion (scoring run {outcome.scoring_run})"
            )
        self.stdout.write(line)
