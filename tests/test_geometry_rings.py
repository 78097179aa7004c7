"""Ring closure: the number of positions the user sent is reported, and closing a ring is a warning."""

from __future__ import annotations

from typing import Any

import pytest

from fis.core.geometry import parse_geometry
from fis.errors import InvalidGeometry
from fis_archive import FIELD_BOUNDS_UTM, archive, ingested, request_body  # noqa: F401


def polygon(*rings: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


@pytest.mark.parametrize(
    ("ring", "count"), [([[10, 45], [11, 46]], 2), ([[10, 45]], 1), ([[10, 45], [11, 45], [10, 45]], 3)]
)
def test_too_short_ring_reports_the_positions_sent(ring: list[list[float]], count: int) -> None:
    with pytest.raises(InvalidGeometry) as info:
        parse_geometry(polygon(ring))
    assert f"coordinates[0] has {count} positions" in info.value.message


def test_unclosed_ring_is_closed_with_a_warning() -> None:
    aoi = parse_geometry(polygon([[10, 45], [10.01, 45], [10.01, 45.01], [10, 45.01]]))
    assert list(aoi.geometry.exterior.coords) == [(10, 45), (10.01, 45), (10.01, 45.01), (10, 45.01), (10, 45)]
    assert aoi.warnings == (
        "geometry: coordinates[0] was not closed (its last position differs from the first); "
        "it was closed by repeating the first position",
    )


def test_closed_ring_has_no_warning() -> None:
    assert parse_geometry(polygon([[10, 45], [10.01, 45], [10.01, 45.01], [10, 45]])).warnings == ()


def test_unclosed_hole_of_a_multipolygon_is_named_by_its_path() -> None:
    outer = [[10, 45], [10.1, 45], [10.1, 45.1], [10, 45.1], [10, 45]]
    hole = [[10.02, 45.02], [10.05, 45.02], [10.05, 45.05]]
    aoi = parse_geometry(
        {"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": [[outer, hole]]}}
    )
    assert len(aoi.warnings) == 1 and aoi.warnings[0].startswith("geometry: coordinates[0][1] was not closed")


def test_unclosed_ring_warning_reaches_the_response(ingested: Any) -> None:
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    open_box = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]}
    client = ingested.test_client()
    response = client.post("/api/v1/timeseries", json=request_body(geometry=open_box))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["warnings"] == [
        "geometry: coordinates[0] was not closed (its last position differs from the first); "
        "it was closed by repeating the first position"
    ]
    assert client.get(f"/api/v1/timeseries/{body['id']}").get_json()["warnings"] == body["warnings"]
    closed = client.post("/api/v1/timeseries", json=request_body()).get_json()
    assert closed["warnings"] == []
    assert [o["pixels"] for o in body["observations"]] == [o["pixels"] for o in closed["observations"]]
