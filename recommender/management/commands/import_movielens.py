from pathlib import Path

from django.core.management import BaseCommand, CommandError

from recommender.datasets import DatasetError
from recommender.management.commands._import_options import (
    add_filter_arguments,
    queue_import,
    rating_filter_from,
)
from recommender.management.jobs import add_async_argument
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
            queue_import(self, options, rating_filter, "movielens")
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
