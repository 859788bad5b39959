from pathlib import Path

from django.core.management import BaseCommand, CommandError

from recommender import tasks
from recommender.datasets import DatasetError
from recommender.management.commands._import_options import add_filter_arguments, rating_filter_from
from recommender.management.jobs import add_async_argument, launch
from recommender.management.progress import progress_bar
from recommender.services.imports import dataset_import_movielens


class Command(BaseCommand):
    help = "Import a MovieLens folder (ratings.csv, movies.csv, optional links.csv). Idempotent and atomic."

    def add_arguments(self, parser):
        add_filter_arguments(parser)
        add_async_argument(parser)

    def handle(self, *args, **options):
        rating_filter = rating_filter_from(options)
        if options["run_async"]:
            viewer_ids = rating_filter.viewer_ids
            kwargs = {
                "directory": str(Path(options["directory"]).resolve()),
                "layout": "movielens",
                "max_rows": rating_filter.max_rows,
                "viewer_ids": None if viewer_ids is None else sorted(viewer_ids),
                "max_viewers": rating_filter.max_viewers,
            }
            launch(self, tasks.import_dataset, kwargs=kwargs)
            return
        try:
            with progress_bar("import", enabled=not options["no_progress"]) as progress:
                summary = dataset_import_movielens(
                    directory=Path(options["directory"]),
                    rating_filter=rating_filter,
                    progress=progress,
                )
        except DatasetError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(summary.as_line())
