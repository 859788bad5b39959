from django.core.management import BaseCommand

from recommender.management.commands._import_options import add_filter_arguments, import_or_queue
from recommender.management.jobs import add_async_argument
from recommender.services.imports import dataset_import_movielens


class Command(BaseCommand):
    help = (
        "Import a MovieLens folder: csv (ratings.csv, movies.csv, optional links.csv), "
        "100k (u.data, u.item, optional u.genre) or 1M/10M (ratings.dat, movies.dat). "
        "The layout is recognised by its files. Idempotent and atomic."
    )

    def add_arguments(self, parser):
        add_filter_arguments(parser)
        add_async_argument(parser)

    def handle(self, *args, **options):
        import_or_queue(self, options, dataset_import_movielens, layout="movielens")
