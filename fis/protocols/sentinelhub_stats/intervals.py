"""The aggregation intervals of a Statistical API request.

``aggregation.timeRange`` is ``[from, to)``; interval ``k`` is ``[from + k * of, from + (k + 1) * of)``. When the
range is not a whole number of intervals, ``lastIntervalBehavior`` decides about the last one: ``SKIP`` (Sentinel
Hub's default) drops it, ``SHORTEN`` ends it at ``to``, ``EXTEND`` keeps its full length (and reads the scenes of
the extra time). The calendar arithmetic is :mod:`fis.core.aggregation`'s; intervals are kept with inclusive ends
(the last microsecond) and reported with exclusive ones, as Sentinel Hub does.
"""

from __future__ import annotations

import datetime as dt

from fis.core.aggregation import Aggregation, Interval, intervals
from fis.core.timerange import TimeRange

_EPSILON = dt.timedelta(microseconds=1)


def statistical_intervals(start: dt.datetime, end: dt.datetime, aggregation: Aggregation) -> list[Interval]:
    """The intervals of ``[start, end)`` (inclusive ends), in order."""
    return intervals(TimeRange(start, end - _EPSILON), aggregation)


def _iso(t: dt.datetime) -> str:
    text = t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return text


def interval_dict(interval: Interval) -> dict[str, str]:
    """``{"from", "to"}`` as Sentinel Hub reports it: ``to`` exclusive, ISO 8601 UTC with ``Z``."""
    return {"from": _iso(interval.start), "to": _iso(interval.end + _EPSILON)}
