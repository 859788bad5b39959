"""MovieLens 100k (u.data, u.item, u.genre) and 1M / 10M (ratings.dat, movies.dat) import like
the csv layout: same frames, same storing, same errors with file, line and field.

Every file here is written by the test (a few made-up films and ratings, Latin-1 where the
real releases are); no real MovieLens file is used.
"""

from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from recommender.datasets import ML100K_GENRES, DatasetError, RatingFilter
from recommender.models import Film, Rating, Viewer
from recommender.services.imports import dataset_import_movielens
from tests.conftest import write_text
from tests.recommender.fixtures import database_snapshot, write_movielens

pytestmark = pytest.mark.django_db


def flags(*genres: str) -> str:
    """u.item's 19 genre columns, 1 for each genre named (u.genre's documented order)."""
    return "|".join("1" if genre in genres else "0" for genre in ML100K_GENRES)


U_ITEM = "\n".join(
    [
        "1|Toy Story (1995)|01-Jan-1995||http://us.imdb.com/M/title-exact?Toy%20Story|"
        + flags("Animation", "Children's", "Comedy"),
        "2|Metisse (Café au Lait) (1993)|01-Jan-1993||http://x|" + flags("Comedy", "Romance"),
        "3|Cartoon Shorts (1994) (V)|03-Mar-1996|||" + flags("Animation"),
        "4|unknown||||" + flags("unknown"),
        "5|Half Known (1990)|01-Jan-1990|||" + flags("unknown", "Action"),
    ]
)
U_DATA = (
    "1\t1\t5\t881250949\n"
    "1\t2\t3\t881250950\n"
    "2\t1\t4\t881250951\n"
    "2\t3\t1\t881250952\n"
    "3\t4\t2\t881250953\n"
)
U_GENRE = "".join(f"{name}|{position}\n" for position, name in enumerate(ML100K_GENRES)) + "\n"

MOVIES_DAT = (
    "1::Toy Story (1995)::Animation|Children's|Comedy\n"
    "2::Café Society (1996)::Drama\n"
    '3::"Great Performances" Cats (1998)::Musical\n'
)
RATINGS_DAT = "1::1::5::978300760\n1::2::3::978302109\n2::3::4::978301968\n2::1::3.5::978301969\n"


def write_100k(directory, *, items=U_ITEM, data=U_DATA, genre=U_GENRE):
    write_text(directory / "u.item", items, encoding="latin-1")
    write_text(directory / "u.data", data)
    if genre is not None:
        write_text(directory / "u.genre", genre)
    return directory


def write_dat(directory, *, movies=MOVIES_DAT, ratings=RATINGS_DAT, encoding="latin-1"):
    write_text(directory / "movies.dat", movies, encoding=encoding)
    write_text(directory / "ratings.dat", ratings)
    return directory


def stored_films() -> dict:
    return {
        film.source_id: (film.title, film.year, sorted(g.name for g in film.genres.all()))
        for film in Film.objects.prefetch_related("genres")
    }


def stored_ratings() -> set:
    return set(
        Rating.objects.values_list("viewer__source_id", "film__source_id", "score", "rated_at")
    )


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def test_a_100k_folder_imports_films_genres_viewers_and_ratings(tmp_path):
    summary = dataset_import_movielens(directory=write_100k(tmp_path))

    assert (summary.viewers, summary.films, summary.rated_films, summary.ratings) == (3, 5, 4, 5)
    assert stored_films() == {
        1: ("Toy Story", 1995, ["Animation", "Children", "Comedy"]),
        2: ("Metisse (Café au Lait)", 1993, ["Comedy", "Romance"]),
        # No year in the title: the release date's.
        3: ("Cartoon Shorts (1994) (V)", 1996, ["Animation"]),
        4: ("unknown", None, ["(no genres listed)"]),
        # "unknown" beside a known genre says nothing more.
        5: ("Half Known", 1990, ["Action"]),
    }
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {1, 2, 3}
    assert stored_ratings() == {
        (1, 1, 5.0, at(881250949)),
        (1, 2, 3.0, at(881250950)),
        (2, 1, 4.0, at(881250951)),
        (2, 3, 1.0, at(881250952)),
        (3, 4, 2.0, at(881250953)),
    }
    assert summary.genres == 6


def test_u_genre_gives_the_order_of_the_flag_columns(tmp_path):
    swapped = ["Action", "unknown", *ML100K_GENRES[2:]]
    genre = "".join(f"{name}|{position}\n" for position, name in enumerate(swapped))
    items = "1|First Flag Film (2000)|01-Jan-2000|||1" + "|0" * 18 + "\n"

    dataset_import_movielens(
        directory=write_100k(tmp_path, items=items, data="7\t1\t4\t881250949\n", genre=genre)
    )

    assert stored_films() == {1: ("First Flag Film", 2000, ["Action"])}


