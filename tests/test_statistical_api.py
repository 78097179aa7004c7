"""POST /api/v1/statistics (Sentinel Hub Statistical API) on the hand-checkable archive of ``fis_archive``.

The evalscripts run for real in the V8 sandbox; the numbers are compared with fis' own native API for the same
polygon and with hand-computed values (NDVI of the west and east tiles, the B08 no-data rows of 2023-06-01).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import Polygon, mapping

from fis.config import Settings
from fis_archive import (  # noqa: F401 - fixtures
    CRS,
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    FIELD_BOUNDS_UTM,
    FIELD_UTM,
    NDVI_EAST,
    NDVI_WEST,
    archive,
    ingest_into,
)

UTM_URL = "http://www.opengis.net/def/crs/EPSG/0/32633"
F32 = 1e-6  # float32 precision of the script outputs (FLOAT32 sampleType)

NDVI_CLM = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["B04", "B08", "CLM", "dataMask"]}],
    output: [{id: "ndvi", bands: 1}, {id: "clm", bands: 1}, {id: "dataMask", bands: 1}]
  };
}
function evaluatePixel(s) {
  return {ndvi: [index(s.B08, s.B04)], clm: [s.CLM], dataMask: [s.dataMask]};
}
"""


def script(evaluate: str, *, inputs: str = '"B04", "B08", "dataMask"', outputs: str = '{id: "out", bands: 1}',
           mosaicking: str = "SIMPLE") -> str:
    return (
        "//VERSION=3\nfunction setup() {\n  return {input: [{bands: [" + inputs + "]}], output: [" + outputs
        + ', {id: "dataMask", bands: 1}], mosaicking: "' + mosaicking + '"};\n}\n' + evaluate + "\n"
    )


def body(evalscript: str = NDVI_CLM, *, of: str = "P1D", start: str = "2023-06-01T00:00:00Z",
         end: str = "2023-07-01T00:00:00Z", geometry: dict[str, Any] | None = None, crs: str = UTM_URL,
         calculations: dict[str, Any] | None = None, data: dict[str, Any] | None = None, **aggregation: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input": {
            "bounds": {"geometry": geometry or FIELD_UTM, "properties": {"crs": crs}},
            "data": [data or {"type": "sentinel-2-l1c"}],
        },
        "aggregation": {
            "timeRange": {"from": start, "to": end}, "aggregationInterval": {"of": of},
            "evalscript": evalscript, "resx": 10, "resy": 10, **aggregation,
        },
    }
    if calculations is not None:
        out["calculations"] = calculations
    return out


def strict_json(response: Any) -> Any:
    """The body, refusing NaN/Infinity literals."""
    def refuse(token: str) -> Any:
        raise AssertionError(f"{token} in JSON")

    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


@pytest.fixture(scope="module")
def stats_app(tmp_path_factory: pytest.TempPathFactory, archive: Path) -> Iterator[Any]:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    tmp = tmp_path_factory.mktemp("statapi")
    settings = Settings(
        data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'fis.sqlite'}", evalscript_timeout_s=4,
        evalscript_processes=2, cors_origins="https://app.example.org", rate_limit="",
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    upgrade(app.extensions["fis"].db)
    ingest_into(app, archive)
    yield app
    app.extensions["fis"].close()


@pytest.fixture
def client(stats_app: Any) -> Any:
    return stats_app.test_client()


def post(client: Any, payload: dict[str, Any]) -> Any:
    return client.post("/api/v1/statistics", json=payload)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return strict_json(response)


def native(client: Any, geometry: dict[str, Any] = FIELD_UTM, **extra: Any) -> dict[str, dict[str, Any]]:
    response = client.post("/api/v1/timeseries", json={
        "geometry": geometry, "crs": CRS, "time_range": {"from": "2023-06-01", "to": "2023-06-30"}, **extra,
    })
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return {o["date"]: o for o in response.get_json()["observations"]}


def by_day(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["interval"]["from"][:10]: entry for entry in answer["data"]}


def stats(entry: dict[str, Any], output: str, band: str = "B0") -> dict[str, Any]:
    result: dict[str, Any] = entry["outputs"][output]["bands"][band]["stats"]
    return result


# ============================================================================ numbers vs the native API


