"""``fis stats`` with the statistics options (SQLite and PostGIS via FIS_DATABASE_URL)."""

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
    FIELD_UTM,
    NDVI_EAST,
    NDVI_WEST,
    TOL,
    archive,
)

RATIO = (0.3 - 0.15) / (0.3 + 0.15)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def migrated(env: dict[str, str], archive: Path) -> dict[str, str]:
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "ingest", str(archive))
    assert result.exit_code == 0, result.output
    return env


@pytest.fixture
def field(tmp_path: Path) -> Path:
    path = tmp_path / "field.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": FIELD_UTM}))
    return path


def stats(env: dict[str, str], field: Path, *options: str) -> Result:
    return run(env, "stats", "--geometry", str(field), "--crs", "EPSG:32633", "--from", "2023-06-01", "--to", "2023-06-30",
               *options)


def test_stats_with_every_statistics_option_as_csv(migrated: dict[str, str], field: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = stats(migrated, field, "--mask-clouds", "--include-cloudy", "--index", "ndwi",
                   "--index", "my_ratio=(B08 - B11) / (B08 + B11)", "--percentiles", "0.05,0.5,0.95",
                   "--histogram-bins", "2", "--histogram-range", "-1,1", "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    header = text.splitlines()[0].split(",")
    assert ",".join(header[:31]) == CSV_HEADER
    assert header[31:33] == ["clear_pixels", "ndwi_mean"]
    rows = {r["date"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[DATE_CLEAR]["clear_pixels"] == "360" and rows[DATE_CLOUDY]["clear_pixels"] == "0"
    assert float(rows[DATE_CLEAR]["my_ratio_mean"]) == pytest.approx(RATIO, abs=TOL)
    assert float(rows[DATE_MOSAIC]["ndvi_p50"]) == pytest.approx((NDVI_WEST + NDVI_EAST) / 2, abs=TOL)
    # bins [-1, 0) and [0, 1]: vegetation NDVI in the second, NDWI in the first
    assert (rows[DATE_MOSAIC]["ndvi_hist_0_count"], rows[DATE_MOSAIC]["ndvi_hist_1_count"]) == ("0", "400")
    assert (rows[DATE_MOSAIC]["ndwi_hist_0_count"], rows[DATE_MOSAIC]["ndwi_hist_1_count"]) == ("400", "0")
    assert rows[DATE_CLOUDY]["ndvi_mean"] == ""


def test_stats_interval_as_geojson(migrated: dict[str, str], field: Path) -> None:
    result = stats(migrated, field, "--interval", "P21D", "--pick", "clear_mean", "--format", "geojson")
    assert result.exit_code == 0, result.output
    feature = json.loads(result.stdout)
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
    rows = feature["properties"]["observations"]
    assert [r["interval"]["observations"] for r in rows] == [[DATE_CLEAR, DATE_MOSAIC], []]
    assert rows[0]["ndvi"]["mean"] == pytest.approx((290 * NDVI_WEST + 110 * NDVI_EAST) / 400, abs=TOL)
    assert feature["properties"]["parameters"]["aggregation"] == {"interval": "P21D", "last_interval": "shorten", "pick": "clear_mean"}


def test_stats_long_csv(migrated: dict[str, str], field: Path) -> None:
    result = stats(migrated, field, "--format", "long_csv")
    assert result.exit_code == 0, result.output
    lines = list(csv.reader(io.StringIO(result.stdout)))
    assert lines[0] == ["date", "datetime", "cloudy", "variable", "statistic", "value"]
    assert len(lines) == 1 + 3 * (len(CSV_HEADER.split(",")) - 3)
    table = {(d, v, s): value for d, _, _, v, s, value in lines[1:]}
    assert float(table[(DATE_CLEAR, "ndvi", "mean")]) == pytest.approx(NDVI_WEST, abs=TOL)
    assert table[(DATE_CLEAR, "pixels", "nodata")] == "40"
    assert {d for d, _, _ in table} == set(DATES)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--index", "r=B08 % B04"), "indices.r: unexpected '%'"),
        (("--index", "ndsi"), "'ndsi' is not a built-in index"),
        (("--percentiles", "5"), "outside 0..1"),
        (("--percentiles", "a,b"), "not a comma-separated list of numbers"),
        (("--histogram-range", "-1,1"), "no bins"),
        (("--histogram-bins", "4", "--histogram-range", "1,0"), "less than high"),
        (("--interval", "P1Q"), "aggregation.interval"),
        (("--pick", "least_cloudy"), "aggregation.interval: is required"),
    ],
)
def test_stats_bad_options_exit_with_the_message(migrated: dict[str, str], field: Path, options: tuple[str, ...], message: str) -> None:
    result = stats(migrated, field, *options)
    assert result.exit_code != 0
    assert message in result.output


def test_stats_with_outputs(migrated: dict[str, str], field: Path) -> None:
    result = stats(migrated, field, "--outputs", "ndvi, cloud_fraction", "--include-cloudy")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["parameters"]["outputs"] == ["ndvi", "cloud_fraction"]
    assert all("bands" not in o and "cloud_fraction" in o for o in document["observations"])
    bad = stats(migrated, field, "--outputs", "ndvi,clouds")
    assert bad.exit_code != 0 and "'clouds' is not accepted" in bad.output