def test_without_u_genre_the_documented_order_is_used(tmp_path):
    dataset_import_movielens(directory=write_100k(tmp_path, genre=None))

    assert stored_films()[1] == ("Toy Story", 1995, ["Animation", "Children", "Comedy"])


@pytest.mark.parametrize(
    ("encoding", "title"), [("latin-1", "Café Society"), ("utf-8", "Café Society")]
)
def test_a_dat_folder_imports_in_latin_1_or_utf_8(tmp_path, encoding, title):
    summary = dataset_import_movielens(directory=write_dat(tmp_path, encoding=encoding))

    assert (summary.viewers, summary.films, summary.ratings) == (2, 3, 4)
    assert stored_films() == {
        1: ("Toy Story", 1995, ["Animation", "Children", "Comedy"]),
        2: (title, 1996, ["Drama"]),
        3: ('"Great Performances" Cats', 1998, ["Musical"]),
    }
    assert stored_ratings() == {
        (1, 1, 5.0, at(978300760)),
        (1, 2, 3.0, at(978302109)),
        (2, 3, 4.0, at(978301968)),
        (2, 1, 3.5, at(978301969)),
    }


def test_blank_lines_read_through_the_exact_path_give_the_same_import(tmp_path):
    """A blank line sends ratings to the slower text path; the stored result is the same."""
    dataset_import_movielens(directory=write_dat(tmp_path / "plain"))
    expected = stored_ratings()
    Rating.objects.all().delete()

    with_blank = RATINGS_DAT.replace("\n", "\n\n", 1).replace("\n", "\r\n")
    dataset_import_movielens(directory=write_dat(tmp_path / "blank", ratings=with_blank))

    assert stored_ratings() == expected


@pytest.mark.parametrize("write_folder", [write_100k, write_dat])
def test_importing_a_classic_folder_twice_adds_nothing(tmp_path, write_folder):
    directory = write_folder(tmp_path)
    dataset_import_movielens(directory=directory)
    before = database_snapshot()

    again = dataset_import_movielens(directory=directory)

    assert (again.films_added, again.viewers_added, again.ratings_added) == (0, 0, 0)
    assert database_snapshot() == before


def test_filters_apply_to_the_classic_layouts(tmp_path):
    summary = dataset_import_movielens(
        directory=write_100k(tmp_path), rating_filter=RatingFilter(max_rows=3)
    )
    assert summary.ratings == 3
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {1, 2}

    Rating.objects.all().delete()
    Viewer.objects.all().delete()
    dataset_import_movielens(
        directory=write_dat(tmp_path / "dat"), rating_filter=RatingFilter(max_viewers=1)
    )
    assert set(Viewer.objects.values_list("source_id", flat=True)) == {1}
    assert Rating.objects.count() == 2


def test_the_command_imports_a_100k_folder_with_its_summary_line(tmp_path, capsys):
    call_command("import_movielens", str(write_100k(tmp_path)), "--no-progress", "--viewers", "2-3")

    out = capsys.readouterr().out
    assert "viewers 2 (2 new), films 5 (5 new, 3 rated), ratings 3 (3 new), genres 6" in out