def test_ndvi_and_clm_means_equal_the_native_ndvi_mean_and_cloud_fraction(client: Any) -> None:
    answer = ok(post(client, body()))
    assert answer["status"] == "OK"
    days = by_day(answer)
    assert list(days) == [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY]  # only intervals with acquisitions
    assert days[DATE_CLEAR]["interval"] == {"from": "2023-06-01T00:00:00Z", "to": "2023-06-02T00:00:00Z"}
    reference = native(client)
    for day, entry in days.items():
        assert set(entry) == {"interval", "outputs"}
        assert set(entry["outputs"]) == {"ndvi", "clm"}  # dataMask is not reported
        ndvi, clm = stats(entry, "ndvi"), stats(entry, "clm")
        assert ndvi["mean"] == pytest.approx(reference[day]["ndvi"]["mean"], rel=F32, abs=F32)
        assert ndvi["min"] == pytest.approx(reference[day]["ndvi"]["min"], abs=F32)
        assert ndvi["max"] == pytest.approx(reference[day]["ndvi"]["max"], abs=F32)
        assert ndvi["stDev"] == pytest.approx(reference[day]["ndvi"]["std"], abs=F32)
        assert clm["mean"] == pytest.approx(reference[day]["cloud_fraction"], abs=F32)
        # the bounding raster is the 20 x 20 field; no-data pixels of the date count as no data
        pixels = reference[day]["pixels"]
        assert ndvi["sampleCount"] == clm["sampleCount"] == 400
        assert ndvi["noDataCount"] == clm["noDataCount"] == pixels["nodata"]
    # hand-computed
    assert stats(days[DATE_CLEAR], "ndvi")["noDataCount"] == 40
    assert stats(days[DATE_MOSAIC], "ndvi")["mean"] == pytest.approx((NDVI_WEST + NDVI_EAST) / 2, abs=F32)
    assert stats(days[DATE_CLOUDY], "clm")["mean"] == 1.0


def test_sample_count_is_the_bounding_raster_and_outside_pixels_are_no_data(client: Any) -> None:
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    triangle = mapping(Polygon([(x0, y0), (x1, y0), (x0, y1), (x0, y0)]))
    answer = ok(post(client, body(geometry=triangle)))
    reference = native(client, geometry=triangle)
    for day, entry in by_day(answer).items():
        pixels = reference[day]["pixels"]
        assert 150 < pixels["total"] < 250  # about half of the 400 pixels have their centre inside
        ndvi = stats(entry, "ndvi")
        assert ndvi["sampleCount"] == 400
        assert ndvi["noDataCount"] == 400 - pixels["total"] + pixels["nodata"]
        assert ndvi["mean"] == pytest.approx(reference[day]["ndvi"]["mean"], abs=F32)


def test_percentiles_and_histograms_equal_the_native_options(client: Any) -> None:
    calculations = {"ndvi": {
        "statistics": {"default": {"percentiles": {"k": [5, 50, 95], "interpolation": "linear"}}},
        "histograms": {"B0": {"nBins": 4, "lowEdge": 0.6, "highEdge": 0.8}},
    }}
    answer = ok(post(client, body(calculations=calculations)))
    reference = native(client, statistics={"percentiles": [0.05, 0.5, 0.95],
                                           "histogram": {"bins": 4, "low": 0.6, "high": 0.8}})
    for day, entry in by_day(answer).items():
        band = entry["outputs"]["ndvi"]["bands"]["B0"]
        assert list(band["stats"]["percentiles"]) == ["5.0", "50.0", "95.0"]
        for k, p in (("5.0", "p5"), ("50.0", "p50"), ("95.0", "p95")):
            assert band["stats"]["percentiles"][k] == pytest.approx(reference[day]["percentiles"]["ndvi"][p], abs=F32)
        hist = reference[day]["histograms"]["ndvi"]
        assert [b["count"] for b in band["histogram"]["bins"]] == [b["count"] for b in hist["bins"]]
        assert [(b["lowEdge"], b["highEdge"]) for b in band["histogram"]["bins"]] == [
            (b["low"], b["high"]) for b in hist["bins"]]
        assert (band["histogram"]["underflow"], band["histogram"]["overflow"]) == (hist["underflow"], hist["overflow"])
        assert "histogram" not in entry["outputs"]["clm"]["bands"]["B0"]  # only asked for the ndvi output
    mosaic = by_day(answer)[DATE_MOSAIC]["outputs"]["ndvi"]["bands"]["B0"]["histogram"]
    assert [b["count"] for b in mosaic["bins"]] == [0, 200, 0, 200]  # east 0.667 in 0.65..0.7, west 0.765


