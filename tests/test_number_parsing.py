"""Every number typed as text (query parameters, form fields, shift entries, settings) is read
by one parser with bounds: plain ASCII decimal only, and an error that names the value."""

from __future__ import annotations

from html import escape

import pytest
from django.core.management import CommandError, call_command

from recommender.engine.checks import LARGEST_ID, parse_float, parse_int
from simulation.models import SimulationRun
from tests.users import client_for, create_reviewer


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", 1), ("+7", 7), ("9223372036854775807", LARGEST_ID), ("007", 7)],
)
def test_parse_int_reads_plain_decimal_integers(text, expected):
    assert parse_int("run", text, minimum=1, maximum=LARGEST_ID) == expected


@pytest.mark.parametrize(
    "text",
    ["", " 5", "5 ", "1_0", "²", "٣", "1.0", "0x10", "0", "-5", "9223372036854775808", "9" * 400],
)
def test_parse_int_refuses_anything_else_naming_the_value(text):
    with pytest.raises(ValueError) as refused:
        parse_int("run", text, minimum=1, maximum=LARGEST_ID)

    assert str(refused.value) == f"run must be an integer from 1 to {LARGEST_ID}, got {text!r}"


@pytest.mark.parametrize(
    ("text", "expected"), [("0.9", 0.9), (".5", 0.5), ("5.", 5.0), ("1e-1", 0.1), ("+2", 2.0)]
)
def test_parse_float_reads_plain_decimal_numbers(text, expected):
    assert parse_float("x", text, above=0) == expected


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1_0", "1e999", " 1", "", "0", "-0.5"])
def test_parse_float_refuses_non_numbers_non_finite_and_out_of_bounds(text):
    with pytest.raises(ValueError, match=r"^x must be"):
        parse_float("x", text, above=0)


@pytest.mark.parametrize("run", ["²", "99999999999999999999999", "1_0", "0", "abc"])
def test_the_metric_page_answers_a_bad_run_number_with_a_message_not_a_500(db, run):
    response = client_for(create_reviewer()).get("/metrics/", {"run": run})

    assert response.status_code == 200
    message = f"run must be an integer from 1 to {LARGEST_ID}, got {run!r}; showing every run"
    assert escape(message) in response.content.decode()


def test_the_simulation_form_refuses_a_multiplier_or_a_round_count_written_1_0(db):
    response = client_for(create_reviewer()).post(
        "/simulate/",
        {
            "rounds": "1_0",
            "truth": "model",
            "shift": "Action=1_0",
            "shift_start": "1",
            "arrivals": "nan",
            "seed": "0",
        },
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["rounds"] == ["Enter a whole number from 1 to 50 (got '1_0')."]
    assert errors["arrivals"] == ["Enter a plain decimal number, e.g. 0.05 (got 'nan')."]
    assert "'Action=1_0': the multiplier '1_0' is not a number" in errors["shift"][0]
    assert not SimulationRun.objects.exists()


@pytest.mark.parametrize(
    ("command", "option", "text"),
    [
        ("simulate", "--rounds", "1_0"),
        ("simulate", "--arrivals", "nan"),
        ("train", "--factors", "1_00"),
        ("train", "--lr", "inf"),
        ("score", "--popularity-alpha", "1_0"),
    ],
)
def test_a_command_refuses_a_number_option_that_is_not_plain_decimal(db, command, option, text):
    with pytest.raises(CommandError, match=rf"argument {option}: '{text}' is not a"):
        call_command(command, option, text)
