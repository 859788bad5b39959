import pytest

from recommender.datasets import NO_GENRES, DatasetError
from recommender.models import Film, Rating
from recommender.services.imports import dataset_import_movies_dataset
from tests.recommender.fixtures import database_snapshot, write_movies_dataset

pytestmark = pytest.mark.django_db


def genres_of(source_id: int) -> list[str]:
    return sorted(Film.objects.get(source_id=source_id).genres.values_list("name", flat=True))


def test_metadata_is_joined_through_links_not_by_raw_id(tmp_path):
    dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path))

    # Film 1 (MovieLens id) is TMDB 862, Toy Story; the metadata row with TMDB id 1 is another film.
    toy_story = Film.objects.get(source_id=1)
    assert (toy_story.title, toy_story.year, toy_story.tmdb_id) == ("Toy Story", 1995, 862)
    assert genres_of(1) == ["Animation", "Comedy", "Family"]
    assert Film.objects.get(source_id=2).title == "Jumanji"
    assert genres_of(2) == ["Adventure", "Family", "Fantasy"]
    assert genres_of(3) == ["Comedy", "Romance"]
    assert not Film.objects.filter(title__startswith="Wrong Film").exists()


def test_a_film_without_metadata_keeps_an_explicit_no_genres_label(tmp_path):
    dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path))

    film = Film.objects.get(source_id=4)
    assert film.title == "MovieLens film 4"
    assert genres_of(4) == [NO_GENRES]


def test_it_imports_the_ratings_with_movielens_ids(tmp_path):
    summary = dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path))

    assert (summary.ratings, summary.viewers, summary.films, summary.rated_films) == (5, 3, 4, 4)
    assert Rating.objects.get(viewer__source_id=2, film__source_id=3).score == 5.0


def test_the_small_files_are_used_when_asked_or_when_alone(tmp_path):
    summary = dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path, small=True))
    assert summary.ratings == 5

    write_movies_dataset(tmp_path, ratings="userId,movieId,rating,timestamp\n9,1,3.0,1260759144\n")
    assert dataset_import_movies_dataset(directory=tmp_path, small=True).ratings_added == 0
    assert dataset_import_movies_dataset(directory=tmp_path).ratings_added == 1


def test_importing_twice_adds_nothing(tmp_path):
    directory = write_movies_dataset(tmp_path)
    dataset_import_movies_dataset(directory=directory)
    before = database_snapshot()

    summary = dataset_import_movies_dataset(directory=directory)

    assert summary.ratings_added == 0
    assert database_snapshot() == before


BROKEN_METADATA_ROW = """False,[{'id': 18 'name': 'Drama'}],5,tt1,1999-01-01,Broken,x
False,"[{'id': 18, 'name': 'Drama'}]",1997-08-20,tt2,1999-01-01,Shifted,x
"""


def test_lenient_metadata_skips_and_reports_unusable_rows(tmp_path):
    from tests.recommender.fixtures import MD_METADATA

    skipped: list[str] = []
    directory = write_movies_dataset(tmp_path, metadata=MD_METADATA + BROKEN_METADATA_ROW)

    with pytest.raises(DatasetError):
        dataset_import_movies_dataset(directory=directory)
    dataset_import_movies_dataset(
        directory=directory, lenient_metadata=True, on_skipped=skipped.append
    )

    assert len(skipped) == 2
    # Line numbers count the quoted overview that spans two lines (Jumanji, lines 3-4).
    assert sorted(skipped) == [
        "movies_metadata.csv, line 8, field 'genres': \"[{'id': 18 'name': 'Drama'}]\" is not a list literal",
        "movies_metadata.csv, line 9, field 'id': '1997-08-20' is not a TMDB id",
    ]
    assert genres_of(1) == ["Animation", "Comedy", "Family"]
