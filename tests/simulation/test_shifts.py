"""The one genre-shift parser, as a table of inputs -> shift or error. No Django."""

from __future__ import annotations

import pytest

from simulation.shifts import ShiftError, parse_shift, unknown_genre_problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Action=0.9", {"Action": 0.9}),
        ("  Action = 0.9  ", {"Action": 0.9}),
        ("Action=0.9, Comedy=1.1", {"Action": 0.9, "Comedy": 1.1}),
        ("Action=0.9;Comedy=1.1\nDrama=2", {"Action": 0.9, "Comedy": 1.1, "Drama": 2.0}),
        (["Action=0.9", "Sci-Fi=1.1"], {"Action": 0.9, "Sci-Fi": 1.1}),  # one per --shift
        (["Action=0.9,Comedy=1.1"], {"Action": 0.9, "Comedy": 1.1}),
        ("(no genres listed)=1.5", {"(no genres listed)": 1.5}),
        ("Film-Noir=.5", {"Film-Noir": 0.5}),
        ("Action=1.", {"Action": 1.0}),
        ("Action=+1e-1", {"Action": 0.1}),
        ("Action=2E0", {"Action": 2.0}),
        ("", {}),
        (" , ;\n", {}),
        ([], {}),
    ],
)
def test_a_good_shift_parses_to_genre_multipliers(text, expected):
    assert parse_shift(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Action", "'Action' is not GENRE=MULTIPLIER, e.g. Action=0.9"),
        ("=0.9", "'=0.9' is not GENRE=MULTIPLIER, e.g. Action=0.9"),
        ("Action=", "'Action=' is not GENRE=MULTIPLIER, e.g. Action=0.9"),
        ("Action=abc", "'Action=abc': the multiplier 'abc' is not a number, e.g. Action=0.9"),
        ("Action=1_0", "'Action=1_0': the multiplier '1_0' is not a number, e.g. Action=0.9"),
        ("Action=nan", "'Action=nan': the multiplier 'nan' is not a number, e.g. Action=0.9"),
        ("Action=inf", "'Action=inf': the multiplier 'inf' is not a number, e.g. Action=0.9"),
        ("Action=-inf", "'Action=-inf': the multiplier '-inf' is not a number, e.g. Action=0.9"),
        ("Action=0x1", "'Action=0x1': the multiplier '0x1' is not a number, e.g. Action=0.9"),
        ("Action=١", "'Action=١': the multiplier '١' is not a number, e.g. Action=0.9"),
        ("Action=0.9=1", "'Action=0.9=1': the multiplier '0.9=1' is not a number, e.g. Action=0.9"),
        ("Action=0", "'Action=0': the multiplier must be a finite number above 0, got 0"),
        ("Action=-0.5", "'Action=-0.5': the multiplier must be a finite number above 0, got -0.5"),
        (
            "Action=1e999",
            "'Action=1e999': the multiplier must be a finite number above 0, got 1e999",
        ),
        ("Action=0.9, Action=1.1", "'Action=1.1': Action is given twice"),
        (["Action=0.9", "Action=0.8"], "'Action=0.8': Action is given twice"),
    ],
)
def test_a_bad_entry_is_refused_and_named(text, problem):
    with pytest.raises(ShiftError) as error:
        parse_shift(text)

    assert error.value.problems == (problem,)
    assert str(error.value) == problem
    assert isinstance(error.value, ValueError)


def test_every_bad_entry_is_named_and_the_good_ones_are_kept():
    with pytest.raises(ShiftError) as error:
        parse_shift("Action=0.9, Comedy, Drama=nan, Horror=1.2")

    assert error.value.problems == (
        "'Comedy' is not GENRE=MULTIPLIER, e.g. Action=0.9",
        "'Drama=nan': the multiplier 'nan' is not a number, e.g. Action=0.9",
    )
    assert error.value.parsed == {"Action": 0.9, "Horror": 1.2}


@pytest.mark.parametrize(
    ("genres", "problems"),
    [
        (["Action", "Drama"], []),
        (["action"], ["unknown genre 'action' (did you mean Action?)"]),
        (["Horror", "Action"], ["unknown genre 'Horror'"]),
        (
            ["Horror", "drama"],
            ["unknown genre 'Horror'", "unknown genre 'drama' (did you mean Drama?)"],
        ),
    ],
)
def test_unknown_genres_are_named_in_order_with_a_hint_when_only_the_case_differs(genres, problems):
    assert unknown_genre_problems(genres, {"Action", "Drama"}) == problems
