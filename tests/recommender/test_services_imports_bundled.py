from pathlib import Path

import pytest

from recommender.models import Film, Genre, Rating, Viewer
from recommender.services.imports import dataset_import_movielens

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "ml-latest-small"


@pytest.mark.django_db
def test_the_bundled_movielens_data_imports_completely():
    summary = dataset_import_movielens(directory=BUNDLED)

    assert (
        summary.ratings,
        summary.viewers,
        summary.rated_films,
        summary.films,
        summary.genres,
    ) == (
        100_004,
        671,
        9_066,
        9_125,
        20,
    )
    assert Rating.objects.count() == 100_004 and Viewer.objects.count() == 671
    assert Film.objects.count() == 9_125 and Genre.objects.count() == 20
    assert Film.objects.filter(ratings__isnull=False).distinct().count() == 9_066
    assert BUNDLED.joinpath("README.txt").read_text().count("Usage License") == 1
