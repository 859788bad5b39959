from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.artifact import ArtifactIntegrityError
from recommender.engine.scoring import PopularityPenalty
from recommender.management.jobs import add_async_argument, launch, model_work
from recommender.management.progress import progress_bar
from recommender.management.tables import format_table
from recommender.services.scoring import NoChampionError, default_penalty, scoring_run_create


class Command(BaseCommand):
    help = "Score every viewer's top-N list with the champion model and store the run."

    def add_arguments(self, parser):
        defaults = default_penalty()
        parser.add_argument(
            "--popularity-transform", choices=["none", "minmax", "log"], default=defaults.transform
        )
        parser.add_argument("--popularity-alpha", type=float, default=defaults.alpha)
        parser.add_argument("--no-progress", action="store_true")
        add_async_argument(parser)

    def handle(self, *args, **options):
        try:
            penalty = PopularityPenalty(
                transform=options["popularity_transform"], alpha=options["popularity_alpha"]
            )
            if options["run_async"]:
                kwargs = {"transform": penalty.transform, "alpha": penalty.alpha}
                launch(self, tasks.score, kwargs=kwargs, purpose="scoring")
                return
            with (
                model_work("scoring"),
                progress_bar("score", enabled=not options["no_progress"]) as progress,
            ):
                run = scoring_run_create(actor="command:score", penalty=penalty, progress=progress)
        except (NoChampionError, ArtifactIntegrityError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"scoring run {run.pk} with model v{run.model_version_id}: {run.viewers:,} viewers, "
            f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
        )
        rows = [
            (group, m["viewers"], m.get("coverage"), m.get("diversity"), m.get("personalization"))
            for group, m in run.metrics.items()
            if m["viewers"]  # a group with no viewers has no figures, not "insufficient data"
        ]
        self.stdout.write(
            format_table(["viewers", "count", "coverage", "diversity", "personalisation"], rows)
        )
        top_genres = sorted(run.metrics["all"]["genre_counts"].items(), key=lambda item: -item[1])
        self.stdout.write(format_table(["genre", "films per list (all viewers)"], top_genres))
