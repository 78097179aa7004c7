"""An empty series says why in ``warnings``: swapped lon/lat, no scene near, no acquisition in the range."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pyproj import Transformer
from shapely.geometry import box

from fis.core.timerange import TimeRange
from fis.services.hints import coverage_hints
from fis.store.queries import Coverage, archive_coverage
from fis_archive import CRS, HEIGHT_M, Y_TOP, archive, field_lonlat, ingested  # noqa: F401

UTC = dt.UTC
COVERAGE = Coverage(
    bounds=(15.0, 45.0, 15.5, 45.25),
    first=dt.datetime(2023, 6, 1, 10, tzinfo=UTC),
    last=dt.datetime(2023, 6, 21, 10, tzinfo=UTC),
)
JUNE = TimeRange(dt.datetime(2023, 6, 1, tzinfo=UTC), dt.datetime(2023, 6, 30, 23, 59, 59, 999999, tzinfo=UTC))


def test_swapped_coordinates_are_named() -> None:
    hints = coverage_hints(COVERAGE, box(45.1, 15.1, 45.2, 15.2), JUNE)
    assert hints == [
        "no observations: no registered scene is near the geometry (lon 45.1..45.2, lat 15.1..15.2); "
        "the archive covers lon 15..15.5, lat 45..45.25 (EPSG:4326 bounding box of all scenes)",
        "the coordinates look swapped: read as lon/lat the other way round they would lie in the archive; "
        "GeoJSON and EPSG:4326 here are [lon, lat] (x = longitude first)",
    ]


def test_far_field_is_only_told_the_coverage() -> None:
    assert coverage_hints(COVERAGE, box(100.0, 10.0, 100.1, 10.1), JUNE) == [
        "no observations: no registered scene is near the geometry (lon 100..100.1, lat 10..10.1); "
        "the archive covers lon 15..15.5, lat 45..45.25 (EPSG:4326 bounding box of all scenes)"
    ]


def test_time_range_outside_the_acquisitions() -> None:
    year_2020 = TimeRange(dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2020, 12, 31, tzinfo=UTC))
    assert coverage_hints(COVERAGE, box(15.1, 45.1, 15.2, 45.2), year_2020) == [
        "no observations: the time range has no acquisitions; the archive has scenes from 2023-06-01 to 2023-06-21"
    ]


def test_field_inside_the_coverage_and_range_gets_no_hint() -> None:
    assert coverage_hints(COVERAGE, box(15.1, 45.1, 15.2, 45.2), JUNE) == []


def _swapped(geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[y, x] for x, y in ring] for ring in geometry["coordinates"]]}


def test_archive_coverage_is_the_bbox_of_all_scenes(ingested: Any) -> None:
    with ingested.extensions["fis"].sessions() as session:
        coverage = archive_coverage(session)
    assert coverage is not None
    # the scenes span x 500000..500600, y 5000000..5000600 in EPSG:32633
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    corners = [to_lonlat.transform(x, y) for x in (500000, 500600) for y in (Y_TOP - HEIGHT_M, Y_TOP)]
    expected = (
        min(c[0] for c in corners),
        min(c[1] for c in corners),
        max(c[0] for c in corners),
        max(c[1] for c in corners),
    )
    assert coverage.bounds == pytest.approx(expected, abs=1e-9)
    assert (coverage.first.date().isoformat(), coverage.last.date().isoformat()) == ("2023-06-01", "2023-06-21")


def test_swapped_field_through_the_api(ingested: Any) -> None:
    client = ingested.test_client()
    request = {"geometry": _swapped(field_lonlat()), "time_range": {"from": "2023-06-01", "to": "2023-06-30"}}
    body = client.post("/api/v1/timeseries", json=request).get_json()
    assert body["observations"] == [] and body["status"] == "OK"
    assert len(body["warnings"]) == 2
    assert body["warnings"][0].startswith("no observations: no registered scene is near the geometry (lon 45.")
    assert "the archive covers lon 15." in body["warnings"][0]
    assert body["warnings"][1].startswith("the coordinates look swapped")
    # the same field the right way round has observations and no hint
    right = client.post("/api/v1/timeseries", json={**request, "geometry": field_lonlat()}).get_json()
    assert len(right["observations"]) == 3 and right["warnings"] == []


def test_range_before_the_archive_through_the_api(ingested: Any) -> None:
    request = {"geometry": field_lonlat(), "time_range": {"from": "2020-01-01", "to": "2020-12-31"}}
    body = ingested.test_client().post("/api/v1/timeseries", json=request).get_json()
    assert body["warnings"] == [
        "no observations: the time range has no acquisitions; the archive has scenes from 2023-06-01 to 2023-06-21"
    ]
