"""``pixel_rule`` / ``min_coverage`` through the HTTP API (SQLite and PostGIS) and the CLI.

The field is FIELD_UTM shifted 2.5 m east: x 500142.5..500342.5, y 5000200..5000400. Its
20 rows each cover column 14 (x 500140..500150) by 0.75 (centre inside), columns 15..33 fully and
column 34 by 0.25 (centre outside). On 2023-06-11 columns < 24 are the west tile (B04 0.04),
the others the east tile (B04 0.06). So per row:

* center: 10 west + 10 east pixels -> 400 pixels, B04 mean 0.05;
* all_touched: 10 west + 11 east -> 420 pixels, B04 mean (10 * 0.04 + 11 * 0.06) / 21;
* coverage: weight 9.75 west + 10.25 east -> 420 pixels, B04 mean (9.75 * 0.04 + 10.25 * 0.06) / 20 = 0.05025;
* coverage, min_coverage 0.5: column 34 drops -> 400 pixels, weights 9.75 west + 10 east.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from shapely.geometry import box, mapping

from fis.cli import main
from fis_archive import CRS, DATE_MOSAIC, TOL, archive, ingested  # noqa: F401 - fixtures

SHIFTED = mapping(box(500142.5, 5000200.0, 500342.5, 5000400.0))
DAY = {"from": DATE_MOSAIC, "to": DATE_MOSAIC}

EXPECTED = {
    None: (400, 0.05),
    "center": (400, 0.05),
    "all_touched": (420, (10 * 0.04 + 11 * 0.06) / 21),
    "coverage": (420, (9.75 * 0.04 + 10.25 * 0.06) / 20),
}


def body(**extra: Any) -> dict[str, Any]:
    return {"geometry": json.loads(json.dumps(SHIFTED)), "crs": CRS, "time_range": dict(DAY), **extra}


@pytest.mark.parametrize("rule", list(EXPECTED))
def test_pixel_rule_through_the_api(ingested: Any, rule: str | None) -> None:
    client = ingested.test_client()
    extra = {} if rule is None else {"pixel_rule": rule}
    response = client.post("/api/v1/timeseries", json=body(**extra))
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    (obs,) = data["observations"]
    pixels, b04 = EXPECTED[rule]
    assert obs["pixels"]["total"] == obs["pixels"]["valid"] == pixels
    assert obs["bands"]["B04"] == pytest.approx(b04, abs=TOL)
    if rule in (None, "center"):
        assert "pixel_rule" not in data["parameters"]
    else:
        assert data["parameters"]["pixel_rule"] == rule
    # stored: GET shows the same
    stored = client.get(f"/api/v1/timeseries/{data['id']}").get_json()
    assert stored["observations"][0]["bands"]["B04"] == obs["bands"]["B04"]
    assert stored["parameters"] == data["parameters"]


def test_min_coverage_through_the_api(ingested: Any) -> None:
    client = ingested.test_client()
    response = client.post("/api/v1/timeseries", json=body(pixel_rule="coverage", min_coverage=0.5))
    assert response.status_code == 201
    (obs,) = response.get_json()["observations"]
    assert obs["pixels"]["total"] == 400
    assert obs["bands"]["B04"] == pytest.approx((9.75 * 0.04 + 10 * 0.06) / 19.75, abs=TOL)
    assert response.get_json()["parameters"]["min_coverage"] == 0.5


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"pixel_rule": "nearest"}, "pixel_rule"),
        ({"pixel_rule": "coverage", "min_coverage": 2}, "min_coverage"),
        ({"pixel_rule": "coverage", "min_coverage": -1}, "min_coverage"),
    ],
)
def test_bad_pixel_rule_is_a_400_naming_the_parameter(ingested: Any, extra: dict[str, Any], field: str) -> None:
    response = ingested.test_client().post("/api/v1/timeseries", json=body(**extra))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field
    assert field in error["message"]


def test_pixel_rule_on_the_cli(database_url: str, tmp_path: Path, archive: Path) -> None:
    env = {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    assert runner.invoke(main, ["ingest", str(archive)], env=env).exit_code == 0
    field = tmp_path / "field.geojson"
    field.write_text(json.dumps(SHIFTED))
    base = ["stats", "--geometry", str(field), "--crs", CRS, "--from", DATE_MOSAIC, "--to", DATE_MOSAIC]
    result = runner.invoke(main, [*base, "--pixel-rule", "coverage", "--min-coverage", "0.5"], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    (obs,) = document["observations"]
    assert obs["pixels"]["total"] == 400
    assert obs["bands"]["B04"] == pytest.approx((9.75 * 0.04 + 10 * 0.06) / 19.75, abs=TOL)
    assert document["parameters"]["pixel_rule"] == "coverage"
    bad = runner.invoke(main, [*base, "--pixel-rule", "coverage", "--min-coverage", "1.5"], env=env)
    assert bad.exit_code != 0
    assert "min_coverage" in bad.output


@pytest.mark.parametrize("pick", ["all", "least_cloudy", "clear_mean"])
def test_coverage_with_aggregation(ingested: Any, pick: str) -> None:
    """Pooled and composited dates keep the coverage weights: 2023-06-11 alone in its 10-day interval."""
    client = ingested.test_client()
    request = body(pixel_rule="coverage", include_cloudy=True, time_range={"from": "2023-06-11", "to": "2023-06-20"},
                   aggregation={"interval": "P10D", "pick": pick})
    if pick == "clear_mean":
        request["mask_clouds"] = True
    response = client.post("/api/v1/timeseries", json=request)
    assert response.status_code == 201, response.get_json()
    (row,) = response.get_json()["observations"]
    assert row["bands"]["B04"] == pytest.approx((9.75 * 0.04 + 10.25 * 0.06) / 20, abs=TOL)
