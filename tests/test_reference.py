"""End to end on real Sentinel-2 L1C data against Sentinel Hub's own NDVI and cloud mask.

The 5 real acquisitions of ../shared/data/s2-reference (eo-learn's TestEOPatch) are written as
uint16 DN GeoTIFFs (DN = round(reflectance * 10000), baseline 02.01, no offset) + STAC items on
their real grid (EPSG:32633, bounds of bbox.geojson, 100 x 101 pixels of ~9.995 m x 9.997 m),
ingested into SQLite and requested through the HTTP API. Sentinel Hub's NDVI is an independent
oracle for the per-pixel arithmetic (compared exactly, 1e-6); its CLM (made at 160 m) for the
cloud classification (compared with a tolerance).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer

from fis.core.bands import BANDS
from fis.demo.synthetic import BandRaster, write_stac_scene

pytestmark = pytest.mark.reference

#: Scene index -> acquisition time (UTC), DESIGN.md section 6.
ACQUISITIONS = (
    "2015-08-20T10:07:28",  # cloudy
    "2015-07-31T10:00:09",  # cloudy
    "2015-09-09T10:00:17",
    "2015-08-30T10:05:47",
    "2015-07-11T10:00:08",  # clear
)
CLOUDY_DATES = {"2015-08-20", "2015-07-31"}


class Reference:
    def __init__(self, root: Path):
        folder = root / "s2-reference"
        self.scenes = np.load(folder / "reference_scenes.npy")
        self.timestamps: list[str] = json.loads((folder / "timestamps.json").read_text())
        self.ndvi = np.load(folder / "sh_ndvi.npy")[..., 0]
        self.clm = np.load(folder / "sh_clm.npy")[..., 0]
        bbox = json.loads((folder / "bbox.geojson").read_text())
        xs = [p[0] for p in bbox["coordinates"][0]]
        ys = [p[1] for p in bbox["coordinates"][0]]
        self.bounds = (min(xs), min(ys), max(xs), max(ys))
        _, self.height, self.width, _ = self.scenes.shape
        self.transform = Affine(
            (self.bounds[2] - self.bounds[0]) / self.width, 0.0, self.bounds[0],
            0.0, -(self.bounds[3] - self.bounds[1]) / self.height, self.bounds[3],
        )

    def sh_index(self, scene: int) -> int:
        return self.timestamps.index(ACQUISITIONS[scene])


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> Reference:
    ref = Reference(shared_data)
    assert ref.scenes.shape == (5, 101, 100, 13)
    return ref


@pytest.fixture(scope="module")
def client(reference: Reference, tmp_path_factory: pytest.TempPathFactory):
    from fis.api.app import create_app
    from fis.config import Settings
    from fis.services.ingest import ingest
    from fis.store.db import upgrade

    root = tmp_path_factory.mktemp("reference")
    archive = root / "archive"
    for i, acquired in enumerate(ACQUISITIONS):
        dn = np.rint(reference.scenes[i].astype(np.float64) * 10000)
        assert dn.min() >= 1 and dn.max() <= 65534  # no pixel collides with no-data
        bands = {band: BandRaster(dn[..., k].astype(np.uint16), reference.transform) for k, band in enumerate(BANDS)}
        when = dt.datetime.fromisoformat(acquired).replace(tzinfo=dt.UTC)
        write_stac_scene(
            archive, f"S2A_MSIL1C_{acquired[:10].replace('-', '')}_T33TWM", when, bands,
            crs="EPSG:32633", processing_baseline="02.01", mgrs_tile="33TWM",
        )
    app = create_app(Settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'fis.sqlite'}"))
    app.config["TESTING"] = True
    services = app.extensions["fis"]
    upgrade(services.db)
    report = ingest([str(archive)], services.sessions)
    assert report.failed == [] and len(report.created) == 5
    yield app.test_client()
    services.close()


def post(client, geometry: dict, crs: str | None) -> dict:
    body = {
        "geometry": geometry,
        "time_range": {"from": "2015-07-01", "to": "2015-09-30"},
        "include_cloudy": True,
    }
    if crs:
        body["crs"] = crs
    response = client.post("/api/v1/timeseries", json=body)
    assert response.status_code == 201, response.get_json()
    data = response.get_json()
    assert data["errors"] == [] and data["status"] == "OK"
    return data


def test_whole_bbox_matches_sentinel_hub(client, reference: Reference) -> None:
    minx, miny, maxx, maxy = reference.bounds
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    data = post(client, {"type": "Polygon", "coordinates": [ring]}, "EPSG:32633")
    observations = {o["date"]: o for o in data["observations"]}
    assert len(data["observations"]) == 5
    assert list(observations) == sorted(observations)  # ascending dates
    # the request grid is the data's own grid (10 m snapped to the native ~9.995 m pixels)
    assert data["parameters"]["grid"]["width"] == 100 and data["parameters"]["grid"]["height"] == 101

    for i, acquired in enumerate(ACQUISITIONS):
        obs = observations[acquired[:10]]
        k = reference.sh_index(i)
        assert obs["pixels"] == {"total": 10100, "valid": 10100, "cloudy": obs["pixels"]["cloudy"], "nodata": 0}
        assert obs["datetime"] == acquired + "Z"
        # NDVI: Sentinel Hub's per-pixel NDVI averaged over the same 10100 pixels
        sh_ndvi = reference.ndvi[k].astype(np.float64)
        assert obs["ndvi"]["mean"] == pytest.approx(sh_ndvi.mean(), abs=1e-6), acquired
        assert obs["ndvi"]["min"] == pytest.approx(sh_ndvi.min(), abs=1e-6), acquired
        assert obs["ndvi"]["max"] == pytest.approx(sh_ndvi.max(), abs=1e-6), acquired
        assert obs["ndvi"]["median"] == pytest.approx(np.median(sh_ndvi), abs=1e-6), acquired
        # band means: the written reflectances
        for b, band in enumerate(BANDS):
            expected = reference.scenes[i, ..., b].astype(np.float64).mean()
            assert obs["bands"][band] == pytest.approx(expected, abs=1e-6), (acquired, band)
        # clouds: the per-pixel mask share against Sentinel Hub's CLM (160 m), and the
        # object-level probability of the mean vector
        clm_mean = float(reference.clm[k].mean())
        cloudy = acquired[:10] in CLOUDY_DATES
        assert (clm_mean > 0.5) is cloudy
        assert (obs["cloud_fraction"] > 0.5) is (clm_mean > 0.5), acquired
        assert obs["cloud_fraction"] == pytest.approx(clm_mean, abs=0.05), acquired
        assert obs["cloud_fraction"] == obs["pixels"]["cloudy"] / 10100
        assert (obs["cloud_probability"] > 0.5) is cloudy, acquired


def test_interior_square_in_epsg4326_matches_sentinel_hub(client, reference: Reference) -> None:
    # 30 x 30 pixels in the middle: rows 35..64, cols 35..64, corners on pixel edges
    t = reference.transform
    x0, y0 = t.c + 35 * t.a, t.f + 35 * t.e
    x1, y1 = t.c + 65 * t.a, t.f + 65 * t.e
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    ring = [list(to_lonlat.transform(x, y)) for x, y in [(x0, y1), (x1, y1), (x1, y0), (x0, y0), (x0, y1)]]
    data = post(client, {"type": "Polygon", "coordinates": [ring]}, None)
    observations = {o["date"]: o for o in data["observations"]}
    assert len(observations) == 5
    for i, acquired in enumerate(ACQUISITIONS):
        obs = observations[acquired[:10]]
        assert obs["pixels"]["total"] == obs["pixels"]["valid"] == 900
        block = reference.ndvi[reference.sh_index(i)][35:65, 35:65].astype(np.float64)
        assert obs["ndvi"]["mean"] == pytest.approx(block.mean(), abs=1e-6), acquired
        assert obs["ndvi"]["std"] == pytest.approx(block.std(), abs=1e-6), acquired
        assert obs["ndvi"]["p90"] == pytest.approx(np.percentile(block, 90), abs=1e-6), acquired
        b04 = reference.scenes[i, 35:65, 35:65, BANDS.index("B04")].astype(np.float64).mean()
        assert obs["bands"]["B04"] == pytest.approx(b04, abs=1e-6), acquired
