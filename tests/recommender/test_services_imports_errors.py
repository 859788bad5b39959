"""Every malformed input gets an error naming file, line and field, and changes nothing."""

import pytest
from django.core.management import CommandError, call_command

from recommender.datasets import DatasetError
from recommender.services.imports import dataset_import_movielens, dataset_import_movies_dataset
from tests.conftest import write_text
from tests.recommender.fixtures import (
    MD_METADATA,
    MOVIES,
    RATINGS,
    database_snapshot,
    write_movielens,
    write_movies_dataset,
)

pytestmark = pytest.mark.django_db

HEADER = "userId,movieId,rating,timestamp\n"

MOVIELENS_CASES = {
    "missing column": (
        {"ratings": "userId,movieId,timestamp\n1,1,964982703\n"},
        "ratings.csv, line 1: missing column(s) 'rating'; found 'userId', 'movieId', 'timestamp'",
    ),
    "non-numeric rating": (
        {"ratings": HEADER + "1,1,4.0,964982703\n1,2,good,964981247\n"},
        "ratings.csv, line 3, field 'rating': 'good' is not a number",
    ),
    "rating off the half-star scale": (
        {"ratings": HEADER + "1,1,4.0,964982703\n1,2,3.3,964981247\n"},
        "ratings.csv, line 3, field 'rating': 3.3 is not on the half-star scale 0.5, 1.0, ... 5.0",
    ),
    "rating of zero": (
        {"ratings": HEADER + "1,1,0,964982703\n"},
        "ratings.csv, line 2, field 'rating': 0.0 is not on the half-star scale 0.5, 1.0, ... 5.0",
    ),
    "empty rating": (
        {"ratings": HEADER + "1,1,4.0,964982703\n1,2,,964981247\n"},
        "ratings.csv, line 3, field 'rating': '' is not a number",
    ),
    "unknown film id in ratings": (
        {"ratings": HEADER + "1,1,4.0,964982703\n2,42,3.0,964981247\n"},
        "ratings.csv, line 3, field 'movieId': film 42 is not in movies.csv",
    ),
    "duplicate viewer and film": (
        {"ratings": HEADER + "1,1,4.0,964982703\n1,2,3.0,964981247\n1,1,2.0,964981248\n"},
        "ratings.csv, line 4, field 'movieId': duplicate rating of viewer 1 for film 1 (first at line 2)",
    ),
    "non-integer viewer id": (
        {"ratings": HEADER + "1,1,4.0,964982703\nx7,2,3.0,964981247\n"},
        "ratings.csv, line 3, field 'userId': 'x7' is not a whole number",
    ),
    "negative viewer id": (
        {"ratings": HEADER + "-1,1,4.0,964982703\n"},
        "ratings.csv, line 2, field 'userId': -1 is not an id from 1 to 9223372036854775807",
    ),
    "empty ratings file": (
        {"ratings": ""},
        "ratings.csv: the file is empty (expected a header line)",
    ),
    "header but no rows": (
        {"ratings": HEADER},
        "ratings.csv: the file has a header but no data rows",
    ),
    "duplicate film in movies": (
        {"movies": MOVIES + "2,Jumanji Again (1995),Adventure\n"},
        "movies.csv, line 7, field 'movieId': duplicate film 2 (first at line 3)",
    ),
    "film without genres": (
        {"movies": MOVIES + "6,Bare (2000),\n"},
        "movies.csv, line 7, field 'genres': is empty (write '(no genres listed)' for none)",
    ),
    "link to an unknown film": (
        {"links": "movieId,imdbId,tmdbId\n1,0114709,862\n77,0000077,7\n"},
        "links.csv, line 3, field 'movieId': film 77 is not in movies.csv",
    ),
    "non-numeric tmdb id": (
        {"links": "movieId,imdbId,tmdbId\n1,0114709,eight\n"},
        "links.csv, line 2, field 'tmdbId': 'eight' is not a whole number",
    ),
}


