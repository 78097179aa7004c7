"""Time ranges: ISO 8601 dates / date-times, always UTC, both ends inclusive.

A bare date as the end of a range means the whole day (up to 23:59:59.999999 UTC);
naive date-times are taken as UTC; offsets are converted to UTC (DESIGN.md section 3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from fis.errors import InvalidTimeRange

__all__ = ["MAX_DATETIME", "MIN_DATETIME", "TimeRange", "parse_datetime", "parse_interval", "parse_time_range"]

UTC = UTC
MIN_DATETIME = datetime.min.replace(tzinfo=UTC)
"""Start of an interval that is open at the start (``../2015-09-30``)."""
MAX_DATETIME = datetime.max.replace(tzinfo=UTC)
"""End of an interval that is open at the end (``2015-07-01/..``)."""

_FORMAT_HINT = "use YYYY-MM-DD or a full date-time like 2015-07-01T00:00:00Z"

_DATE_RE = re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})")
_DATETIME_RE = re.compile(
    r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[Tt ]"
    r"(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """An inclusive UTC interval ``[start, end]``; naive inputs are taken as UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _as_utc(self.start))
        object.__setattr__(self, "end", _as_utc(self.end))
        if self.start > self.end:
            raise InvalidTimeRange(
                f"time_range: from ({_iso(self.start)}) is after to ({_iso(self.end)}); swap them",
                field="time_range",
            )

    def contains(self, t: datetime) -> bool:
        """True if ``t`` (naive = UTC) lies within the range, ends included."""
        return self.start <= _as_utc(t) <= self.end

    def to_dict(self) -> dict[str, str]:
        """``{"from": "...Z", "to": "...Z"}`` in ISO 8601 UTC."""
        return {"from": _iso(self.start), "to": _iso(self.end)}


def parse_datetime(value: str, *, field: str, end_of_day: bool = False) -> datetime:
    """Parse an ISO 8601 date (``2015-07-01``) or date-time into a tz-aware UTC datetime.

    ``Z``/offsets are converted to UTC, naive date-times are UTC. A bare date is midnight,
    or 23:59:59.999999 of that day when ``end_of_day`` is set.
    """
    if not isinstance(value, str):
        got = "null" if value is None else type(value).__name__
        raise InvalidTimeRange(f"{field}: must be a date string, got {got} {value!r}; {_FORMAT_HINT}", field=field)
    text = value.strip()
    if not text:
        raise InvalidTimeRange(f"{field}: the date is an empty string; {_FORMAT_HINT}", field=field)

    m = _DATE_RE.fullmatch(text)
    if m:
        day = _make_date(m, value, field)
        return datetime.combine(day, time.max if end_of_day else time.min, tzinfo=UTC)

    m = _DATETIME_RE.fullmatch(text)
    if not m:
        raise InvalidTimeRange(f"{field}: {value!r} is not an ISO 8601 date; {_FORMAT_HINT}", field=field)
    day = _make_date(m, value, field)
    hour, minute = int(m["H"]), int(m["M"])
    second = int(m["S"] or 0)
    micro = int((m["f"] or "0").ljust(6, "0")[:6])
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidTimeRange(
            f"{field}: {value!r} has an impossible time of day (hour 0-23, minute 0-59, second 0-59); {_FORMAT_HINT}",
            field=field,
        )
    tz = _parse_offset(m["tz"], value, field)
    try:
        return datetime.combine(day, time(hour, minute, second, micro), tzinfo=tz).astimezone(UTC)
    except OverflowError:
        raise InvalidTimeRange(
            f"{field}: {value!r} is outside the supported years 0001-9999 in UTC; {_FORMAT_HINT}", field=field
        ) from None


def _make_date(m: re.Match[str], value: str, field: str) -> date:
    y, mo, d = int(m["y"]), int(m["m"]), int(m["d"])
    if not 1 <= mo <= 12:
        raise InvalidTimeRange(
            f"{field}: {value!r} is not an ISO 8601 date (month {mo:02d} is not 01-12); {_FORMAT_HINT}",
            field=field,
        )
    try:
        return date(y, mo, d)
    except ValueError as exc:
        raise InvalidTimeRange(
            f"{field}: {value!r} is not a valid calendar date ({exc}); {_FORMAT_HINT}",
            field=field,
        ) from None


def _parse_offset(tz: str | None, value: str, field: str) -> timezone:
    if tz is None or tz in ("Z", "z"):
        return UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 23 or minutes > 59:
        raise InvalidTimeRange(
            f"{field}: {value!r} has an impossible UTC offset {tz!r} (use +HH:MM with HH <= 23); {_FORMAT_HINT}",
            field=field,
        )
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_time_range(value: Any, *, field: str = "time_range") -> TimeRange:
    """Parse ``{"from": ..., "to": ...}`` (both required, both inclusive) into a :class:`TimeRange`."""
    example = '{"from": "2015-07-01", "to": "2015-09-30"}'
    if not isinstance(value, dict):
        got = "null" if value is None else type(value).__name__
        raise InvalidTimeRange(f"{field}: must be an object like {example}, got {got}", field=field)
    unknown = sorted(str(k) for k in value if k not in ("from", "to"))
    if unknown:
        raise InvalidTimeRange(
            f"{field}: unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"accepted keys are 'from' and 'to', e.g. {example}",
            field=f"{field}.{unknown[0]}",
        )
    for key in ("from", "to"):
        if key not in value:
            raise InvalidTimeRange(f"{field}.{key}: is required; e.g. {example}", field=f"{field}.{key}")
    start = parse_datetime(value["from"], field=f"{field}.from")
    end = parse_datetime(value["to"], field=f"{field}.to", end_of_day=True)
    if start > end:
        raise InvalidTimeRange(
            f"{field}: from ({value['from']}) is after to ({value['to']}); swap them so that from <= to",
            field=field,
        )
    return TimeRange(start, end)


def parse_interval(text: str, *, field: str = "datetime") -> TimeRange:
    """Parse a STAC-API style interval: ``a/b``, ``../b``, ``a/..`` (or empty for open), or one value.

    A single bare date is that whole day; a single date-time is that instant. Open ends become
    :data:`MIN_DATETIME` / :data:`MAX_DATETIME`.
    """
    hint = 'use "2015-07-01/2015-09-30", "../2015-09-30", "2015-07-01/.." or a single date'
    if not isinstance(text, str):
        got = "null" if text is None else type(text).__name__
        raise InvalidTimeRange(f"{field}: must be a string, got {got} {text!r}; {hint}", field=field)
    parts = text.strip().split("/")
    if len(parts) == 1:
        start = parse_datetime(parts[0], field=field)
        end = parse_datetime(parts[0], field=field, end_of_day=True)
        return TimeRange(start, end)
    if len(parts) != 2:
        raise InvalidTimeRange(f"{field}: {text!r} has more than one '/'; {hint}", field=field)
    a, b = (p.strip() for p in parts)
    open_a, open_b = a in ("", ".."), b in ("", "..")
    if open_a and open_b:
        raise InvalidTimeRange(f"{field}: {text!r} is open at both ends; give at least one date ({hint})", field=field)
    start = MIN_DATETIME if open_a else parse_datetime(a, field=field)
    end = MAX_DATETIME if open_b else parse_datetime(b, field=field, end_of_day=True)
    if start > end:
        raise InvalidTimeRange(f"{field}: {text!r} starts ({a}) after it ends ({b}); swap them", field=field)
    return TimeRange(start, end)
