from django.core.management import BaseCommand

from recommender.management.commands._import_options import add_filter_arguments, import_or_queue
from recommender.management.jobs import add_async_argument
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
        import_or_queue(
            self,
            options,
            dataset_import_movies_dataset,
            layout="movies_dataset",
            on_skipped=lambda message: self.stderr.write(f"skipped metadata: {message}"),
            small=options["small"],
            lenient_metadata=options["lenient_metadata"],
        )
