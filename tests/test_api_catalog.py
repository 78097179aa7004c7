"""GET /api/v1/scenes, GET /healthz and GET /api/v1/openapi.json (SQLite and PostGIS)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from shapely.geometry import shape

from fis_archive import (  # noqa: F401 - fixtures
    SCENE_CLEAR,
    SCENE_CLOUDY,
    SCENE_EAST,
    SCENE_IDS,
    SCENE_WEST,
    archive,
    field_lonlat,
    ingested,
)

FIELD_BBOX = ",".join(f"{v:.6f}" for v in shape(field_lonlat()).bounds)


def ids(collection: dict[str, Any]) -> list[str]:
    return [f["id"] for f in collection["features"]]


def test_scenes_feature_collection(ingested: Any) -> None:
    response = ingested.test_client().get("/api/v1/scenes")
    assert response.status_code == 200
    collection = response.get_json()
    assert collection["type"] == "FeatureCollection"
    assert collection["numberReturned"] == 4
    assert ids(collection) == [SCENE_CLEAR, SCENE_WEST, SCENE_EAST, SCENE_CLOUDY]  # oldest first
    by_id = {f["id"]: f for f in collection["features"]}
    clear = by_id[SCENE_CLEAR]
    assert clear["type"] == "Feature"
    assert clear["geometry"]["type"] == "Polygon"
    assert shape(clear["geometry"]).contains(shape(field_lonlat()))
    props = clear["properties"]
    assert props["datetime"] == "2023-06-01T10:00:00Z" and props["date"] == "2023-06-01"
    assert props["tile"] == "33TWN" and props["crs"] == "EPSG:32633" and props["product_level"] == "L1C"
    assert props["bands"] == ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
    # the radiometry rule per processing baseline: no offset before 04.00, -0.1 reflectance from 04.00 on
    assert props["processing_baseline"] == "03.01"
    assert props["radiometry"]["B04"]["scale"] == pytest.approx(1e-4)
    assert props["radiometry"]["B04"]["offset"] == pytest.approx(0.0)
    cloudy = by_id[SCENE_CLOUDY]["properties"]
    assert cloudy["processing_baseline"] == "05.09"
    assert cloudy["radiometry"]["B04"]["offset"] == pytest.approx(-0.1)
    assert by_id[SCENE_EAST]["properties"]["tile"] == "33TXN"
    # west and east tiles do not overlap: the east one starts where the west one ends
    west, east = shape(by_id[SCENE_WEST]["geometry"]), shape(by_id[SCENE_EAST]["geometry"])
    assert west.intersection(east).area < 1e-9


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (f"bbox={FIELD_BBOX}", [SCENE_CLEAR, SCENE_WEST, SCENE_EAST, SCENE_CLOUDY]),
        ("bbox=10,50,10.01,50.01", []),
        ("datetime=2023-06-11", [SCENE_WEST, SCENE_EAST]),
        ("datetime=2023-06-01/2023-06-11", [SCENE_CLEAR, SCENE_WEST, SCENE_EAST]),
        ("datetime=2023-06-12/..", [SCENE_CLOUDY]),
        ("datetime=2024-01-01", []),
        (f"bbox={FIELD_BBOX}&datetime=2023-06-21", [SCENE_CLOUDY]),
    ],
)
def test_scenes_filters(ingested: Any, query: str, expected: list[str]) -> None:
    response = ingested.test_client().get(f"/api/v1/scenes?{query}")
    assert response.status_code == 200, response.get_json()
    assert ids(response.get_json()) == expected


def test_scenes_bbox_east_of_the_west_tile(ingested: Any) -> None:
    """A box only over the east tile's part of the scene area finds no west tile (PostGIS ST_Intersects / shapely)."""
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    (x0, x1), (y0, y1) = to_lonlat.transform([500400.0, 500500.0], [5000100.0, 5000200.0])
    found = ids(ingested.test_client().get(f"/api/v1/scenes?bbox={x0},{y0},{x1},{y1}").get_json())
    assert found == [SCENE_CLEAR, SCENE_EAST, SCENE_CLOUDY]


def test_scenes_pagination(ingested: Any) -> None:
    client = ingested.test_client()
    first = client.get("/api/v1/scenes?limit=3").get_json()
    assert first["numberReturned"] == 3 and "next" in first["links"]
    second = client.get(first["links"]["next"]).get_json()
    assert ids(first) + ids(second) == [SCENE_CLEAR, SCENE_WEST, SCENE_EAST, SCENE_CLOUDY]
    assert "next" not in second["links"]


def test_healthz(ingested: Any, database_url: str) -> None:
    response = ingested.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["scenes"] == len(SCENE_IDS)
    assert body["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert body["cloud_model"] == "s2cloudless-v0.1"
    assert body["version"]


def test_healthz_unmigrated_database_is_503(settings: Any) -> None:
    from fis.api.app import create_app

    app = create_app(settings)  # not migrated
    try:
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "error" and "fis db upgrade" in body["database"]
    finally:
        app.extensions["fis"].close()


def _openapi_path(rule: str) -> str:
    """Flask ``/a/<id>`` and OpenAPI ``/a/{name}`` both become ``/a/{}``."""
    return re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "{}", rule)


def test_openapi_document_lists_every_route(app: Any) -> None:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc = response.get_json()
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert isinstance(doc["paths"], dict)
    if not doc["paths"]:
        pytest.skip("the OpenAPI document has no paths yet")
    documented = {re.sub(r"\{[^{}]+\}", "{}", path) for path in doc["paths"]}
    routes = {
        _openapi_path(rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and (rule.rule.startswith("/api/v1") or rule.rule == "/healthz")
    }
    assert routes, "no routes found"
    missing = sorted(routes - documented)
    assert not missing, f"routes missing from the OpenAPI document: {missing}"


def test_scenes_next_link_keeps_encoded_parameters(ingested: Any) -> None:
    """A datetime with '+00:00' must survive the round trip through links.next."""
    client = ingested.test_client()
    first = client.get("/api/v1/scenes?datetime=2023-06-01T00:00:00%2B00:00/..&limit=2").get_json()
    assert ids(first) == [SCENE_CLEAR, SCENE_WEST]
    response = client.get(first["links"]["next"])
    assert response.status_code == 200, response.get_json()
    assert ids(response.get_json()) == [SCENE_EAST, SCENE_CLOUDY]
