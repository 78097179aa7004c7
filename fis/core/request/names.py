"""Series display names: the body's ``name``, a Feature's ``properties.name`` and PATCH renames."""

from __future__ import annotations

from typing import Any

from fis.core.request.checks import describe
from fis.errors import InvalidInput

MAX_NAME_LENGTH = 200
#: not blank, no control characters (what :func:`parse_series_name` accepts, for the published schema)
NAME_PATTERN = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


def parse_series_name(value: Any, *, field: str = "name") -> str | None:
    """A series name: null, or a string of 1 to 200 characters without control characters."""
    if value is None:
        return None
    what = f'a string of 1 to {MAX_NAME_LENGTH} characters, e.g. "north field 2023"'
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be {what}, got {describe(value)}", field=field)
    if not value.strip():
        raise InvalidInput(f"{field}: {value!r} is empty; give {what} (or null for no name)", field=field)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{field}: {len(value)} characters is too long; give {what}", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            f"{field}: {value!r} contains control characters (e.g. a line break); give {what}", field=field
        )
    return value