BAD_100K = {
    "rating that is not a number": (
        {"data": U_DATA.replace("2\t3\t1\t", "2\t3\tone\t")},
        "u.data, line 4, field 'rating': 'one' is not a number",
    ),
    "rating off the scale": (
        {"data": U_DATA.replace("3\t4\t2\t", "3\t4\t6\t")},
        "u.data, line 5, field 'rating': 6.0 is not on the half-star scale 0.5, 1.0, ... 5.0",
    ),
    "line with a field missing": (
        {"data": U_DATA.replace("1\t2\t3\t881250950", "1\t2\t881250950")},
        "u.data, line 2: 3 field(s) separated by '\\t', expected 4 "
        "(user id, item id, rating, timestamp)",
    ),
    "rating of a film not in u.item": (
        {"data": U_DATA + "3\t9\t4\t881250960\n"},
        "u.data, line 6, field 'item id': film 9 is not in u.item",
    ),
    "timestamp out of range": (
        {"data": U_DATA.replace("881250953", "99999999999")},
        "u.data, line 5, field 'timestamp': 99999999999 is not a unix time "
        "from 1900-01-01 to 2199-12-31 (UTC)",
    ),
    "genre flag that is not 0 or 1": (
        {
            "items": U_ITEM.replace(
                "http://x|" + flags("Comedy", "Romance"), "http://x|" + "0|" * 5 + "2" + "|0" * 13
            )
        },
        "u.item, line 2, field 'Comedy': '2' is not a genre flag (0 or 1)",
    ),
    "film line with a genre column missing": (
        {"items": U_ITEM.replace("|01-Jan-1990|||1|1|", "|01-Jan-1990|||1|")},
        "u.item, line 5: 23 field(s) separated by '|', expected 24 "
        "(movie id, movie title, release date, video release date, IMDb URL, unknown and 18 more)",
    ),
    "duplicate film": (
        {"items": U_ITEM + "\n2|Again (1993)||||" + flags("Drama")},
        "u.item, line 6, field 'movie id': duplicate film 2 (first at line 2)",
    ),
    "u.genre position out of range": (
        {"genre": U_GENRE.replace("Western|18", "Western|19")},
        "u.genre, line 19, field 'position': 19 is not a flag position from 0 to 18 "
        "(u.genre has 19 genres)",
    ),
}
BAD_DAT = {
    "rating that is not a number, after a blank line": (
        {
            "ratings": RATINGS_DAT.replace("\n", "\n\n", 1).replace(
                "::3::978302109", "::x::978302109"
            )
        },
        "ratings.dat, line 3, field 'Rating': 'x' is not a number",
    ),
    "single colon": (
        {"ratings": RATINGS_DAT.replace("2::3::4::", "2:3::4::")},
        "ratings.dat, line 3: 3 field(s) separated by '::', expected 4 "
        "(UserID, MovieID, Rating, Timestamp)",
    ),
    "extra field on the first line": (
        {"ratings": "1::1::5::978300760::9\n" + RATINGS_DAT},
        "ratings.dat, line 1: 5 field(s) separated by '::', expected 4 "
        "(UserID, MovieID, Rating, Timestamp)",
    ),
    "same viewer and film twice": (
        {"ratings": RATINGS_DAT + "1::2::4::978302200\n"},
        "ratings.dat, line 5, field 'MovieID': duplicate rating of viewer 1 for film 2 "
        "(first at line 2)",
    ),
    "viewer id that is not an id": (
        {"ratings": RATINGS_DAT.replace("2::1::3.5", "-2::1::3.5")},
        "ratings.dat, line 4, field 'UserID': -2 is not an id from 1 to 9223372036854775807",
    ),
    "empty genre name": (
        {"movies": MOVIES_DAT.replace("::Drama", "::Drama|")},
        "movies.dat, line 2, field 'Genres': 'Drama|' has an empty genre name "
        "(names are separated by '|'; write '(no genres listed)' for none)",
    ),
    "empty title": (
        {"movies": MOVIES_DAT.replace("Café Society (1996)", " ")},
        "movies.dat, line 2, field 'Title': is empty",
    ),
}
LAYOUTS = {"100k": (write_100k, BAD_100K), "dat": (write_dat, BAD_DAT)}


@pytest.mark.parametrize(
    ("layout", "case"), [(layout, case) for layout, (_, cases) in LAYOUTS.items() for case in cases]
)
def test_a_bad_row_rejects_the_whole_import_naming_file_line_and_field(tmp_path, layout, case):
    write_folder, cases = LAYOUTS[layout]
    dataset_import_movielens(directory=write_folder(tmp_path / "good"))
    before = database_snapshot()
    files, message = cases[case]

    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=write_folder(tmp_path / "bad", **files))

    assert str(error.value) == message
    assert database_snapshot() == before


EVERY_LAYOUT = (
    "csv (ml-latest, ml-latest-small, 20M, 25M, 32M): ratings.csv and movies.csv "
    "(optional: links.csv); 100k: u.data and u.item (optional: u.genre); "
    "1M and 10M: ratings.dat and movies.dat"
)


def test_a_folder_of_no_layout_is_told_every_layout_and_its_files(tmp_path):
    write_text(tmp_path / "notes" / "README.txt", "not data\n")

    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=tmp_path / "notes")

    assert (
        str(error.value)
        == f"notes: not a MovieLens folder; a folder holds one layout: {EVERY_LAYOUT}"
    )
    assert database_snapshot()["films"] == []


def test_part_of_one_layout_is_told_the_missing_file(tmp_path):
    write_text(tmp_path / "u.data", U_DATA)

    with pytest.raises(DatasetError) as error:
        dataset_import_movielens(directory=tmp_path)

    assert (
        str(error.value) == "u.item: file not found (100k: u.data and u.item (optional: u.genre))"
    )


def test_a_folder_holding_two_layouts_is_refused(tmp_path):
    write_dat(write_movielens(tmp_path))

    with pytest.raises(
        DatasetError, match=r"holds the files of several layouts \(csv .*; 1M and 10M"
    ):
        dataset_import_movielens(directory=tmp_path)
    assert database_snapshot()["films"] == []
