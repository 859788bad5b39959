"""Checks of numbers handed to the engine, written once: every error names the value.

A bool is never a number here (True is an int in Python, and `n_factors=True` is a mistake,
not 1 factor), and NaN or infinity is never a valid parameter.
"""

from __future__ import annotations

import math

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
