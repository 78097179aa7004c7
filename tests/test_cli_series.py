"""``fis series list/show/delete`` through click's CliRunner (SQLite and PostGIS via FIS_DATABASE_URL)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pyproj import Geod
from shapely.geometry import box, shape

from fis.cli import main
from fis_archive import (  # noqa: F401 - fixtures
    CSV_HEADER,
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    DATES,
    FIELD_UTM,
    archive,
    assert_observation_matches,
)


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "FIS_DATABASE_URL": database_url,
        "FIS_DATA_DIR": str(tmp_path / "data"),
        "FIS_PUBLIC_URL": "https://fis.example.org/",
    }


def run(env: dict[str, str], *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


@pytest.fixture
def stored(env: dict[str, str], archive: Path, tmp_path: Path) -> dict[str, Any]:
    """Two series made with ``fis stats``: one unnamed (cloudy threshold 0.5), one named by its Feature."""
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "ingest", str(archive)).exit_code == 0
    plain = tmp_path / "plain.geojson"
    plain.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": FIELD_UTM}))
    named = tmp_path / "named.geojson"
    named.write_text(
        json.dumps({"type": "Feature", "properties": {"name": "Parcel 12", "crop": "maize"}, "geometry": FIELD_UTM})
    )
    ids = []
    for path, extra in ((plain, ["--max-cloud-fraction", "0.5"]), (named, [])):
        result = run(
            env,
            "stats",
            "--geometry",
            str(path),
            "--crs",
            "EPSG:32633",
            "--from",
            "2023-06-01",
            "--to",
            "2023-06-30",
            *extra,
        )
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["id"])
    return {"env": env, "plain": ids[0], "named": ids[1]}


def field_area_ha() -> float:
    from pyproj import Transformer
    from shapely import transform

    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lonlat = transform(shape(FIELD_UTM), to_lonlat.transform, interleaved=False)
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(lonlat)[0]) / 10_000


def test_list_table(stored: dict[str, Any]) -> None:
    result = run(stored["env"], "series", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "CREATED", "FROM", "TO", "DATES", "AREA_HA"]
    assert len(lines) == 3
    named, plain = lines[1], lines[2]  # newest first
    assert named.startswith(stored["named"]) and "Parcel 12" in named
    assert plain.startswith(stored["plain"])
    for line in (named, plain):
        cells = line.split()
        assert cells[-4:-1] == ["2023-06-01", "2023-06-30", "3"]
        # a 200 m x 200 m field (4 ha; UTM scale distortion at 500 km easting is ~ -0.04 %)
        assert cells[-1] == f"{field_area_ha():.2f}" and abs(float(cells[-1]) - 4.0) < 0.01


def test_list_json(stored: dict[str, Any]) -> None:
    items = json.loads(run(stored["env"], "series", "list", "--json").stdout)
    assert [i["id"] for i in items] == [stored["named"], stored["plain"]]
    assert items[0]["name"] == "Parcel 12" and "name" not in items[1]
    assert items[1]["observations"] == 3
    assert items[1]["links"] == {
        "self": f"https://fis.example.org/api/v1/timeseries/{stored['plain']}",
        "csv": f"https://fis.example.org/api/v1/timeseries/{stored['plain']}?format=csv",
        "collection": "https://fis.example.org/api/v1/timeseries",
    }


def test_list_of_an_empty_database(env: dict[str, str]) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "series", "list").stdout.splitlines() == ["ID  NAME  CREATED  FROM  TO  DATES  AREA_HA"]
    assert run(env, "series", "list", "--json").stdout == "[]\n"


def test_show_is_the_get_response(stored: dict[str, Any]) -> None:
    from fis.api.app import create_app
    from fis.config import Settings

    result = run(stored["env"], "series", "show", stored["plain"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert [o["date"] for o in body["observations"]] == [DATE_CLEAR, DATE_MOSAIC]  # the stored threshold 0.5
    for obs in body["observations"]:
        assert_observation_matches(obs, obs["date"])
    assert body["links"]["self"] == f"https://fis.example.org/api/v1/timeseries/{stored['plain']}"
    app = create_app(Settings.from_env(stored["env"]))
    try:
        served = (
            app.test_client()
            .get(f"/api/v1/timeseries/{stored['plain']}", base_url="https://fis.example.org")
            .get_json()
        )
    finally:
        app.extensions["fis"].close()
    assert body == served


def test_show_refilters(stored: dict[str, Any]) -> None:
    env, sid = stored["env"], stored["plain"]
    flagged = json.loads(run(env, "series", "show", sid, "--include-cloudy").stdout)
    assert [(o["date"], o["cloudy"]) for o in flagged["observations"]] == [
        (DATE_CLEAR, False),
        (DATE_MOSAIC, False),
        (DATE_CLOUDY, True),
    ]
    loose = json.loads(run(env, "series", "show", sid, "--max-cloud-fraction", "1").stdout)
    assert [o["date"] for o in loose["observations"]] == list(DATES)
    assert loose["filter"] == {"max_cloud_fraction": 1.0, "max_cloud_probability": None, "include_cloudy": False}
    bad = run(env, "series", "show", sid, "--max-cloud-fraction", "2")
    assert bad.exit_code == 2 and "--max-cloud-fraction" in bad.output


def test_show_exports_csv_and_geojson(stored: dict[str, Any], tmp_path: Path) -> None:
    env = stored["env"]
    out = tmp_path / "field.csv"
    result = run(env, "series", "show", stored["plain"], "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_bytes().decode()
    assert text.splitlines()[0] == CSV_HEADER and text.count("\r\n") == 3
    assert [r["date"] for r in csv.DictReader(io.StringIO(text))] == [DATE_CLEAR, DATE_MOSAIC]
    long = run(env, "series", "show", stored["plain"], "--format", "long_csv").stdout
    assert long.splitlines()[0] == "date,datetime,cloudy,variable,statistic,value"
    feature = json.loads(run(env, "series", "show", stored["named"], "--format", "geojson").stdout)
    assert feature["type"] == "Feature" and feature["id"] == stored["named"]
    assert feature["properties"]["name"] == "Parcel 12" and feature["properties"]["crop"] == "maize"
    assert shape(feature["geometry"]).within(box(14, 44, 16, 46))
    missing = run(env, "series", "show", stored["plain"], "-o", str(tmp_path / "no" / "x.json"))
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_unknown_id_is_a_one_line_error(stored: dict[str, Any]) -> None:
    for command in (["show", "nope"], ["delete", "nope", "--yes"]):
        result = run(stored["env"], "series", *command)
        assert result.exit_code == 1
        assert result.output == "Error: no time series 'nope'; list the stored ones with `fis series list`\n"


def test_delete_asks_first(stored: dict[str, Any]) -> None:
    env = stored["env"]
    declined = run(env, "series", "delete", stored["named"], input="n\n")
    assert declined.exit_code == 1 and "Delete time series" in declined.output and "Parcel 12" in declined.output
    assert "3 observations" in declined.output
    assert len(json.loads(run(env, "series", "list", "--json").stdout)) == 2
    confirmed = run(env, "series", "delete", stored["named"], input="y\n")
    assert confirmed.exit_code == 0 and f"deleted time series {stored['named']} (Parcel 12)" in confirmed.output
    assert [i["id"] for i in json.loads(run(env, "series", "list", "--json").stdout)] == [stored["plain"]]
    quiet = run(env, "series", "delete", stored["plain"], "--yes")
    assert quiet.exit_code == 0 and quiet.output == f"deleted time series {stored['plain']}\n"
    assert json.loads(run(env, "series", "list", "--json").stdout) == []


def test_series_on_an_unmigrated_database(env: dict[str, str]) -> None:
    result = run(env, "series", "list")
    assert result.exit_code == 1 and "fis db upgrade" in result.output and "Traceback" not in result.output
