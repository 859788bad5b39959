from dataclasses import asdict

from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.model import SVDConfig
from recommender.management.arguments import typed
from recommender.management.jobs import add_async_argument, launch, model_work_with_progress
from recommender.management.tables import format_table, format_value
from recommender.services.registry import TrainingError, model_version_train

# The SVDConfig fields the command sets, and the option (--factors, ...) that sets each.
CONFIG_OPTIONS = {
    "n_factors": "factors",
    "n_epochs": "epochs",
    "lr_all": "lr",
    "reg_all": "reg",
    "seed": "seed",
}


class Command(BaseCommand):
    help = "Train an SVD model on all ratings, benchmark it on a seeded holdout and register it."

    def add_arguments(self, parser):
        defaults = SVDConfig()
        for field, option in CONFIG_OPTIONS.items():
            default = getattr(defaults, field)
            parser.add_argument(f"--{option}", type=typed(default), default=default)
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, **options):
        try:
            config = SVDConfig(
                **{field: options[option] for field, option in CONFIG_OPTIONS.items()}
            )
            if options["run_async"]:
                launch(self, tasks.train, kwargs={"config": asdict(config)}, purpose="training")
                return
            with model_work_with_progress("training", bar="train", options=options) as progress:
                version = model_version_train(
                    actor="command:train", config=config, progress=progress
                )
        except (TrainingError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(training_summary(version))


def training_summary(version) -> str:
    """What a training measured on its holdout; a figure the holdout was too small for reads
    "insufficient data", never a number."""
    metrics, figure = version.metrics, format_value
    overall, k = metrics["overall"], metrics.get("k", 10)
    rows = [
        (genre, score["n"], score["rmse"], score["r2"])
        for genre, score in sorted(metrics["per_genre"].items(), key=lambda item: -item[1]["n"])
    ]
    return "\n".join(
        [
            f"model v{version.pk} ({version.status}): holdout RMSE {figure(overall['rmse'])}, "
            f"R² {figure(overall['r2'])} on {version.holdout_rows:,} ratings; trained on "
            f"{version.training_rows:,} in {version.trained_seconds:.1f} s",
            f"ranking on the holdout: precision@{k} {figure(metrics['precision_at_k'])}, "
            f"recall@{k} {figure(metrics['recall_at_k'])}, NDCG@{k} {figure(metrics['ndcg_at_k'])}",
            format_table(["genre", "holdout ratings", "RMSE", "R²"], rows),
        ]
    )
