"""The ``fis`` command line through click's CliRunner (SQLite and PostGIS via FIS_DATABASE_URL)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fis.cli import main
from fis_archive import (  # noqa: F401 - fixtures
    CSV_HEADER,
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    DATES,
    EXPECTED,
    FIELD_UTM,
    SCENE_EAST,
    archive,
    assert_observation_matches,
    copy_archive,
)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def migrated(env: dict[str, str], archive: Path) -> dict[str, str]:
    """A migrated database with the archive ingested through the CLI."""
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "ingest", str(archive))
    assert result.exit_code == 0, result.output
    return env


@pytest.fixture
def field_file(tmp_path: Path) -> Path:
    path = tmp_path / "field.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": FIELD_UTM}]}))
    return path


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from fis.store.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head
    return head


def test_db_upgrade_and_current(env: dict[str, str]) -> None:
    head = _head()
    result = run(env, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"at revision {head}" in result.output
    current = run(env, "db", "current")
    assert current.exit_code == 0 and f"current: {head}" in current.output and f"head: {head}" in current.output
    down = run(env, "db", "downgrade", "base")
    assert down.exit_code == 0 and "revision None" in down.output
    assert f"at revision {head}" in run(env, "db", "upgrade").output


def test_ingest_counts_and_reingest(env: dict[str, str], archive: Path) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    first = run(env, "ingest", str(archive))
    assert first.exit_code == 0, first.output
    assert "4 scenes added, 0 updated, 0 failed" in first.stdout
    again = run(env, "ingest", str(archive))
    assert again.exit_code == 0
    assert "0 scenes added, 4 updated, 0 failed" in again.stdout


def test_ingest_reports_broken_item_and_exits_1(env: dict[str, str], archive: Path, tmp_path: Path) -> None:
    root = copy_archive(archive, tmp_path / "archive")
    (root / SCENE_EAST / "B11.tif").unlink()
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "ingest", str(root))
    assert result.exit_code == 1
    assert "3 scenes added, 0 updated, 1 failed" in result.stdout
    assert f"FAILED {SCENE_EAST}" in result.stderr
    assert "B11" in result.stderr and "does not exist" in result.stderr


def test_ingest_without_migration_says_what_to_do(env: dict[str, str], archive: Path) -> None:
    result = run(env, "ingest", str(archive))
    assert result.exit_code != 0
    assert "fis db upgrade" in result.output


def test_stats_csv_to_file(migrated: dict[str, str], field_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run(migrated, "stats", "--geometry", str(field_file), "--crs", "EPSG:32633",
                 "--from", "2023-06-01", "--to", "2023-06-30", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "3 observations, status OK" in result.stderr
    text = out.read_text()
    assert text.splitlines()[0] == CSV_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["date"] for r in rows] == list(DATES)
    for row in rows:
        expected = EXPECTED[row["date"]]
        assert int(row["total_pixels"]) == expected["pixels"]["total"]
        assert int(row["valid_pixels"]) == expected["pixels"]["valid"]
        assert int(row["cloudy_pixels"]) == expected["pixels"]["cloudy"]
        assert float(row["ndvi_mean"]) == pytest.approx(expected["ndvi_mean"], abs=1e-6)
        assert float(row["B04"]) == pytest.approx(expected["bands"]["B04"], abs=1e-6)


def test_stats_csv_threshold_drops_cloudy_date(migrated: dict[str, str], field_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run(migrated, "stats", "--geometry", str(field_file), "--crs", "EPSG:32633", "--from", "2023-06-01",
                 "--to", "2023-06-30", "--max-cloud-fraction", "0.5", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert [r["date"] for r in csv.DictReader(io.StringIO(out.read_text()))] == [DATE_CLEAR, DATE_MOSAIC]


def test_stats_json_has_the_post_response_shape(migrated: dict[str, str], field_file: Path) -> None:
    result = run(migrated, "stats", "--geometry", str(field_file), "--crs", "EPSG:32633",
                 "--from", "2023-06-01", "--to", "2023-06-30", "--include-cloudy", "--max-cloud-fraction", "0.5", "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {"id", "status", "time_range", "observations", "errors", "links"} <= set(body)
    assert body["status"] == "OK" and body["errors"] == []
    assert body["time_range"] == {"from": "2023-06-01T00:00:00Z", "to": "2023-06-30T23:59:59.999999Z"}
    assert [(o["date"], o["cloudy"]) for o in body["observations"]] == [(DATE_CLEAR, False), (DATE_MOSAIC, False), (DATE_CLOUDY, True)]
    for obs in body["observations"]:
        assert_observation_matches(obs, obs["date"])
    assert body["links"]["self"].endswith(f"/api/v1/timeseries/{body['id']}")
    # the series was stored: the HTTP API serves it
    from fis.api.app import create_app
    from fis.config import Settings

    app = create_app(Settings.from_env(migrated))
    try:
        client = app.test_client()
        stored = client.get(f"/api/v1/timeseries/{body['id']}")
        assert stored.status_code == 200
        assert stored.get_json()["observations"] == body["observations"]  # the options were stored with it
        clear_only = client.get(f"/api/v1/timeseries/{body['id']}?include_cloudy=false").get_json()
        assert [o["date"] for o in clear_only["observations"]] == [DATE_CLEAR, DATE_MOSAIC]
    finally:
        app.extensions["fis"].close()


def test_stats_accepts_wkt(migrated: dict[str, str]) -> None:
    result = run(migrated, "stats", "--geometry", "POLYGON((500140 5000200, 500340 5000200, 500340 5000400, 500140 5000400, 500140 5000200))",
                 "--crs", "EPSG:32633", "--from", "2023-06-01", "--to", "2023-06-05")
    assert result.exit_code == 0, result.output
    observations = json.loads(result.stdout)["observations"]
    assert [o["date"] for o in observations] == [DATE_CLEAR]
    assert observations[0]["pixels"] == EXPECTED[DATE_CLEAR]["pixels"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--from", "2023-07-01", "--to", "2023-06-01"], ["after", "2023-07-01"]),
        (["--from", "someday", "--to", "2023-06-01"], ["someday"]),
        (["--from", "2023-06-01", "--to", "2023-06-30", "--crs", "EPSG:999999"], ["EPSG:999999"]),
        (["--from", "2023-06-01", "--to", "2023-06-30", "--max-cloud-fraction", "2"], ["max_cloud_fraction"]),
        (["--from", "2023-06-01", "--to", "2023-06-30", "--resolution", "0"], ["resolution"]),
        (["--from", "2023-06-01", "--to", "2023-06-30", "--format", "xml"], ["xml"]),
        (["--to", "2023-06-30"], ["--from"]),
    ],
)
def test_stats_bad_input_is_a_clear_error(migrated: dict[str, str], field_file: Path, args: list[str], words: list[str]) -> None:
    result = run(migrated, "stats", "--geometry", str(field_file), "--crs", "EPSG:32633", *args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "Error" in result.output
    for word in words:
        assert word in result.output


@pytest.mark.parametrize(
    ("geometry", "words"),
    [
        ("not-a-file-nor-wkt", ["geometry"]),
        ("POINT (15 45)", ["POINT", "POLYGON"]),
    ],
)
def test_stats_bad_geometry_is_a_clear_error(migrated: dict[str, str], geometry: str, words: list[str]) -> None:
    result = run(migrated, "stats", "--geometry", geometry, "--from", "2023-06-01", "--to", "2023-06-30")
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output


def test_stats_bad_geojson_file_is_a_clear_error(migrated: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text("{ not json")
    result = run(migrated, "stats", "--geometry", str(broken), "--from", "2023-06-01", "--to", "2023-06-30")
    assert result.exit_code == 2 and "broken.geojson" in result.output
    two = tmp_path / "two.geojson"
    feature = {"type": "Feature", "properties": {}, "geometry": FIELD_UTM}
    two.write_text(json.dumps({"type": "FeatureCollection", "features": [feature, feature]}))
    result = run(migrated, "stats", "--geometry", str(two), "--from", "2023-06-01", "--to", "2023-06-30")
    assert result.exit_code == 2 and "2 features" in result.output


def test_stats_on_unmigrated_database(env: dict[str, str], field_file: Path) -> None:
    result = run(env, "stats", "--geometry", str(field_file), "--crs", "EPSG:32633", "--from", "2023-06-01", "--to", "2023-06-30")
    assert result.exit_code != 0 and "fis db upgrade" in result.output


@pytest.mark.parametrize("command", [["db", "upgrade"], ["db", "current"], ["ingest", "."], ["stats", "--geometry", "x", "--from", "2023-01-01", "--to", "2023-01-02"]])
def test_bad_database_url_is_a_one_line_error(tmp_path: Path, command: list[str]) -> None:
    env = {"FIS_DATABASE_URL": "not a url", "FIS_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert ("Traceback" not in result.output and result.exception is None) or isinstance(result.exception, SystemExit)
    assert "FIS_DATABASE_URL" in result.output and "not a url" in result.output


@pytest.mark.parametrize("command", [["--help"], ["serve", "--help"], ["demo", "--help"], ["stats", "--help"], ["ingest", "--help"], ["db", "--help"]])
def test_help(command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_serve_help_names_options() -> None:
    output = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--host" in output and "--port" in output


@pytest.mark.slow
def test_demo_builds_ingests_and_prints_requests(tmp_path: Path, sqlite_url: str) -> None:
    pytest.importorskip("fis.demo.archive", reason="fis.demo.archive is not importable yet")
    env = {"FIS_DATABASE_URL": sqlite_url, "FIS_DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--size", "40", "--dir", str(out)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "curl" in result.stdout and "/api/v1/timeseries" in result.stdout
    assert "0 failed" in result.stdout
    assert "open http://127.0.0.1:8080/ " in result.stdout  # the web page
    items = sorted(out.rglob("*.json"))
    assert items, "no STAC items written"
    # the scenes are in the database and a printed request body works against it
    from fis.api.app import create_app
    from fis.config import Settings

    app = create_app(Settings.from_env(env))
    try:
        client = app.test_client()
        health = client.get("/healthz").get_json()
        assert health["status"] == "ok" and health["scenes"] > 0
        body_text = result.stdout.split("-d '", 1)[1].split("'", 1)[0]
        response = client.post("/api/v1/timeseries", json=json.loads(body_text))
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["observations"], "demo field has no observations"
    finally:
        app.extensions["fis"].close()


