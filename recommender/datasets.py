"""Strict readers for the supported rating-data layouts (pandas only, no database): MovieLens
csv (latest, 20M, 25M, 32M), MovieLens 100k (u.data, u.item), MovieLens 1M and 10M (ratings.dat,
movies.dat), and Kaggle's The Movies Dataset. A MovieLens folder's layout is recognised by its
files; every MovieLens reader produces the same frames, so storing them is shared.

Each reader returns a `ParsedDataset` of validated frames or raises `DatasetError` naming the
file, the line and the field at fault, so that nothing is written when any row is bad.

Line numbers are physical lines in the file (the header is line 1). They are found by
re-reading the file with the csv module only on the error path, so quoted fields that span
several lines (common in movies_metadata.csv) still give the right line.
The headerless files (u.data, u.item, u.genre, *.dat) have no header and no quoting: record N
is the N-th non-empty line. They are read as UTF-8 when valid, else as Latin-1.

What is accepted (issue 16; every refusal names file, line and field, and nothing is stored):
- ids (userId, movieId, tmdbId, the metadata id) are whole numbers from 1 to the largest value
  of the model's column (2**63-1), read exactly: never through a float, never wrapped. A value
  outside is shown as written in the file.
- timestamps are unix seconds from 1900-01-01 up to (not including) 2200-01-01, UTC: ratings
  are about films, not the age of the universe, and every database and datetime holds this span.
- genre names are separated by '|'; an empty name (`|||`, `Action||Drama`, a trailing '|')
  is refused, as is an empty name in a metadata genre list. A film with no genres says so.
- text fields (title, genre name, imdbId) fit the model's max_length (read from the model),
  and hold no NUL character (PostgreSQL cannot store one).
- only the named columns are read; fields after the header's last column are ignored.
"""

from __future__ import annotations

import ast
import codecs
import csv
import logging
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NO_GENRES = "(no genres listed)"
HALF_STARS = np.arange(1, 11) / 2
_YEAR_AT_END = re.compile(r"\s*\((\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\s*\)\s*$")
# Bytes per read while checking the encoding: bounded memory on multi-gigabyte files.
_ENCODING_CHUNK = 16 * 1024 * 1024
# Ratings from 1900-01-01 up to (not including) 2200-01-01, UTC, in unix seconds.
TIMESTAMP_FIRST = int(datetime(1900, 1, 1, tzinfo=UTC).timestamp())
TIMESTAMP_END = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp())
_TIMESTAMP_RULE = "{value} is not a unix time from 1900-01-01 to 2199-12-31 (UTC)"
# Integers a float64 holds exactly: a whole number written other than in plain digits
# ("4.0", "1e3") is read through a float, so it is accepted only up to this size.
_EXACT_IN_FLOAT = 2**53
_PLAIN_INTEGER = r"[+-]?[0-9]+"


@dataclass(frozen=True)
class FieldLimits:
    """What the model's columns hold, read from the models themselves (never copied numbers)."""

    largest_id: int
    genre_name: int
    title: int
    imdb_id: int


@cache
def field_limits() -> FieldLimits:
    # Imported here: this module reads files and needs no database, but the limits are the
    # models'. _meta is static: reading it queries nothing.
    from recommender.models import Film, Genre, Viewer  # first: Django's models, then its ops

    from django.db.backends.base.operations import BaseDatabaseOperations  # isort: skip

    ranges = BaseDatabaseOperations.integer_field_ranges
    ids = [Film._meta.get_field("source_id"), Viewer._meta.get_field("source_id")]
    ids.append(Film._meta.get_field("tmdb_id"))
    return FieldLimits(
        largest_id=min(ranges[f.get_internal_type()][1] for f in ids),
        genre_name=Genre._meta.get_field("name").max_length,
        title=Film._meta.get_field("title").max_length,
        imdb_id=Film._meta.get_field("imdb_id").max_length,
    )


