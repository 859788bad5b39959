"""Genre shifts as people type them: "Action=0.9, Comedy=1.1" -> {"Action": 0.9, "Comedy": 1.1}.

One parser for every door (the web form's text box, the simulate/cycle commands' repeatable
--shift), so the same text means the same shift everywhere. Pure Python, no Django: which
genres exist is known only where the database is read (the form, SimulationParameters.check),
and they name unknown ones through `unknown_genre_problems`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from recommender.engine.checks import DECIMAL_TEXT, parse_float

# Entries are separated by commas, semicolons or new lines; genre names may hold spaces and
# hyphens ("Sci-Fi", "Film-Noir"), so those separate nothing.
ENTRY_SEPARATORS = re.compile(r"[,;\n]+")
EXAMPLE = "e.g. Action=0.9"


class ShiftError(ValueError):
    """The text is not a list of GENRE=MULTIPLIER entries. `problems` names each bad entry;
    `parsed` holds the entries that were fine, so a caller can report more at once."""

    def __init__(self, problems: Iterable[str], parsed: Mapping[str, float]) -> None:
        self.problems = tuple(problems)
        self.parsed = dict(parsed)
        super().__init__("; ".join(self.problems))


def parse_shift(text: str | Iterable[str]) -> dict[str, float]:
    """GENRE=MULTIPLIER entries -> {genre: multiplier}. `text` is one string or several (one
    per --shift option), each holding one or more entries. Every multiplier is a plain finite
    number above 0; a genre given twice is refused. Raises ShiftError naming every bad entry."""
    texts = [text] if isinstance(text, str) else list(text)
    entries = [
        entry
        for part in texts
        for entry in (piece.strip() for piece in ENTRY_SEPARATORS.split(part))
        if entry
    ]
    shift: dict[str, float] = {}
    problems: list[str] = []
    for entry in entries:
        genre, multiplier, problem = _parse_entry(entry)
        if problem is None and genre in shift:
            problem = f"{entry!r}: {genre} is given twice"
        if problem is not None:
            problems.append(problem)
        else:
            shift[genre] = multiplier
    if problems:
        raise ShiftError(problems, shift)
    return shift


def _parse_entry(entry: str) -> tuple[str, float, str | None]:
    """(genre, multiplier, None) for a good entry, or ("", 0.0, the problem)."""
    genre, sep, value = (part.strip() for part in entry.partition("="))
    if not sep or not genre or not value:
        return "", 0.0, f"{entry!r} is not GENRE=MULTIPLIER, {EXAMPLE}"
    # One rule for numbers written as text (no "1_0", "nan" or "inf"; see engine.checks).
    if not DECIMAL_TEXT.fullmatch(value):
        return "", 0.0, f"{entry!r}: the multiplier {value!r} is not a number, {EXAMPLE}"
    try:
        multiplier = parse_float("the multiplier", value, above=0.0)
    except ValueError:
        return "", 0.0, f"{entry!r}: the multiplier must be a finite number above 0, got {value}"
    return genre, multiplier, None


def unknown_genre_problems(genres: Iterable[str], known: Collection[str]) -> list[str]:
    """One message per genre not in `known`, in the given order, with a hint when only the
    case differs: "unknown genre 'action' (did you mean Action?)"."""
    by_lower = {name.lower(): name for name in known}
    problems = []
    for genre in genres:
        if genre in known:
            continue
        same = by_lower.get(genre.lower())
        hint = f" (did you mean {same}?)" if same else ""
        problems.append(f"unknown genre {genre!r}{hint}")
    return problems
