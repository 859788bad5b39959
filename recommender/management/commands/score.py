from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.engine.artifact import ArtifactIntegrityError
from recommender.engine.scoring import PopularityPenalty
from recommender.management.arguments import integer, number
from recommender.management.jobs import add_async_argument, launch, model_work_with_progress
from recommender.management.tables import format_table
from recommender.models import ScoringRun
from recommender.services.scoring import NoChampionError, default_penalty, scoring_run_create


class Command(BaseCommand):
    help = (
        "Score every viewer's top-N list with the champion model and store the run. "
        "--shards N splits the viewers into N shard tasks (a Celery chord) that may run on many "
        "workers: with eager Celery (the embedded default) the chord runs here and the run is "
        "printed; with a broker it is queued as with --async."
    )

    def add_arguments(self, parser):
        defaults = default_penalty()
        parser.add_argument(
            "--popularity-transform", choices=["none", "minmax", "log"], default=defaults.transform
        )
        parser.add_argument("--popularity-alpha", type=number, default=defaults.alpha)
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument(
            "--shards",
            type=integer,
            metavar="N",
            help="score in N viewer shards as a Celery chord (see docs/scaling.md)",
        )
        add_async_argument(parser)

    def handle(self, *args, **options):
        try:
            penalty = PopularityPenalty(
                transform=options["popularity_transform"], alpha=options["popularity_alpha"]
            )
            kwargs = {"transform": penalty.transform, "alpha": penalty.alpha}
            shards = options["shards"]
            if shards is not None and shards < 1:
                raise ValueError(f"--shards must be at least 1, got {shards}")
            sharded_here = shards is not None and tasks.score_sharded.app.conf.task_always_eager
            if options["run_async"] or (shards is not None and not sharded_here):
                task = tasks.score if shards is None else tasks.score_sharded
                kwargs = kwargs if shards is None else {**kwargs, "shards": shards}
                launch(self, task, kwargs=kwargs, purpose="scoring")
                return
            if sharded_here:
                run = self.score_sharded_here(shards, kwargs)
            else:
                with model_work_with_progress("scoring", bar="score", options=options) as progress:
                    run = scoring_run_create(
                        actor="command:score", penalty=penalty, progress=progress
                    )
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

    def score_sharded_here(self, shards: int, kwargs: dict) -> ScoringRun:
        """Run the sharded-scoring chord eagerly in this process; the run it made."""
        result = tasks.score_sharded.apply(kwargs={**kwargs, "shards": shards}, throw=True).get()
        if "skipped" in result:
            raise CommandError(f"not started: {result['skipped']}")
        run = ScoringRun.objects.get(pk=result["scoring_run"])
        if run.status != ScoringRun.Status.COMPLETED:
            raise CommandError(f"scoring run {run.pk} {run.status}: {run.error}")
        return run
