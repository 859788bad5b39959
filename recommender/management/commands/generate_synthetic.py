import time
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from recommender.engine.synthetic import generate_synthetic, write_movielens_layout
from recommender.management.arguments import integer


class Command(BaseCommand):
    help = (
        "Write a synthetic data set in the MovieLens layout (ratings.csv, movies.csv, links.csv, plus "
        "truth.npz with the generator's true factors) from a latent-factor model with genre structure, "
        "power-law film popularity and skewed viewer activity. Full The Movies Dataset scale: "
        "--viewers 270000 --films 45000 --ratings 26000000."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--viewers", type=integer, required=True)
        parser.add_argument("--films", type=integer, required=True)
        parser.add_argument("--ratings", type=integer, required=True)
        parser.add_argument("--seed", type=integer, default=0)
        parser.add_argument("--factors", type=integer, default=20)

    def handle(self, *args, directory, viewers, films, ratings, seed, factors, **options):
        started = time.perf_counter()
        try:
            dataset = generate_synthetic(
                viewers=viewers, films=films, ratings=ratings, seed=seed, n_factors=factors
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        write_movielens_layout(dataset, Path(directory))
        self.stdout.write(
            f"wrote {len(dataset.ratings):,} ratings by {dataset.ratings['userId'].nunique():,} viewers "
            f"of {len(dataset.movies):,} films to {directory} in {time.perf_counter() - started:.1f} s"
        )
