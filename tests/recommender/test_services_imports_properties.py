"""Property-based: generated folders in both layouts, well formed or with one malformed cell,
row or quote. Each import is either refused with a DatasetError naming the file, the line and
the field (the value as written, for numbers), with the database unchanged; or it stores
exactly what the files say.

Runs are bounded and reproducible: a fixed number of examples, derandomized, no deadline (the
machines that run CI are shared), no example database written into the tree.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from recommender.datasets import (
    NO_GENRES,
    TIMESTAMP_END,
    TIMESTAMP_FIRST,
    DatasetError,
    field_limits,
)
from recommender.models import Film, Rating, Viewer
from recommender.services.imports import dataset_import_movielens, dataset_import_movies_dataset
from tests.recommender.fixtures import database_snapshot

pytestmark = pytest.mark.django_db

settings.register_profile(
    "imports",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile("imports")

LIMITS = field_limits()
LARGEST = LIMITS.largest_id
BAD_IDS = ["", "x7", "1.5", "0", "-5", str(2**63), str(2**64 + 5), "9" * 25, "1_000", "0x10"]
BAD_TIMESTAMPS = [
    "",
    "soon",
    "1.5",
    str(999_999_999_999_999),
    str(TIMESTAMP_END),
    str(TIMESTAMP_FIRST - 1),
    str(-(2**63)),
    str(2**64 + 5),
]
BAD_RATINGS = ["", "good", "0", "5.5", "3.3", "-1", "nan", "inf", "1e400", "0.25"]
BAD_GENRES = ["|||", "Action||Drama", "Action|", "| ", "", "G" * (LIMITS.genre_name + 1)]
# A header of each file, and which of its columns a mutation may break.
RATING_COLUMNS = ["userId", "movieId", "rating", "timestamp"]
MUTATIONS = "none rating_cell unknown_film duplicate missing_column unclosed_quote extra_field"
MUTATIONS = [*MUTATIONS.split(), "film_cell", "link_cell"]


# --- the model of a folder: what the files say, and so what must be stored ---------------------


@dataclass
class FilmRow:
    source_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]
    imdb_id: str
    tmdb_id: int | None


@dataclass
class Folder:
    films: list[FilmRow]
    ratings: list[tuple[int, int, float, int]]  # viewer, film, score, timestamp
    score_text: list[str]
    quote_all: bool
    line_end: str
    # Set by a mutation: the files' rows as text (header first), changed in place.
    files: dict[str, list[list[str]]] = field(default_factory=dict)


names = (
    st.text(alphabet=st.sampled_from("abcXYZé '-&"), min_size=1, max_size=12)
    .map(str.strip)
    .filter(bool)
)
titles = (
    st.text(alphabet=st.sampled_from("abcXYZé ,'\"\n&:!0123456789"), min_size=1, max_size=25)
    .map(str.strip)
    .filter(bool)
)
# The largest id is kept for the rows stored before each import (see check_one).
ids = st.one_of(st.integers(1, 10_000), st.integers(1, LARGEST - 1))


@st.composite
def folders(draw) -> Folder:
    film_ids = draw(st.lists(ids, min_size=1, max_size=5, unique=True))
    films = []
    for source_id in film_ids:
        year = draw(st.none() | st.integers(1890, 2030))
        genres = draw(st.lists(names, min_size=1, max_size=3).map(lambda g: tuple(sorted(set(g)))))
        films.append(
            FilmRow(
                source_id=source_id,
                title=draw(titles),
                year=year,
                genres=genres,
                imdb_id=draw(st.text(alphabet="0123456789", max_size=LIMITS.imdb_id)),
                tmdb_id=draw(st.none() | ids),
            )
        )
    tmdb = [f.tmdb_id for f in films if f.tmdb_id is not None]
    if len(set(tmdb)) != len(tmdb):  # tmdb ids are unique in the metadata: keep the first
        for index, film in enumerate(films):
            if film.tmdb_id in {f.tmdb_id for f in films[:index]}:
                films[index] = replace(film, tmdb_id=None)
    viewers = draw(st.lists(ids, min_size=1, max_size=4, unique=True))
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(viewers), st.sampled_from(film_ids)),
            min_size=1,
            max_size=8,
            unique=True,
        )
    )
    ratings = [
        (
            v,
            f,
            draw(st.sampled_from([i / 2 for i in range(1, 11)])),
            draw(st.integers(TIMESTAMP_FIRST, TIMESTAMP_END - 1)),
        )
        for v, f in pairs
    ]
    score_text = [
        draw(st.sampled_from(["{:.1f}", "{:g}", " {:.2f} "])).format(r[2]) for r in ratings
    ]
    return Folder(
        films=films,
        ratings=ratings,
        score_text=score_text,
        quote_all=draw(st.booleans()),
        line_end=draw(st.sampled_from(["\n", "\r\n"])),
    )


def rating_rows(folder: Folder) -> list[list[str]]:
    return [list(RATING_COLUMNS)] + [
        [str(v), str(f), text, str(t)]
        for (v, f, _, t), text in zip(folder.ratings, folder.score_text, strict=True)
    ]


def movielens_rows(folder: Folder) -> dict[str, list[list[str]]]:
    movies = [["movieId", "title", "genres"]]
    links = [["movieId", "imdbId", "tmdbId"]]
    for film in folder.films:
        title = film.title if film.year is None else f"{film.title} ({film.year})"
        movies.append([str(film.source_id), title, "|".join(film.genres)])
        links.append(
            [str(film.source_id), film.imdb_id, "" if film.tmdb_id is None else str(film.tmdb_id)]
        )
    return {"movies.csv": movies, "links.csv": links, "ratings.csv": rating_rows(folder)}


def movies_dataset_rows(folder: Folder) -> dict[str, list[list[str]]]:
    if all(film.tmdb_id is None for film in folder.films):
        # A metadata file without rows is refused as empty: give one film its metadata.
        folder.films[0] = replace(folder.films[0], tmdb_id=1)
    links = [["movieId", "imdbId", "tmdbId"]]
    metadata = [["adult", "genres", "id", "release_date", "title"]]
    for film in folder.films:
        links.append(
            [str(film.source_id), film.imdb_id, "" if film.tmdb_id is None else str(film.tmdb_id)]
        )
        if film.tmdb_id is not None:
            genres = str([{"id": i, "name": n} for i, n in enumerate(film.genres)])
            date = "" if film.year is None else f"{film.year}-06-15"
            metadata.append(["False", genres, str(film.tmdb_id), date, film.title])
    return {"movies_metadata.csv": metadata, "links.csv": links, "ratings.csv": rating_rows(folder)}


def render(rows: list[list[str]], folder: Folder) -> tuple[str, list[int]]:
    """The file's text and the physical line each record starts on (header: line 1)."""
    quoting = csv.QUOTE_ALL if folder.quote_all else csv.QUOTE_MINIMAL
    parts, starts, line = [], [], 1
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, quoting=quoting, lineterminator=folder.line_end).writerow(row)
        text = buffer.getvalue()
        parts.append(text)
        starts.append(line)
        line += text.count("\n")
    return "".join(parts), starts