def test_higher_interpolation_is_the_default_and_bins_can_be_given(client: Any) -> None:
    calculations = {"default": {"statistics": {"default": {"percentiles": {"k": [25, 75]}}},
                                "histograms": {"default": {"bins": [0.0, 0.7, 1.0]}}}}
    entry = by_day(ok(post(client, body(calculations=calculations))))[DATE_MOSAIC]
    band = entry["outputs"]["ndvi"]["bands"]["B0"]
    assert band["stats"]["percentiles"]["25.0"] == pytest.approx(NDVI_EAST, abs=F32)
    assert band["stats"]["percentiles"]["75.0"] == pytest.approx(NDVI_WEST, abs=F32)
    assert band["histogram"]["bins"] == [{"lowEdge": 0.0, "highEdge": 0.7, "count": 200},
                                         {"lowEdge": 0.7, "highEdge": 1.0, "count": 200}]


# ============================================================================ intervals and mosaicking


@pytest.mark.parametrize(("behaviour", "last_to"), [(None, None), ("SKIP", None), ("SHORTEN", "2023-06-30T00:00:00Z"),
                                                    ("EXTEND", "2023-07-01T00:00:00Z")])
def test_p10d_intervals_and_the_last_interval_behaviour(client: Any, behaviour: str | None, last_to: str | None) -> None:
    payload = body(of="P10D", end="2023-06-30T00:00:00Z")
    if behaviour:
        payload["aggregation"]["aggregationInterval"]["lastIntervalBehavior"] = behaviour
    answer = ok(post(client, payload))
    intervals = [e["interval"] for e in answer["data"]]
    expected = [{"from": "2023-06-01T00:00:00Z", "to": "2023-06-11T00:00:00Z"},
                {"from": "2023-06-11T00:00:00Z", "to": "2023-06-21T00:00:00Z"}]
    if last_to:
        expected.append({"from": "2023-06-21T00:00:00Z", "to": last_to})
    assert intervals == expected


def test_p5d_intervals_hold_the_dates_they_contain(client: Any) -> None:
    answer = ok(post(client, body(of="P5D")))
    assert [e["interval"]["from"][:10] for e in answer["data"]] == ["2023-06-01", "2023-06-11", "2023-06-21"]
    assert answer["data"][1]["interval"]["to"] == "2023-06-16T00:00:00Z"


@pytest.mark.parametrize(("order", "expected"), [
    ("mostRecent", (NDVI_WEST + NDVI_EAST) / 2),  # 2023-06-11 has data everywhere
    # 2023-06-01 wins where it has data; its 40 no-data pixels (2 rows, half west, half east) come from 2023-06-11
    ("leastRecent", (380 * NDVI_WEST + 20 * NDVI_EAST) / 400),
])
def test_simple_mosaicking_order_within_an_interval(client: Any, order: str, expected: float) -> None:
    data = {"type": "sentinel-2-l1c", "dataFilter": {"mosaickingOrder": order}}
    answer = ok(post(client, body(of="P20D", end="2023-06-21T00:00:00Z", data=data)))
    (entry,) = answer["data"]
    ndvi = stats(entry, "ndvi")
    assert ndvi["mean"] == pytest.approx(expected, abs=F32)
    assert ndvi["noDataCount"] == 0


def test_orbit_mosaicking_gives_every_acquisition(client: Any) -> None:
    evalscript = script(
        "function evaluatePixel(samples, scenes) {\n"
        "  var n = 0; for (var i = 0; i < samples.length; i++) { n += samples[i].dataMask; }\n"
        "  return {out: [n], dataMask: [1]};\n}",
        mosaicking="ORBIT",
    )
    (entry,) = ok(post(client, body(evalscript, of="P20D", end="2023-06-21T00:00:00Z")))["data"]
    assert stats(entry, "out")["mean"] == pytest.approx((360 * 2 + 40 * 1) / 400)


