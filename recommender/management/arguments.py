"""Number options of the commands, read by the product's one number parser
(recommender.engine.checks): argparse's own int() and float() would take "1_0" as 10 and
"nan" as a number. Bounds beyond "fits in the database" are the services' to check."""

from __future__ import annotations

import argparse

from recommender.engine.checks import LARGEST_ID, parse_float, parse_int


def integer(text: str) -> int:
    try:
        return parse_int("value", text, minimum=-LARGEST_ID, maximum=LARGEST_ID)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def number(text: str) -> float:
    try:
        return parse_float("value", text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a plain decimal number") from None


def typed(default: object):
    """The argument type for an option whose default is `default` (an int or a float)."""
    return integer if isinstance(default, int) and not isinstance(default, bool) else number