# --- mutations: each breaks one thing and says what the refusal must name ---------------------


@dataclass(frozen=True)
class Refusal:
    file: str
    record: int | None  # 1 = first data row; None: the header
    field: str | None
    shown: str | None = None  # text the message must show, as written
    unclosed_quote: bool = False  # a '"' opens the record's first field and is never closed


def plain(token: str) -> str | None:
    """A number written in plain digits: the refusal must show it as written."""
    return token if re.fullmatch(r"-?[0-9]+", token) else None


@st.composite
def mutations(draw, layout: str):
    """(mutate(files) -> Refusal | None) for one generated folder; None keeps it valid."""
    kind = draw(st.sampled_from(MUTATIONS))
    pick = draw(st.integers(0, 10_000))
    column = draw(st.sampled_from(RATING_COLUMNS))
    token = draw(
        st.sampled_from(
            {
                "userId": BAD_IDS,
                "movieId": BAD_IDS,
                "rating": BAD_RATINGS,
                "timestamp": BAD_TIMESTAMPS,
            }[column]
        )
    )
    film_token = draw(st.sampled_from(BAD_IDS))
    genre_token = draw(st.sampled_from(BAD_GENRES))
    choice = draw(st.integers(0, 3))

    def mutate(files: dict[str, list[list[str]]], folder: Folder) -> Refusal | None:
        event(kind)
        ratings = files["ratings.csv"]
        row = 1 + pick % (len(ratings) - 1)
        if kind == "rating_cell":
            ratings[row][RATING_COLUMNS.index(column)] = token
            return Refusal("ratings.csv", row, column, None if column == "rating" else plain(token))
        if kind == "unknown_film":
            known = {f.source_id for f in folder.films}
            unknown = next(i for i in range(1, 100) if i not in known)
            ratings[row][1] = str(unknown)
            return Refusal("ratings.csv", row, "movieId", str(unknown))
        if kind == "duplicate":
            again = list(ratings[row])
            ratings.append(again)
            return Refusal("ratings.csv", len(ratings) - 1, "movieId")
        if kind == "missing_column":
            index = RATING_COLUMNS.index(column)
            for cells in ratings:
                del cells[index]
            return Refusal("ratings.csv", None, None, repr(column))
        if kind == "unclosed_quote" and not folder.quote_all:
            return Refusal("ratings.csv", row, "userId", unclosed_quote=True)
        if kind == "extra_field":
            ratings[row].append("surplus")
            return None
        if kind == "film_cell":
            return _break_film(files, layout, pick, choice, film_token, genre_token)
        if kind == "link_cell":
            return _break_link(files["links.csv"], pick, choice, film_token)
        return None

    return mutate


