"""Temporal aggregation: ISO 8601 durations, the intervals of a time range, which dates each uses.

Intervals start at ``time_range.from`` and follow each other without gaps: interval ``k``
covers ``[from + k * P, from + (k + 1) * P)`` (months and years are calendar steps: a month
after 31 January is the last day of February). Reported ends are inclusive, like every
``time_range`` of the API (``...T23:59:59.999999Z``). When the range is not a whole number of
intervals, ``last_interval`` decides: ``shorten`` (default) ends the last one with the range,
``skip`` drops it, ``extend`` keeps its full length (and reads the scenes of that extra time).

``pick`` says which observations of an interval make its row: ``all`` pools the pixels of every
date, ``least_cloudy`` takes the one date with the smallest cloud_fraction, ``clear_mean`` makes a
per-pixel mean of the pixels the cloud mask calls clear. The reductions live in
:mod:`fis.engine.reductions`; this module only does calendar arithmetic and validation.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from fis.core.timerange import TimeRange
from fis.errors import InvalidInput

__all__ = [
    "AGGREGATION_KEYS",
    "LAST_INTERVAL",
    "PICKS",
    "Aggregation",
    "Duration",
    "Interval",
    "covered_range",
    "intervals",
    "parse_aggregation",
    "parse_duration",
]

LAST_INTERVAL: Final[tuple[str, ...]] = ("shorten", "skip", "extend")
PICKS: Final[tuple[str, ...]] = ("all", "least_cloudy", "clear_mean")
AGGREGATION_KEYS: Final[tuple[str, ...]] = ("interval", "last_interval", "pick")
MAX_INTERVALS: Final = 10_000

_DURATION_RE = re.compile(r"^P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?$")
_DURATION_HINT = (
    "use an ISO 8601 duration of whole days from P1D to P1Y: PnD, PnW, PnM, PnY or a combination such as P1M15D "
    "(e.g. P1D, P5D, P10D, P1W, P1M, P3M, P1Y)"
)
_UTC_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class Duration:
    """A calendar duration: whole months and whole days."""

    months: int
    days: int
    text: str

    def times(self, start: datetime, k: int) -> datetime:
        """``start + k * self`` (months first, clamping the day to the month's length)."""
        total = start.month - 1 + self.months * k
        year, month = start.year + total // 12, total % 12 + 1
        day = min(start.day, calendar.monthrange(year, month)[1])
        return start.replace(year=year, month=month, day=day) + timedelta(days=self.days * k)


def parse_duration(value: Any, *, field: str = "aggregation.interval") -> Duration:
    """``P10D``, ``P1W``, ``P1M``, ``P1Y``, ``P1M15D`` ... between one day and one year."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be a string; {_DURATION_HINT}; got {value!r}", field=field)
    text = value.strip().upper()
    match = _DURATION_RE.match(text)
    if not match or text == "P":
        extra = " (durations with hours, minutes or seconds are not supported)" if "T" in text else ""
        raise InvalidInput(f"{field}: {value!r} is not a supported interval{extra}; {_DURATION_HINT}", field=field)
    years, months, weeks, days = (int(match.group(k) or 0) for k in "ymwd")
    months += 12 * years
    days += 7 * weeks
    if months == 0 and days == 0:
        raise InvalidInput(f"{field}: {value!r} is empty; {_DURATION_HINT}", field=field)
    too_long = months > 12 or (months == 12 and days > 0) or (months < 12 and months * 31 + days > 366)
    if too_long:
        raise InvalidInput(f"{field}: {value!r} is longer than one year; {_DURATION_HINT}", field=field)
    return Duration(months=months, days=days, text=text)


@dataclass(frozen=True)
class Aggregation:
    """A validated ``aggregation`` option."""

    interval: Duration
    last_interval: str = "shorten"
    pick: str = "all"

    def to_dict(self) -> dict[str, Any]:
        return {"interval": self.interval.text, "last_interval": self.last_interval, "pick": self.pick}


def _choice(value: Any, key: str, accepted: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in accepted:
        raise InvalidInput(
            f"{key}: {value!r} is not accepted; use one of {', '.join(accepted)} (default {default})",
            field=key, details={"accepted": list(accepted)},
        )
    return value.lower()


def parse_aggregation(value: Any, *, field: str = "aggregation") -> Aggregation:
    """``{"interval": "P10D", "last_interval": "shorten", "pick": "all"}`` (only ``interval`` required)."""
    if isinstance(value, str):
        value = {"interval": value}
    if not isinstance(value, dict):
        raise InvalidInput(
            f'{field}: must be an object such as {{"interval": "P10D", "last_interval": "shorten", "pick": "all"}}, '
            f"got {type(value).__name__}",
            field=field,
        )
    unknown = sorted(str(k) for k in value if k not in AGGREGATION_KEYS)
    if unknown:
        raise InvalidInput(
            f"{field}: unknown key(s) {', '.join(map(repr, unknown))}; accepted keys are {', '.join(AGGREGATION_KEYS)}",
            field=f"{field}.{unknown[0]}", details={"unknown": unknown, "accepted": list(AGGREGATION_KEYS)},
        )
    if value.get("interval") is None:
        raise InvalidInput(f"{field}.interval: is required; {_DURATION_HINT}", field=f"{field}.interval")
    return Aggregation(
        interval=parse_duration(value["interval"], field=f"{field}.interval"),
        last_interval=_choice(value.get("last_interval"), f"{field}.last_interval", LAST_INTERVAL, "shorten"),
        pick=_choice(value.get("pick"), f"{field}.pick", PICKS, "all"),
    )


@dataclass(frozen=True)
class Interval:
    """``[start, end]``, both inclusive (``end`` is the last microsecond that belongs to it)."""

    start: datetime
    end: datetime

    def contains(self, t: datetime) -> bool:
        return self.start <= t <= self.end

    def to_dict(self) -> dict[str, str]:
        return TimeRange(self.start, self.end).to_dict()


def intervals(time_range: TimeRange, aggregation: Aggregation) -> list[Interval]:
    """The intervals of ``time_range``, in order (see the module docstring for the last one)."""
    out: list[Interval] = []
    step = aggregation.interval
    k = 0
    while True:
        try:
            start = step.times(time_range.start, k)
        except (OverflowError, ValueError):  # beyond year 9999
            break
        if start > time_range.end:
            break
        try:
            end = step.times(time_range.start, k + 1) - _UTC_EPSILON
        except (OverflowError, ValueError):  # beyond year 9999
            end = time_range.end
        if end > time_range.end:
            if aggregation.last_interval == "skip":
                break
            if aggregation.last_interval == "shorten":
                end = time_range.end
        out.append(Interval(start, end))
        k += 1
        if k > MAX_INTERVALS:
            raise InvalidInput(
                f"aggregation.interval: {step.text} splits the time range into more than {MAX_INTERVALS} intervals; "
                "use a longer interval or a shorter time range",
                field="aggregation.interval",
            )
    return out


def covered_range(time_range: TimeRange, aggregation: Aggregation | None) -> TimeRange:
    """The time whose scenes are read: the range itself, or up to the end of an extended last interval."""
    if aggregation is None or aggregation.last_interval != "extend":
        return time_range
    spans = intervals(time_range, aggregation)
    return TimeRange(time_range.start, max(time_range.end, spans[-1].end)) if spans else time_range
