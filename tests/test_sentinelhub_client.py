"""The installed ``sentinelhub`` package (PyPI, unmodified) against a live ``fis serve`` with FIS_AUTH=required.

A subprocess serves a data directory holding the hand-checkable archive of ``fis_archive`` and, when
../shared/data is present, the 5 real Sentinel-2 acquisitions of eo-learn's TestEOPatch. A client made with
``fis clients create`` gets its token from ``/oauth/token`` through sentinelhub-py's own OAuth session; a
collection defined with ``DataCollection.SENTINEL2_L1C.define_from(..., service_url=<fis>)`` sends
``SentinelHubStatistical`` to ``/api/v1/statistics``. The NDVI + CLM evalscript's means must equal fis' own
``ndvi.mean`` and ``cloud_fraction`` (float32 precision), and on the real data Sentinel Hub's own NDVI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import shape

from conftest import SHARED_DATA
from fis.core.bands import BANDS
from fis.demo.synthetic import BandRaster, write_stac_scene
from fis_archive import (
    DATE_CLEAR,
    DATE_CLOUDY,
    DATE_MOSAIC,
    FIELD_BOUNDS_UTM,
    FIELD_UTM,
    NDVI_EAST,
    NDVI_WEST,
    build_archive,
)
from test_statistical_api import NDVI_CLM

sentinelhub = pytest.importorskip("sentinelhub")

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
F32 = 1e-6
REFERENCE_ACQUISITIONS = ("2015-08-20T10:07:28", "2015-07-31T10:00:09", "2015-09-09T10:00:17",
                          "2015-08-30T10:05:47", "2015-07-11T10:00:08")


def _fis(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "fis", *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _write_reference_archive(out: Path) -> Path | None:
    """The real acquisitions as DN GeoTIFFs + STAC items on their own grid (as tests/test_reference.py)."""
    folder = SHARED_DATA / "s2-reference"
    if not (folder / "reference_scenes.npy").is_file():
        return None
    scenes = np.load(folder / "reference_scenes.npy")
    bbox = json.loads((folder / "bbox.geojson").read_text())
    x0, y0, x1, y1 = shape(bbox).bounds
    _, height, width, _ = scenes.shape
    transform = Affine((x1 - x0) / width, 0.0, x0, 0.0, -(y1 - y0) / height, y1)
    for i, acquired in enumerate(REFERENCE_ACQUISITIONS):
        dn = np.rint(scenes[i].astype(np.float64) * 10000)
        bands = {band: BandRaster(dn[..., k].astype(np.uint16), transform) for k, band in enumerate(BANDS)}
        when = dt.datetime.fromisoformat(acquired).replace(tzinfo=dt.UTC)
        write_stac_scene(out, f"S2A_MSIL1C_{acquired[:10].replace('-', '')}_T33TWM", when, bands,
                         crs="EPSG:32633", processing_baseline="02.01", mgrs_tile="33TWM")
    return out


class LiveServer:
    def __init__(self, url: str, client_id: str, client_secret: str, reference: bool):
        self.url = url
        self.client_id = client_id
        self.client_secret = client_secret
        self.reference = reference

    def token(self) -> str:
        form = f"grant_type=client_credentials&client_id={self.client_id}&client_secret={self.client_secret}"
        request = urllib.request.Request(f"{self.url}/oauth/token", data=form.encode(), method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(request, timeout=30) as response:
            token: str = json.loads(response.read())["access_token"]
            return token

    def native(self, geometry: dict[str, Any], time_range: dict[str, str]) -> dict[str, dict[str, Any]]:
        body = json.dumps({"geometry": geometry, "crs": "EPSG:32633", "time_range": time_range,
                           "include_cloudy": True}).encode()
        request = urllib.request.Request(f"{self.url}/api/v1/timeseries", data=body, method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, timeout=120) as response:
            return {o["date"]: o for o in json.loads(response.read())["observations"]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("sh-live")
    build_archive(tmp / "archive")
    reference = _write_reference_archive(tmp / "reference")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
        "FIS_DATA_DIR": str(tmp / "data"), "FIS_DATABASE_URL": f"sqlite:///{tmp / 'fis.sqlite'}",
        "FIS_AUTH": "required", "FIS_LOG_FORMAT": "text", "FIS_EVALSCRIPT_PROCESSES": "1",
    }
    _fis(env, tmp, "db", "upgrade")
    _fis(env, tmp, "ingest", str(tmp / "archive"), *([str(reference)] if reference else []))
    created = json.loads(_fis(env, tmp, "clients", "create", "notebook", "--json"))
    port = _free_port()
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "fis", "serve", "--host", HOST, "--port", str(port)],
                            env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "fis serve did not answer within 60 s"
                time.sleep(0.2)
        yield LiveServer(url, created["client_id"], created["client_secret"], reference is not None)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def config(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # plain http in the test (requests-oauthlib refuses it)
    return sentinelhub.SHConfig(
        sh_client_id=live.client_id, sh_client_secret=live.client_secret,
        sh_token_url=f"{live.url}/oauth/token", sh_base_url=live.url,
    )


def _collection(live: LiveServer) -> Any:
    name = f"fis-l1c-{live.url.rsplit(':', 1)[1]}"
    try:
        return sentinelhub.DataCollection[name.replace("-", "_").upper()]
    except (KeyError, AttributeError):
        return sentinelhub.DataCollection.SENTINEL2_L1C.define_from(name, service_url=live.url)


def _statistical(live: LiveServer, config: Any, *, geometry: Any = None, bbox: Any = None,
                 interval: tuple[str, str], calculations: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    request = sentinelhub.SentinelHubStatistical(
        aggregation=sentinelhub.SentinelHubStatistical.aggregation(
            evalscript=NDVI_CLM, time_interval=interval, aggregation_interval="P1D", resolution=(10, 10),
        ),
        input_data=[sentinelhub.SentinelHubStatistical.input_data(_collection(live))],
        geometry=geometry,
        bbox=bbox,
        calculations=calculations,
        config=config,
    )
    (answer,) = request.get_data()
    assert answer["status"] == "OK", answer
    data: list[dict[str, Any]] = answer["data"]
    return data


def _band(entry: dict[str, Any], output: str) -> dict[str, Any]:
    band: dict[str, Any] = entry["outputs"][output]["bands"]["B0"]
    return band


def test_unmodified_client_ndvi_and_clm_equal_fis_native(live: LiveServer, config: Any) -> None:
    geometry = sentinelhub.Geometry(shape(FIELD_UTM), crs=sentinelhub.CRS.UTM_33N)
    calculations = {"ndvi": {"statistics": {"default": {"percentiles": {"k": [50], "interpolation": "linear"}}},
                             "histograms": {"default": {"nBins": 4, "lowEdge": 0.6, "highEdge": 0.8}}}}
    data = _statistical(live, config, geometry=geometry, interval=("2023-06-01", "2023-06-30"),
                        calculations=calculations)
    native = live.native(FIELD_UTM, {"from": "2023-06-01", "to": "2023-06-30"})
    days = {entry["interval"]["from"][:10]: entry for entry in data}
    assert list(days) == [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY]
    for day, entry in days.items():
        ndvi, clm = _band(entry, "ndvi"), _band(entry, "clm")
        assert ndvi["stats"]["mean"] == pytest.approx(native[day]["ndvi"]["mean"], abs=F32)
        assert ndvi["stats"]["percentiles"]["50.0"] == pytest.approx(native[day]["ndvi"]["median"], abs=F32)
        assert clm["stats"]["mean"] == pytest.approx(native[day]["cloud_fraction"], abs=F32)
        assert ndvi["stats"]["sampleCount"] == 400
        assert ndvi["stats"]["noDataCount"] == native[day]["pixels"]["nodata"]
    assert _band(days[DATE_MOSAIC], "ndvi")["stats"]["mean"] == pytest.approx((NDVI_WEST + NDVI_EAST) / 2, abs=F32)
    assert [b["count"] for b in _band(days[DATE_MOSAIC], "ndvi")["histogram"]["bins"]] == [0, 200, 0, 200]
    assert _band(days[DATE_CLOUDY], "clm")["stats"]["mean"] == 1.0


def test_unmodified_client_with_a_bbox(live: LiveServer, config: Any) -> None:
    bbox = sentinelhub.BBox(FIELD_BOUNDS_UTM, crs=sentinelhub.CRS.UTM_33N)
    data = _statistical(live, config, bbox=bbox, interval=("2023-06-01", "2023-06-30"))
    native = live.native(FIELD_UTM, {"from": "2023-06-01", "to": "2023-06-30"})
    for entry in data:
        day = entry["interval"]["from"][:10]
        assert _band(entry, "ndvi")["stats"]["mean"] == pytest.approx(native[day]["ndvi"]["mean"], abs=F32)
        assert _band(entry, "clm")["stats"]["mean"] == pytest.approx(native[day]["cloud_fraction"], abs=F32)
    assert len(data) == 3


def test_the_client_shows_a_refused_request(live: LiveServer, config: Any) -> None:
    request = sentinelhub.SentinelHubStatistical(
        aggregation=sentinelhub.SentinelHubStatistical.aggregation(
            evalscript=NDVI_CLM.replace("return {ndvi:", "return {ndvi: ("), time_interval=("2023-06-01", "2023-06-30"),
            aggregation_interval="P1D", resolution=(10, 10),
        ),
        input_data=[sentinelhub.SentinelHubStatistical.input_data(_collection(live))],
        geometry=sentinelhub.Geometry(shape(FIELD_UTM), crs=sentinelhub.CRS.UTM_33N),
        config=config,
    )
    with pytest.raises(sentinelhub.exceptions.DownloadFailedException, match="RENDERER_EXCEPTION"):
        request.get_data()


@pytest.mark.reference
def test_unmodified_client_on_real_sentinel2_data(live: LiveServer, config: Any) -> None:
    if not live.reference:
        pytest.skip(f"real Sentinel-2 reference data not found at {SHARED_DATA}")
    folder = SHARED_DATA / "s2-reference"
    bbox = json.loads((folder / "bbox.geojson").read_text())
    geometry = sentinelhub.Geometry(shape(bbox), crs=sentinelhub.CRS.UTM_33N)
    data = _statistical(live, config, geometry=geometry, interval=("2015-07-01", "2015-09-30"))
    native = live.native(bbox, {"from": "2015-07-01", "to": "2015-09-30"})
    timestamps: list[str] = json.loads((folder / "timestamps.json").read_text())
    sh_ndvi = np.load(folder / "sh_ndvi.npy")[..., 0]
    sh_clm = np.load(folder / "sh_clm.npy")[..., 0]
    days = {entry["interval"]["from"][:10]: entry for entry in data}
    assert sorted(days) == sorted(a[:10] for a in REFERENCE_ACQUISITIONS)
    for acquired in REFERENCE_ACQUISITIONS:
        day, k = acquired[:10], timestamps.index(acquired)
        ndvi, clm = _band(days[day], "ndvi")["stats"], _band(days[day], "clm")["stats"]
        assert ndvi["sampleCount"] == 10100 and ndvi["noDataCount"] == 0
        assert ndvi["mean"] == pytest.approx(native[day]["ndvi"]["mean"], abs=F32)
        assert ndvi["mean"] == pytest.approx(float(sh_ndvi[k].astype(np.float64).mean()), abs=F32)  # SH's own NDVI
        assert clm["mean"] == pytest.approx(native[day]["cloud_fraction"], abs=F32)
        assert clm["mean"] == pytest.approx(float(sh_clm[k].mean()), abs=0.05)  # SH's CLM (160 m): a tolerance


def test_the_readme_snippet_runs_as_written(live: LiveServer, tmp_path: Path) -> None:
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Sentinel Hub clients"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    snippet = (code.group(1)
               .replace('"http://127.0.0.1:8080"', repr(live.url))
               .replace('"fis-..."', repr(live.client_id))
               .replace('sh_client_secret="..."', f"sh_client_secret={live.client_secret!r}"))
    (tmp_path / "snippet.py").write_text(snippet)
    env = {k: v for k, v in os.environ.items() if k != "OAUTHLIB_INSECURE_TRANSPORT"}  # the snippet sets it
    done = subprocess.run([sys.executable, str(tmp_path / "snippet.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    native = live.native(FIELD_UTM, {"from": "2023-06-01", "to": "2023-06-30"})
    assert [line.split()[0] for line in lines] == [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY]
    for line in lines:
        day, ndvi, cloud_fraction = line.split()
        assert float(ndvi) == pytest.approx(native[day]["ndvi"]["mean"], abs=F32)
        assert float(cloud_fraction) == pytest.approx(native[day]["cloud_fraction"], abs=F32)
