"""Query-string values: thresholds (0..1) and flags (true/false, 1/0, yes/no)."""

from __future__ import annotations

import math

from fis.core.request.checks import describe as _describe
from fis.errors import InvalidInput


def parse_threshold(value: str | None, *, field: str) -> float | None:
    """Parse a query-string threshold in 0..1; ``None`` (parameter absent) gives ``None``."""
    if value is None:
        return None
    what = "a number between 0 and 1, e.g. 0.3"
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be {what}, got {_describe(value)}", field=field)
    text = value.strip()
    try:
        x = float(text)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a number; use {what}", field=field) from None
    if not math.isfinite(x):
        raise InvalidInput(f"{field}: {value!r} is not a finite number; use {what}", field=field)
    if not 0.0 <= x <= 1.0:
        raise InvalidInput(f"{field}: {value!r} is out of range; use {what}", field=field)
    return x


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_bool(value: str | None, *, field: str) -> bool | None:
    """Parse a query-string flag: true/false, 1/0, yes/no (case-insensitive); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InvalidInput(f"{field}: {value!r} is not a boolean; use true or false (also 1/0, yes/no)", field=field)