def id_rule() -> str:
    return "{value} is not an id from 1 to " + str(field_limits().largest_id)


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
    viewer_ids: only these viewers. viewer_ranges: only viewers in these inclusive
    (low, high) intervals, kept as intervals: 1-3000000000 costs two numbers, not a set.
    Given both, a viewer in either is kept. max_viewers: only the N viewers with the lowest ids.
    """

    max_rows: int | None = None
    viewer_ids: frozenset[int] | None = None
    max_viewers: int | None = None
    viewer_ranges: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        for name in ("max_rows", "max_viewers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}")
        for low, high in self.viewer_ranges or ():
            if not 1 <= low <= high <= field_limits().largest_id:
                raise ValueError(f"viewer_ranges: ({low}, {high}) is not a range of ids")

    def apply(self, ratings: pd.DataFrame) -> pd.DataFrame:
        if self.viewer_ids is not None or self.viewer_ranges is not None:
            ratings = ratings[self._chosen(ratings["viewer_id"].to_numpy())]
        if self.max_viewers is not None:
            kept = np.sort(ratings["viewer_id"].unique())[: self.max_viewers]
            ratings = ratings[ratings["viewer_id"].isin(kept)]
        return ratings

    def _chosen(self, viewers: np.ndarray) -> np.ndarray:
        chosen = np.zeros(len(viewers), dtype=bool)
        if self.viewer_ids is not None:
            chosen |= np.isin(viewers, np.fromiter(self.viewer_ids, np.int64))
        if self.viewer_ranges:
            # Merged, sorted intervals; each viewer is looked up by binary search: O(n log k).
            lows, highs = _merged_intervals(self.viewer_ranges)
            at = np.searchsorted(lows, viewers, side="right") - 1
            chosen |= (at >= 0) & (viewers <= highs[np.maximum(at, 0)])
        return chosen


def _merged_intervals(ranges: Iterable[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    merged: list[list[int]] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    bounds = np.array(merged, dtype=np.int64).reshape(-1, 2)
    return bounds[:, 0], bounds[:, 1]


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


def _records(handle) -> Iterable[tuple[int, list[str]]]:
    """(starting line, fields) of each data record, skipping blank lines as pandas does."""
    reader = csv.reader(handle)
    line = 1
    for record in reader:
        if record and not (len(record) == 1 and record[0].strip(" \t") == ""):
            yield line, record
        line = reader.line_num + 1


def record_line(path: Path, record_index: int) -> int:
    """Physical line where data record `record_index` (0-based, after the header) starts."""
    if path.name in HEADERLESS_FILES:
        return _headerless_record_line(path, record_index)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        line = 1
        for index, (line, _) in enumerate(_records(handle)):
            if index == record_index + 1:
                return line
    return line


def _malformed(path: Path, exc: Exception) -> DatasetError:
    """pandas could not split the file into records (an unclosed quote): find where."""
    header: list[str] = []
    last = (1, [])
    with open(path, newline="", encoding="utf-8-sig") as handle:
        try:
            for index, (line, record) in enumerate(_records(handle)):
                header = record if index == 0 else header
                last = (line, record)
        except csv.Error as error:
            return DatasetError(path, f"not a well-formed CSV file: {error}", line=last[0])
    line, record = last
    column = len(record) - 1
    field = header[column] if 0 <= column < len(header) else None
    detail = str(exc).rsplit("C error: ", 1)[-1].strip()
    if "EOF inside string" in detail:
        detail = "a quoted field is never closed"
    return DatasetError(path, f"not a well-formed CSV file: {detail}", line=line, field=field)


def read_header(path: Path, required: Iterable[str]) -> list[str]:
    """Check existence, encoding and that the header names every required column."""
    if not path.is_file():
        raise DatasetError(path, "file not found")
    check_utf8(path)
    try:
        columns = list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(path, "the file is empty (expected a header line)") from exc
    except pd.errors.ParserError as exc:
        raise _malformed(path, exc) from exc
    missing = [column for column in required if column not in columns]
    if missing:
        raise DatasetError(
            path,
            f"missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"found {', '.join(repr(c) for c in columns)}",
            line=1,
        )
    return columns


def read_csv_text(path: Path, required: Iterable[str], *, nrows: int | None = None) -> pd.DataFrame:
    """Read the required columns of a CSV as text, after checking encoding and header.

    Only the named columns are read (usecols): a row with more fields than the header then
    cannot shift the columns, as pandas does when it takes the first column for an index."""
    required = list(required)
    read_header(path, required)
    try:
        frame = pd.read_csv(
            path,
            usecols=required,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            nrows=nrows,
        )
    except pd.errors.ParserError as exc:
        raise _malformed(path, exc) from exc
    if frame.empty:
        raise DatasetError(path, "the file has a header but no data rows")
    return frame[required]


def _first_bad(mask: pd.Series | np.ndarray) -> int | None:
    positions = np.flatnonzero(np.asarray(mask))
    return int(positions[0]) if positions.size else None


def _fail_at(path: Path, row: int, field: str, message: str) -> DatasetError:
    return DatasetError(path, message, line=record_line(path, row), field=field)


@dataclass(frozen=True)
class ParsedIntegers:
    """values: int64 (0 where not usable); problem: per row None or a message about the text."""

    values: np.ndarray
    empty: np.ndarray
    problem: np.ndarray


def integers_from_text(text: pd.Series, low: int, high: int, out_of_range: str) -> ParsedIntegers:
    """Whole numbers from low to high, exactly, vectorised over the column.

    Plain digits (with an optional sign) are converted digit for digit: no float, no
    wrapping, any length. Other spellings pandas reads as numbers ("4.0", "1e3") are
    accepted when whole and below 2**53, as the numeric fast path of read_ratings reads them.
    `out_of_range` is formatted with the value as written, e.g. "{value} is not an id ...".
    """
    text = text.str.strip()
    empty = (text == "").to_numpy()
    quick = _integers_quickly(text, empty, low, high)
    if quick is not None:
        return quick
    plain = text.str.fullmatch(_PLAIN_INTEGER).to_numpy(dtype=bool)
    negative = text.str.startswith("-").to_numpy(dtype=bool)
    digits = text.str.lstrip("+-").str.lstrip("0")
    long = (digits.str.len() > 19).to_numpy()
    short_digits = digits.where(plain & ~long, "").replace("", "0")
    magnitude = pd.to_numeric(short_digits).to_numpy().astype(np.uint64)
    numbers = pd.to_numeric(text.where(~plain & ~empty, "0"), errors="coerce").to_numpy(float)
    whole = np.isfinite(numbers) & (numbers == np.floor(numbers))
    whole &= np.abs(numbers) < _EXACT_IN_FLOAT
    fits = ~long & (magnitude <= np.uint64(2**63 - 1))
    signed = np.where(fits, magnitude, 0).astype(np.int64)
    signed = np.where(negative, -signed, signed)
    in_plain_range = fits & (signed >= low) & (signed <= high)
    values = np.where(plain, signed, 0)
    values = np.where(~plain & whole, np.where(whole, numbers, 0).astype(np.int64), values)
    in_range = np.where(plain, in_plain_range, (values >= low) & (values <= high))
    problem = np.full(len(text), None, dtype=object)
    for row in np.flatnonzero(~empty & ~(plain | whole)):
        problem[row] = f"{text.iloc[row]!r} is not a whole number"
    for row in np.flatnonzero(~empty & (plain | whole) & ~in_range):
        problem[row] = out_of_range.format(value=text.iloc[row])
    return ParsedIntegers(values=values.astype(np.int64), empty=empty, problem=problem)


def _integers_quickly(
    text: pd.Series, empty: np.ndarray, low: int, high: int
) -> ParsedIntegers | None:
    """The common case in one numeric pass: pandas reads every non-empty field as an int64
    (so each was an integer, read exactly) and all are in range. None: take the slow path."""
    numbers = pd.to_numeric(text[~empty], errors="coerce")
    if numbers.dtype != np.int64:
        return None
    values = np.zeros(len(text), dtype=np.int64)
    values[~empty] = numbers.to_numpy()
    if not ((values[~empty] >= low).all() and (values[~empty] <= high).all()):
        return None
    problem = np.full(len(text), None, dtype=object)
    return ParsedIntegers(values=values, empty=empty, problem=problem)


def parse_integer(
    path: Path,
    frame: pd.DataFrame,
    field: str,
    *,
    allow_empty: bool = False,
    low: int = 1,
    high: int | None = None,
    out_of_range: str | None = None,
) -> pd.Series:
    """Whole numbers from low to high (by default an id: 1 to the model's largest), exactly."""
    high = field_limits().largest_id if high is None else high
    parsed = integers_from_text(frame[field], low, high, out_of_range or id_rule())
    bad = parsed.problem != None  # noqa: E711 (elementwise on an object array)
    if not allow_empty:
        bad |= parsed.empty
    row = _first_bad(bad)
    if row is not None:
        raise _fail_at(path, row, field, parsed.problem[row] or "is empty")
    if allow_empty:
        return pd.Series(pd.arrays.IntegerArray(parsed.values, mask=parsed.empty.copy()))
    return pd.Series(parsed.values)


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
    row = _first_bad(_duplicated_rows(frame, keys))
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


def _duplicated_rows(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Rows whose key values an earlier row already has (pandas' keep="first"). Integer keys
    are packed into one int64 and compared after a stable sort: 26M (viewer, film) pairs in
    about 1 s, where DataFrame.duplicated's hashing took 7 s. Other keys go to pandas."""
    key = _packed_integer_key(frame, keys)
    if key is None:
        return frame.duplicated(keys, keep="first").to_numpy()
    order = np.argsort(key, kind="stable")  # equal keys stay in file order: the first leads
    ordered = key[order]
    duplicated = np.zeros(len(key), dtype=bool)
    duplicated[order[1:]] = ordered[1:] == ordered[:-1]
    return duplicated


def _packed_integer_key(frame: pd.DataFrame, keys: list[str]) -> np.ndarray | None:
    """One int64 per row that is equal for two rows exactly when all their `keys` are (each
    column offset by its minimum, then mixed radix); None when a column is not int64-typed,
    the frame is empty, or the ranges' product does not fit in an int64."""
    if frame.empty:
        return None
    key = np.zeros(len(frame), dtype=np.int64)
    span = 1
    for column in keys:
        values = frame[column].to_numpy()
        if values.dtype.kind != "i":
            return None
        low = int(values.min())
        width = int(values.max()) - low + 1
        span *= width
        if span >= 2**63:
            return None
        key *= width
        key += values - low
    return key


def split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'Toy Story (1995)' -> ('Toy Story', 1995); titles without a year keep year None."""
    years = titles.str.extract(_YEAR_AT_END, expand=False)
    clean = titles.str.replace(_YEAR_AT_END, "", regex=True).str.strip()
    clean = clean.where(clean != "", titles.str.strip())
    return clean, pd.to_numeric(years, errors="coerce").astype("Int64")


# --- ratings (shared by every layout) ---------------------------------------------------------


@dataclass(frozen=True)
class RatingFields:
    """What a ratings file calls its four fields (its header, or its README when it has none)."""

    viewer: str
    film: str
    rating: str
    timestamp: str

    @property
    def names(self) -> tuple[str, str, str, str]:
        return (self.viewer, self.film, self.rating, self.timestamp)


CSV_RATING_FIELDS = RatingFields("userId", "movieId", "rating", "timestamp")
_RATING_DTYPES = ("int64", "int64", "float64", "int64")


def read_ratings(
    path: Path, rating_filter: RatingFilter, known_films: pd.Series, films_file: str
) -> pd.DataFrame:
    """Ratings of a CSV file, parsed numerically in one pass; the slower text pass runs only to
    say what failed."""
    ratings = _read_ratings_as_numbers(path, rating_filter.max_rows)
    if ratings is None:
        frame = read_csv_text(path, CSV_RATING_FIELDS.names, nrows=rating_filter.max_rows)
        ratings = ratings_from_text(path, frame, CSV_RATING_FIELDS)
    return checked_ratings(path, ratings, rating_filter, known_films, films_file, CSV_RATING_FIELDS)


def checked_ratings(
    path: Path,
    ratings: pd.DataFrame,
    rating_filter: RatingFilter,
    known_films: pd.Series,
    films_file: str,
    fields: RatingFields,
) -> pd.DataFrame:
    """The checks every layout's ratings pass (half stars, known films, one rating per viewer
    and film), then the filter. `ratings` rows are the file's records in order."""
    off_scale = ~ratings["score"].isin(HALF_STARS)
    row = _first_bad(off_scale)
    if row is not None:
        raise _fail_at(
            path,
            row,
            fields.rating,
            f"{ratings['score'].iloc[row]} is not on the half-star scale 0.5, 1.0, ... 5.0",
        )
    unknown = ~ratings["film_id"].isin(known_films)
    row = _first_bad(unknown)
    if row is not None:
        raise _fail_at(
            path, row, fields.film, f"film {ratings['film_id'].iloc[row]} is not in {films_file}"
        )
    _reject_duplicates(
        path,
        ratings,
        ["viewer_id", "film_id"],
        fields.film,
        "rating of viewer {viewer_id} for film {film_id}",
    )
    return rating_filter.apply(ratings).reset_index(drop=True)


def _read_ratings_as_numbers(path: Path, max_rows: int | None) -> pd.DataFrame | None:
    """The fast path: pandas' numeric parser, then vectorised range checks. None when anything
    is off (unparsable, empty, an id or time out of range, or an id so large that a column
    read through floats could have rounded it): the text path then reads exactly and says
    what failed, showing the value as written."""
    read_header(path, CSV_RATING_FIELDS.names)
    try:
        frame = pd.read_csv(
            path,
            usecols=list(CSV_RATING_FIELDS.names),
            dtype=dict(zip(CSV_RATING_FIELDS.names, _RATING_DTYPES, strict=True)),
            encoding="utf-8-sig",
            nrows=max_rows,
        )
    except (ValueError, TypeError, OverflowError):
        return None
    return numeric_ratings(frame[list(CSV_RATING_FIELDS.names)])


def numeric_ratings(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Columns viewer, film, rating, timestamp (in that order) read as numbers -> the ratings
    frame, or None when a value is missing or out of range (the text path then says which)."""
    if frame.empty or frame.isna().to_numpy().any():
        return None
    ratings = frame.set_axis(["viewer_id", "film_id", "score", "timestamp"], axis=1)
    bounds = {"viewer_id": (1, _EXACT_IN_FLOAT - 1), "film_id": (1, _EXACT_IN_FLOAT - 1)}
    bounds["timestamp"] = (TIMESTAMP_FIRST, TIMESTAMP_END - 1)
    for column, (low, high) in bounds.items():
        values = ratings[column].to_numpy()
        if values.min() < low or values.max() > high:
            return None
    return ratings.reset_index(drop=True)


def ratings_from_text(path: Path, frame: pd.DataFrame, fields: RatingFields) -> pd.DataFrame:
    """The text path: every field read exactly, the first bad one named with its line."""
    times = {"low": TIMESTAMP_FIRST, "high": TIMESTAMP_END - 1, "out_of_range": _TIMESTAMP_RULE}
    return pd.DataFrame(
        {
            "viewer_id": parse_integer(path, frame, fields.viewer),
            "film_id": parse_integer(path, frame, fields.film),
            "score": parse_rating(path, frame, fields.rating),
            "timestamp": parse_integer(path, frame, fields.timestamp, **times),
        }
    )


# --- MovieLens: the layouts and how a folder's is recognised -----------------------------------


@dataclass(frozen=True)
class MovieLensLayout:
    name: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    read: Callable[[Path, RatingFilter], ParsedDataset]

    def describe(self) -> str:
        text = f"{self.name}: {' and '.join(self.required)}"
        return text + (f" (optional: {', '.join(self.optional)})" if self.optional else "")


def read_movielens(directory: Path, rating_filter: RatingFilter | None = None) -> ParsedDataset:
    """Any MovieLens folder: the layout is recognised by its files (movielens_layout)."""
    directory = Path(directory)
    layout = movielens_layout(directory)
    return layout.read(directory, rating_filter or RatingFilter())


def movielens_layout(directory: Path) -> MovieLensLayout:
    """The one layout whose required files the folder holds. A folder holding part of exactly
    one layout is told which file is missing; any other folder is told every layout."""
    if not directory.is_dir():
        raise DatasetError(directory, f"not a folder ({directory})")
    complete = [x for x in MOVIELENS_LAYOUTS if all((directory / f).is_file() for f in x.required)]
    if len(complete) == 1:
        return complete[0]
    if len(complete) > 1:
        found = "; ".join(x.describe() for x in complete)
        raise DatasetError(directory, f"holds the files of several layouts ({found}): keep one")
    partial = [x for x in MOVIELENS_LAYOUTS if any((directory / f).is_file() for f in x.required)]
    if len(partial) == 1:
        layout = partial[0]
        missing = next(f for f in layout.required if not (directory / f).is_file())
        raise DatasetError(directory / missing, f"file not found ({layout.describe()})")
    every = "; ".join(x.describe() for x in MOVIELENS_LAYOUTS)
    raise DatasetError(directory, f"not a MovieLens folder; a folder holds one layout: {every}")


def read_movielens_csv(directory: Path, rating_filter: RatingFilter) -> ParsedDataset:
    """ratings.csv + movies.csv (pipe-separated genres) + optional links.csv."""
    movies_path = directory / "movies.csv"
    movies = read_csv_text(movies_path, ["movieId", "title", "genres"])
    films = _films_from_text(movies_path, movies, "movieId", "title")
    films["genres"] = _movielens_genres(movies_path, movies["genres"])
    links_path = directory / "links.csv"
    if links_path.is_file():
        films = _attach_links(links_path, films)
    ratings = read_ratings(
        directory / "ratings.csv", rating_filter, films["source_id"], "movies.csv"
    )
    return ParsedDataset(films=films, ratings=ratings, source=f"movielens:{directory}")


def _films_from_text(
    path: Path, frame: pd.DataFrame, id_field: str, title_field: str
) -> pd.DataFrame:
    """Films (no genres yet) from a films file's id and title fields, both checked."""
    films = pd.DataFrame({"source_id": parse_integer(path, frame, id_field)})
    _reject_duplicates(path, films, ["source_id"], id_field, "film {source_id}")
    row = _first_bad(frame[title_field].str.strip() == "")
    if row is not None:
        raise _fail_at(path, row, title_field, "is empty")
    films["title"], films["year"] = split_title_year(frame[title_field])
    _check_text(path, films["title"], title_field, field_limits().title)
    films["imdb_id"] = ""
    films["tmdb_id"] = pd.array([pd.NA] * len(films), dtype="Int64")
    return films


# --- MovieLens 100k, 1M and 10M: headerless files ----------------------------------------------

# Files of the headerless layouts, known by name: one record per non-empty line, fields split by
# a separator, no quoting (titles hold quotes as plain characters), no header.
HEADERLESS_FILES = frozenset({"u.data", "u.item", "u.genre", "ratings.dat", "movies.dat"})
# u.genre's order, from the 100k README: used when the folder has no u.genre.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
# The older releases' genre names, as the csv layout (MovieLens latest) spells them. "unknown"
# (100k's flag for a film whose genre was not known) is the latest's "(no genres listed)".
LATEST_GENRE_NAMES = {"Children's": "Children", "unknown": NO_GENRES}
U_DATA_FIELDS = RatingFields("user id", "item id", "rating", "timestamp")
U_ITEM_FIELDS = ("movie id", "movie title", "release date", "video release date", "IMDb URL")
DAT_RATING_FIELDS = RatingFields("UserID", "MovieID", "Rating", "Timestamp")
DAT_MOVIE_FIELDS = ("MovieID", "Title", "Genres")


def read_movielens_100k(directory: Path, rating_filter: RatingFilter) -> ParsedDataset:
    """u.data (tab-separated ratings) + u.item (pipe-separated films with genre flags) + optional
    u.genre (the flags' order)."""
    flag_genres = _read_u_genre(directory / "u.genre")
    items_path = directory / "u.item"
    fields = (*U_ITEM_FIELDS, *flag_genres)
    items = read_headerless(items_path, "|", fields)
    films = _films_from_text(items_path, items, "movie id", "movie title")
    # A title without a year, e.g. "... (1995) (V)", takes its release date's.
    released = pd.to_datetime(
        items["release date"].str.strip(), format="%d-%b-%Y", errors="coerce"
    ).dt.year.astype("Int64")
    films["year"] = films["year"].fillna(released)
    films["genres"] = _flagged_genres(items_path, items[list(flag_genres)], flag_genres)
    ratings = read_headerless_ratings(
        directory / "u.data", "\t", U_DATA_FIELDS, rating_filter, films["source_id"], "u.item"
    )
    return ParsedDataset(films=films, ratings=ratings, source=f"movielens-100k:{directory}")


def read_movielens_dat(directory: Path, rating_filter: RatingFilter) -> ParsedDataset:
    """ratings.dat + movies.dat, '::'-separated (MovieLens 1M and 10M)."""
    movies_path = directory / "movies.dat"
    movies = read_headerless(movies_path, "::", DAT_MOVIE_FIELDS)
    films = _films_from_text(movies_path, movies, "MovieID", "Title")
    genres = _movielens_genres(movies_path, movies["Genres"], "Genres")
    films["genres"] = _latest_genre_names(genres)
    ratings = read_headerless_ratings(
        directory / "ratings.dat", "::", DAT_RATING_FIELDS, rating_filter, films["source_id"],
        "movies.dat",
    )  # fmt: skip
    return ParsedDataset(films=films, ratings=ratings, source=f"movielens-dat:{directory}")


def _latest_genre_names(genres: Iterable[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Renamed as the latest release names them; "no genre" only when there is no other."""
    renamed = [{LATEST_GENRE_NAMES.get(g, g) for g in names} for names in genres]
    return [tuple(sorted(n - {NO_GENRES} or {NO_GENRES})) for n in renamed]


def _read_u_genre(path: Path) -> tuple[str, ...]:
    """u.genre's lines 'name|position': the genre of each flag column of u.item."""
    if not path.is_file():
        return ML100K_GENRES
    frame = read_headerless(path, "|", ("genre", "position"))
    last = len(frame) - 1
    rule = f"{{value}} is not a flag position from 0 to {last} (u.genre has {len(frame)} genres)"
    positions = parse_integer(path, frame, "position", low=0, high=last, out_of_range=rule)
    genres = pd.DataFrame({"position": positions, "genre": frame["genre"].str.strip()})
    _reject_duplicates(path, genres, ["position"], "position", "position {position}")
    _reject_duplicates(path, genres, ["genre"], "genre", "genre {genre!r}")
    row = _first_bad(genres["genre"] == "")
    if row is not None:
        raise _fail_at(path, row, "genre", "is empty")
    _check_text(path, genres["genre"], "genre", field_limits().genre_name, what="genre name ")
    return tuple(genres.sort_values("position")["genre"])


def _flagged_genres(
    path: Path, flags: pd.DataFrame, names: tuple[str, ...]
) -> list[tuple[str, ...]]:
    """One 0/1 column per genre -> each film's genre names (NO_GENRES when none is set)."""
    values = flags.apply(lambda column: column.str.strip()).to_numpy(dtype=object)
    bad = ~np.isin(values, ["0", "1"])
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise _fail_at(
            path, row, names[column], f"{values[row, column]!r} is not a genre flag (0 or 1)"
        )
    films, columns = np.nonzero(values == "1")
    named = pd.Series(np.asarray(names, dtype=object)[columns], index=films)
    per_film = named.groupby(level=0).agg(tuple).reindex(range(len(flags)))
    return _latest_genre_names(g if isinstance(g, tuple) else () for g in per_film)


def _decoded(path: Path) -> str:
    """UTF-8 when the whole file is valid UTF-8, else Latin-1, which the 100k and 1M files are
    (their READMEs): Latin-1 text with accents is practically never valid UTF-8, and ASCII
    reads the same either way."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_headerless(
    path: Path, separator: str, fields: tuple[str, ...], *, nrows: int | None = None
) -> pd.DataFrame:
    """Every field as text, one row per non-empty line; a line with another number of fields is
    refused naming its line. The slow, exact path (about 50 s on 10M lines)."""
    if not path.is_file():
        raise DatasetError(path, "file not found")
    lines = pd.Series(_decoded(path).split("\n"), dtype=object).str.rstrip("\r")
    lines = lines[lines != ""].reset_index(drop=True)
    if nrows is not None:
        lines = lines.iloc[:nrows]
    if lines.empty:
        raise DatasetError(path, "the file has no data lines")
    parts = lines.str.split(separator, regex=False)
    counts = parts.str.len().to_numpy()
    row = _first_bad(counts != len(fields))
    if row is not None:
        shown = ", ".join(fields[:6]) + (f" and {len(fields) - 6} more" if len(fields) > 6 else "")
        raise DatasetError(
            path,
            f"{counts[row]} field(s) separated by {separator!r}, expected {len(fields)} ({shown})",
            line=record_line(path, row),
        )
    return pd.DataFrame(parts.tolist(), columns=list(fields), dtype=object)


def _headerless_record_line(path: Path, record_index: int) -> int:
    """Physical line of record `record_index` (0-based) of a headerless file."""
    seen = -1
    number = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.rstrip(b"\n").rstrip(b"\r") != b"":
                seen += 1
                if seen == record_index:
                    return number
    return number


def read_headerless_ratings(
    path: Path,
    separator: str,
    fields: RatingFields,
    rating_filter: RatingFilter,
    known_films: pd.Series,
    films_file: str,
) -> pd.DataFrame:
    if not path.is_file():
        raise DatasetError(path, "file not found")
    ratings = _read_headerless_ratings_as_numbers(path, separator, rating_filter.max_rows)
    if ratings is None:
        frame = read_headerless(path, separator, fields.names, nrows=rating_filter.max_rows)
        ratings = ratings_from_text(path, frame, fields)
    return checked_ratings(path, ratings, rating_filter, known_films, films_file, fields)


def _read_headerless_ratings_as_numbers(
    path: Path, separator: str, max_rows: int | None
) -> pd.DataFrame | None:
    """The fast path, as _read_ratings_as_numbers. pandas' C parser takes a one-character
    separator only (its python engine read 10M lines of ratings.dat in 55 s, against 1.7 s
    here): '::' is read as ':' with an empty column between fields, which must stay empty.
    Any doubt (a missing, extra or non-numeric field, a blank line) returns None."""
    gaps = len(separator) - 1
    names: list[str] = []
    dtypes: dict[str, str] = {}
    for position, dtype in enumerate(_RATING_DTYPES):
        for gap in range(gaps if position else 0):
            names.append(f"gap {position}.{gap}")
            dtypes[names[-1]] = "float64"
        names.append(f"field {position}")
        dtypes[names[-1]] = dtype
    # index_col=False: never take leading fields for an index; pandas then warns (and drops
    # data) when a line has more fields than named, which is made an error here.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                path, sep=separator[0], header=None, names=names, dtype=dtypes, index_col=False,
                quoting=csv.QUOTE_NONE, skip_blank_lines=False, encoding="latin-1",
                nrows=max_rows,
            )  # fmt: skip
    except (ValueError, TypeError, OverflowError, pd.errors.ParserWarning):
        return None
    gap_columns = [name for name in names if name.startswith("gap")]
    if frame[gap_columns].notna().to_numpy().any():
        return None
    return numeric_ratings(frame[[name for name in names if name.startswith("field")]])


MOVIELENS_LAYOUTS = (
    MovieLensLayout(
        "csv (ml-latest, ml-latest-small, 20M, 25M, 32M)",
        ("ratings.csv", "movies.csv"),
        ("links.csv",),
        read_movielens_csv,
    ),
    MovieLensLayout("100k", ("u.data", "u.item"), ("u.genre",), read_movielens_100k),
    MovieLensLayout("1M and 10M", ("ratings.dat", "movies.dat"), (), read_movielens_dat),
)


def _movielens_genres(
    path: Path, genres: pd.Series, field: str = "genres"
) -> list[tuple[str, ...]]:
    """'Action|Drama' -> ('Action', 'Drama'); an empty field or an empty name is refused."""
    row = _first_bad(genres.str.strip() == "")
    if row is not None:
        raise _fail_at(path, row, field, f"is empty (write {NO_GENRES!r} for none)")
    names = genres.str.split("|").explode().str.strip()
    position = _first_bad(names == "")
    if position is not None:
        row = int(names.index[position])
        raise _fail_at(
            path,
            row,
            field,
            f"{genres.iloc[row]!r} has an empty genre name "
            f"(names are separated by '|'; write {NO_GENRES!r} for none)",
        )
    _check_text(path, names, field, field_limits().genre_name, what="genre name ")
    return [tuple(sorted({g.strip() for g in s.split("|")})) for s in genres]


def _text_problem(value: str, limit: int, what: str = "") -> str | None:
    """Why `value` cannot be stored in a text column of `limit` characters, or None."""
    if len(value) > limit:
        shown = repr(value) if len(value) <= 20 else f"{value[:20]!r}..."
        return f"{what}{shown} has {len(value)} characters, at most {limit} are allowed"
    if "\x00" in value:
        return f"{what}{_shorten(value)} contains a NUL character"
    return None


def _check_text(path: Path, values: pd.Series, field: str, limit: int, what: str = "") -> None:
    """Vectorised: values indexed by record position (repeated for several per record)."""
    bad = (values.str.len() > limit) | values.str.contains("\x00", regex=False)
    position = _first_bad(bad)
    if position is not None:
        row = int(values.index[position])
        raise _fail_at(path, row, field, _text_problem(values.iloc[position], limit, what))


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
    row = _first_bad(~links["imdb_id"].str.fullmatch(r"[0-9]*"))
    if row is not None:
        raise _fail_at(path, row, "imdbId", f"{links['imdb_id'].iloc[row]!r} is not an IMDb number")
    _check_text(path, links["imdb_id"], "imdbId", field_limits().imdb_id)
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
    names = {item["name"].strip() for item in value}
    if "" in names:
        raise ValueError(f"{_shorten(text)} has an empty genre name")
    return tuple(sorted(names))


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

    ids = integers_from_text(frame["id"], 1, field_limits().largest_id, "{value}")
    for row in np.flatnonzero((ids.problem != None) | ids.empty):  # noqa: E711
        reject(int(row), "id", f"{frame['id'].iloc[row]!r} is not a TMDB id")
    titles = frame["title"].str.strip()
    for row, title in enumerate(titles):
        problem = None if skip[row] else _text_problem(title, field_limits().title)
        if problem is not None:
            reject(row, "title", problem)
    genres = _metadata_genres(frame["genres"], skip, reject)
    keep = ~skip
    metadata = pd.DataFrame(
        {
            "tmdb_id": pd.array(ids.values[keep], dtype="Int64"),
            "title": titles[keep],
            "year": pd.to_datetime(
                frame["release_date"][keep], errors="coerce", format="%Y-%m-%d"
            ).dt.year,
            "genres": [g for g, k in zip(genres, keep, strict=True) if k],
        }
    )
    # The published file repeats a few films verbatim; the first copy is kept.
    return metadata.drop_duplicates("tmdb_id", keep="first")


def _metadata_genres(
    texts: pd.Series, skip: np.ndarray, reject: Callable[[int, str, str], None]
) -> list[tuple[str, ...] | None]:
    genres: list[tuple[str, ...] | None] = []
    limit = field_limits().genre_name
    # One literal_eval per film is unavoidable (the text is per film); about 10 us each.
    for row, text in enumerate(texts):
        parsed = None
        if not skip[row]:
            try:
                parsed = parse_genre_literal(text)
                problem = next(
                    (p for name in parsed if (p := _text_problem(name, limit, "genre name "))),
                    None,
                )
                if problem is not None:
                    raise ValueError(problem)
            except ValueError as exc:
                parsed = None
                reject(row, "genres", str(exc))
        genres.append(parsed)
    return genres
