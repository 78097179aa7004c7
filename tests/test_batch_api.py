"""``/api/v1/batch``: submit (FeatureCollection or multipart upload), follow, fetch results, cancel; jobs run in
the server's background thread on a real LocalCluster (worker processes)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest

from batch_fixtures import dask_client, fields_frame, write_fields
from fis.config import Settings
from fis_archive import CSV_HEADER, TIME_RANGE, archive, ingested

__all__ = ["archive", "dask_client", "ingested"]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, dask_client: Any) -> Settings:
    """The app's jobs run on the module's cluster (FIS_DASK_SCHEDULER)."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url, dask_scheduler=dask_client.scheduler.address)


@pytest.fixture
def api(ingested: Any) -> Any:
    yield ingested.test_client()
    runner = ingested.extensions.get("fis.batch")
    if runner is not None:
        runner.close()


def _wait(api: Any, location: str) -> dict[str, Any]:
    runner = api.application.extensions["fis.batch"]
    assert runner.wait(120)
    body: dict[str, Any] = api.get(location).get_json()
    return body


def _collection() -> dict[str, Any]:
    frame = fields_frame().to_crs(4326)
    return json.loads(frame.to_json(drop_id=True))


def test_post_a_feature_collection_then_follow_and_fetch_results(api: Any) -> None:
    body = {**_collection(), "options": {"time_range": TIME_RANGE, "outputs": ["ndvi", "cloud_fraction"]},
            "id_column": "field"}
    response = api.post("/api/v1/batch", json=body)
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    job = response.get_json()
    assert location == f"/api/v1/batch/{job['id']}" and job["recognised"] is False and job["features"] == 9
    final = _wait(api, location)
    assert (final["state"], final["done"], final["failed"], final["failures"]) == ("DONE", 9, 0, [])

    with api.get(f"{location}/results?format=csv") as results:
        assert results.status_code == 200 and results.mimetype == "text/csv"
        rows = list(csv.reader(io.StringIO(results.get_data(as_text=True))))
    assert rows[0] == ["field", *CSV_HEADER.split(",")]
    assert len(rows) == 1 + 27 and {r[0] for r in rows[1:]} == {f"f{i}" for i in range(9)}

    with api.get(f"{location}/results?format=parquet") as parquet:
        frame = gpd.read_parquet(io.BytesIO(parquet.get_data()))
    assert len(frame) == 27 and frame.crs.to_epsg() == 4326

    # every feature is an ordinary stored series
    listed = api.get("/api/v1/timeseries?limit=100").get_json()
    assert listed["total"] == 9
    one = api.get(f"/api/v1/timeseries/{listed['items'][0]['id']}").get_json()
    assert len(one["observations"]) == 3 and one["properties"]["field"] in {f"f{i}" for i in range(9)}

    again = api.post("/api/v1/batch", json=body)
    assert again.status_code == 202 and again.get_json()["recognised"] is True
    assert again.headers["Location"] == location
    assert [j["id"] for j in api.get("/api/v1/batch").get_json()["items"]] == [job["id"]]
    assert api.delete(location).status_code == 409  # already DONE


def test_multipart_upload_of_a_geopackage_layer(api: Any, tmp_path: Path) -> None:
    path = write_fields(tmp_path / "fields.gpkg", layer="fields")
    write_fields(path, layer="other")
    with path.open("rb") as stream:
        response = api.post("/api/v1/batch", data={
            "file": (stream, "farm.gpkg"), "options": json.dumps({"time_range": TIME_RANGE}), "layer": "fields",
            "id_column": "field",
        }, content_type="multipart/form-data")
    assert response.status_code == 202, response.get_json()
    final = _wait(api, response.headers["Location"])
    assert (final["state"], final["done"], final["source"], final["layer"]) == ("DONE", 9, "farm.gpkg", "fields")
    target = tmp_path / "out.gpkg"
    with api.get(f"{response.headers['Location']}/results?format=gpkg") as gpkg:
        target.write_bytes(gpkg.get_data())
    assert len(gpd.read_file(target, layer="timeseries")) == 27


def test_results_are_a_409_until_something_is_stored_and_failures_are_listed(api: Any) -> None:
    body = {"type": "FeatureCollection", "options": {"time_range": TIME_RANGE}, "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [15.0, 45.15]}},
    ]}
    response = api.post("/api/v1/batch", json=body)
    location = response.headers["Location"]
    final = _wait(api, location)
    assert final["state"] == "FAILED"
    assert [(f["id"], f["error_code"]) for f in final["failures"]] == [("0", "not_polygon")]
    conflict = api.get(f"{location}/results")
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "conflict"