def test_max_cloud_coverage_and_least_cc_use_the_scenes_cloud_cover(tmp_path: Path, archive: Path) -> None:
    from fis.api.app import create_app
    from fis.services.ingest import ingest
    from fis.store.db import upgrade
    from fis_archive import SCENE_CLEAR, SCENE_CLOUDY, SCENE_EAST, SCENE_WEST, copy_archive

    root = copy_archive(archive, tmp_path / "archive")
    covers = {SCENE_CLEAR: 30.0, SCENE_WEST: 10.0, SCENE_EAST: 20.0, SCENE_CLOUDY: 95.0}
    for item_path in root.glob("*/*.json"):
        item = json.loads(item_path.read_text())
        item["properties"]["eo:cloud_cover"] = covers[item["id"]]
        item_path.write_text(json.dumps(item))
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'f.sqlite'}",
                              evalscript_processes=1))
    try:
        upgrade(app.extensions["fis"].db)
        assert ingest([str(root)], app.extensions["fis"].sessions).failed == []
        client = app.test_client()
        # maxCloudCoverage 25: 2023-06-01 (30) and 2023-06-21 (95) are not read; 2023-06-11 keeps both tiles
        filtered = {"type": "sentinel-2-l1c", "dataFilter": {"maxCloudCoverage": 25}}
        days = by_day(ok(post(client, body(data=filtered))))
        assert list(days) == [DATE_MOSAIC]
        # maxCloudCoverage 15: the east tile (20) of 2023-06-11 is not read either: its pixels are no data
        filtered["dataFilter"]["maxCloudCoverage"] = 15
        ndvi = stats(by_day(ok(post(client, body(data=filtered))))[DATE_MOSAIC], "ndvi")
        assert ndvi["mean"] == pytest.approx(NDVI_WEST, abs=F32) and ndvi["noDataCount"] == 200
        # one 30-day interval: mostRecent takes the cloudy 2023-06-21 (NDVI 0), leastCC the 2023-06-11 mosaic
        for order, expected in (("mostRecent", 0.0), ("leastCC", (NDVI_WEST + NDVI_EAST) / 2)):
            data = {"type": "sentinel-2-l1c", "dataFilter": {"mosaickingOrder": order}}
            (entry,) = ok(post(client, body(of="P30D", data=data)))["data"]
            assert stats(entry, "ndvi")["mean"] == pytest.approx(expected, abs=F32), order
    finally:
        app.extensions["fis"].close()


def test_dn_units_are_reflectance_times_10000(client: Any) -> None:
    evalscript = (
        '//VERSION=3\nfunction setup() { return {input: [{bands: ["B04", "dataMask"], units: "DN"}], '
        'output: [{id: "red", bands: 1, sampleType: "UINT16"}, {id: "dataMask", bands: 1}]}; }\n'
        "function evaluatePixel(s) { return {red: [s.B04], dataMask: [s.dataMask]}; }\n"
    )
    days = by_day(ok(post(client, body(evalscript))))
    assert stats(days[DATE_CLEAR], "red")["mean"] == 400.0
    assert stats(days[DATE_MOSAIC], "red")["mean"] == 500.0  # 0.04 west, 0.06 east


def test_named_output_bands_and_nan_outputs_are_no_data(client: Any) -> None:
    evalscript = script("function evaluatePixel(s) { return {out: [s.B04, NaN], dataMask: [s.dataMask]}; }",
                        outputs='{id: "out", bands: ["red", "nothing"]}')
    entry = by_day(ok(post(client, body(evalscript))))[DATE_CLEAR]
    bands = entry["outputs"]["out"]["bands"]
    assert list(bands) == ["red", "nothing"]
    assert bands["nothing"]["stats"] == {"min": "NaN", "max": "NaN", "mean": "NaN", "stDev": "NaN",
                                         "sampleCount": 400, "noDataCount": 400}


# ================================================================================== errors


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    error: dict[str, Any] = strict_json(response)["error"]
    assert set(error) >= {"status", "reason", "message", "code"}
    assert error["status"] == status
    return error


def test_bad_crs_is_a_bad_payload(client: Any) -> None:
    error = error_of(post(client, body(crs="http://www.opengis.net/def/crs/EPSG/0/999999")), 400)
    assert error["code"] == "COMMON_BAD_PAYLOAD"
    assert "input.bounds.properties.crs" in error["message"]


