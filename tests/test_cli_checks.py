"""Checks the CLI makes before any work: the output path, a geometry file name, an unmigrated database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fis.cli import main
from fis_archive import FIELD_UTM, archive  # noqa: F401 - fixtures


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def migrated(env: dict[str, str], archive: Path) -> dict[str, str]:
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "ingest", str(archive)).exit_code == 0
    return env


@pytest.fixture
def field_file(tmp_path: Path) -> Path:
    path = tmp_path / "field.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": FIELD_UTM}))
    return path


def stored_series(env: dict[str, str]) -> int:
    from fis.api.app import create_app
    from fis.config import Settings

    app = create_app(Settings.from_env(env))
    try:
        return int(app.test_client().get("/api/v1/timeseries").get_json()["total"])
    finally:
        app.extensions["fis"].close()


STATS = ("stats", "--crs", "EPSG:32633", "--from", "2023-06-01", "--to", "2023-06-30")


def test_output_in_a_missing_directory_fails_before_computing(
    migrated: dict[str, str], field_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "x.csv"
    result = run(migrated, *STATS, "--geometry", str(field_file), "--format", "csv", "-o", str(target))
    assert result.exit_code == 1
    assert result.output == f"Error: --output {target}: the directory {target.parent} does not exist\n"
    assert stored_series(migrated) == 0  # nothing was computed or stored
    assert not target.parent.exists()


def test_output_that_is_a_directory_fails_before_computing(
    migrated: dict[str, str], field_file: Path, tmp_path: Path
) -> None:
    result = run(migrated, *STATS, "--geometry", str(field_file), "-o", str(tmp_path))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "directory" in result.output and str(tmp_path) in result.output
    assert stored_series(migrated) == 0


def test_output_in_the_working_directory_is_accepted(
    migrated: dict[str, str], field_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(migrated, *STATS, "--geometry", str(field_file), "--format", "csv", "-o", "out.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.csv").read_text().startswith("date,datetime,")


@pytest.mark.parametrize("name", ["nosuch.geojson", "nosuch.JSON", "fields/nosuch", "./x"])
def test_missing_geometry_file_is_named_as_a_missing_file(migrated: dict[str, str], tmp_path: Path, name: str) -> None:
    result = run(migrated, *STATS, "--geometry", name)
    assert result.exit_code == 2
    assert f"the file {name} does not exist" in result.output
    assert "WKT" in result.output and "not valid WKT" not in result.output


def test_geometry_that_is_a_directory(migrated: dict[str, str], tmp_path: Path) -> None:
    result = run(migrated, *STATS, "--geometry", str(tmp_path) + "/")
    assert result.exit_code == 2 and "is a directory" in result.output


def test_bad_wkt_is_still_reported_as_wkt(migrated: dict[str, str]) -> None:
    result = run(migrated, *STATS, "--geometry", "POLYGON((1 2, 3 4")
    assert result.exit_code == 1 and "not valid WKT" in result.output


def test_serve_on_an_unmigrated_directory_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env={"FIS_DATA_DIR": str(data), "FIS_DATABASE_URL": ""})
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: database file {data / 'fis.sqlite'} does not exist; run `fis db upgrade` to create it\n"
    )
    assert not data.exists()
    data.mkdir()
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env={"FIS_DATA_DIR": str(data), "FIS_DATABASE_URL": ""})
    assert result.exit_code == 1 and list(data.iterdir()) == []


def test_db_current_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = CliRunner().invoke(main, ["db", "current"], env={"FIS_DATA_DIR": str(data), "FIS_DATABASE_URL": ""})
    assert result.exit_code == 0 and result.output.startswith("current: None")
    assert not data.exists()
    assert (
        CliRunner().invoke(main, ["db", "upgrade"], env={"FIS_DATA_DIR": str(data), "FIS_DATABASE_URL": ""}).exit_code
        == 0
    )
    assert (data / "fis.sqlite").is_file()
