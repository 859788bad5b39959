"""Checks of numbers handed to the engine, written once: every error names the value.

A bool is never a number here (True is an int in Python, and `n_factors=True` is a mistake,
not 1 factor), and NaN or infinity is never a valid parameter.
"""

from __future__ import annotations

import math
import re

import numpy as np


def is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def is_real(value: object) -> bool:
    """A finite int or float (numpy scalars included), never a bool."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool | np.bool_)
        and math.isfinite(float(value))
    )


def checked_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    if not is_int(value) or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def checked_float(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """A finite number within [minimum, maximum], and strictly above `above` when given."""
    if not is_real(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    number = float(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    if maximum is not None and number > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    if above is not None and number <= above:
        raise ValueError(f"{name} must be > {above}, got {value!r}")
    return number


def finite_vector(name: str, values: object) -> np.ndarray:
    """A 1-d float64 array with no NaN or infinity; the error names the first bad index."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        raise ValueError(f"{name} holds a non-finite value at index {int(np.argmin(finite))}")
    return array


# --- numbers written as text (query parameters, form fields, settings, shift entries) --------
# Plain ASCII decimal text only: int() and float() would also take " 5", "1_0", "nan", "inf",
# superscripts and other scripts' digits, none of which anybody types as a number here.
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
DECIMAL_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
LARGEST_ID = 2**63 - 1  # what a database id column holds


def parse_int(name: str, text: str, *, minimum: int, maximum: int) -> int:
    """A whole number written in plain decimal (no spaces), within [minimum, maximum]; the error
    names the value as written. Bounds are required: an unbounded id overflows the database."""
    problem = f"{name} must be an integer from {minimum} to {maximum}, got {text!r}"
    if not isinstance(text, str) or not INTEGER_TEXT.fullmatch(text):
        raise ValueError(problem)
    # Checked on the text's length first, so a thousand-digit value is not converted at all.
    if len(text.lstrip("+-0")) > 20 or not minimum <= int(text) <= maximum:
        raise ValueError(problem)
    return int(text)


def parse_float(
    name: str,
    text: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> float:
    """A finite number written in plain decimal (an exponent allowed), within the bounds."""
    if not isinstance(text, str) or not DECIMAL_TEXT.fullmatch(text):
        raise ValueError(f"{name} must be a plain decimal number, got {text!r}")
    number = float(text)
    if not within(number, minimum=minimum, maximum=maximum, above=above):
        bounds = describe_bounds(minimum=minimum, maximum=maximum, above=above)
        raise ValueError(f"{name} must be a finite number{bounds}, got {text!r}")
    return number


def within(
    number: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
) -> bool:
    """Finite, and within [minimum, maximum] and above `above` where those are given."""
    return (
        math.isfinite(number)
        and (minimum is None or number >= minimum)
        and (maximum is None or number <= maximum)
        and (above is None or number > above)
    )


def describe_bounds(
    *, minimum: float | None = None, maximum: float | None = None, above: float | None = None
) -> str:
    """ " > 0 and <= 5": the bounds `within` checks, as words after "a number"."""
    parts = [f"> {above}"] if above is not None else []
    parts += [f">= {minimum}"] if minimum is not None else []
    parts += [f"<= {maximum}"] if maximum is not None else []
    return f" {' and '.join(parts)}" if parts else ""