def test_unknown_collection_is_a_bad_payload(client: Any) -> None:
    error = error_of(post(client, body(data={"type": "sentinel-1-grd"})), 400)
    assert error["code"] == "COMMON_BAD_PAYLOAD"
    assert "sentinel-1-grd" in error["message"] and "sentinel-2-l1c" in error["message"]


def test_unknown_key_and_missing_resolution_are_named(client: Any) -> None:
    payload = body()
    payload["aggregation"]["evalScript"] = payload["aggregation"].pop("evalscript")
    assert "evalScript" in error_of(post(client, payload), 400)["message"]
    payload = body()
    del payload["aggregation"]["resx"], payload["aggregation"]["resy"]
    assert "resx" in error_of(post(client, payload), 400)["message"]


def test_tile_mosaicking_is_refused(client: Any) -> None:
    evalscript = script("function evaluatePixel(s) { return {out: [1], dataMask: [1]}; }", mosaicking="TILE")
    error = error_of(post(client, body(evalscript)), 400)
    assert "TILE" in error["message"] and "ORBIT" in error["message"]


def test_syntax_error_is_a_400_naming_the_line(client: Any) -> None:
    evalscript = NDVI_CLM.replace("return {ndvi:", "return {ndvi: (")
    error = error_of(post(client, body(evalscript)), 400)
    assert error["code"] == "RENDERER_EXCEPTION"
    assert "line 9" in error["message"], error["message"]  # the return statement of evaluatePixel


def test_a_thrown_exception_fails_only_its_intervals_as_bad_request(client: Any) -> None:
    evalscript = script(
        'function evaluatePixel(s) { if (s.B04 > 0.35) { throw new Error("too bright"); }'
        " return {out: [s.B04], dataMask: [s.dataMask]}; }"
    )
    answer = ok(post(client, body(evalscript)))
    assert answer["status"] == "PARTIAL"
    days = by_day(answer)
    assert days[DATE_CLOUDY]["error"]["type"] == "BAD_REQUEST"
    assert "too bright" in days[DATE_CLOUDY]["error"]["message"]
    assert "outputs" not in days[DATE_CLOUDY]
    assert stats(days[DATE_CLEAR], "out")["mean"] == pytest.approx(0.04, abs=F32)


def test_an_endless_loop_ends_within_the_limit_while_other_requests_are_served(client: Any, stats_app: Any) -> None:
    loop = script("function evaluatePixel(s) { while (true) {} }")
    result: dict[str, Any] = {}

    def run_loop() -> None:
        started = time.monotonic()
        result["response"] = stats_app.test_client().post("/api/v1/statistics", json=body(loop))
        result["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=run_loop)
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    served = ok(post(client, body()))  # served meanwhile by the other evalscript worker
    assert served["status"] == "OK" and time.monotonic() - started < 4
    worker.join(timeout=60)
    assert not worker.is_alive()
    answer = ok(result["response"])
    assert result["seconds"] < 4 + 10  # the request's 4 s script budget, plus reading
    assert answer["status"] == "FAILED"
    assert {e["error"]["type"] for e in answer["data"]} == {"TIMEOUT"}
    assert ok(post(client, body()))["status"] == "OK"  # the pool replaced its worker


@pytest.mark.parametrize("allocation", ["new Float64Array(1e6)", "new Array(1e6).fill(1.5)"])
def test_a_memory_bomb_ends_with_an_interval_error_and_the_service_keeps_serving(client: Any, allocation: str) -> None:
    bomb = script("function evaluatePixel(s) { var a = []; while (true) { a.push(" + allocation + "); } }")
    started = time.monotonic()
    answer = ok(post(client, body(bomb, end="2023-06-02T00:00:00Z")))
    assert time.monotonic() - started < 4 + 10
    assert answer["status"] == "FAILED"
    # ArrayBuffers hit the worker's data limit inside JS (a RangeError the script could catch: BAD_REQUEST);
    # the V8 heap limit kills the worker (EXECUTION_ERROR), or the time runs out first (TIMEOUT)
    assert answer["data"][0]["error"]["type"] in ("BAD_REQUEST", "EXECUTION_ERROR", "TIMEOUT"), answer["data"][0]
    assert ok(post(client, body()))["status"] == "OK"


# ================================================================================= CORS, 429


def test_cors_preflight_and_headers_only_for_allowed_origins_and_sh_routes(client: Any) -> None:
    headers = {"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization, content-type"}
    for path in ("/api/v1/statistics", "/oauth/token"):
        response = client.options(path, headers=headers)
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in client.options(
        "/api/v1/statistics", headers={**headers, "Origin": "https://evil.example"}).headers
    assert "Access-Control-Allow-Origin" not in client.options("/api/v1/timeseries", headers=headers).headers
    answer = client.post("/api/v1/statistics", json=body(), headers={"Origin": "https://app.example.org"})
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    # the JSON-only guard still holds: a cross-site form post is refused
    form = client.post("/api/v1/timeseries", data={"a": "b"}, headers={"Origin": "https://app.example.org"})
    assert form.status_code == 415


def test_rate_limit_answers_retry_after_in_milliseconds(tmp_path: Path) -> None:
    from fis.api.app import create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'f.sqlite'}",
                              rate_limit="1/minute"))
    try:
        client = app.test_client()
        client.post("/api/v1/statistics", json={})
        response = client.post("/api/v1/statistics", json={})
        error = error_of(response, 429)
        assert error["code"] == "RATE_LIMIT_EXCEEDED"
        assert 1000 <= int(response.headers["Retry-After"]) <= 61_000
    finally:
        app.extensions["fis"].close()