def _break_link(links: list[list[str]], pick: int, choice: int, id_token: str) -> Refusal:
    at = 1 + pick % (len(links) - 1)
    if choice % 2:
        links[at][1] = "1" * (LIMITS.imdb_id + 1 + choice)
        return Refusal("links.csv", at, "imdbId")
    links[at][2] = id_token or "-5"
    return Refusal("links.csv", at, "tmdbId", plain(id_token or "-5"))


def _break_film(files, layout: str, pick: int, choice: int, id_token: str, genre_token: str):
    if layout == "movielens":
        movies = files["movies.csv"]
        at = 1 + pick % (len(movies) - 1)
        if choice == 0:
            movies[at][0] = id_token
            return Refusal("movies.csv", at, "movieId", plain(id_token))
        if choice == 1:
            movies[at][2] = genre_token
            return Refusal("movies.csv", at, "genres")
        if choice == 2:
            movies[at][1] = "T" * (LIMITS.title + 1)
            return Refusal("movies.csv", at, "title")
        movies.append(list(movies[at]))
        return Refusal("movies.csv", len(movies) - 1, "movieId")
    metadata = files["movies_metadata.csv"]
    if len(metadata) < 2:
        return None
    at = 1 + pick % (len(metadata) - 1)
    if choice == 0:
        metadata[at][2] = id_token if id_token else "x"
        return Refusal("movies_metadata.csv", at, "id")
    if choice == 1:
        metadata[at][1] = str([{"id": 1, "name": " "}])
    elif choice == 2:
        metadata[at][1] = str([{"id": 1, "name": "G" * (LIMITS.genre_name + 1)}])
    else:
        metadata[at][4] = "T" * (LIMITS.title + 1)
        return Refusal("movies_metadata.csv", at, "title")
    return Refusal("movies_metadata.csv", at, "genres")


# --- the check -----------------------------------------------------------------------------------


