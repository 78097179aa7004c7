"""The statistics options through the HTTP API on the hand-checkable archive (SQLite and PostGIS):
clear-pixel statistics, indices, percentiles, histograms, temporal aggregation, the GeoJSON and
long CSV formats, storage (GET shows what POST returned) and bad input.

Values by hand (tests/fis_archive.py): the field has 400 pixels. 2023-06-01 is clear vegetation
with 40 no-data pixels (B08 rows); 2023-06-11 is 200 west pixels (B04 0.04) + 200 east pixels
(B04 0.06); 2023-06-21 is a flat 0.4 cloud, every pixel cloudy. Vegetation has B03 0.07, B08 0.3,
B11 0.15, so NDWI = -0.23 / 0.37 and (B08 - B11) / (B08 + B11) = 1/3 everywhere.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from fis_archive import (  # noqa: F401 - fixtures
    CSV_HEADER,
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    DATES,
    NDVI_EAST,
    NDVI_WEST,
    OBSERVATION_KEYS,
    SCENE_EAST,
    SCENE_WEST,
    TOL,
    archive,
    ingested,
    request_body,
)

NDWI = (0.07 - 0.3) / (0.07 + 0.3)
RATIO = (0.3 - 0.15) / (0.3 + 0.15)
OPTIONS: dict[str, Any] = {
    "include_cloudy": True,
    "mask_clouds": True,
    "indices": {"ndwi": None, "my_ratio": "(B08 - B11) / (B08 + B11)"},
    "statistics": {"percentiles": [0.05, 0.5, 0.95], "histogram": {"edges": [-1, 0, 0.7, 1]}},
}
STATS = ("mean", "min", "max", "std", "median", "p10", "p25", "p75", "p90")
OPTION_COLUMNS = (
    ["clear_pixels"]
    + [f"{name}_{stat}" for name in ("ndwi", "my_ratio") for stat in STATS]
    + [f"{name}_{p}" for name in ("ndvi", "ndwi", "my_ratio") for p in ("p5", "p50", "p95")]
    + [f"{name}_hist_{part}" for name in ("ndvi", "ndwi", "my_ratio")
       for part in ("underflow", "overflow", *(f"{i}_{k}" for i in range(3) for k in ("low", "high", "count")))]
)


def post(client: Any, body: dict[str, Any], query: str = "") -> Any:
    return client.post(f"/api/v1/timeseries{query}", json=body)


def by_date(observations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["date"]: o for o in observations}


def counts(histogram: dict[str, Any] | None) -> list[int] | None:
    return None if histogram is None else [b["count"] for b in histogram["bins"]]


def test_statistics_options_hand_checked_stored_and_exported(ingested: Any) -> None:
    client = ingested.test_client()
    response = post(client, request_body(**OPTIONS))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["parameters"]["mask_clouds"] is True
    assert body["parameters"]["indices"] == {"ndwi": "(B03 - B08) / (B03 + B08)", "my_ratio": "(B08 - B11) / (B08 + B11)"}
    obs = by_date(body["observations"])
    assert set(obs[DATE_CLEAR]) == OBSERVATION_KEYS | {"indices", "percentiles", "histograms"}

    clear = obs[DATE_CLEAR]
    assert clear["pixels"] == {"total": 400, "valid": 360, "cloudy": 0, "nodata": 40, "clear": 360}
    assert clear["ndvi"]["mean"] == pytest.approx(NDVI_WEST, abs=TOL)
    assert list(clear["indices"]) == ["ndwi", "my_ratio"]
    assert set(clear["indices"]["ndwi"]) == set(STATS)
    assert clear["indices"]["ndwi"]["mean"] == pytest.approx(NDWI, abs=TOL)
    assert clear["indices"]["my_ratio"]["median"] == pytest.approx(RATIO, abs=TOL)
    assert clear["percentiles"]["ndvi"] == pytest.approx({"p5": NDVI_WEST, "p50": NDVI_WEST, "p95": NDVI_WEST}, abs=TOL)
    assert counts(clear["histograms"]["ndvi"]) == [0, 0, 360]  # 0.765 in [0.7, 1]
    assert counts(clear["histograms"]["ndwi"]) == [360, 0, 0]  # -0.62 in [-1, 0)
    assert counts(clear["histograms"]["my_ratio"]) == [0, 360, 0]  # 0.33 in [0, 0.7)
    assert [(b["low"], b["high"]) for b in clear["histograms"]["ndvi"]["bins"]] == [(-1, 0), (0, 0.7), (0.7, 1)]

    mosaic = obs[DATE_MOSAIC]
    assert mosaic["pixels"]["clear"] == 400
    # 200 east (0.667) then 200 west (0.765): p5 and p95 fall on the tiles, p50 halfway between
    assert mosaic["percentiles"]["ndvi"] == pytest.approx(
        {"p5": NDVI_EAST, "p50": (NDVI_EAST + NDVI_WEST) / 2, "p95": NDVI_WEST}, abs=TOL)
    assert counts(mosaic["histograms"]["ndvi"]) == [0, 200, 200]
    assert mosaic["histograms"]["ndvi"]["underflow"] == mosaic["histograms"]["ndvi"]["overflow"] == 0

    # every pixel of the cloudy date is cloudy: no clear pixel, null statistics, the counts remain
    cloudy = obs[DATE_CLOUDY]
    assert cloudy["pixels"] == {"total": 400, "valid": 400, "cloudy": 400, "nodata": 0, "clear": 0}
    assert cloudy["cloud_fraction"] == 1.0
    assert all(v is None for v in cloudy["ndvi"].values()) and all(v is None for v in cloudy["bands"].values())
    assert all(v is None for v in cloudy["indices"]["ndwi"].values())
    assert cloudy["percentiles"]["ndvi"] == {"p5": None, "p50": None, "p95": None}
    assert cloudy["histograms"] == {"ndvi": None, "ndwi": None, "my_ratio": None}

    # stored: GET shows exactly what POST returned
    url = f"/api/v1/timeseries/{body['id']}"
    assert client.get(url).get_json()["observations"] == body["observations"]

    # wide CSV: the default columns, then the options' columns
    text = client.get(url + "?format=csv").get_data(as_text=True)
    header = text.splitlines()[0]
    assert header == CSV_HEADER + "," + ",".join(OPTION_COLUMNS)
    rows = {r["date"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[DATE_CLEAR]["clear_pixels"] == "360"
    assert float(rows[DATE_CLEAR]["ndwi_mean"]) == pytest.approx(NDWI, abs=TOL)
    assert float(rows[DATE_MOSAIC]["ndvi_p50"]) == pytest.approx((NDVI_EAST + NDVI_WEST) / 2, abs=TOL)
    assert (rows[DATE_MOSAIC]["ndvi_hist_1_low"], rows[DATE_MOSAIC]["ndvi_hist_1_high"]) == ("0.0", "0.7")
    assert rows[DATE_MOSAIC]["ndvi_hist_1_count"] == "200"
    assert rows[DATE_CLOUDY]["ndvi_hist_1_count"] == "" and rows[DATE_CLOUDY]["clear_pixels"] == "0"

    # long CSV: one line per date and column (date, datetime and cloudy are on every line)
    long_text = client.get(url + "?format=long_csv").get_data(as_text=True)
    lines = list(csv.reader(io.StringIO(long_text)))
    assert lines[0] == ["date", "datetime", "cloudy", "variable", "statistic", "value"]
    measured = len(header.split(",")) - 3
    assert len(lines) == 1 + 3 * measured
    table = {(d, v, s): value for d, _, _, v, s, value in lines[1:]}
    assert float(table[(DATE_MOSAIC, "ndvi", "p50")]) == pytest.approx((NDVI_EAST + NDVI_WEST) / 2, abs=TOL)
    assert table[(DATE_CLEAR, "pixels", "clear")] == "360"
    assert table[(DATE_CLEAR, "pixels", "total")] == "400"
    assert float(table[(DATE_MOSAIC, "B04", "mean")]) == pytest.approx(0.05, abs=TOL)
    assert float(table[(DATE_CLOUDY, "cloud", "fraction")]) == 1.0
    assert table[(DATE_MOSAIC, "my_ratio", "hist_1_count")] == "400"
    assert table[(DATE_CLOUDY, "ndwi", "mean")] == ""
    assert [line[2] for line in lines[1:]] == ["false"] * (3 * measured)


def test_geojson_format_on_post_and_get(ingested: Any) -> None:
    client = ingested.test_client()
    response = post(client, request_body(indices=["ndmi"]), query="?format=geojson")
    assert response.status_code == 201
    assert response.mimetype == "application/geo+json"
    feature = response.get_json()
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "Polygon"
    assert "geometry" not in feature["properties"]
    series_id = feature["id"]
    assert response.headers["Location"].endswith(f"/api/v1/timeseries/{series_id}")
    observations = feature["properties"]["observations"]
    assert [o["date"] for o in observations] == list(DATES)
    assert observations[0]["indices"]["ndmi"]["mean"] == pytest.approx(RATIO, abs=TOL)
    stored = client.get(f"/api/v1/timeseries/{series_id}").get_json()
    again = client.get(f"/api/v1/timeseries/{series_id}?format=geojson").get_json()
    assert again["properties"]["observations"] == stored["observations"] == observations
    assert again["geometry"] == stored["geometry"]
    by_accept = client.get(f"/api/v1/timeseries/{series_id}", headers={"Accept": "application/geo+json"})
    assert by_accept.mimetype == "application/geo+json"


def test_default_request_output_is_unchanged_by_the_options_code(ingested: Any) -> None:
    client = ingested.test_client()
    plain = post(client, request_body(include_cloudy=True)).get_json()
    assert set(plain["parameters"]) == {
        "crs", "time_range", "resolution", "cloud_mask", "max_cloud_fraction", "max_cloud_probability",
        "include_cloudy", "grid", "model",
    }
    for obs in plain["observations"]:
        assert set(obs) == OBSERVATION_KEYS
        assert set(obs["pixels"]) == {"total", "valid", "cloudy", "nodata"}
    header = client.get(f"/api/v1/timeseries/{plain['id']}?format=csv").get_data(as_text=True).splitlines()[0]
    assert header == CSV_HEADER
    # the options add to an observation; the default blocks stay the same numbers
    rich = post(client, request_body(include_cloudy=True, indices=["evi"], statistics={"percentiles": [0.5]})).get_json()
    for a, b in zip(plain["observations"], rich["observations"]):
        assert {k: a[k] for k in OBSERVATION_KEYS} == {k: b[k] for k in OBSERVATION_KEYS}


def test_aggregation_least_cloudy_with_an_empty_shortened_interval(ingested: Any) -> None:
    client = ingested.test_client()
    body = request_body(time_range={"from": "2023-06-05", "to": "2023-06-30"},
                        aggregation={"interval": "P20D", "pick": "least_cloudy"})
    response = post(client, body)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    first, second = created["observations"]
    # [06-05, 06-24] holds 06-11 (cloud_fraction 0) and 06-21 (cloud_fraction 1): 06-11 is picked
    assert first["date"] == "2023-06-05" and first["datetime"] == "2023-06-05T00:00:00Z"
    assert first["interval"] == {"from": "2023-06-05T00:00:00Z", "to": "2023-06-24T23:59:59.999999Z",
                                 "observations": [DATE_MOSAIC]}
    assert first["scenes"] == [SCENE_WEST, SCENE_EAST]
    assert first["pixels"] == {"total": 400, "valid": 400, "cloudy": 0, "nodata": 0}
    assert first["ndvi"]["mean"] == pytest.approx((NDVI_WEST + NDVI_EAST) / 2, abs=TOL)
    # the shortened last interval [06-25, 06-30] has no acquisition: a row with null statistics
    assert second["interval"] == {"from": "2023-06-25T00:00:00Z", "to": "2023-06-30T23:59:59.999999Z", "observations": []}
    assert second["pixels"] == {"total": 0, "valid": 0, "cloudy": 0, "nodata": 0}
    assert second["ndvi"]["mean"] is None and second["cloud_fraction"] is None and second["scenes"] == []
    url = f"/api/v1/timeseries/{created['id']}"
    assert client.get(url).get_json()["observations"] == created["observations"]
    rows = list(csv.DictReader(io.StringIO(client.get(url + "?format=csv").get_data(as_text=True))))
    assert [(r["date"], r["interval_from"], r["interval_to"], r["interval_observations"]) for r in rows] == [
        ("2023-06-05", "2023-06-05T00:00:00Z", "2023-06-24T23:59:59.999999Z", DATE_MOSAIC),
        ("2023-06-25", "2023-06-25T00:00:00Z", "2023-06-30T23:59:59.999999Z", ""),
    ]
    skipped = post(client, {**body, "aggregation": {**body["aggregation"], "last_interval": "skip"}}).get_json()
    assert [o["date"] for o in skipped["observations"]] == ["2023-06-05"]


def test_aggregation_clear_mean_and_all_by_hand(ingested: Any) -> None:
    client = ingested.test_client()
    composite = post(client, request_body(aggregation={"interval": "P21D", "pick": "clear_mean"})).get_json()
    row = composite["observations"][0]
    assert row["interval"]["observations"] == [DATE_CLEAR, DATE_MOSAIC]  # 06-21 has no clear pixel
    assert row["pixels"] == {"total": 800, "valid": 760, "cloudy": 0, "nodata": 40}
    # per pixel: west 200 -> W; east 180 -> (W + E) / 2 (both dates); east 20 in the no-data rows -> E
    assert row["ndvi"]["mean"] == pytest.approx((290 * NDVI_WEST + 110 * NDVI_EAST) / 400, abs=TOL)
    assert row["bands"]["B04"] == pytest.approx((200 * 0.04 + 180 * 0.05 + 20 * 0.06) / 400, abs=TOL)
    assert row["ndvi"]["min"] == pytest.approx(NDVI_EAST, abs=TOL)

    pooled = post(client, request_body(aggregation={"interval": "P21D"})).get_json()
    row = pooled["observations"][0]
    assert row["interval"]["observations"] == list(DATES)
    assert row["pixels"] == {"total": 1200, "valid": 1160, "cloudy": 400, "nodata": 40}
    assert row["cloud_fraction"] == pytest.approx(400 / 1160)
    # 560 west + 200 east vegetation pixels and 400 cloud pixels (NDVI 0)
    assert row["ndvi"]["mean"] == pytest.approx((560 * NDVI_WEST + 200 * NDVI_EAST) / 1160, abs=TOL)
    assert row["ndvi"]["min"] == 0.0 and row["ndvi"]["max"] == pytest.approx(NDVI_WEST, abs=TOL)
    # the cloud filter works on aggregated rows like on dates: 400/1160 > 0.3 is cloudy
    hidden = client.get(f"/api/v1/timeseries/{pooled['id']}?max_cloud_fraction=0.3").get_json()
    assert [o["date"] for o in hidden["observations"]] == ["2023-06-22"]


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown index", {"indices": ["ndsi"]}, "indices.ndsi"),
    ("unknown band", {"indices": {"r": "(B08 - B13) / B04"}}, "indices.r"),
    ("unsafe expression", {"indices": {"r": "__import__('os').system('id')"}}, "indices.r"),
    ("malformed expression", {"indices": {"r": "(B08 - B04"}}, "indices.r"),
    ("percentile out of range", {"statistics": {"percentiles": [5]}}, "statistics.percentiles"),
    ("histogram without bins", {"statistics": {"histogram": {"low": -1, "high": 1}}}, "statistics.histogram"),
    ("histogram low >= high", {"statistics": {"histogram": {"bins": 4, "low": 1, "high": -1}}}, "statistics.histogram.low"),
    ("unknown interval", {"aggregation": {"interval": "P1X"}}, "aggregation.interval"),
    ("interval too long", {"aggregation": {"interval": "P2Y"}}, "aggregation.interval"),
    ("unknown pick", {"aggregation": {"interval": "P1M", "pick": "best"}}, "aggregation.pick"),
    ("mask_clouds not boolean", {"mask_clouds": 1}, "mask_clouds"),
    ("misspelled key", {"indexes": ["ndwi"]}, "indexes"),
]


@pytest.mark.parametrize(("case", "extra", "field"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_options_are_400_naming_the_parameter(client: Any, case: str, extra: dict[str, Any], field: str) -> None:
    response = post(client, request_body(**extra))
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field
    assert error["code"] == "invalid_input"


def test_unknown_format_lists_the_formats(client: Any) -> None:
    error = client.post("/api/v1/timeseries?format=xlsx", json=request_body()).get_json()["error"]
    assert error["field"] == "format"
    for name in ("json", "csv", "geojson", "long_csv"):
        assert name in error["message"]