def test_responses_and_errors_validate_against_the_published_schemas(client: Any) -> None:
    from test_openapi_responses import check

    calculations = {"default": {"statistics": {"default": {"percentiles": {"k": [50]}}},
                                "histograms": {"default": {"nBins": 3}}}}
    check(ok(post(client, body(calculations=calculations))), "StatisticalResponse")
    thrown = script('function evaluatePixel(s) { throw new Error("no"); }')
    check(ok(post(client, body(thrown))), "StatisticalResponse")
    nan = script("function evaluatePixel(s) { return {out: [NaN], dataMask: [1]}; }")
    check(ok(post(client, body(nan))), "StatisticalResponse")
    check(strict_json(post(client, body(crs="EPSG:0"))), "StatisticalError")
    check(strict_json(post(client, body(NDVI_CLM.replace("{ndvi:", "{ndvi: (")))), "StatisticalError")


def test_with_auth_required_preflights_pass_and_a_missing_token_is_sh_shaped(tmp_path: Path) -> None:
    from fis.api.app import create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'f.sqlite'}", auth="required",
                              cors_origins="*"))
    try:
        client = app.test_client()
        preflight = client.options("/api/v1/statistics", headers={
            "Origin": "https://notebook.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == "*"
        response = client.post("/api/v1/statistics", json=body(), headers={"Origin": "https://notebook.example"})
        error = error_of(response, 401)
        assert error["code"] == "COMMON_UNAUTHORIZED" and "/oauth/token" in error["message"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Access-Control-Allow-Origin"] == "*"  # the browser may read the error
        # other routes keep fis' own error shape and no CORS
        other = client.post("/api/v1/timeseries", json={}, headers={"Origin": "https://notebook.example"})
        assert other.status_code == 401 and other.get_json()["error"]["code"] == "unauthorized"
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        app.extensions["fis"].close()


def test_a_bbox_alone_in_utm_and_in_crs84_as_sentinelhub_py_sends_it(client: Any) -> None:
    import math

    from shapely.geometry import box, shape

    from fis_archive import field_lonlat

    payload = body()
    payload["input"]["bounds"] = {"bbox": list(FIELD_BOUNDS_UTM), "properties": {"crs": UTM_URL}}
    days = by_day(ok(post(client, payload)))
    assert stats(days[DATE_MOSAIC], "ndvi")["sampleCount"] == 400
    assert stats(days[DATE_MOSAIC], "ndvi")["mean"] == pytest.approx((NDVI_WEST + NDVI_EAST) / 2, abs=F32)
    # lon/lat bbox (CRS84 and EPSG:4326 are both read lon/lat); resx/resy in degrees -> a 10 m square pixel
    lonlat = shape(field_lonlat()).bounds
    lat = (lonlat[1] + lonlat[3]) / 2
    degrees = 10.0 / (111_320.0 * math.sqrt(math.cos(math.radians(lat))))
    reference = native_lonlat = None
    for crs in ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/EPSG/0/4326"):
        payload = body(resx=degrees, resy=degrees)
        payload["input"]["bounds"] = {"bbox": list(lonlat), "properties": {"crs": crs}}
        answer = by_day(ok(post(client, payload)))
        if native_lonlat is None:
            response = client.post("/api/v1/timeseries", json={
                "geometry": mapping(box(*lonlat)), "time_range": {"from": "2023-06-01", "to": "2023-06-30"}})
            native_lonlat = {o["date"]: o for o in response.get_json()["observations"]}
        for day, entry in answer.items():
            ndvi = stats(entry, "ndvi")
            assert ndvi["mean"] == pytest.approx(native_lonlat[day]["ndvi"]["mean"], abs=F32)
            assert ndvi["sampleCount"] - ndvi["noDataCount"] == native_lonlat[day]["pixels"]["valid"]
        assert reference is None or answer == reference
        reference = answer


def test_l2a_scl_as_an_input_and_clm_from_the_scene_classification(tmp_path: Path) -> None:
    from fis.api.app import create_app
    from fis.services.ingest import ingest
    from fis.store.db import upgrade
    from test_cloud_sources import TIME_RANGE, whole_scene, write_l2a_scene

    write_l2a_scene(tmp_path / "archive", "S2A_MSIL2A_20230605_T33TWN")
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'f.sqlite'}",
                              evalscript_processes=1))
    try:
        upgrade(app.extensions["fis"].db)
        assert ingest([str(tmp_path / "archive")], app.extensions["fis"].sessions).failed == []
        client = app.test_client()
        evalscript = script("function evaluatePixel(s) { return {scl: [s.SCL], clm: [s.CLM], dataMask: [s.dataMask]}; }",
                            inputs='"SCL", "CLM", "dataMask"', outputs='{id: "scl", bands: 1}, {id: "clm", bands: 1}')
        l2a = body(evalscript, geometry=whole_scene(), data={"type": "sentinel-2-l2a"})
        (entry,) = ok(post(client, l2a))["data"]
        # SCL classes of the 9 rows with data (10 SCL pixels of 20 m each, 4 pixels of 10 m per SCL pixel):
        # 10 x 8 | 5 x 9 + 5 x 4 | 3 x 10 + 7 x 4 | 4 x 3 + 6 x 4 | 2 x 7 + 8 x 4 | 4 rows x 10 x 4 = 445 over 90
        assert stats(entry, "scl")["mean"] == pytest.approx(445 / 90, abs=F32)
        assert stats(entry, "scl")["noDataCount"] == 40
        native = client.post("/api/v1/timeseries", json={"geometry": whole_scene(), "crs": CRS, "time_range": TIME_RANGE})
        (obs,) = native.get_json()["observations"]
        assert stats(entry, "clm")["mean"] == pytest.approx(obs["cloud_fraction"], abs=F32) == pytest.approx(0.2)
        # the L1C collection has no scenes here (no intervals); SCL there is refused
        assert ok(post(client, body(geometry=whole_scene())))["data"] == []
        error = error_of(post(client, body(evalscript, geometry=whole_scene())), 400)
        assert "SCL" in error["message"] and "sentinel-2-l2a" in error["message"]
    finally:
        app.extensions["fis"].close()


