from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from recommender.datasets import RatingFilter
from recommender.models import Film, Genre, Rating, Viewer
from recommender.services.imports import dataset_import_movielens
from tests.recommender.fixtures import database_snapshot, write_movielens

pytestmark = pytest.mark.django_db


def test_it_imports_films_viewers_ratings_and_genres(tmp_path):
    summary = dataset_import_movielens(directory=write_movielens(tmp_path))

    assert (summary.films, summary.rated_films, summary.viewers, summary.ratings) == (5, 4, 3, 7)
    assert summary.genres == 10
    assert Film.objects.count() == 5 and Viewer.objects.count() == 3 and Rating.objects.count() == 7
    toy_story = Film.objects.get(source_id=1)
    assert (toy_story.title, toy_story.year, toy_story.imdb_id, toy_story.tmdb_id) == (
        "Toy Story",
        1995,
        "0114709",
        862,
    )
    assert sorted(toy_story.genres.values_list("name", flat=True)) == [
        "Adventure",
        "Animation",
        "Children",
        "Comedy",
        "Fantasy",
    ]
    assert Film.objects.get(source_id=3).title == "Heat, Reloaded"
    assert Film.objects.get(source_id=4).tmdb_id is None
    no_genre = Film.objects.get(source_id=5)
    assert (no_genre.title, no_genre.year) == ("No Genre Film", None)
    assert list(no_genre.genres.values_list("name", flat=True)) == ["(no genres listed)"]


def test_it_stores_scores_timestamps_and_origin_exactly(tmp_path):
    dataset_import_movielens(directory=write_movielens(tmp_path))

    rating = Rating.objects.get(viewer__source_id=2, film__source_id=1)
    assert rating.score == 0.5
    assert rating.rated_at == datetime.fromtimestamp(964982931, tz=UTC)
    assert rating.origin == Rating.Origin.ORIGINAL and rating.round is None
    assert sorted(Rating.objects.values_list("score", flat=True)) == [
        0.5,
        1.0,
        2.5,
        3.5,
        4.0,
        4.5,
        5.0,
    ]


def test_importing_twice_adds_nothing(tmp_path):
    directory = write_movielens(tmp_path)
    dataset_import_movielens(directory=directory)
    before = database_snapshot()

    again = dataset_import_movielens(directory=directory)

    assert (again.films_added, again.viewers_added, again.ratings_added) == (0, 0, 0)
    assert database_snapshot() == before


def test_a_second_file_adds_only_its_new_ratings(tmp_path):
    dataset_import_movielens(directory=write_movielens(tmp_path / "a"))
    more = "userId,movieId,rating,timestamp\n1,1,1.0,964982703\n4,4,3.0,964982999\n"

    summary = dataset_import_movielens(directory=write_movielens(tmp_path / "b", ratings=more))

    assert (summary.ratings_added, summary.viewers_added) == (1, 1)
    # The existing rating of viewer 1 for film 1 is kept, not overwritten.
    assert Rating.objects.get(viewer__source_id=1, film__source_id=1).score == 4.0
    assert Rating.objects.count() == 8


def test_max_rows_takes_the_first_rows_of_the_file(tmp_path):
    summary = dataset_import_movielens(
        directory=write_movielens(tmp_path), rating_filter=RatingFilter(max_rows=3)
    )

    assert summary.ratings == 3
    assert set(Rating.objects.values_list("viewer__source_id", flat=True)) == {1}


def test_viewer_restrictions_keep_only_the_chosen_viewers(tmp_path):
    directory = write_movielens(tmp_path)
    dataset_import_movielens(
        directory=directory, rating_filter=RatingFilter(viewer_ids=frozenset({2, 3}))
    )
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {2, 3}
    assert Rating.objects.count() == 4

    Rating.objects.all().delete()
    Viewer.objects.all().delete()
    dataset_import_movielens(directory=directory, rating_filter=RatingFilter(max_viewers=1))
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {1}


def test_links_are_optional(tmp_path):
    dataset_import_movielens(directory=write_movielens(tmp_path, links=None))

    assert Film.objects.get(source_id=1).tmdb_id is None
    assert Film.objects.get(source_id=1).imdb_id == ""


def test_the_command_prints_a_summary_line(tmp_path, capsys):
    call_command(
        "import_movielens", str(write_movielens(tmp_path)), "--no-progress", "--viewers", "1-2"
    )

    out = capsys.readouterr().out
    assert (
        "viewers 2 (2 new)" in out
        and "films 5 (5 new, 3 rated)" in out
        and "ratings 5 (5 new)" in out
    )
    assert Genre.objects.count() == 10
