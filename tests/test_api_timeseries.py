"""POST/GET/list/delete /api/v1/timeseries on a hand-checkable synthetic archive (SQLite and PostGIS)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import MultiPolygon, box, mapping
from sqlalchemy import func, select

from fis_archive import (  # noqa: F401 - fixtures
    CSV_HEADER,
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    DATES,
    EXPECTED,
    FIELD_BOUNDS_UTM,
    FIELD_UTM,
    SCENE_CLEAR,
    SCENE_CLOUDY,
    SCENE_EAST,
    TOL,
    archive,
    assert_observation_matches,
    copy_archive,
    field_lonlat,
    ingest_into,
    ingested,
    request_body,
)


def post(client: Any, body: dict[str, Any], query: str = "") -> Any:
    return client.post(f"/api/v1/timeseries{query}", json=body)


def series_count(app: Any) -> tuple[int, int]:
    from fis.store.orm import ObservationRow, TimeSeries

    with app.extensions["fis"].sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(TimeSeries)),
            session.scalar(select(func.count()).select_from(ObservationRow)),
        )


def by_date(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["date"]: o for o in body["observations"]}


# --- POST: values ---------------------------------------------------------------------------

def test_post_computes_hand_checked_statistics(ingested: Any) -> None:
    client = ingested.test_client()
    response = post(client, request_body(include_cloudy=True))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "OK"
    assert body["errors"] == []
    assert body["time_range"] == {"from": "2023-06-01T00:00:00Z", "to": "2023-06-30T23:59:59.999999Z"}
    assert response.headers["Location"] == body["links"]["self"]
    assert body["links"]["self"].endswith(f"/api/v1/timeseries/{body['id']}")
    dates = [o["date"] for o in body["observations"]]
    assert dates == list(DATES)  # ascending, the two tiles of 2023-06-11 are one observation
    for date, obs in by_date(body).items():
        assert_observation_matches(obs, date)
    observations = by_date(body)
    # the mosaic: 200 pixels of each tile, NDVI quartiles fall on the two tile values
    mosaic = observations[DATE_MOSAIC]["ndvi"]
    assert mosaic["p10"] == pytest.approx(EXPECTED[DATE_MOSAIC]["ndvi_min"], abs=TOL)
    assert mosaic["p90"] == pytest.approx(EXPECTED[DATE_MOSAIC]["ndvi_max"], abs=TOL)
    assert mosaic["median"] == pytest.approx(EXPECTED[DATE_MOSAIC]["ndvi_mean"], abs=TOL)
    # each observation names its scenes' tile, baseline, level and the radiometry applied once
    clear_details = observations[DATE_CLEAR]["scene_details"]
    assert [d["id"] for d in clear_details] == observations[DATE_CLEAR]["scenes"]
    assert clear_details[0]["tile"] == "33TWN" and clear_details[0]["processing_baseline"] == "03.01"
    assert clear_details[0]["product_level"] == "L1C"
    assert clear_details[0]["radiometry"] == {"scale": 0.0001, "offset": 0.0}
    mosaic_details = observations[DATE_MOSAIC]["scene_details"]
    assert [d["tile"] for d in mosaic_details] == ["33TWN", "33TXN"]
    assert all(d["processing_baseline"] == "05.09" and d["radiometry"] == {"scale": 0.0001, "offset": -0.1} for d in mosaic_details)
    # s2cloudless on the averaged vectors: clear vegetation vs a bright flat cloud spectrum
    assert observations[DATE_CLEAR]["cloud_probability"] < 0.1
    assert observations[DATE_MOSAIC]["cloud_probability"] < 0.1
    assert observations[DATE_CLOUDY]["cloud_probability"] > 0.6
    # no threshold given: nothing is cloudy
    assert [o["cloudy"] for o in body["observations"]] == [False, False, False]


def test_post_lonlat_polygon_gets_the_same_pixels(ingested: Any) -> None:
    body = post(ingested.test_client(), {"geometry": field_lonlat(), "time_range": {"from": "2023-06-01", "to": "2023-06-30"}}).get_json()
    assert [o["date"] for o in body["observations"]] == list(DATES)
    for date, obs in by_date(body).items():
        assert obs["pixels"] == EXPECTED[date]["pixels"]
        assert obs["ndvi"]["mean"] == pytest.approx(EXPECTED[date]["ndvi_mean"], abs=TOL)
    assert body["parameters"]["crs"] == "EPSG:4326"


def test_post_feature_and_multipolygon(ingested: Any) -> None:
    client = ingested.test_client()
    feature = {"type": "Feature", "properties": {"name": "field 1"}, "geometry": FIELD_UTM}
    response = post(client, request_body(geometry=feature))
    assert response.status_code == 201
    assert by_date(response.get_json())[DATE_CLEAR]["pixels"]["total"] == 400
    # two disjoint 5 x 5 pixel squares: 50 pixels, one in each tile of 2023-06-11
    x0, y0 = FIELD_BOUNDS_UTM[0], FIELD_BOUNDS_UTM[1]
    multi = MultiPolygon([box(x0, y0, x0 + 50, y0 + 50), box(x0 + 150, y0, x0 + 200, y0 + 50)])
    response = post(client, request_body(geometry=mapping(multi)))
    assert response.status_code == 201
    mosaic = by_date(response.get_json())[DATE_MOSAIC]
    assert mosaic["pixels"] == {"total": 50, "valid": 50, "cloudy": 0, "nodata": 0}
    assert mosaic["bands"]["B04"] == pytest.approx(0.05, abs=TOL)


def test_polygon_smaller_than_a_pixel_gets_one_pixel(ingested: Any) -> None:
    x, y = 500143.0, 5000203.0
    tiny = mapping(box(x, y, x + 2, y + 2))
    body = post(ingested.test_client(), request_body(geometry=tiny)).get_json()
    assert by_date(body)[DATE_CLEAR]["pixels"]["total"] == 1


def test_all_nodata_observation_reported_with_null_statistics(ingested: Any) -> None:
    """The field strip y 5000380..5000400 has no B08 on 2023-06-01: valid == 0, nulls, not dropped."""
    x0, _, x1, y1 = FIELD_BOUNDS_UTM
    strip = mapping(box(x0, y1 - 20, x1, y1))
    client = ingested.test_client()
    body = post(client, request_body(geometry=strip)).get_json()
    clear = by_date(body)[DATE_CLEAR]
    assert clear["pixels"] == {"total": 40, "valid": 0, "cloudy": 0, "nodata": 40}
    assert clear["cloud_fraction"] is None and clear["cloud_probability"] is None
    assert all(v is None for v in clear["ndvi"].values())
    assert all(v is None for v in clear["bands"].values())
    # the CSV has empty cells for them
    rows = list(csv.DictReader(io.StringIO(client.get(f"/api/v1/timeseries/{body['id']}?format=csv").get_data(as_text=True))))
    row = next(r for r in rows if r["date"] == DATE_CLEAR)
    assert row["ndvi_mean"] == "" and row["cloud_probability"] == "" and row["cloud_fraction"] == "" and row["B04"] == ""
    assert row["total_pixels"] == "40" and row["valid_pixels"] == "0" and row["nodata_pixels"] == "40"


# --- cloud filters --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "options, dates, cloudy",
    [
        ({}, DATES, [False, False, False]),
        ({"max_cloud_fraction": 0.5}, (DATE_CLEAR, DATE_MOSAIC), [False, False]),
        ({"max_cloud_probability": 0.5}, (DATE_CLEAR, DATE_MOSAIC), [False, False]),
        ({"max_cloud_fraction": 0.5, "include_cloudy": True}, DATES, [False, False, True]),
        ({"max_cloud_fraction": 1.0}, DATES, [False, False, False]),  # 1.0 is not exceeded
        ({"max_cloud_probability": 0.0, "include_cloudy": True}, DATES, [True, True, True]),
    ],
)
def test_post_threshold_filters(ingested: Any, options: dict[str, Any], dates: tuple[str, ...], cloudy: list[bool]) -> None:
    body = post(ingested.test_client(), request_body(**options)).get_json()
    assert [o["date"] for o in body["observations"]] == list(dates)
    assert [o["cloudy"] for o in body["observations"]] == cloudy


def test_get_refilters_stored_series_without_recomputing(ingested: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = ingested.test_client()
    created = post(client, request_body(max_cloud_fraction=0.5)).get_json()
    assert [o["date"] for o in created["observations"]] == [DATE_CLEAR, DATE_MOSAIC]
    before = series_count(ingested)

    def no_compute(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("GET must not recompute")

    monkeypatch.setattr("fis.engine.engine.Engine.compute", no_compute)
    url = f"/api/v1/timeseries/{created['id']}"

    stored = client.get(url).get_json()
    assert stored["id"] == created["id"]
    assert stored["status"] == "OK"
    assert stored["observations"] == created["observations"]
    assert stored["time_range"] == created["time_range"]

    shown = client.get(url + "?include_cloudy=true").get_json()["observations"]
    assert [(o["date"], o["cloudy"]) for o in shown] == [(DATE_CLEAR, False), (DATE_MOSAIC, False), (DATE_CLOUDY, True)]
    assert_observation_matches(shown[2], DATE_CLOUDY)

    loose = client.get(url + "?max_cloud_fraction=1").get_json()["observations"]
    assert [o["date"] for o in loose] == list(DATES)
    strict = client.get(url + "?max_cloud_fraction=1&max_cloud_probability=0.5").get_json()["observations"]
    assert [o["date"] for o in strict] == [DATE_CLEAR, DATE_MOSAIC]
    # the filter only changes what is shown: every observation is still stored
    assert series_count(ingested) == before == (before[0], before[1]) and before[1] == 3


# --- CSV ------------------------------------------------------------------------------------

def _csv_rows(text: str) -> tuple[str, list[dict[str, str]]]:
    header = text.splitlines()[0]
    return header, list(csv.DictReader(io.StringIO(text)))


def test_csv_export_post_get_and_accept(ingested: Any) -> None:
    client = ingested.test_client()
    response = post(client, request_body(max_cloud_fraction=0.5), query="?format=csv")
    assert response.status_code == 201
    assert response.mimetype == "text/csv"
    header, rows = _csv_rows(response.get_data(as_text=True))
    assert header == CSV_HEADER
    assert [r["date"] for r in rows] == [DATE_CLEAR, DATE_MOSAIC]
    series_id = response.headers["Location"].rsplit("/", 1)[1]

    for kwargs in ({"path": f"/api/v1/timeseries/{series_id}?format=csv"},
                   {"path": f"/api/v1/timeseries/{series_id}", "headers": {"Accept": "text/csv"}}):
        got = client.get(kwargs["path"], headers=kwargs.get("headers"))
        assert got.status_code == 200
        assert got.mimetype == "text/csv"
        disposition = got.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "filename=" in disposition and ".csv" in disposition
        header, rows = _csv_rows(got.get_data(as_text=True))
        assert header == CSV_HEADER
        assert [r["date"] for r in rows] == [DATE_CLEAR, DATE_MOSAIC]
        clear = rows[0]
        assert (clear["total_pixels"], clear["valid_pixels"], clear["cloudy_pixels"], clear["nodata_pixels"]) == ("400", "360", "0", "40")
        assert clear["cloudy"] == "false"
        assert float(clear["ndvi_mean"]) == pytest.approx(EXPECTED[DATE_CLEAR]["ndvi_mean"], abs=TOL)
        assert float(rows[1]["B04"]) == pytest.approx(0.05, abs=TOL)
        assert float(clear["B10"]) == pytest.approx(0.002, abs=TOL)

    # query parameters re-filter the CSV as well
    _, rows = _csv_rows(client.get(f"/api/v1/timeseries/{series_id}?format=csv&include_cloudy=true").get_data(as_text=True))
    assert [(r["date"], r["cloudy"]) for r in rows] == [(DATE_CLEAR, "false"), (DATE_MOSAIC, "false"), (DATE_CLOUDY, "true")]
    assert float(rows[2]["cloud_fraction"]) == 1.0

    # a browser-style Accept header still gets JSON
    assert client.get(f"/api/v1/timeseries/{series_id}", headers={"Accept": "*/*"}).mimetype == "application/json"


# --- list, pagination, delete ---------------------------------------------------------------

def test_list_newest_first_with_pagination(ingested: Any) -> None:
    client = ingested.test_client()
    ids = []
    for month in ("2023-06", "2023-07", "2023-08"):
        response = post(client, request_body(time_range={"from": f"{month}-01", "to": f"{month}-20"}))
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    first = client.get("/api/v1/timeseries?limit=2").get_json()
    assert first["total"] == 3
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]]
    assert first["items"][1]["observations"] == 0 and first["items"][0]["observations"] == 0
    assert "next" in first["links"]
    second = client.get(first["links"]["next"]).get_json()
    assert [i["id"] for i in second["items"]] == [ids[0]]
    assert second["items"][0]["observations"] == 2  # 2023-06-01 and 2023-06-11
    assert "next" not in second["links"]
    assert second["offset"] == 2 and second["limit"] == 2
    for item in first["items"] + second["items"]:
        assert item["created_at"].endswith("Z"), item["created_at"]
        assert item["links"]["self"].endswith(item["id"])
    everything = client.get("/api/v1/timeseries").get_json()
    assert [i["id"] for i in everything["items"]] == ids[::-1] and everything["links"] == {}


def test_created_at_is_utc_on_every_read(ingested: Any) -> None:
    client = ingested.test_client()
    created = post(client, request_body()).get_json()
    assert created["created_at"].endswith("Z")
    stored = client.get(f"/api/v1/timeseries/{created['id']}").get_json()
    assert stored["created_at"] == created["created_at"]


def test_delete_then_404(ingested: Any) -> None:
    client = ingested.test_client()
    keep = post(client, request_body()).get_json()["id"]
    gone = post(client, request_body()).get_json()["id"]
    assert series_count(ingested) == (2, 6)
    response = client.delete(f"/api/v1/timeseries/{gone}")
    assert response.status_code == 204 and response.get_data() == b""
    assert client.get(f"/api/v1/timeseries/{gone}").status_code == 404
    again = client.delete(f"/api/v1/timeseries/{gone}")
    assert again.status_code == 404 and again.get_json()["error"]["code"] == "not_found"
    assert series_count(ingested) == (1, 3)  # the observations went with it
    assert client.get(f"/api/v1/timeseries/{keep}").status_code == 200


# --- empty and partial results --------------------------------------------------------------

def test_geometry_touching_no_scene_gives_empty_series(ingested: Any) -> None:
    client = ingested.test_client()
    far = {"type": "Polygon", "coordinates": [[[10.0, 50.0], [10.001, 50.0], [10.001, 50.001], [10.0, 50.001], [10.0, 50.0]]]}
    response = post(client, {"geometry": far, "time_range": {"from": "2023-06-01", "to": "2023-06-30"}})
    assert response.status_code == 201
    body = response.get_json()
    assert body["observations"] == [] and body["errors"] == [] and body["status"] == "OK"
    assert client.get(f"/api/v1/timeseries/{body['id']}").get_json()["observations"] == []
    # same field, a year with no acquisitions
    response = post(client, request_body(time_range={"from": "2020-01-01", "to": "2020-12-31"}))
    assert response.status_code == 201 and response.get_json()["observations"] == []
    header, rows = _csv_rows(client.get(f"/api/v1/timeseries/{body['id']}?format=csv").get_data(as_text=True))
    assert header == CSV_HEADER and rows == []


def test_unreadable_raster_gives_partial_series(app: Any, archive: Path, tmp_path: Path) -> None:
    root = copy_archive(archive, tmp_path / "broken-archive")
    ingest_into(app, root)
    (root / SCENE_CLOUDY / "B08.tif").unlink()
    client = app.test_client()
    response = post(client, request_body(include_cloudy=True))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "PARTIAL"
    assert [o["date"] for o in body["observations"]] == [DATE_CLEAR, DATE_MOSAIC]
    for obs in body["observations"]:
        assert_observation_matches(obs, obs["date"])
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["date"] == DATE_CLOUDY and error["scenes"] == [SCENE_CLOUDY]
    assert "B08" in error["message"]
    stored = client.get(f"/api/v1/timeseries/{body['id']}").get_json()
    assert stored["status"] == "PARTIAL" and stored["errors"] == body["errors"]
    assert [o["date"] for o in stored["observations"]] == [DATE_CLEAR, DATE_MOSAIC]


def test_unreadable_tile_of_a_mosaic_date_gives_partial_series(app: Any, archive: Path, tmp_path: Path) -> None:
    root = copy_archive(archive, tmp_path / "broken-archive")
    ingest_into(app, root)
    (root / SCENE_EAST / "B04.tif").unlink()
    body = post(app.test_client(), request_body(include_cloudy=True)).get_json()
    assert body["status"] == "PARTIAL"
    assert [o["date"] for o in body["observations"]] == [DATE_CLEAR, DATE_CLOUDY]
    assert [e["date"] for e in body["errors"]] == [DATE_MOSAIC]


def test_unreadable_raster_of_the_first_scene_gives_partial_series(app: Any, archive: Path, tmp_path: Path) -> None:
    """The first scene's B04 also anchors the request grid: losing it must not fail every date."""
    root = copy_archive(archive, tmp_path / "broken-archive")
    ingest_into(app, root)
    (root / SCENE_CLEAR / "B04.tif").unlink()
    response = post(app.test_client(), request_body(include_cloudy=True))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "PARTIAL"
    assert [o["date"] for o in body["observations"]] == [DATE_MOSAIC, DATE_CLOUDY]
    assert [e["date"] for e in body["errors"]] == [DATE_CLEAR]
    for obs in body["observations"]:
        assert_observation_matches(obs, obs["date"])