def stored(folder: Folder) -> dict:
    ids = [f.source_id for f in folder.films]
    films = {
        f.source_id: (
            f.title,
            f.year,
            f.imdb_id,
            f.tmdb_id,
            tuple(sorted(f.genres.values_list("name", flat=True))),
        )
        for f in Film.objects.filter(source_id__in=ids).prefetch_related("genres")
    }
    viewers = {v for v, *_ in folder.ratings}
    ratings = {
        (r.viewer.source_id, r.film.source_id, r.score, int(r.rated_at.timestamp()))
        for r in Rating.objects.filter(viewer__source_id__in=viewers).select_related(
            "viewer", "film"
        )
    }
    return {
        "films": films,
        "viewers": set(
            Viewer.objects.filter(source_id__in=viewers).values_list("source_id", flat=True)
        ),
        "ratings": ratings,
    }


def expected(folder: Folder, layout: str) -> dict:
    films = {}
    for f in folder.films:
        if layout == "movielens":
            films[f.source_id] = (f.title, f.year, f.imdb_id, f.tmdb_id, f.genres)
        elif f.tmdb_id is None:
            films[f.source_id] = (
                f"MovieLens film {f.source_id}",
                None,
                f.imdb_id,
                None,
                (NO_GENRES,),
            )
        else:
            films[f.source_id] = (f.title, f.year, f.imdb_id, f.tmdb_id, f.genres)
    return {
        "films": films,
        "viewers": {v for v, *_ in folder.ratings},
        "ratings": set(folder.ratings),
    }


def check_one(folder: Folder, mutate, layout: str) -> None:
    rows = movielens_rows(folder) if layout == "movielens" else movies_dataset_rows(folder)
    refusal = mutate(rows, folder)
    with tempfile.TemporaryDirectory() as directory, transaction.atomic():
        starts = {}
        for name, records in rows.items():
            text, starts[name] = render(records, folder)
            if refusal is not None and refusal.unclosed_quote and name == refusal.file:
                lines = text.split("\n")
                lines[starts[name][refusal.record] - 1] = (
                    '"' + lines[starts[name][refusal.record] - 1]
                )
                text = "\n".join(lines)
            Path(directory, name).write_text(text, encoding="utf-8", newline="")
        store_rows_already_there()
        before = database_snapshot()
        event("refused" if refusal else "imported")
        importer = (
            dataset_import_movielens if layout == "movielens" else dataset_import_movies_dataset
        )
        if refusal is None:
            importer(directory=Path(directory))
            assert stored(folder) == expected(folder, layout)
        else:
            with pytest.raises(DatasetError) as error:
                importer(directory=Path(directory))
            message = str(error.value)
            assert error.value.path.name == refusal.file, message
            line = 1 if refusal.record is None else starts[refusal.file][refusal.record]
            assert error.value.line == line, message
            assert error.value.field == refusal.field, message
            if refusal.shown is not None:
                assert refusal.shown in message, message
            assert database_snapshot() == before
        transaction.set_rollback(True)


def store_rows_already_there() -> None:
    """A film, a viewer and a rating stored before the import, under the one id no generated
    folder uses: a refused import must leave them (and everything else) as they were."""
    film = Film.objects.create(source_id=LARGEST, title="Stored Before")
    viewer = Viewer.objects.create(source_id=LARGEST)
    Rating.objects.create(viewer=viewer, film=film, score=3.0, rated_at="2001-01-01T00:00:00Z")


@PROFILE
@given(folder=folders(), mutate=mutations("movielens"))
def test_movielens_folders_import_exactly_or_are_refused_naming_file_line_field(folder, mutate):
    check_one(folder, mutate, "movielens")


@PROFILE
@given(folder=folders(), mutate=mutations("movies_dataset"))
def test_movies_dataset_folders_import_exactly_or_are_refused_naming_file_line_field(
    folder, mutate
):
    check_one(folder, mutate, "movies_dataset")
