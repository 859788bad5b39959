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
from recommender.services.imports import dataset_import_movies_dataset


class Command(BaseCommand):
    help = (
        "Import a folder in The Movies Dataset layout (ratings[_small].csv, links[_small].csv, "
        "movies_metadata.csv). Metadata is joined through links (movieId -> tmdbId)."
    )

    def add_arguments(self, parser):
        add_filter_arguments(parser)
        add_async_argument(parser)
        parser.add_argument(
            "--small", action="store_true", help="use ratings_small.csv and links_small.csv"
        )
        parser.add_argument(
            "--lenient-metadata",
            action="store_true",
            help="skip (and list) metadata rows with an unusable id or genre text instead of rejecting the import",
        )

    def handle(self, *args, **options):
        rating_filter = rating_filter_from(options)
        if options["run_async"]:
            queue_import(
                self,
                options,
                rating_filter,
                "movies_dataset",
                small=options["small"],
                lenient_metadata=options["lenient_metadata"],
            )
            return
        try:
            with progress_bar("import", enabled=not options["no_progress"]) as progress:
                summary = dataset_import_movies_dataset(
                    directory=Path(options["directory"]),
                    rating_filter=rating_filter,
                    small=options["small"],
                    lenient_metadata=options["lenient_metadata"],
                    on_skipped=lambda message: self.stderr.write(f"skipped metadata: {message}"),
                    progress=progress,
                )
        except DatasetError as exc:
            raise CommandError(f"nothing imported: {exc}") from exc
        self.stdout.write(summary.as_line())
