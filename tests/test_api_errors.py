"""Bad input to the HTTP API: always a 4xx, one JSON error shape, a message naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fis.config import Settings

POLYGON = {"type": "Polygon", "coordinates": [[[15.0, 45.0], [15.01, 45.0], [15.01, 45.01], [15.0, 45.01], [15.0, 45.0]]]}
TIME_RANGE = {"from": "2023-06-01", "to": "2023-06-30"}
GOOD = {"geometry": POLYGON, "time_range": TIME_RANGE}
RAW_NAN = (
    '{"geometry": {"type": "Polygon", "coordinates": [[[15.0, 45.0], [NaN, 45.0], [15.01, 45.01], [15.0, 45.0]]]},'
    ' "time_range": {"from": "2023-06-01", "to": "2023-06-30"}}'
)
RAW_INF = RAW_NAN.replace("NaN", "Infinity")


@pytest.fixture(scope="module")
def sqlite_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One migrated SQLite app for the validation table (validation does not depend on the backend)."""
    from fis.api.app import create_app
    from fis.store.db import upgrade

    root = tmp_path_factory.mktemp("errors")
    application = create_app(Settings(data_dir=root, database_url=f"sqlite:///{root / 'fis.sqlite'}"))
    application.config["TESTING"] = True
    upgrade(application.extensions["fis"].db)
    yield application
    application.extensions["fis"].close()


@pytest.fixture(scope="module")
def stored_id(sqlite_app: Any) -> str:
    response = sqlite_app.test_client().post("/api/v1/timeseries", json=GOOD)
    assert response.status_code == 201
    return response.get_json()["id"]


def assert_error(response: Any, status: int, *, field: str | None = None, code: str | None = None, words: tuple[str, ...] = ()) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"status", "code", "message"} <= set(error) <= {"status", "code", "message", "field", "details"}
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    if field is not None:
        assert error.get("field") == field
        if field != "id":  # a 404 names the missing id's value instead
            assert field.split(".")[0] in error["message"], error["message"]
    for word in words:
        assert word in error["message"], error["message"]
    return error


def body(**changes: Any) -> dict[str, Any]:
    out = {**GOOD, **changes}
    return {k: v for k, v in out.items() if v is not None}


