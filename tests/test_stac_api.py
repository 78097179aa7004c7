"""STAC API ingest (pystac-client) against a STAC API served by the test itself, remote hrefs over http.

The API serves the four scenes of tests/fis_archive.py with absolute ``http://127.0.0.1:<port>/files/``
hrefs; GDAL reads the COGs through /vsicurl/ with HTTP range requests. The series computed from
those remote files must equal the hand-computed expectations of the local archive (EXPECTED).
Also: the real Earth Search v1 item (s3:// hrefs) ingests without opening any href, and an
unreachable or unauthorised href fails its date only (status PARTIAL).
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from fis.catalog.stac_api import parse_bbox_option, read_stac_api
from fis.cli import main
from fis.core.scenes import BandAsset
from fis.errors import InvalidInput, InvalidTimeRange
from fis_archive import (  # noqa: F401 - fixtures
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    FIELD_UTM,
    SCENE_CLEAR,
    SCENE_CLOUDY,
    SCENE_IDS,
    archive,
    assert_observation_matches,
)
from stacapi_server import StacApiServer

COLLECTION = "sentinel-2-l1c"


@pytest.fixture(autouse=True)
def _no_proxy_for_localhost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test server is local: keep any configured HTTP proxy out of the way (requests and GDAL/curl)."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("GDAL_DISABLE_READDIR_ON_OPEN", "EMPTY_DIR")


def archive_items(root: Path) -> list[dict]:
    items = [json.loads(p.read_text()) for p in sorted(root.glob("*/*.json"))]
    assert sorted(i["id"] for i in items) == sorted(SCENE_IDS)
    return sorted(items, key=lambda i: i["properties"]["datetime"])


@pytest.fixture(scope="module")
def stac_api(archive: Path):
    with StacApiServer(archive_items(archive), archive, collection=COLLECTION, max_page=2) as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"FIS_DATABASE_URL": database_url, "FIS_DATA_DIR": str(tmp_path / "data"),
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


# ------------------------------------------------------------------------------ search


def test_search_follows_next_links_and_filters(stac_api: StacApiServer) -> None:
    scenes = list(read_stac_api(stac_api.url, [COLLECTION]))
    assert sorted(s.id for s in scenes) == sorted(SCENE_IDS)
    assert sum("/search" in r for r in stac_api.requests) >= 2  # 4 items, pages of 2: the next link was followed
    for scene in scenes:
        assert scene.collection == COLLECTION
        assert all(a.href.startswith(f"{stac_api.url}/files/{scene.id}/") for a in scene.assets.values())
        # radiometry from raster:bands, as for STAC files
        assert scene.assets["B04"].radiometry.scale == 1e-4

    june_10_to_20 = list(read_stac_api(stac_api.url, [COLLECTION], datetime="2023-06-10/2023-06-20"))
    assert sorted(s.id for s in june_10_to_20) == sorted(i for i in SCENE_IDS if "20230611" in i)
    assert [s.id for s in read_stac_api(stac_api.url, [COLLECTION], datetime="2023-06-21")] == [SCENE_CLOUDY]
    assert list(read_stac_api(stac_api.url, [COLLECTION], bbox=(100.0, 10.0, 101.0, 11.0))) == []
    assert list(read_stac_api(stac_api.url, ["another-collection"])) == []
    assert len(list(read_stac_api(stac_api.url, [COLLECTION], max_items=3))) == 3


def test_search_by_post_and_by_get_give_the_same_items(stac_api: StacApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import fis.catalog.stac_api as module

    by_post = sorted(s.id for s in read_stac_api(stac_api.url, [COLLECTION], bbox=(14.9, 45.0, 15.1, 45.2)))
    before = len(stac_api.requests)
    original = module._search

    def get_only(*args, **kwargs):
        search = original(*args, **kwargs)
        search.method = "GET"
        return search

    monkeypatch.setattr(module, "_search", get_only)
    by_get = sorted(s.id for s in read_stac_api(stac_api.url, [COLLECTION], bbox=(14.9, 45.0, 15.1, 45.2)))
    assert by_get == by_post == sorted(SCENE_IDS)
    assert any(r.startswith("GET /search?") for r in stac_api.requests[before:])


def test_bad_search_options_are_clear_errors(stac_api: StacApiServer) -> None:
    with pytest.raises(InvalidInput, match="must be four"):
        parse_bbox_option("1,2,3")
    with pytest.raises(InvalidInput, match="outside"):
        parse_bbox_option("10,50,200,60")
    assert parse_bbox_option("14.9,45,15.1,45.2") == (14.9, 45.0, 15.1, 45.2)
    with pytest.raises(InvalidTimeRange):
        list(read_stac_api(stac_api.url, [COLLECTION], datetime="last week"))
    with pytest.raises(InvalidInput, match="http"):
        list(read_stac_api("ftp://example.org/stac", [COLLECTION]))


def test_unreachable_and_unauthorised_api_are_reported(stac_api: StacApiServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/"
    [(name, reason)] = list(read_stac_api(dead, [COLLECTION]))
    assert name == dead and "cannot search the STAC API" in reason
    private = f"{stac_api.url}/private/api"
    [(name, reason)] = list(read_stac_api(private, [COLLECTION]))
    assert name == private and "cannot search the STAC API" in reason and "credentials required" in reason


# ------------------------------------------------------------------------------ CLI end to end


def test_cli_ingest_from_stac_api_then_series_equals_the_local_archive(
    env: dict[str, str], stac_api: StacApiServer, tmp_path: Path
) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    result = run(env, "ingest", "--stac-api", stac_api.url, "--collection", COLLECTION,
                 "--bbox", "14.9,45.0,15.1,45.2", "--datetime", "2023-06-01/2023-06-30")
    assert result.exit_code == 0, result.output
    assert "4 scenes added, 0 updated, 0 failed" in result.stdout
    again = run(env, "ingest", "--stac-api", stac_api.url, "--collection", COLLECTION, "--max-items", "1")
    assert again.exit_code == 0 and "0 scenes added, 1 updated, 0 failed" in again.stdout

    field = tmp_path / "field.geojson"
    field.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": FIELD_UTM}))
    stats = run(env, "stats", "--geometry", str(field), "--crs", "EPSG:32633", "--from", "2023-06-01", "--to", "2023-06-30",
                "--include-cloudy", "--format", "json")
    assert stats.exit_code == 0, stats.output
    body = json.loads(stats.stdout)
    assert body["status"] == "OK" and body["errors"] == []
    assert [o["date"] for o in body["observations"]] == [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY]
    for obs in body["observations"]:
        assert_observation_matches(obs, obs["date"])
    # the pixels came over http (GDAL's /vsicurl/ cache may already hold them from an earlier test)
    assert any(r.startswith("GET /files/") for r in stac_api.requests)


def test_cli_stac_api_errors(env: dict[str, str], stac_api: StacApiServer) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    dead = f"http://127.0.0.1:{free_port()}"
    result = run(env, "ingest", "--stac-api", dead, "--collection", COLLECTION)
    assert result.exit_code == 1
    assert "0 scenes added, 0 updated, 1 failed" in result.stdout
    assert f"FAILED {dead}: cannot search the STAC API" in result.stderr
    bad_bbox = run(env, "ingest", "--stac-api", stac_api.url, "--collection", COLLECTION, "--bbox", "1,2")
    assert bad_bbox.exit_code == 1 and "--bbox '1,2' must be four" in bad_bbox.output
    no_source = run(env, "ingest")
    assert no_source.exit_code == 2 and "--stac-api" in no_source.output
    stray = run(env, "ingest", "--collection", COLLECTION, "some.json")
    assert stray.exit_code == 2 and "go with --stac-api" in stray.output


# ------------------------------------------------------------------------------ remote hrefs


def test_real_earth_search_item_ingests_without_opening_hrefs(env: dict[str, str], shared_data: Path, app) -> None:
    path = shared_data / "metadata" / "stac_earth_search_v1_l1c_S2B_27VWK_20240206.json"
    result = run(env, "ingest", str(path))
    assert result.exit_code == 0, result.output
    assert "1 scenes added, 0 updated, 0 failed" in result.stdout
    from fis.store.queries import find_scenes

    with app.extensions["fis"].sessions() as session:
        [scene] = find_scenes(session, None, None)
    assert scene.id == "S2B_27VWK_20240206_0_L1C" and scene.processing_baseline == "05.10"
    assert len(scene.assets) == 13
    for asset in scene.assets.values():
        assert asset.href.startswith("s3://sentinel-s2-l1c/tiles/27/V/WK/2024/2/6/0/")
        assert asset.radiometry.scale == 0.0001 and asset.radiometry.offset == -0.1 and asset.radiometry.nodata == 0


@pytest.mark.parametrize("kind", ["unreachable", "unauthorised"])
def test_unreachable_or_unauthorised_href_fails_its_date_only(archive: Path, stac_api: StacApiServer, kind: str) -> None:
    from dataclasses import replace

    from fis.catalog.stac import scene_from_item
    from fis.core.request import parse_timeseries_request
    from fis.engine.clouds import load_model
    from fis.engine.engine import Engine

    items = {i["id"]: i for i in archive_items(archive)}
    good = scene_from_item(items[SCENE_CLEAR], base_href=str(archive / SCENE_CLEAR / f"{SCENE_CLEAR}.json"))
    local_cloudy = scene_from_item(items[SCENE_CLOUDY], base_href=str(archive / SCENE_CLOUDY / f"{SCENE_CLOUDY}.json"))
    base = f"http://127.0.0.1:{free_port()}/gone" if kind == "unreachable" else f"{stac_api.url}/private"
    remote = replace(local_cloudy, assets={
        band: BandAsset(band=band, href=f"{base}/{SCENE_CLOUDY}/{band}.tif", radiometry=a.radiometry, resolution=a.resolution)
        for band, a in local_cloudy.assets.items()
    })
    engine = Engine(load_model("s2cloudless-v0.1"))
    try:
        request = parse_timeseries_request({"geometry": json.loads(json.dumps(FIELD_UTM)), "crs": "EPSG:32633",
                                            "time_range": {"from": "2023-06-01", "to": "2023-06-30"}})
        result = engine.compute(request, [good, remote])
    finally:
        engine.cache.close()
    assert result.status == "PARTIAL"
    assert [o.date for o in result.observations] == [dt.date.fromisoformat(DATE_CLEAR)]
    [error] = result.errors
    assert error.date == dt.date.fromisoformat(DATE_CLOUDY) and error.scenes == (SCENE_CLOUDY,)
    assert base in error.message
