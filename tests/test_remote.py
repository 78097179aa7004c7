"""A remote archive: the demo archive's COGs served over HTTP by a local server (tests/rangeserver.py)
with Range requests, injected latency and injected failures, STAC items rewritten to http:// hrefs.

Numbers are identical to the local archive; a file that answers 503 a few times is retried and read;
a file that keeps failing, truncates its body or hangs beyond the timeout makes its date an ``errors``
entry (PARTIAL), and the service keeps answering.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fis.api.app import create_app
from fis.catalog.stac import scene_from_item
from fis.config import Settings
from fis.core.request import parse_timeseries_request
from fis.core.scenes import SceneRecord
from fis.demo.archive import DemoArchive, build_demo_archive
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.engine.raster import DatasetCache
from fis.engine.remote import RemotePolicy, is_remote
from fis.store.db import upgrade
from rangeserver import Faults, RangeServer, rewrite_items, serve

MODEL = load_model("s2cloudless-v0.1")
FAST = RemotePolicy(threads=8, timeout_s=10, retries=2, backoff_s=0.05, gdal_retries=1, gdal_retry_delay_s=0.05)
#: for the hanging server: a short timeout (still far above a normal answer on a loaded machine)
SHORT = RemotePolicy(threads=8, timeout_s=2, retries=2, backoff_s=0.05, gdal_retries=1, gdal_retry_delay_s=0.05)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoArchive:
    return build_demo_archive(tmp_path_factory.mktemp("demo"), year=2023, revisit_days=60, size_px=120, tiles=2)


@pytest.fixture(scope="module")
def server(demo: DemoArchive) -> Iterator[RangeServer]:
    server = serve(demo.root, latency=0.005)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def remote_items(demo: DemoArchive, server: RangeServer, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return rewrite_items(demo.items, demo.root, server.url, tmp_path_factory.mktemp("items"))


def scenes_of(items: list[Path]) -> list[SceneRecord]:
    return [scene_from_item(json.loads(p.read_text()), base_href=str(p)) for p in items]


def body(demo: DemoArchive, **extra: Any) -> dict[str, Any]:
    field = demo.fields[sorted(demo.fields)[0]]
    return {"geometry": field, "time_range": {"from": "2023-01-01", "to": "2023-12-31"}, **extra}


def engine(policy: RemotePolicy = FAST) -> Engine:
    return Engine(MODEL, cache=DatasetCache(256), remote=policy)


def test_is_remote() -> None:
    assert is_remote("https://example.com/a.tif") and is_remote("s3://bucket/a.tif")
    assert is_remote("/vsicurl/https://example.com/a.tif") and is_remote("/vsis3/bucket/a.tif")
    assert not is_remote("/data/a.tif") and not is_remote("relative/a.tif")


def test_gdal_variables_of_the_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    options = RemotePolicy(timeout_s=7).gdal_options()
    assert options["GDAL_HTTP_TIMEOUT"] == "7" and options["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    monkeypatch.setenv("GDAL_HTTP_TIMEOUT", "99")
    assert "GDAL_HTTP_TIMEOUT" not in RemotePolicy(timeout_s=7).gdal_options()


def test_remote_numbers_equal_the_local_archive(
    demo: DemoArchive, remote_items: list[Path], server: RangeServer
) -> None:
    request = parse_timeseries_request(body(demo))
    local = engine().compute(request, scenes_of(demo.items))
    scenes = scenes_of(remote_items)
    assert all(a.href.startswith(server.url) for s in scenes for a in s.assets.values())
    reader = engine()
    before = server.total_requests()
    remote = reader.compute(request, scenes)
    assert server.total_requests() > before  # read over HTTP
    assert len(remote.observations) == len(local.observations) == 7 and not remote.errors
    assert remote.observations == local.observations
    # a second request reuses the open datasets: fewer HTTP requests than the first
    first = server.total_requests() - before
    again = server.total_requests()
    assert reader.compute(request, scenes).observations == local.observations
    assert server.total_requests() - again < first


def _one_date_files(items: list[Path], date: str, band: str) -> list[str]:
    """Paths (relative to the served root) of ``band`` of the scenes of ``date``."""
    paths = []
    for scene in scenes_of(items):
        if scene.date.isoformat() == date:
            paths.append(scene.assets[band].href.split("/", 3)[3])
    return paths


@pytest.fixture
def faulty(demo: DemoArchive, remote_items: list[Path]) -> Iterator[tuple[RangeServer, list[Path]]]:
    """A second server over the same files whose faults a test sets; items pointing at it."""
    server = serve(demo.root, faults=Faults())
    items = rewrite_items(demo.items, demo.root, server.url, demo.root.parent / f"faulty-{server.server_address[1]}")
    yield server, items
    server.shutdown()
    server.server_close()


def test_a_few_503s_are_retried(demo: DemoArchive, faulty: tuple[RangeServer, list[Path]]) -> None:
    # pyogrio loads a libgdal of its own: a retry must clear the cache of the one rasterio reads with
    pytest.importorskip("pyogrio")
    server, items = faulty
    local = engine().compute(parse_timeseries_request(body(demo)), scenes_of(demo.items))
    date = local.observations[2].date.isoformat()
    for path in _one_date_files(items, date, "B08"):
        server.faults.unavailable[path] = 3  # more than GDAL's own retry absorbs: ours ask again
    result = engine().compute(parse_timeseries_request(body(demo)), scenes_of(items))
    assert not result.errors and result.observations == local.observations


@pytest.mark.parametrize("fault", ["unavailable", "truncated", "hang"])
def test_a_failing_file_makes_its_date_an_error(
    demo: DemoArchive, faulty: tuple[RangeServer, list[Path]], fault: str
) -> None:
    server, items = faulty
    local = engine().compute(parse_timeseries_request(body(demo)), scenes_of(demo.items))
    date = local.observations[3].date
    for path in _one_date_files(items, date.isoformat(), "B04"):
        if fault == "unavailable":
            server.faults.unavailable[path] = 10_000
        elif fault == "truncated":
            server.faults.truncated.add(path)
        else:
            server.faults.hang[path] = 4.0  # beyond the 2 s timeout
    result = engine(SHORT if fault == "hang" else FAST).compute(parse_timeseries_request(body(demo)), scenes_of(items))
    assert [e.date for e in result.errors] == [date]
    assert "B04" in result.errors[0].message
    assert result.observations == tuple(o for o in local.observations if o.date != date)


def test_the_service_reports_partial_and_keeps_answering(
    demo: DemoArchive, faulty: tuple[RangeServer, list[Path]], tmp_path: Path
) -> None:
    server, items = faulty
    for path in _one_date_files(items, "2023-05-01", "B04"):
        server.faults.truncated.add(path)
    settings = Settings(data_dir=tmp_path, remote_read_threads=4, remote_timeout_s=10, remote_retries=1)
    app = create_app(settings)
    services = app.extensions["fis"]
    upgrade(services.db)
    assert (services.engine.remote.threads, services.engine.remote.timeout_s, services.engine.remote.retries) == (4, 10, 1)
    from fis.services.ingest import ingest

    report = ingest([str(p) for p in items], services.sessions)
    assert not report.failed and len(report.created) == 14
    client = app.test_client()
    response = client.post("/api/v1/timeseries", json=body(demo, include_cloudy=True))
    assert response.status_code == 201, response.get_json()
    document = response.get_json()
    assert document["status"] == "PARTIAL"
    assert [e["date"] for e in document["errors"]] == ["2023-05-01"]
    assert len(document["observations"]) == 6
    assert client.get("/healthz").status_code == 200
    assert client.post("/api/v1/timeseries", json=body(demo, outputs=["ndvi"])).status_code == 201
    services.close()