def test_script_globals_do_not_pass_between_requests(client: Any) -> None:
    counter = script("var calls = 0;\nfunction evaluatePixel(s) { calls += 1; return {out: [calls], dataMask: [1]}; }")
    one_day = body(counter, end="2023-06-02T00:00:00Z")
    first = ok(post(client, one_day))
    second = ok(post(client, one_day))
    assert stats(first["data"][0], "out")["mean"] == stats(second["data"][0], "out")["mean"] == (1 + 400) / 2


def test_width_and_height_and_a_bin_width_over_the_data_range(client: Any) -> None:
    calculations = {"ndvi": {"histograms": {"B0": {"binWidth": 0.05}}}}
    payload = body(calculations=calculations, width=20, height=20)  # 200 m / 20 = 10 m
    del payload["aggregation"]["resx"], payload["aggregation"]["resy"]
    days = by_day(ok(post(client, payload)))
    assert stats(days[DATE_MOSAIC], "ndvi")["sampleCount"] == 400
    mosaic = days[DATE_MOSAIC]["outputs"]["ndvi"]["bands"]["B0"]["histogram"]["bins"]
    assert [b["count"] for b in mosaic] == [200, 200]  # min .. min + 0.05 | .. max
    assert mosaic[0]["lowEdge"] == pytest.approx(NDVI_EAST, abs=F32) and mosaic[-1]["highEdge"] == pytest.approx(NDVI_WEST, abs=F32)
    single = days[DATE_CLEAR]["outputs"]["ndvi"]["bands"]["B0"]["histogram"]["bins"]
    assert [b["count"] for b in single] == [360]
    assert single[0]["highEdge"] - single[0]["lowEdge"] == pytest.approx(0.05)