def test_bad_submissions_are_400s_and_unknown_jobs_404s(api: Any) -> None:
    missing = api.post("/api/v1/batch", json={**_collection()})
    assert missing.status_code == 400 and missing.get_json()["error"]["field"] == "options"
    bad_option = api.post("/api/v1/batch", json={**_collection(), "options": {"time_range": TIME_RANGE,
                                                                              "cloud_threshold": 3}})
    assert bad_option.status_code == 400 and bad_option.get_json()["error"]["field"] == "cloud_threshold"
    broken = api.post("/api/v1/batch", data={"file": (io.BytesIO(b"nonsense"), "fields.gpkg"),
                                               "options": json.dumps({"time_range": TIME_RANGE})},
                      content_type="multipart/form-data")
    assert broken.status_code == 400
    assert "fields.gpkg cannot be read as a GeoPackage" in broken.get_json()["error"]["message"]
    assert api.get("/api/v1/batch/nope").status_code == 404
    assert api.delete("/api/v1/batch/nope").status_code == 404
    assert api.get("/api/v1/batch/nope/results").status_code == 404
    assert api.get("/api/v1/batch/nope/results?format=xlsx").status_code == 400


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_jobs_and_their_series_belong_to_the_client_that_submitted_them(
    settings: Settings, archive: Path
) -> None:
    import dataclasses

    from fis.api.app import create_app
    from fis.services.clients import create_client
    from fis.store.db import upgrade
    from fis_archive import ingest_into

    app = create_app(dataclasses.replace(settings, auth="required"))
    upgrade(app.extensions["fis"].db)
    ingest_into(app, archive)
    http = app.test_client()

    def headers(name: str) -> dict[str, str]:
        client_id, secret = create_client(app.extensions["fis"].sessions, name, "user")
        token = http.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                                "client_secret": secret}).get_json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    alice, bob = headers("alice"), headers("bob")
    try:
        body = {**_collection(), "options": {"time_range": TIME_RANGE}, "id_column": "field"}
        assert http.post("/api/v1/batch", json=body).status_code == 401
        response = http.post("/api/v1/batch", json=body, headers=alice)
        assert response.status_code == 202
        location = response.headers["Location"]
        assert app.extensions["fis.batch"].wait(120)
        assert http.get(location, headers=alice).get_json()["state"] == "DONE"
        for method in (http.get, http.delete):
            assert method(location, headers=bob).status_code == 404
        assert http.get(f"{location}/results", headers=bob).status_code == 404
        assert http.get("/api/v1/batch", headers=bob).get_json()["items"] == []
        assert http.get("/api/v1/timeseries", headers=alice).get_json()["total"] == 9
        assert http.get("/api/v1/timeseries", headers=bob).get_json()["total"] == 0
        mine = http.post("/api/v1/batch", json=body, headers=bob)  # the same body is bob's own, new job
        assert mine.get_json()["recognised"] is False and mine.headers["Location"] != location
    finally:
        runner = app.extensions.get("fis.batch")
        if runner is not None:
            runner.close()
        app.extensions["fis"].close()


def test_posting_an_interrupted_job_again_resumes_it(api: Any, tmp_path: Path) -> None:
    import socket

    from fis.services.batch import submit_batch
    from fis.store.batch import claim_job, interrupted
    from fis.store.db import transaction

    collection = _collection()
    options = {"time_range": TIME_RANGE}
    path = tmp_path / "features.geojson"  # what the endpoint writes for this body
    path.write_text(json.dumps({"type": "FeatureCollection", "features": collection["features"]}), encoding="utf-8")
    sessions = api.application.extensions["fis"].sessions
    job = submit_batch(sessions, path, options, id_column="field", source="request body").job
    with transaction(sessions) as session:  # a server that died while running it
        assert interrupted(claim_job(session, job.id, f"{socket.gethostname()}:999999"))
    response = api.post("/api/v1/batch", json={**collection, "options": options, "id_column": "field"})
    assert response.status_code == 202 and response.get_json()["recognised"] is True
    assert response.headers["Location"] == f"/api/v1/batch/{job.id}"
    final = _wait(api, response.headers["Location"])
    assert (final["state"], final["done"], final["interrupted"]) == ("DONE", 9, False)