# --- geometry repair, pixel budget ----------------------------------------------------------

def test_self_intersecting_polygon_is_repaired_with_a_warning(ingested: Any) -> None:
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    bowtie = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    client = ingested.test_client()
    response = post(client, request_body(geometry=bowtie))
    assert response.status_code == 201
    body = response.get_json()
    assert body["warnings"] and any("repaired" in w for w in body["warnings"])
    assert body["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # two triangles of the bowtie: about half the box's pixels
    total = by_date(body)[DATE_CLEAR]["pixels"]["total"]
    assert 150 <= total <= 250
    assert client.get(f"/api/v1/timeseries/{body['id']}").get_json()["warnings"] == body["warnings"]


def test_geometry_over_the_pixel_budget_is_413_with_numbers(ingested: Any, settings: Any) -> None:
    from fis.api.app import create_app

    small = create_app(settings, max_pixels=100)
    try:
        before = series_count(small)
        response = post(small.test_client(), request_body())
        assert response.status_code == 413
        error = response.get_json()["error"]
        assert error["code"] == "request_too_large"
        assert error["field"] == "geometry"
        assert "400" in error["message"] and "100" in error["message"]
        assert error["details"]["pixels"] == 400 and error["details"]["max_pixels"] == 100
        assert series_count(small) == before
        # a coarser resolution fits: 20 m -> 10 x 10 = 100 pixels
        coarse = post(small.test_client(), request_body(resolution=20))
        assert coarse.status_code == 201, coarse.get_json()
        assert by_date(coarse.get_json())[DATE_MOSAIC]["pixels"]["total"] == 100
    finally:
        small.extensions["fis"].close()


def test_stored_series_survive_bad_requests(ingested: Any) -> None:
    client = ingested.test_client()
    good = post(client, request_body()).get_json()["id"]
    before = series_count(ingested)
    bad_requests = [
        lambda: client.post("/api/v1/timeseries", data="{nope", content_type="application/json"),
        lambda: client.post("/api/v1/timeseries", data="", content_type="application/json"),
        lambda: post(client, request_body(resolution=-1)),
        lambda: post(client, request_body(time_range={"from": "2023-07-01", "to": "2023-06-01"})),
        lambda: post(client, request_body(crs="EPSG:999999")),
        lambda: post(client, {"geometry": FIELD_UTM}),
        lambda: client.get("/api/v1/timeseries/does-not-exist"),
        lambda: client.delete("/api/v1/timeseries/does-not-exist"),
        lambda: client.get(f"/api/v1/timeseries/{good}?max_cloud_fraction=2"),
        lambda: client.get(f"/api/v1/timeseries/{good}?format=xml"),
        lambda: client.get("/api/v1/timeseries?limit=0"),
    ]
    for send in bad_requests:
        response = send()
        assert 400 <= response.status_code < 500, response.get_json()
    assert series_count(ingested) == before
    assert client.get(f"/api/v1/timeseries/{good}").status_code == 200


def test_floats_in_json_are_finite(ingested: Any) -> None:
    """NaN would make the JSON unparseable for strict clients."""
    body = post(ingested.test_client(), request_body(include_cloudy=True)).get_data(as_text=True)
    assert "NaN" not in body and "Infinity" not in body
    for obs in by_date(json.loads(body)).values():
        assert all(v is None or math.isfinite(v) for v in obs["ndvi"].values())

