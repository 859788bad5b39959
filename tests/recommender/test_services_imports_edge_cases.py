"""Issue 16, points 3-7: inputs an adversarial pass found to be dropped, wrapped, stored
beyond their column or crashing. Each is now an error naming file, line and field, with the
database unchanged (or, for --viewers, an import that is right)."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from recommender.datasets import DatasetError, RatingFilter
from recommender.models import Film, Genre, Rating, Viewer
from recommender.services.imports import dataset_import_movielens, dataset_import_movies_dataset
from tests.recommender.fixtures import (
    LINKS,
    MD_LINKS,
    MD_METADATA,
    MOVIES,
    database_snapshot,
    write_movielens,
    write_movies_dataset,
)

pytestmark = pytest.mark.django_db

HEADER = "userId,movieId,rating,timestamp\n"
GENRE_LENGTH = Genre._meta.get_field("name").max_length
IMDB_LENGTH = Film._meta.get_field("imdb_id").max_length


def refused(tmp_path, message: str, **files) -> None:
    """The good folder imports; the bad one is refused with `message` and changes nothing."""
    dataset_import_movielens(directory=write_movielens(tmp_path / "good"))
    before = database_snapshot()
    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=write_movielens(tmp_path / "bad", **files))
    assert str(error.value) == message
    assert database_snapshot() == before


# --- 3. timestamps -----------------------------------------------------------------------------


def test_a_timestamp_past_the_year_2200_is_refused_with_file_line_and_field(tmp_path):
    refused(
        tmp_path,
        "ratings.csv, line 3, field 'timestamp': 999999999999999 is not a unix time "
        "from 1900-01-01 to 2199-12-31 (UTC)",
        ratings=HEADER + "1,1,4.0,964982703\n7,2,3.0,999999999999999\n",
    )
    assert not Viewer.objects.filter(source_id=7).exists()


def test_a_timestamp_before_1900_is_refused_with_file_line_and_field(tmp_path):
    refused(
        tmp_path,
        "ratings.csv, line 2, field 'timestamp': -2208988801 is not a unix time "
        "from 1900-01-01 to 2199-12-31 (UTC)",
        ratings=HEADER + "1,1,4.0,-2208988801\n",
    )


def test_timestamps_at_both_bounds_are_stored_exactly(tmp_path):
    first, last = -2208988800, 7258118399  # 1900-01-01T00:00:00Z, 2199-12-31T23:59:59Z
    dataset_import_movielens(
        directory=write_movielens(tmp_path, ratings=HEADER + f"1,1,4.0,{first}\n1,2,3.0,{last}\n")
    )
    stored = Rating.objects.order_by("film__source_id").values_list("rated_at", flat=True)
    assert [int(at.timestamp()) for at in stored] == [first, last]


# --- 4. ids ------------------------------------------------------------------------------------

HUGE = 2**63
CASES_IDS = {
    "movieId 2**63 in ratings": (
        {"ratings": HEADER + f"1,{HUGE},4.0,964982703\n"},
        f"ratings.csv, line 2, field 'movieId': {HUGE} is not an id from 1 to {HUGE - 1}",
    ),
    "movieId 2**64+5 in ratings": (
        {"ratings": HEADER + f"1,1,4.0,964982703\n1,{2**64 + 5},4.0,964982703\n"},
        f"ratings.csv, line 3, field 'movieId': {2**64 + 5} is not an id from 1 to {HUGE - 1}",
    ),
    "userId 2**63 shown as written": (
        {"ratings": HEADER + f"{HUGE},1,4.0,964982703\n"},
        f"ratings.csv, line 2, field 'userId': {HUGE} is not an id from 1 to {HUGE - 1}",
    ),
    "movieId 0 in movies": (
        {"movies": MOVIES + "0,Zero (2000),Drama\n"},
        f"movies.csv, line 7, field 'movieId': 0 is not an id from 1 to {HUGE - 1}",
    ),
    "movieId -5 in movies": (
        {"movies": MOVIES + "-5,Minus Five (2000),Drama\n"},
        f"movies.csv, line 7, field 'movieId': -5 is not an id from 1 to {HUGE - 1}",
    ),
    "movieId 2**63 in movies": (
        {"movies": MOVIES + f"{HUGE},Huge (2000),Drama\n"},
        f"movies.csv, line 7, field 'movieId': {HUGE} is not an id from 1 to {HUGE - 1}",
    ),
    "movieId 0 in ratings": (
        {"ratings": HEADER + "1,0,4.0,964982703\n"},
        f"ratings.csv, line 2, field 'movieId': 0 is not an id from 1 to {HUGE - 1}",
    ),
    "tmdbId 2**63 in links": (
        {"links": LINKS + f"6,0000006,{HUGE}\n", "movies": MOVIES + "6,Six (2000),Drama\n"},
        f"links.csv, line 7, field 'tmdbId': {HUGE} is not an id from 1 to {HUGE - 1}",
    ),
}


@pytest.mark.parametrize("case", list(CASES_IDS))
def test_an_id_outside_1_to_2_63_minus_1_is_refused_as_written_in_the_file(tmp_path, case):
    files, message = CASES_IDS[case]
    refused(tmp_path, message, **files)


def test_the_largest_id_is_stored_exactly(tmp_path):
    top = HUGE - 1
    dataset_import_movielens(
        directory=write_movielens(
            tmp_path,
            movies=MOVIES + f"{top},Top (2000),Drama\n",
            ratings=HEADER + f"{top},{top},4.0,964982703\n",
        )
    )
    assert Rating.objects.get().viewer.source_id == top
    assert Rating.objects.get().film.source_id == top


# --- 5. empty genre names ----------------------------------------------------------------------


@pytest.mark.parametrize("genres", ["|||", "Action||Drama", "Action|", "| "])
def test_an_empty_genre_name_is_refused_with_file_line_and_field(tmp_path, genres):
    refused(
        tmp_path,
        f"movies.csv, line 7, field 'genres': {genres!r} has an empty genre name "
        "(names are separated by '|'; write '(no genres listed)' for none)",
        movies=MOVIES + f"6,Piped (2000),{genres}\n",
    )


def test_an_empty_genre_name_in_the_metadata_is_refused_with_file_line_and_field(tmp_path):
    dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path / "good"))
    before = database_snapshot()
    metadata = MD_METADATA.replace("[{'id': 27, 'name': 'Horror'}]", "[{'id': 27, 'name': ' '}]")
    with pytest.raises(DatasetError) as error:
        dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path, metadata=metadata))
    assert str(error.value) == (
        "movies_metadata.csv, line 6, field 'genres': \"[{'id': 27, 'name': ' '}]\" "
        "has an empty genre name"
    )
    assert database_snapshot() == before


# --- 6. lengths and ranges from the model ------------------------------------------------------


def test_a_genre_name_longer_than_the_model_allows_is_refused_with_file_line_and_field(tmp_path):
    name = "G" * (GENRE_LENGTH + 36)
    refused(
        tmp_path,
        f"movies.csv, line 7, field 'genres': genre name {name[:20]!r}... has "
        f"{GENRE_LENGTH + 36} characters, at most {GENRE_LENGTH} are allowed",
        movies=MOVIES + f"6,Long Genre (2000),Drama|{name}\n",
    )


def test_an_imdb_id_longer_than_the_model_allows_is_refused_with_file_line_and_field(tmp_path):
    digits = "1" * 40
    refused(
        tmp_path,
        f"links.csv, line 3, field 'imdbId': {digits[:20]!r}... has 40 characters, "
        f"at most {IMDB_LENGTH} are allowed",
        links=f"movieId,imdbId,tmdbId\n1,0114709,862\n2,{digits},8844\n",
    )


def test_a_genre_name_of_exactly_the_allowed_length_is_stored(tmp_path):
    name = "G" * GENRE_LENGTH
    dataset_import_movielens(
        directory=write_movielens(tmp_path, movies=MOVIES + f"6,Long Genre (2000),{name}\n")
    )
    assert list(Film.objects.get(source_id=6).genres.values_list("name", flat=True)) == [name]


def test_a_title_longer_than_the_model_allows_is_refused_not_cut(tmp_path):
    limit = Film._meta.get_field("title").max_length
    title = "T" * (limit + 1)
    refused(
        tmp_path,
        f"movies.csv, line 7, field 'title': {title[:20]!r}... has {limit + 1} characters, "
        f"at most {limit} are allowed",
        movies=MOVIES + f"6,{title},Drama\n",
    )


def test_a_metadata_genre_name_longer_than_the_model_allows_is_refused(tmp_path):
    dataset_import_movies_dataset(directory=write_movies_dataset(tmp_path / "good"))
    before = database_snapshot()
    name = "H" * 100
    metadata = MD_METADATA.replace("'name': 'Horror'", f"'name': '{name}'")
    with pytest.raises(DatasetError) as error:
        dataset_import_movies_dataset(
            directory=write_movies_dataset(tmp_path / "bad", metadata=metadata, links=MD_LINKS)
        )
    assert str(error.value) == (
        f"movies_metadata.csv, line 6, field 'genres': genre name {name[:20]!r}... has 100 "
        f"characters, at most {GENRE_LENGTH} are allowed"
    )
    assert database_snapshot() == before


# --- 7. --viewers ranges -----------------------------------------------------------------------


def test_a_huge_viewers_range_is_kept_as_an_interval_not_built_in_memory(tmp_path):
    call_command(
        "import_movielens",
        str(write_movielens(tmp_path)),
        "--no-progress",
        "--viewers",
        "2-3000000000",
    )
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {2, 3}


def test_viewer_ranges_and_single_ids_combine(tmp_path):
    dataset_import_movielens(
        directory=write_movielens(tmp_path),
        rating_filter=RatingFilter(viewer_ranges=((1, 1), (3, 2**63 - 1))),
    )
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {1, 3}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1-99999999999999999999",
            "--viewers: '1-99999999999999999999' goes beyond the largest id 9223372036854775807",
        ),
        ("0-5", "--viewers: '0-5' is not a positive id or a range like 1-100"),
        ("9-1", "--viewers: '9-1' is a range whose end is before its start"),
        ("1,,2", "--viewers: '' is not a positive id or a range like 1-100"),
    ],
)
def test_absurd_viewers_input_is_refused_naming_the_option(tmp_path, text, message):
    with pytest.raises(CommandError) as error:
        call_command(
            "import_movielens", str(write_movielens(tmp_path)), "--no-progress", "--viewers", text
        )
    assert str(error.value) == message


def test_an_id_beyond_2_53_next_to_one_written_as_a_decimal_is_not_rounded(tmp_path):
    # pandas reads a column holding "1.0" through floats, where 2**53 + 1 becomes 2**53.
    big = 2**53 + 1
    directory = write_movielens(
        tmp_path,
        movies=MOVIES + f"{big},Big (2000),Drama\n",
        ratings=HEADER + f"1.0,1,4.0,964982703\n{big},{big},3.0,964982703\n",
    )
    dataset_import_movielens(directory=directory)
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {1, big}
    assert Rating.objects.get(viewer__source_id=big).film.source_id == big


def test_the_sqlite_insert_skips_only_the_viewer_and_film_conflict(tmp_path):
    from django.db import IntegrityError, connection, transaction

    from recommender.services.imports import ratings_bulk_insert

    if connection.vendor != "sqlite":
        pytest.skip("the SQLite insert statement")
    dataset_import_movielens(directory=write_movielens(tmp_path))
    viewer, film = Viewer.objects.get(source_id=1).pk, Film.objects.get(source_id=5).pk
    # A time datetime() cannot hold gives NULL: refused, no longer silently dropped.
    import pandas as pd

    frame = pd.DataFrame(
        {"viewer_id": [viewer], "film_id": [film], "score": [3.0], "timestamp": [10**15]}
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ratings_bulk_insert(frame)


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a command runs
def test_a_queued_import_carries_the_viewer_ranges_as_intervals(tmp_path):
    call_command(
        "import_movielens",
        str(write_movielens(tmp_path)),
        "--no-progress",
        "--async",
        "--viewers",
        "2-3000000000",
    )
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {2, 3}