@pytest.mark.parametrize("values", [[-1.7e308, 1.7e308], [], [1.0], [float("nan"), float("inf"), 2.0]])
def test_band_statistics_are_always_valid_json(values: list[float]) -> None:
    import numpy as np

    from fis.core.stats import HistogramSpec
    from fis.protocols.sentinelhub_stats.calculations import band_result
    from fis.protocols.sentinelhub_stats.query import BandCalculation, Percentiles

    calculation = BandCalculation(percentiles=Percentiles((5.0, 50.0), "linear"), histogram=HistogramSpec(bins=3))
    result = band_result(np.asarray(values, dtype=np.float64), 10, calculation)
    json.dumps(result, allow_nan=False)
    finite = [v for v in values if np.isfinite(v)]
    assert result["stats"]["noDataCount"] == 10 - len(finite)
    if finite == [2.0]:
        assert result["stats"]["mean"] == 2.0 and result["histogram"]["bins"][1]["count"] == 1


def test_clp_equals_the_fis_endpoints_clp_layer(client: Any) -> None:
    evalscript = script("function evaluatePixel(s) { return {clp: [s.CLP], dataMask: [s.dataMask]}; }",
                        inputs='"CLP", "dataMask"', outputs='{id: "clp", bands: 1}')
    days = by_day(ok(post(client, body(evalscript))))
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    wkt = f"POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"
    fis = client.get("/ogc/fis", query_string={"LAYER": "CLP", "CRS": "EPSG:32633", "TIME": "2023-06-01/2023-06-30",
                                               "GEOMETRY": wkt, "RESOLUTION": "10m"}).get_json()
    reference = {entry["date"]: entry["basicStats"] for entry in fis["C0"]}
    assert set(reference) == set(days)
    for day, entry in days.items():
        clp = stats(entry, "clp")
        assert clp["mean"] == pytest.approx(reference[day]["mean"], abs=1e-4)
        assert clp["min"] == reference[day]["min"] and clp["max"] == reference[day]["max"]
    assert stats(days[DATE_CLOUDY], "clp")["min"] > 0.4 * 255  # the cloudy date is cloudy by s2cloudless


def test_clm_from_precomputed_layers_and_the_cloud_mask_settings(tmp_path: Path, archive: Path) -> None:
    from fis.api.app import create_app
    from fis.engine.cloudlayers import CloudLayerSettings
    from fis.store.db import upgrade

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'f.sqlite'}",
                              evalscript_processes=1))
    try:
        upgrade(app.extensions["fis"].db)
        ingest_into(app, archive)
        svc = app.extensions["fis"]
        svc.compute_cloud_layers(CloudLayerSettings(model="s2cloudless-v0.1"))
        client = app.test_client()
        reference = native(client)
        assert {o["cloud_source"] for o in reference.values()} == {"precomputed"}
        days = by_day(ok(post(client, body())))
        for day, entry in days.items():
            assert stats(entry, "clm")["mean"] == pytest.approx(reference[day]["cloud_fraction"], abs=F32)
        # fis' extension: another mask recipe (no layer matches it: computed on the fly), as the native keys say
        payload = body(data={"type": "sentinel-2-l1c", "processing": {"cloudMask": {"threshold": 0.95}}})
        strict = native(client, cloud_threshold=0.95)
        assert {o["cloud_source"] for o in strict.values()} == {"s2cloudless"}
        for day, entry in by_day(ok(post(client, payload))).items():
            assert stats(entry, "clm")["mean"] == pytest.approx(strict[day]["cloud_fraction"], abs=F32)
    finally:
        app.extensions["fis"].close()
