"""Small value checks shared by the request modules; each raises :class:`~fis.errors.InvalidInput`."""

from __future__ import annotations

import math
from typing import Any

from fis.errors import InvalidInput

MAX_RESOLUTION = 10_000.0
MAX_DISK_RADIUS = 10


def describe(value: Any) -> str:
    """How a value is named in a message: ``null``, ``true``, ``the string 'x'``, ``a list`` ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def number(value: Any, key: str, *, lo: float, hi: float | None, lo_inclusive: bool, what: str) -> float:
    """A finite real number within ``lo..hi`` (``hi`` inclusive); bools and strings rejected."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{key}: must be a number ({what}), got {describe(value)}", field=key)
    x = float(value)
    if not math.isfinite(x):
        raise InvalidInput(f"{key}: must be a finite number ({what}), got {value!r}", field=key)
    if (x < lo if lo_inclusive else x <= lo) or (hi is not None and x > hi):
        raise InvalidInput(f"{key}: {value!r} is out of range; use {what}", field=key)
    return x


def fraction(value: Any, key: str) -> float:
    """A number in 0..1."""
    return number(value, key, lo=0.0, hi=1.0, lo_inclusive=True, what="a number between 0 and 1")


def radius(value: Any, key: str) -> int:
    """A disk radius in mask pixels, 0..MAX_DISK_RADIUS (an integral float is accepted)."""
    what = f"an integer from 0 to {MAX_DISK_RADIUS}: disk radius in mask pixels, 0 = off"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{key}: must be a number ({what}), got {describe(value)}", field=key)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{key}: must be a finite number ({what}), got {value!r}", field=key)
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{key}: must be an integer ({what}), got {value!r}", field=key)
    n = int(value)
    if not 0 <= n <= MAX_DISK_RADIUS:
        raise InvalidInput(f"{key}: {value!r} is out of range; use {what}", field=key)
    return n


def positive(value: Any, key: str) -> float:
    """A number greater than 0 (metres)."""
    return number(value, key, lo=0.0, hi=None, lo_inclusive=False, what="metres, greater than 0")
