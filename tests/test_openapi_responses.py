"""Real responses validate against the published response schemas (JSON Schema 2020-12 with the document's
components): the proof that the OpenAPI document describes what the service returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from shapely.geometry import box

from fis.api.openapi_examples import response_example
from fis.api.openapi_spec import build_spec
from fis_archive import (  # noqa: F401 - fixtures
    FIELD_BOUNDS_UTM,
    SCENE_CLEAR,
    archive,
    ingested,
    request_body,
)

SERVER = "http://localhost"
SPEC = build_spec(server_url=SERVER)


def check(body: Any, schema: str) -> None:
    """Validate ``body`` against ``#/components/schemas/<schema>``; fail with every problem listed."""
    validator = Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema}", "components": SPEC["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]
    assert not problems, "\n".join(problems[:10])


def documented(path: str, method: str, status: str, media: str = "application/json") -> str:
    """The schema name the document gives for one response."""
    response = SPEC["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return str(response["content"][media]["schema"]["$ref"].rsplit("/", 1)[1])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def test_series_responses_validate(ingested: Any) -> None:
    client = ingested.test_client()
    created = ok(client.post("/api/v1/timeseries", json=request_body(max_cloud_fraction=0.2)), 201)
    assert [o["date"] for o in created["observations"]] == ["2023-06-01", "2023-06-11"]  # the cloudy date filtered
    check(created, documented("/api/v1/timeseries", "post", "201"))
    url = f"/api/v1/timeseries/{created['id']}"
    shown = ok(client.get(f"{url}?include_cloudy=true"))
    assert len(shown["observations"]) == 3
    check(shown, documented("/api/v1/timeseries/{series_id}", "get", "200"))
    renamed = ok(client.patch(url, json={"name": "north field"}))
    assert renamed["name"] == "north field"
    check(renamed, documented("/api/v1/timeseries/{series_id}", "patch", "200"))
    feature = ok(client.get(f"{url}?format=geojson"))
    check(feature, documented("/api/v1/timeseries/{series_id}", "get", "200", "application/geo+json"))
    page = ok(client.get("/api/v1/timeseries?limit=1"))
    assert page["total"] == 1 and page["items"][0]["name"] == "north field"
    check(page, documented("/api/v1/timeseries", "get", "200"))


def test_every_statistics_option_and_aggregation_validate(ingested: Any) -> None:
    client = ingested.test_client()
    options = request_body(
        mask_clouds=True, include_cloudy=True, indices={"ndmi": None, "ratio": "B08 / B04"},
        statistics={"percentiles": [0.05, 0.5], "histogram": {"bins": 4, "low": -1, "high": 1}},
    )
    body = ok(client.post("/api/v1/timeseries", json=options), 201)
    first = body["observations"][0]
    assert set(first["indices"]) == {"ndmi", "ratio"} and "clear" in first["pixels"]
    assert set(first["percentiles"]) == {"ndvi", "ndmi", "ratio"} and len(first["histograms"]["ndvi"]["bins"]) == 4
    check(body, "TimeseriesResponse")
    aggregated = ok(client.post("/api/v1/timeseries", json=request_body(
        include_cloudy=True, aggregation={"interval": "P10D", "pick": "least_cloudy"})), 201)
    assert aggregated["observations"][0]["interval"]["observations"] == ["2023-06-01"]
    check(aggregated, "TimeseriesResponse")


def test_scenes_health_errors_and_fis_validate(ingested: Any) -> None:
    client = ingested.test_client()
    scenes = ok(client.get("/api/v1/scenes?limit=2"))
    assert scenes["numberReturned"] == 2 and "next" in scenes["links"]
    check(scenes, documented("/api/v1/scenes", "get", "200"))
    check(ok(client.get(f"/api/v1/scenes/{SCENE_CLEAR}")), documented("/api/v1/scenes/{scene_id}", "get", "200"))
    health = ok(client.get("/healthz"))
    assert health["status"] == "ok"
    check(health, documented("/healthz", "get", "200"))
    bad = client.get("/api/v1/scenes?limt=2")
    assert bad.status_code == 400
    check(bad.get_json(), documented("/api/v1/scenes", "get", "400"))
    missing = client.get("/api/v1/timeseries/nope")
    assert missing.status_code == 404
    check(missing.get_json(), documented("/api/v1/timeseries/{series_id}", "get", "404"))
    fis = {"LAYER": "NDVI", "CRS": "EPSG:32633", "TIME": "2023-06-01/2023-06-30",
           "GEOMETRY": box(*FIELD_BOUNDS_UTM).wkt, "RESOLUTION": "10m"}
    for extra in ({"BINS": 3, "TYPE": "EQUIDISTANT"}, {"BINS": 2}, {}):
        body = ok(client.get("/ogc/fis", query_string={**fis, **extra}))
        assert len(body["C0"]) == 3
        check(body, documented("/ogc/fis", "get", "200"))


def test_unhealthy_body_validates(tmp_path: Path) -> None:
    from fis.api.app import create_app
    from fis.config import Settings

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'fis.sqlite'}"))
    try:
        response = app.test_client().get("/healthz")  # not migrated
        assert response.status_code == 503
        check(response.get_json(), documented("/healthz", "get", "503"))
    finally:
        app.extensions["fis"].close()


