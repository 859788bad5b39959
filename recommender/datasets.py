"""Strict readers for the two supported rating-data layouts (pandas only, no database).

Each reader returns a `ParsedDataset` of validated frames or raises `DatasetError` naming the
file, the line and the field at fault, so that nothing is written when any row is bad.

Line numbers are physical lines in the file (the header is line 1). They are found by
re-reading the file with the csv module only on the error path, so quoted fields that span
several lines (common in movies_metadata.csv) still give the right line.
"""

from __future__ import annotations

import ast
import codecs
import csv
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NO_GENRES = "(no genres listed)"
HALF_STARS = np.arange(1, 11) / 2
_YEAR_AT_END = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\s*\)\s*$")
# Bytes per read while checking the encoding: bounded memory on multi-gigabyte files.
_ENCODING_CHUNK = 16 * 1024 * 1024


class DatasetError(ValueError):
    """A data file is unusable. Says which file, which line and which field."""

    def __init__(
        self, path: Path, message: str, *, line: int | None = None, field: str | None = None
    ):
        self.path = Path(path)
        self.line = line
        self.field = field
        self.detail = message
        where = self.path.name
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class ParsedDataset:
    """Validated frames ready to store.

    films: source_id (int64), title (str), year (Int64, nullable), imdb_id (str),
           tmdb_id (Int64, nullable), genres (tuple[str, ...], never empty)
    ratings: viewer_id (int64), film_id (int64; a films.source_id), score (float64 on the
             half-star scale), timestamp (int64 unix seconds)
    """

    films: pd.DataFrame
    ratings: pd.DataFrame
    source: str

    @property
    def genre_names(self) -> list[str]:
        return sorted({g for genres in self.films["genres"] for g in genres})


@dataclass(frozen=True)
class RatingFilter:
    """Which part of a ratings file to import.

    max_rows: only the first N data rows (the original system used the first 120,000).
    viewer_ids: only these viewers. max_viewers: only the N viewers with the lowest ids.
    """

    max_rows: int | None = None
    viewer_ids: frozenset[int] | None = None
    max_viewers: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_rows", "max_viewers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")

    def apply(self, ratings: pd.DataFrame) -> pd.DataFrame:
        if self.viewer_ids is not None:
            ratings = ratings[ratings["viewer_id"].isin(self.viewer_ids)]
        if self.max_viewers is not None:
            kept = np.sort(ratings["viewer_id"].unique())[: self.max_viewers]
            ratings = ratings[ratings["viewer_id"].isin(kept)]
        return ratings


# --- generic checks ---------------------------------------------------------------------------


def check_utf8(path: Path) -> None:
    """Raise DatasetError with the line of the first byte that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    lines_before = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_ENCODING_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + chunk[: exc.start].count(b"\n") + 1
                bad = chunk[exc.start : exc.start + 1].hex()
                raise DatasetError(
                    path, f"not valid UTF-8 (byte 0x{bad}); save the file as UTF-8", line=line
                ) from exc
            lines_before += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise DatasetError(path, "not valid UTF-8: the file ends inside a character") from exc


def record_line(path: Path, record_index: int) -> int:
    """Physical line where data record `record_index` (0-based, after the header) starts."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        line = 1
        for index, _ in enumerate(reader):
            if index == record_index + 1:
                return line
            line = reader.line_num + 1
    return line


