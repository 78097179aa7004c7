"""Incremental series (SQLite and PostGIS): a longer request reuses a stored series' dates, and
``POST /api/v1/timeseries/<id>/refresh`` extends a series with the dates ingested since.

The archive (tests/fis_archive.py) has dates 2023-06-01, 06-11 (two tiles) and 06-21. A spy on
``DateReader.read`` records which dates the engine reads.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from fis.cli import main
from fis.engine.dates import DateReader
from fis_archive import (  # noqa: F401 - fixtures
    CRS,
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    FIELD_UTM,
    VEGETATION,
    archive,
    copy_archive,
    ingest_into,
    ingested,
    request_body,
    write_scene,
)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The dates the engine reads (one entry per date)."""
    seen: list[str] = []
    original = DateReader.read

    def spy(self: DateReader, mask: Any, layout: Any, group: list[Any], **options: Any) -> Any:
        seen.append(group[0].date.isoformat())
        return original(self, mask, layout, group, **options)

    monkeypatch.setattr(DateReader, "read", spy)
    return seen


def post(client: Any, **extra: Any) -> Any:
    response = client.post("/api/v1/timeseries", json=request_body(include_cloudy=True, **extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_longer_request_reuses_the_stored_dates(ingested: Any, reads: list[str]) -> None:
    client = ingested.test_client()
    first = post(client, time_range={"from": "2023-06-01", "to": "2023-06-15"})
    assert (first["reused"], first["computed"]) == (0, 2)
    assert sorted(reads) == [DATE_CLEAR, DATE_MOSAIC]
    reads.clear()
    second = post(client, time_range={"from": "2023-06-01", "to": "2023-06-30"})
    assert reads == [DATE_CLOUDY]  # only the new date was read
    assert (second["reused"], second["computed"]) == (2, 1)
    assert second["id"] != first["id"]
    assert [o["date"] for o in second["observations"]] == [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY]
    # the reused dates are the stored ones, and the same as a fresh computation
    assert second["observations"][:2] == first["observations"]
    reads.clear()
    again = post(client, time_range={"from": "2023-06-01", "to": "2023-06-15"})  # inside a stored range: computed afresh
    assert (again["reused"], again["computed"]) == (0, 2)
    assert sorted(reads) == [DATE_CLEAR, DATE_MOSAIC]
    assert again["observations"] == first["observations"]
    stored = client.get(f"/api/v1/timeseries/{second['id']}").get_json()
    assert stored["observations"] == second["observations"]


def test_other_options_or_geometry_are_not_reused(ingested: Any, reads: list[str]) -> None:
    client = ingested.test_client()
    post(client, time_range={"from": "2023-06-01", "to": "2023-06-15"})
    other = post(client, time_range={"from": "2023-06-01", "to": "2023-06-30"}, pixel_rule="all_touched")
    assert other["reused"] == 0
    body = request_body(include_cloudy=True, time_range={"from": "2023-06-01", "to": "2023-06-30"})
    body["geometry"] = json.loads(json.dumps(FIELD_UTM).replace("500340.0", "500350.0"))
    moved = client.post("/api/v1/timeseries", json=body).get_json()
    assert moved["reused"] == 0


def test_refresh_adds_exactly_the_newly_ingested_date(ingested: Any, tmp_path: Path, reads: list[str]) -> None:
    client = ingested.test_client()
    created = post(client, time_range={"from": "2023-06-01", "to": "2023-06-30"})
    reads.clear()
    # nothing new yet: refresh extends the range and computes nothing
    response = client.post(f"/api/v1/timeseries/{created['id']}/refresh")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["reused"], body["computed"]) == (3, 0)
    assert reads == []
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert body["time_range"]["to"].startswith(today)
    # a new scene after the range
    new = tmp_path / "new"
    new.mkdir()
    write_scene(new, "S2A_MSIL1C_20230701_T33TWN", dt.datetime(2023, 7, 1, 10, 0, tzinfo=dt.UTC), VEGETATION,
                (500000.0, 500600.0), baseline="05.09", tile="33TWN")
    ingest_into(ingested, new)
    response = client.post(f"/api/v1/timeseries/{created['id']}/refresh")
    assert response.status_code == 200
    body = response.get_json()
    assert reads == ["2023-07-01"]
    assert (body["reused"], body["computed"]) == (3, 1)
    assert body["id"] == created["id"]
    assert [o["date"] for o in body["observations"]] == [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY, "2023-07-01"]
    assert body["observations"][:3] == created["observations"]
    stored = client.get(f"/api/v1/timeseries/{created['id']}").get_json()
    assert stored["observations"] == body["observations"]
    assert stored["time_range"] == body["time_range"]


def test_refresh_of_an_unknown_series_is_a_404(ingested: Any) -> None:
    response = ingested.test_client().post("/api/v1/timeseries/no-such-id/refresh")
    assert response.status_code == 404
    assert response.get_json()["error"]["field"] == "id"


def test_cli_reports_reused_and_computed(database_url: str, tmp_path: Path, archive: Path) -> None:
    env = {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(main, ["ingest", str(archive)], env=env).exit_code == 0
    field = tmp_path / "field.geojson"
    field.write_text(json.dumps(FIELD_UTM))
    base = ["stats", "--geometry", str(field), "--crs", CRS, "--include-cloudy", "--from", "2023-06-01"]
    first = runner.invoke(main, [*base, "--to", "2023-06-15"], env=env)
    assert first.exit_code == 0, first.output
    assert "(0 reused, 2 computed)" in first.stderr
    second = runner.invoke(main, [*base, "--to", "2023-06-30"], env=env)
    assert second.exit_code == 0, second.output
    assert "(2 reused, 1 computed)" in second.stderr
    document = json.loads(second.stdout)
    assert (document["reused"], document["computed"]) == (2, 1)