def test_the_schemas_reject_what_the_service_does_not_send() -> None:
    example = response_example(SERVER)
    check(example, "TimeseriesResponse")  # the documented example is a valid response
    for key, value in (("surprise", 1), ("status", "DONE"), ("observations", [{"date": "2023-04-11"}])):
        with pytest.raises(AssertionError):
            check({**example, key: value}, "TimeseriesResponse")
    observation = example["observations"][0]
    for broken in ({**observation, "cloud_fraction": 1.5}, {k: v for k, v in observation.items() if k != "pixels"}):
        with pytest.raises(AssertionError):
            check({**example, "observations": [broken]}, "TimeseriesResponse")
    with pytest.raises(AssertionError):
        check({"C0": [{"date": "2023-06-01", "basicStats": {"min": 0, "max": 1, "mean": 0.5}}]}, "FisResponse")


@pytest.mark.parametrize(
    ("path", "method", "model"),
    [("/api/v1/timeseries/{series_id}", "get", "SeriesQuery"), ("/api/v1/timeseries", "get", "SeriesListQuery"),
     ("/api/v1/scenes", "get", "ScenesQuery"), ("/api/v1/timeseries/{series_id}/plot.png", "get", "PlotQuery")],
)
def test_query_parameters_are_the_query_models_fields(path: str, method: str, model: str) -> None:
    from fis.protocols.native import query

    params = SPEC["paths"][path][method]["parameters"]
    assert [p["name"] for p in params] == list(getattr(query, model).model_fields)
    assert all(p["in"] == "query" and p["description"] and "null" not in str(p["schema"]) for p in params)


def test_scenes_query_is_checked(ingested: Any) -> None:
    client = ingested.test_client()
    error = client.get("/api/v1/scenes?limt=2&bbox=14,45,16,47").get_json()["error"]
    assert error["field"] == "limt" and error["details"]["accepted"] == ["bbox", "datetime", "limit", "offset"]
    assert error["message"].startswith("unknown key(s) 'limt' ('limt' -> did you mean 'limit'?)")
    error = client.get("/api/v1/scenes?limit=ten").get_json()["error"]
    assert error == {"status": 400, "code": "invalid_input", "field": "limit",
                     "message": "query parameter limit='ten' is not an integer"}
    error = client.get("/api/v1/scenes?limit=10001").get_json()["error"]
    assert (error["field"], error["message"]) == ("limit", "limit: 10001 is out of range; use an integer from 1 to 10000")
    assert ok(client.get("/api/v1/scenes?limit=&offset=3"))["numberReturned"] == 1  # empty limit = 100; 4 scenes


def test_web_helpers_validate(ingested: Any) -> None:
    client = ingested.test_client()
    config = ok(client.get("/api/v1/config"))
    assert config == {"basemap": None}
    check(config, documented("/api/v1/config", "get", "200"))
    field = box(*FIELD_BOUNDS_UTM).wkt
    parsed = ok(client.post("/api/v1/geometry/parse", json={"geometry": field, "crs": "EPSG:32633"}))
    assert parsed["crs"] == "EPSG:32633" and parsed["geometry"]["type"] == "Polygon" and parsed["area_ha"] > 0
    check(parsed, documented("/api/v1/geometry/parse", "post", "200"))
    check({"geometry": field, "crs": 32633}, "FieldGeometryBody")