POST_CASES: list[tuple[str, dict[str, Any], int, str | None, str | None, tuple[str, ...]]] = [
    # id, request kwargs, status, field, code, words in the message
    ("malformed-json", {"data": "{not json", "content_type": "application/json"}, 400, "body", "invalid_input", ("not valid JSON",)),
    ("truncated-json", {"data": json.dumps(GOOD)[:-5], "content_type": "application/json"}, 400, "body", None, ("JSON",)),
    ("empty-body", {"data": "", "content_type": "application/json"}, 400, "body", None, ("empty",)),
    ("not-utf8", {"data": b"\xff\xfe{", "content_type": "application/json"}, 400, "body", None, ("UTF-8",)),
    ("list-body", {"json": [GOOD]}, 400, None, "invalid_input", ("body", "JSON object")),
    ("string-body", {"json": "geometry"}, 400, None, None, ("body", "JSON object")),
    ("null-body", {"data": "null", "content_type": "application/json"}, 400, None, None, ("body", "JSON object")),
    ("unknown-key", {"json": body(geomtery=POLYGON)}, 400, "geomtery", None, ("did you mean 'geometry'",)),
    ("missing-geometry", {"json": {"time_range": TIME_RANGE}}, 400, "geometry", None, ("required",)),
    ("missing-time-range", {"json": {"geometry": POLYGON}}, 400, "time_range", None, ("required",)),
    ("point", {"json": body(geometry={"type": "Point", "coordinates": [15.0, 45.0]})}, 400, "geometry", "invalid_geometry", ("Point",)),
    ("linestring", {"json": body(geometry={"type": "LineString", "coordinates": [[15.0, 45.0], [15.1, 45.1]]})},
     400, "geometry", "invalid_geometry", ("LineString",)),
    ("geometry-not-object", {"json": body(geometry=42)}, 400, "geometry", "invalid_geometry", ()),
    ("nan-coordinate", {"data": RAW_NAN, "content_type": "application/json"}, 400, "geometry", "invalid_geometry", ("finite",)),
    ("inf-coordinate", {"data": RAW_INF, "content_type": "application/json"}, 400, "geometry", "invalid_geometry", ("finite",)),
    ("latitude-out-of-range", {"json": body(geometry={"type": "Polygon", "coordinates": [[[15, 95], [16, 95], [16, 96], [15, 95]]]})},
     400, "geometry", None, ()),
    ("unknown-crs", {"json": body(crs="EPSG:999999")}, 400, "crs", "invalid_crs", ("EPSG:999999",)),
    ("garbage-crs", {"json": body(crs="not a crs")}, 400, "crs", "invalid_crs", ()),
    ("from-after-to", {"json": body(time_range={"from": "2023-07-01", "to": "2023-06-01"})}, 400, "time_range", "invalid_time_range",
     ("2023-07-01", "2023-06-01")),
    ("unparseable-from", {"json": body(time_range={"from": "yesterday", "to": "2023-06-01"})}, 400, "time_range.from", "invalid_time_range",
     ("yesterday",)),
    ("unparseable-to", {"json": body(time_range={"from": "2023-06-01", "to": "2023-02-30"})}, 400, "time_range.to", "invalid_time_range", ()),
    ("time-range-not-object", {"json": body(time_range=12)}, 400, "time_range", "invalid_time_range", ()),
    ("cloud-fraction-above-1", {"json": body(max_cloud_fraction=1.5)}, 400, "max_cloud_fraction", None, ("1.5", "between 0 and 1")),
    ("cloud-fraction-negative", {"json": body(max_cloud_fraction=-0.1)}, 400, "max_cloud_fraction", None, ()),
    ("cloud-probability-above-1", {"json": body(max_cloud_probability=2)}, 400, "max_cloud_probability", None, ()),
    ("cloud-threshold-above-1", {"json": body(cloud_threshold=1.01)}, 400, "cloud_threshold", None, ()),
    ("cloud-threshold-string", {"json": body(cloud_threshold="0.4")}, 400, "cloud_threshold", None, ()),
    ("resolution-zero", {"json": body(resolution=0)}, 400, "resolution", None, ("greater than 0",)),
    ("resolution-negative", {"json": body(resolution=-10)}, 400, "resolution", None, ()),
    ("include-cloudy-string", {"json": body(include_cloudy="yes")}, 400, "include_cloudy", None, ("boolean",)),
]


@pytest.mark.parametrize(("kwargs", "status", "field", "code", "words"), [c[1:] for c in POST_CASES], ids=[c[0] for c in POST_CASES])
def test_post_rejects_bad_input(sqlite_app: Any, kwargs: dict[str, Any], status: int, field: str | None, code: str | None, words: tuple[str, ...]) -> None:
    client = sqlite_app.test_client()
    before = client.get("/api/v1/timeseries").get_json()["total"]
    assert_error(client.post("/api/v1/timeseries", **kwargs), status, field=field, code=code, words=words)
    assert client.get("/api/v1/timeseries").get_json()["total"] == before


def test_self_intersecting_polygon_is_repaired_not_rejected(sqlite_app: Any) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[15.0, 45.0], [15.01, 45.01], [15.01, 45.0], [15.0, 45.01], [15.0, 45.0]]]}
    response = sqlite_app.test_client().post("/api/v1/timeseries", json=body(geometry=bowtie))
    assert response.status_code == 201
    warnings = response.get_json()["warnings"]
    assert len(warnings) == 2 and "geometry" in warnings[0] and "repaired" in warnings[0]
    assert warnings[1] == "no observations: the archive has no scenes; register some with `fis ingest`"  # empty archive


def test_empty_archive_gives_empty_series(sqlite_app: Any) -> None:
    response = sqlite_app.test_client().post("/api/v1/timeseries", json=GOOD)
    assert response.status_code == 201
    assert response.get_json()["observations"] == [] and response.get_json()["status"] == "OK"


