"""Why a series came out empty: hints for the response's ``warnings``.

A series without a single observation (or per-date error) usually means the field is not where
the archive is — often because its coordinates were sent as lat/lon instead of lon/lat — or the
time range lies outside the archive's acquisitions. The hints name what the archive covers.
"""

from __future__ import annotations

from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from fis.core.observation import SeriesResult
from fis.core.timerange import TimeRange
from fis.store.queries import Coverage, archive_coverage


def empty_series_hints(
    session: Session, geometry_4326: BaseGeometry, time_range: TimeRange, result: SeriesResult
) -> list[str]:
    """Warnings explaining an empty ``result`` (none when it has observations or errors)."""
    if result.observations or result.errors:
        return []
    coverage = archive_coverage(session)
    if coverage is None:
        return ["no observations: the archive has no scenes; register some with `fis ingest`"]
    return coverage_hints(coverage, geometry_4326, time_range)


def coverage_hints(coverage: Coverage, geometry_4326: BaseGeometry, time_range: TimeRange) -> list[str]:
    """The hints for an empty series given what the archive covers."""
    area = box(*coverage.bounds)
    west, south, east, north = coverage.bounds
    min_x, min_y, max_x, max_y = geometry_4326.bounds
    if not box(min_x, min_y, max_x, max_y).intersects(area):
        hints = [
            f"no observations: no registered scene is near the geometry (lon {min_x:.6g}..{max_x:.6g}, "
            f"lat {min_y:.6g}..{max_y:.6g}); the archive covers lon {west:.6g}..{east:.6g}, "
            f"lat {south:.6g}..{north:.6g} (EPSG:4326 bounding box of all scenes)"
        ]
        if max(abs(min_x), abs(max_x)) <= 90 and box(min_y, min_x, max_y, max_x).intersects(area):
            hints.append(
                "the coordinates look swapped: read as lon/lat the other way round they would lie in the archive; "
                "GeoJSON and EPSG:4326 here are [lon, lat] (x = longitude first)"
            )
        return hints
    if time_range.end < coverage.first or time_range.start > coverage.last:
        return [
            f"no observations: the time range has no acquisitions; the archive has scenes from "
            f"{coverage.first.date().isoformat()} to {coverage.last.date().isoformat()}"
        ]
    return []