def read_csv_text(path: Path, required: Iterable[str], *, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV with every column as text, after checking existence, encoding and header."""
    if not path.is_file():
        raise DatasetError(path, "file not found")
    check_utf8(path)
    try:
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=nrows
        )
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(path, "the file is empty (expected a header line)") from exc
    except pd.errors.ParserError as exc:
        raise DatasetError(path, f"not a well-formed CSV file: {exc}") from exc
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DatasetError(
            path,
            f"missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(c) for c in frame.columns)}",
            line=1,
        )
    if frame.empty:
        raise DatasetError(path, "the file has a header but no data rows")
    return frame


def _first_bad(mask: pd.Series) -> int | None:
    positions = np.flatnonzero(mask.to_numpy())
    return int(positions[0]) if positions.size else None


def _fail_at(path: Path, row: int, field: str, message: str) -> DatasetError:
    return DatasetError(path, message, line=record_line(path, row), field=field)


def parse_integer(
    path: Path, frame: pd.DataFrame, field: str, *, allow_empty: bool = False
) -> pd.Series:
    text = frame[field].str.strip()
    numbers = pd.to_numeric(text, errors="coerce")
    empty = text == ""
    bad = numbers.isna() & ~(empty & allow_empty)
    bad |= numbers.notna() & (numbers != np.floor(numbers))
    row = _first_bad(bad)
    if row is not None:
        value = frame[field].iloc[row]
        what = "is empty" if value.strip() == "" else f"{value!r} is not a whole number"
        raise _fail_at(path, row, field, what)
    return numbers.astype("Int64") if allow_empty else numbers.astype("int64")


def parse_rating(path: Path, frame: pd.DataFrame, field: str = "rating") -> pd.Series:
    """Numbers only; read_ratings checks the half-star scale for both reading paths."""
    numbers = pd.to_numeric(frame[field].str.strip(), errors="coerce")
    row = _first_bad(numbers.isna())
    if row is not None:
        raise _fail_at(path, row, field, f"{frame[field].iloc[row]!r} is not a number")
    return numbers.astype("float64")


def _reject_duplicates(
    path: Path, frame: pd.DataFrame, keys: list[str], field: str, what: str
) -> None:
    """`what` is formatted with the duplicated row's key values, e.g. "film {source_id}"."""
    duplicated = frame.duplicated(keys, keep="first")
    row = _first_bad(duplicated)
    if row is None:
        return
    values = {k: frame[k].iloc[row] for k in keys}
    same = np.logical_and.reduce([frame[k].to_numpy() == v for k, v in values.items()])
    first = int(np.flatnonzero(same)[0])
    raise _fail_at(
        path,
        row,
        field,
        f"duplicate {what.format(**values)} (first at line {record_line(path, first)})",
    )


def split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'Toy Story (1995)' -> ('Toy Story', 1995); titles without a year keep year None."""
    years = titles.str.extract(_YEAR_AT_END, expand=False)
    clean = titles.str.replace(_YEAR_AT_END, "", regex=True).str.strip()
    clean = clean.where(clean != "", titles.str.strip())
    return clean, pd.to_numeric(years, errors="coerce").astype("Int64")


# --- ratings (shared by both layouts) ---------------------------------------------------------


def read_ratings(
    path: Path, rating_filter: RatingFilter, known_films: pd.Series, films_file: str
) -> pd.DataFrame:
    """Ratings, parsed numerically in one pass; the slower text pass runs only to say what failed."""
    if not path.is_file():
        raise DatasetError(path, "file not found")
    check_utf8(path)
    try:
        frame = pd.read_csv(
            path,
            usecols=list(_RATING_COLUMNS),
            dtype=_RATING_COLUMNS,
            encoding="utf-8-sig",
            nrows=rating_filter.max_rows,
        )
        if frame.empty or frame.isna().to_numpy().any():
            raise ValueError("empty file or empty fields: diagnose on the text path")
        ratings = frame.rename(columns=_RATING_NAMES)[list(_RATING_NAMES.values())]
    except (ValueError, TypeError, OverflowError):
        ratings = _read_ratings_as_text(path, rating_filter.max_rows)
    off_scale = ~ratings["score"].isin(HALF_STARS)
    row = _first_bad(off_scale)
    if row is not None:
        raise _fail_at(
            path,
            row,
            "rating",
            f"{ratings['score'].iloc[row]} is not on the half-star scale 0.5, 1.0, ... 5.0",
        )
    row = _first_bad(ratings["viewer_id"] < 1)
    if row is not None:
        raise _fail_at(
            path, row, "userId", f"{ratings['viewer_id'].iloc[row]} is not a positive id"
        )
    unknown = ~ratings["film_id"].isin(known_films)
    row = _first_bad(unknown)
    if row is not None:
        raise _fail_at(
            path, row, "movieId", f"film {ratings['film_id'].iloc[row]} is not in {films_file}"
        )
    _reject_duplicates(
        path,
        ratings,
        ["viewer_id", "film_id"],
        "movieId",
        "rating of viewer {viewer_id} for film {film_id}",
    )
    return rating_filter.apply(ratings).reset_index(drop=True)


_RATING_COLUMNS = {"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"}
_RATING_NAMES = {
    "userId": "viewer_id",
    "movieId": "film_id",
    "rating": "score",
    "timestamp": "timestamp",
}


def _read_ratings_as_text(path: Path, max_rows: int | None) -> pd.DataFrame:
    frame = read_csv_text(path, list(_RATING_COLUMNS), nrows=max_rows)
    return pd.DataFrame(
        {
            "viewer_id": parse_integer(path, frame, "userId"),
            "film_id": parse_integer(path, frame, "movieId"),
            "score": parse_rating(path, frame),
            "timestamp": parse_integer(path, frame, "timestamp"),
        }
    )


# --- MovieLens --------------------------------------------------------------------------------


def read_movielens(directory: Path, rating_filter: RatingFilter | None = None) -> ParsedDataset:
    """ratings.csv + movies.csv (pipe-separated genres) + optional links.csv."""
    directory = Path(directory)
    rating_filter = rating_filter or RatingFilter()
    movies_path = directory / "movies.csv"
    movies = read_csv_text(movies_path, ["movieId", "title", "genres"])
    films = pd.DataFrame({"source_id": parse_integer(movies_path, movies, "movieId")})
    _reject_duplicates(movies_path, films, ["source_id"], "movieId", "film {source_id}")
    row = _first_bad(movies["title"].str.strip() == "")
    if row is not None:
        raise _fail_at(movies_path, row, "title", "is empty")
    row = _first_bad(movies["genres"].str.strip() == "")
    if row is not None:
        raise _fail_at(movies_path, row, "genres", f"is empty (write {NO_GENRES!r} for none)")
    films["title"], films["year"] = split_title_year(movies["title"])
    films["genres"] = [
        tuple(sorted({g.strip() for g in s.split("|") if g.strip()})) for s in movies["genres"]
    ]
    films["imdb_id"] = ""
    films["tmdb_id"] = pd.array([pd.NA] * len(films), dtype="Int64")

    links_path = directory / "links.csv"
    if links_path.is_file():
        films = _attach_links(links_path, films)
    ratings = read_ratings(
        directory / "ratings.csv", rating_filter, films["source_id"], "movies.csv"
    )
    return ParsedDataset(films=films, ratings=ratings, source=f"movielens:{directory}")


def _attach_links(path: Path, films: pd.DataFrame) -> pd.DataFrame:
    links = _read_links(path)
    unknown = ~links["source_id"].isin(films["source_id"])
    row = _first_bad(unknown)
    if row is not None:
        raise _fail_at(
            path, row, "movieId", f"film {links['source_id'].iloc[row]} is not in movies.csv"
        )
    merged = films.drop(columns=["imdb_id", "tmdb_id"]).merge(links, on="source_id", how="left")
    merged["imdb_id"] = merged["imdb_id"].fillna("")
    return merged


def _read_links(path: Path) -> pd.DataFrame:
    frame = read_csv_text(path, ["movieId", "imdbId", "tmdbId"])
    links = pd.DataFrame(
        {
            "source_id": parse_integer(path, frame, "movieId"),
            "imdb_id": frame["imdbId"].str.strip(),
            "tmdb_id": parse_integer(path, frame, "tmdbId", allow_empty=True),
        }
    )
    row = _first_bad(~links["imdb_id"].str.fullmatch(r"\d*"))
    if row is not None:
        raise _fail_at(path, row, "imdbId", f"{links['imdb_id'].iloc[row]!r} is not an IMDb number")
    _reject_duplicates(path, links, ["source_id"], "movieId", "link for film {source_id}")
    return links


# --- The Movies Dataset (Kaggle) --------------------------------------------------------------


def parse_genre_literal(text: str) -> tuple[str, ...]:
    """Parse "[{'id': 28, 'name': 'Action'}]" safely: a Python literal, never code.

    Raises ValueError with a short reason when the text is not a list of {'name': str} dicts.
    """
    if text.strip() == "":
        return ()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f"{_shorten(text)} is not a list literal") from exc
    if not isinstance(value, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) for item in value
    ):
        raise ValueError(f"{_shorten(text)} is not a list of {{'id': ..., 'name': ...}} entries")
    return tuple(sorted({item["name"].strip() for item in value if item["name"].strip()}))


def _shorten(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def _pick(directory: Path, names: list[str]) -> Path:
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise DatasetError(
        directory / names[0], f"file not found (looked for {' or '.join(names)} in {directory})"
    )


def read_movies_dataset(
    directory: Path,
    rating_filter: RatingFilter | None = None,
    *,
    small: bool = False,
    lenient_metadata: bool = False,
    on_skipped: Callable[[str], None] | None = None,
) -> ParsedDataset:
    """ratings(_small).csv + links(_small).csv + movies_metadata.csv.

    Ratings carry MovieLens ids; metadata carries TMDB ids. They are joined through links
    (movieId -> tmdbId): joining them directly, as the original system did, picks wrong films.
    With `lenient_metadata`, metadata rows with an unusable id or genre text are skipped and
    reported through `on_skipped` (the published file has a few such rows); otherwise they
    reject the import.
    """
    directory = Path(directory)
    rating_filter = rating_filter or RatingFilter()
    suffix = ["_small", ""] if small else ["", "_small"]
    links_path = _pick(directory, [f"links{s}.csv" for s in suffix])
    ratings_path = _pick(directory, [f"ratings{s}.csv" for s in suffix])
    metadata = _read_metadata(directory / "movies_metadata.csv", lenient_metadata, on_skipped)

    links = _read_links(links_path)
    films = links.merge(metadata, on="tmdb_id", how="left")
    has_title = films["title"].notna() & (films["title"].fillna("") != "")
    films["title"] = films["title"].where(
        has_title, "MovieLens film " + films["source_id"].astype(str)
    )
    films["genres"] = [g if isinstance(g, tuple) and g else (NO_GENRES,) for g in films["genres"]]
    films["year"] = films["year"].astype("Int64")
    ratings = read_ratings(ratings_path, rating_filter, films["source_id"], links_path.name)
    return ParsedDataset(films=films, ratings=ratings, source=f"movies_dataset:{directory}")


def _read_metadata(
    path: Path, lenient: bool, on_skipped: Callable[[str], None] | None
) -> pd.DataFrame:
    frame = read_csv_text(path, ["id", "title", "genres", "release_date"])
    skip = np.zeros(len(frame), dtype=bool)

    def reject(row: int, field: str, message: str) -> None:
        error = _fail_at(path, row, field, message)
        if not lenient:
            raise error
        skip[row] = True
        if on_skipped is not None:
            on_skipped(str(error))

    ids = pd.to_numeric(frame["id"].str.strip(), errors="coerce")
    for row in np.flatnonzero(ids.isna().to_numpy() | (ids != np.floor(ids)).to_numpy()):
        reject(int(row), "id", f"{frame['id'].iloc[row]!r} is not a TMDB id")
    genres: list[tuple[str, ...] | None] = []
    # One literal_eval per film is unavoidable (the text is per film); about 10 us each.
    for row, text in enumerate(frame["genres"]):
        if skip[row]:
            genres.append(None)
            continue
        try:
            genres.append(parse_genre_literal(text))
        except ValueError as exc:
            genres.append(None)
            reject(row, "genres", str(exc))
    keep = ~skip
    metadata = pd.DataFrame(
        {
            "tmdb_id": ids[keep].astype("int64").astype("Int64"),
            "title": frame["title"][keep].str.strip(),
            "year": pd.to_datetime(
                frame["release_date"][keep], errors="coerce", format="%Y-%m-%d"
            ).dt.year,
            "genres": [g for g, k in zip(genres, keep, strict=True) if k],
        }
    )
    # The published file repeats a few films verbatim; the first copy is kept.
    return metadata.drop_duplicates("tmdb_id", keep="first")