GET_CASES = [
    ("list-limit-zero", "/api/v1/timeseries?limit=0", 400, "limit"),
    ("list-limit-text", "/api/v1/timeseries?limit=ten", 400, "limit"),
    ("list-limit-huge", "/api/v1/timeseries?limit=100000", 400, "limit"),
    ("list-offset-negative", "/api/v1/timeseries?offset=-1", 400, "offset"),
    ("list-format-xml", "/api/v1/timeseries?format=xml", 400, "format"),
    ("unknown-id", "/api/v1/timeseries/0000-not-there", 404, "id"),
    ("scenes-bbox-garbage", "/api/v1/scenes?bbox=garbage", 400, "bbox"),
    ("scenes-bbox-three-numbers", "/api/v1/scenes?bbox=1,2,3", 400, "bbox"),
    ("scenes-bbox-nan", "/api/v1/scenes?bbox=1,2,nan,4", 400, "bbox"),
    ("scenes-bbox-min-above-max", "/api/v1/scenes?bbox=16,46,15,45", 400, "bbox"),
    ("scenes-bbox-out-of-range", "/api/v1/scenes?bbox=0,0,200,10", 400, "bbox"),
    ("scenes-datetime-garbage", "/api/v1/scenes?datetime=last-week", 400, "datetime"),
    ("scenes-limit-zero", "/api/v1/scenes?limit=0", 400, "limit"),
]


@pytest.mark.parametrize(("url", "status", "field"), [c[1:] for c in GET_CASES], ids=[c[0] for c in GET_CASES])
def test_get_rejects_bad_query_parameters(sqlite_app: Any, url: str, status: int, field: str) -> None:
    assert_error(sqlite_app.test_client().get(url), status, field=field)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("format=xml", "format"),
        ("max_cloud_fraction=2", "max_cloud_fraction"),
        ("max_cloud_fraction=abc", "max_cloud_fraction"),
        ("max_cloud_probability=-1", "max_cloud_probability"),
        ("max_cloud_fraction=nan", "max_cloud_fraction"),
        ("include_cloudy=maybe", "include_cloudy"),
    ],
)
def test_get_series_rejects_bad_query_parameters(sqlite_app: Any, stored_id: str, query: str, field: str) -> None:
    client = sqlite_app.test_client()
    assert_error(client.get(f"/api/v1/timeseries/{stored_id}?{query}"), 400, field=field)
    assert client.get(f"/api/v1/timeseries/{stored_id}").status_code == 200


def test_post_format_xml_is_rejected(sqlite_app: Any) -> None:
    assert_error(sqlite_app.test_client().post("/api/v1/timeseries?format=xml", json=GOOD), 400, field="format")


def test_delete_unknown_id_is_404(sqlite_app: Any) -> None:
    assert_error(sqlite_app.test_client().delete("/api/v1/timeseries/nope"), 404, field="id", code="not_found", words=("'nope'",))


def test_unknown_route_and_wrong_method_use_the_error_shape(sqlite_app: Any) -> None:
    client = sqlite_app.test_client()
    assert_error(client.get("/api/v1/nothing-here"), 404, code="not_found")
    assert_error(client.put("/api/v1/timeseries", json=GOOD), 405, code="method_not_allowed")


def test_body_over_the_size_limit_is_413(tmp_path: Path) -> None:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'fis.sqlite'}"), max_body_bytes=300)
    try:
        upgrade(app.extensions["fis"].db)
        client = app.test_client()
        ring = [[15.0 + i * 1e-5, 45.0 + (i % 2) * 1e-5] for i in range(100)] + [[15.0, 45.0]]
        big = {"geometry": {"type": "Polygon", "coordinates": [ring]}, "time_range": TIME_RANGE}
        error = assert_error(client.post("/api/v1/timeseries", json=big), 413, code="body_too_large")
        assert "300" in error["message"]
        assert client.get("/api/v1/timeseries").get_json()["total"] == 0
        assert client.post("/api/v1/timeseries", json=GOOD).status_code == 201  # small bodies still pass
    finally:
        app.extensions["fis"].close()