def test_a_file_in_another_encoding_names_the_line(tmp_path):
    directory = write_movielens(tmp_path)
    write_text(
        directory / "movies.csv", MOVIES + "6,Amélie (2001),Comedy|Romance\n", encoding="latin-1"
    )

    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=directory)

    assert (
        str(error.value)
        == "movies.csv, line 7: not valid UTF-8 (byte 0xe9); save the file as UTF-8"
    )
    assert database_snapshot()["films"] == []


def test_a_missing_file_is_named(tmp_path):
    directory = write_movielens(tmp_path)
    (directory / "movies.csv").unlink()

    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=directory)

    assert str(error.value) == (
        "movies.csv: file not found (csv (ml-latest, ml-latest-small, 20M, 25M, 32M): "
        "ratings.csv and movies.csv (optional: links.csv))"
    )


MOVIES_DATASET_CASES = {
    "genre string that is not a literal": (
        {
            "metadata": MD_METADATA.replace(
                "[{'id': 27, 'name': 'Horror'}]", "__import__('os').system('id')"
            )
        },
        "movies_metadata.csv, line 6, field 'genres': \"__import__('os').system('id')\" is not a list literal",
    ),
    "genre literal of the wrong shape": (
        {"metadata": MD_METADATA.replace("[{'id': 27, 'name': 'Horror'}]", "{'name': 'Horror'}")},
        "movies_metadata.csv, line 6, field 'genres': \"{'name': 'Horror'}\" is not a list of {'id': ..., 'name': ...} entries",
    ),
    "metadata id that is not a number": (
        {"metadata": MD_METADATA.replace(",15602,", ",1997-08-20,")},
        "movies_metadata.csv, line 5, field 'id': '1997-08-20' is not a TMDB id",
    ),
    "rating for a film missing from links": (
        {"ratings": HEADER + "1,1,4.0,1260759144\n1,9,3.0,1260759179\n"},
        "ratings.csv, line 3, field 'movieId': film 9 is not in links.csv",
    ),
    "missing metadata column": (
        {"metadata": "id,title,release_date\n862,Toy Story,1995-10-30\n"},
        "movies_metadata.csv, line 1: missing column(s) 'genres'; found 'id', 'title', 'release_date'",
    ),
}


# Each layout: its import service, the writer of a good folder (files replaced by a case's),
# and its malformed cases.
LAYOUTS = {
    "movielens": (dataset_import_movielens, write_movielens, MOVIELENS_CASES),
    "movies_dataset": (dataset_import_movies_dataset, write_movies_dataset, MOVIES_DATASET_CASES),
}


@pytest.mark.parametrize(
    ("layout", "case"),
    [(layout, case) for layout, (_, _, cases) in LAYOUTS.items() for case in cases],
)
def test_a_malformed_folder_is_rejected_whole(tmp_path, layout, case):
    dataset_import, write_folder, cases = LAYOUTS[layout]
    dataset_import(directory=write_folder(tmp_path / "good"))
    before = database_snapshot()
    files, message = cases[case]

    with pytest.raises(DatasetError) as error:
        dataset_import(directory=write_folder(tmp_path / "bad", **files))

    assert str(error.value) == message
    assert database_snapshot() == before


def test_the_command_reports_the_error_and_that_nothing_was_imported(tmp_path):
    directory = write_movielens(tmp_path, ratings=RATINGS + "3,3,7.0,964984100\n")

    with pytest.raises(CommandError) as error:
        call_command("import_movielens", str(directory), "--no-progress")

    assert str(error.value) == (
        "nothing imported: ratings.csv, line 9, field 'rating': 7.0 is not on the half-star scale 0.5, 1.0, ... 5.0"
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--viewers", "1-x"], "--viewers: '1-x' is not a positive id or a range like 1-100"),
        (["--max-rows", "0"], "--max-rows must be a positive integer, got 0"),
    ],
)
def test_bad_command_options_are_named(tmp_path, option, message):
    with pytest.raises(CommandError) as error:
        call_command("import_movielens", str(write_movielens(tmp_path)), "--no-progress", *option)
    assert str(error.value) == message
