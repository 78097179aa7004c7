"""Incremental series: reuse a stored series' observations for the dates it already covers.

A stored series is *reusable* for a request when its geometry is the request's (equal within
1e-9 degrees) and every stored parameter except ``time_range`` and ``grid`` equals the request's
(the model included). The observations (and per-date errors) of the UTC dates whose whole day
lies inside the stored time range are taken as stored; only the other dates are read. Aggregated
series are never reused (their rows are intervals, not dates).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from fis.core.observation import Observation, ObservationError, SeriesResult
from fis.core.scenes import SceneRecord
from fis.core.timerange import TimeRange
from fis.store.orm import TimeSeries
from fis.store.queries import errors_of, observations_of

#: geometries (EPSG:4326) closer than this, vertex by vertex, are the same field
GEOMETRY_TOLERANCE = 1e-9
#: parameters that may differ between a stored series and a request that reuses it
VARYING = ("time_range", "grid")


@dataclass(frozen=True)
class StoredPart:
    """What a stored series contributes: its covered range and the reused dates' records."""

    series_id: str
    time_range: TimeRange
    observations: tuple[Observation, ...]
    errors: tuple[ObservationError, ...]
    warnings: tuple[str, ...]
    grid: dict[str, Any]

    @property
    def reused(self) -> int:
        return len(self.observations) + len(self.errors)


def comparable(parameters: dict[str, Any]) -> str:
    """The parameters that must match, as canonical JSON."""
    return json.dumps({k: v for k, v in parameters.items() if k not in VARYING}, sort_keys=True, default=str)


def covered_dates(time_range: TimeRange) -> tuple[dt.date, dt.date] | None:
    """First and last UTC date whose whole day lies inside ``time_range`` (None when none does)."""
    start, end = time_range.start, time_range.end  # UTC (TimeRange converts)
    # compared by time of day, never by adding a day: ranges may touch 0001-01-01 or 9999-12-31
    if start.time() == dt.time(0):
        first = start.date()
    elif start.date() < dt.date.max:
        first = start.date() + dt.timedelta(days=1)
    else:
        return None
    if end.time() == dt.time.max:
        last = end.date()
    elif end.date() > dt.date.min:
        last = end.date() - dt.timedelta(days=1)
    else:
        return None
    return (first, last) if first <= last else None


def stored_part(series: TimeSeries, within: TimeRange) -> StoredPart:
    """The stored observations/errors of ``series`` on its fully covered dates inside ``within``."""
    stored_range = TimeRange(_utc(series.time_from), _utc(series.time_to))
    span = covered_dates(stored_range)
    wanted = covered_dates(within)

    def keep(date: dt.date) -> bool:
        return (
            span is not None and wanted is not None
            and span[0] <= date <= span[1] and wanted[0] <= date <= wanted[1]
        )

    observations = tuple(o for o in observations_of(series) if keep(o.date))
    errors = tuple(e for e in errors_of(series) if keep(e.date))
    dates = {o.date.isoformat() for o in observations} | {e.date.isoformat() for e in errors}
    warnings = tuple(w for w in series.warnings or [] if w[:10] in dates)
    return StoredPart(
        series_id=series.id, time_range=stored_range, observations=observations, errors=errors, warnings=warnings,
        grid=dict((series.parameters or {}).get("grid") or {}),
    )


def find_reusable(
    session: Session, geometry_4326: BaseGeometry, parameters: dict[str, Any], time_range: TimeRange,
    *, owner: str | None = None,
) -> TimeSeries | None:
    """The newest stored series (of ``owner``, when given) with this geometry and these parameters whose range
    the request extends.

    A request inside a stored range (e.g. the same request again) is computed afresh.
    """
    if "aggregation" in parameters:
        return None
    min_x, min_y, max_x, max_y = geometry_4326.bounds
    eps = 1e-7
    query = (
        select(TimeSeries)
        .where(
            TimeSeries.min_lon.between(min_x - eps, min_x + eps), TimeSeries.max_lon.between(max_x - eps, max_x + eps),
            TimeSeries.min_lat.between(min_y - eps, min_y + eps), TimeSeries.max_lat.between(max_y - eps, max_y + eps),
        )
        .order_by(TimeSeries.created_at.desc(), TimeSeries.id)
        .options(selectinload(TimeSeries.observations))
    )
    if owner is not None:  # another client's series is not reused (nor revealed by X-FIS-Reused)
        query = query.where(TimeSeries.owner == owner)
    wanted = comparable(parameters)
    for series in session.scalars(query):
        stored_range = TimeRange(_utc(series.time_from), _utc(series.time_to))
        if stored_range.start > time_range.end or stored_range.end < time_range.start:
            continue  # no overlap
        if time_range.start >= stored_range.start and time_range.end <= stored_range.end:
            continue  # nothing to extend
        if comparable(series.parameters or {}) != wanted:
            continue
        if not series.geometry.equals_exact(geometry_4326, GEOMETRY_TOLERANCE):
            continue
        return series
    return None


def scenes_to_compute(scenes: Sequence[SceneRecord], part: StoredPart | None) -> list[SceneRecord]:
    """The scenes of the dates the stored part does not cover."""
    if part is None:
        return list(scenes)
    span = covered_dates(part.time_range)
    if span is None:
        return list(scenes)
    return [s for s in scenes if not span[0] <= s.date <= span[1]]


def merge(part: StoredPart | None, fresh: SeriesResult) -> SeriesResult:
    """Stored and freshly computed dates as one series, ascending by date."""
    if part is None:
        return fresh
    observations = tuple(sorted((*part.observations, *fresh.observations), key=lambda o: o.date))
    errors = tuple(sorted((*part.errors, *fresh.errors), key=lambda e: e.date))
    return SeriesResult(
        observations=observations, errors=errors, model=fresh.model, grid=fresh.grid or part.grid,
        warnings=(*part.warnings, *fresh.warnings),
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
