"""A small, hand-checkable synthetic Sentinel-2 archive (real COGs + STAC items) for API/CLI tests.

Layout (EPSG:32633, every scene 600 m tall, top edge at y = 5 000 600):

========== =============================== ============ ======== =========================================
date       scene id                        x extent     baseline content
========== =============================== ============ ======== =========================================
2023-06-01 S2A_MSIL1C_20230601_T33TWN      500000-500600 03.01   clear vegetation; B08 no-data in 10 m rows
                                                                 20-21 (y 5000380..5000400)
2023-06-11 S2B_MSIL1C_20230611_T33TWN      500000-500240 05.09   clear vegetation (west tile)
2023-06-11 S2B_MSIL1C_20230611_T33TXN      500240-500600 05.09   clear vegetation but B04 = 0.06 (east tile)
2023-06-21 S2A_MSIL1C_20230621_T33TWN      500000-500600 05.09   cloud: flat 0.4 in all bands, B10 0.05
========== =============================== ============ ======== =========================================

The field ``FIELD_UTM`` is the box x 500140..500340, y 5000200..5000400: 20 x 20 = 400 pixels
of 10 m, half on each tile of 2023-06-11, and two of its rows lie in the B08 no-data strip of
2023-06-01 (40 pixels). Hand-computed expectations are in ``EXPECTED``.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer
from shapely import transform as shapely_transform
from shapely.geometry import box, mapping

from fis.core.bands import BANDS, NATIVE_RESOLUTION
from fis.demo.synthetic import BandRaster, grid_transform, reflectance_to_dn, write_stac_scene

CRS = "EPSG:32633"
Y_TOP = 5_000_600.0
HEIGHT_M = 600.0

VEGETATION: dict[str, float] = {
    "B01": 0.06, "B02": 0.05, "B03": 0.07, "B04": 0.04, "B05": 0.09, "B06": 0.2, "B07": 0.25,
    "B08": 0.3, "B8A": 0.32, "B09": 0.08, "B10": 0.002, "B11": 0.15, "B12": 0.07,
}
VEGETATION_EAST: dict[str, float] = {**VEGETATION, "B04": 0.06}
CLOUD: dict[str, float] = {**{b: 0.4 for b in BANDS}, "B10": 0.05}

DATE_CLEAR = "2023-06-01"
DATE_MOSAIC = "2023-06-11"
DATE_CLOUDY = "2023-06-21"
DATES = (DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY)

SCENE_CLEAR = "S2A_MSIL1C_20230601_T33TWN"
SCENE_WEST = "S2B_MSIL1C_20230611_T33TWN"
SCENE_EAST = "S2B_MSIL1C_20230611_T33TXN"
SCENE_CLOUDY = "S2A_MSIL1C_20230621_T33TWN"
SCENE_IDS = (SCENE_CLEAR, SCENE_WEST, SCENE_EAST, SCENE_CLOUDY)

FIELD_BOUNDS_UTM = (500140.0, 5000200.0, 500340.0, 5000400.0)
FIELD_UTM: dict[str, Any] = mapping(box(*FIELD_BOUNDS_UTM))

TIME_RANGE = {"from": "2023-06-01", "to": "2023-06-30"}

NDVI_WEST = (0.3 - 0.04) / (0.3 + 0.04)  # 0.7647...
NDVI_EAST = (0.3 - 0.06) / (0.3 + 0.06)  # 0.6667...

#: Hand-computed values per date over FIELD_UTM at 10 m.
EXPECTED: dict[str, dict[str, Any]] = {
    DATE_CLEAR: {
        "scenes": [SCENE_CLEAR],
        "pixels": {"total": 400, "valid": 360, "cloudy": 0, "nodata": 40},
        "ndvi_mean": NDVI_WEST, "ndvi_std": 0.0,
        "bands": VEGETATION,
        "cloud_fraction": 0.0,
    },
    DATE_MOSAIC: {
        "scenes": [SCENE_WEST, SCENE_EAST],
        "pixels": {"total": 400, "valid": 400, "cloudy": 0, "nodata": 0},
        "ndvi_mean": (NDVI_WEST + NDVI_EAST) / 2, "ndvi_std": (NDVI_WEST - NDVI_EAST) / 2,
        "ndvi_min": NDVI_EAST, "ndvi_max": NDVI_WEST,
        "bands": {**VEGETATION, "B04": 0.05},
        "cloud_fraction": 0.0,
    },
    DATE_CLOUDY: {
        "scenes": [SCENE_CLOUDY],
        "pixels": {"total": 400, "valid": 400, "cloudy": 400, "nodata": 0},
        "ndvi_mean": 0.0, "ndvi_std": 0.0,
        "bands": CLOUD,
        "cloud_fraction": 1.0,
    },
}


CSV_HEADER = (
    "date,datetime,ndvi_mean,ndvi_min,ndvi_max,ndvi_std,ndvi_median,ndvi_p10,ndvi_p25,ndvi_p75,ndvi_p90,"
    "cloud_probability,cloud_fraction,total_pixels,valid_pixels,cloudy_pixels,nodata_pixels,cloudy,"
    "B01,B02,B03,B04,B05,B06,B07,B08,B8A,B09,B10,B11,B12"
)
NDVI_KEYS = {"mean", "min", "max", "std", "median", "p10", "p25", "p75", "p90"}
OBSERVATION_KEYS = {"date", "datetime", "scenes", "scene_details", "ndvi", "bands", "cloud_probability", "cloud_fraction", "pixels", "cloud_source", "cloudy"}
TOL = 1e-6  # float32 reflectance


def assert_observation_matches(obs: dict[str, Any], date: str) -> None:
    expected = EXPECTED[date]
    assert set(obs) == OBSERVATION_KEYS
    assert obs["date"] == date
    assert obs["datetime"].startswith(date + "T10:00:00") and obs["datetime"].endswith("Z")
    assert obs["scenes"] == expected["scenes"]
    assert obs["pixels"] == expected["pixels"]
    assert set(obs["ndvi"]) == NDVI_KEYS
    assert obs["ndvi"]["mean"] == pytest.approx(expected["ndvi_mean"], abs=TOL)
    assert obs["ndvi"]["std"] == pytest.approx(expected["ndvi_std"], abs=TOL)
    if "ndvi_min" in expected:
        assert obs["ndvi"]["min"] == pytest.approx(expected["ndvi_min"], abs=TOL)
        assert obs["ndvi"]["max"] == pytest.approx(expected["ndvi_max"], abs=TOL)
    assert list(obs["bands"]) == list(BANDS)
    for band in BANDS:
        assert obs["bands"][band] == pytest.approx(expected["bands"][band], abs=TOL), band
    assert obs["cloud_fraction"] == pytest.approx(expected["cloud_fraction"])
    assert obs["pixels"]["valid"] == obs["pixels"]["total"] - obs["pixels"]["nodata"]


def field_lonlat(inset: float = 2.0) -> dict[str, Any]:
    """FIELD_UTM shrunk by ``inset`` metres and reprojected to EPSG:4326 (same 400 pixel centres)."""
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    return mapping(shapely_transform(box(x0 + inset, y0 + inset, x1 - inset, y1 - inset), to_lonlat.transform, interleaved=False))


def _nodata_rows(rows: slice) -> Callable[[np.ndarray], np.ndarray]:
    def apply(reflectance: np.ndarray) -> np.ndarray:
        out = reflectance.copy()
        out[rows, :] = np.nan
        return out

    return apply


def write_scene(
    out_dir: Path,
    scene_id: str,
    when: dt.datetime,
    spectrum: Mapping[str, float],
    x_range: tuple[float, float],
    *,
    baseline: str,
    tile: str,
    edits: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
) -> Path:
    """One flat-spectrum scene: every band at its native resolution over ``x_range`` x 600 m."""
    x0, x1 = x_range
    bands: dict[str, BandRaster] = {}
    for band in BANDS:
        res = NATIVE_RESOLUTION[band]
        width, height = int(round((x1 - x0) / res)), int(round(HEIGHT_M / res))
        reflectance = np.full((height, width), spectrum[band], dtype=np.float64)
        if edits and band in edits:
            reflectance = edits[band](reflectance)
        dn = reflectance_to_dn(reflectance, processing_baseline=baseline)
        bands[band] = BandRaster(dn, grid_transform(x0, Y_TOP, res))
    return write_stac_scene(out_dir, scene_id, when, bands, crs=CRS, processing_baseline=baseline, mgrs_tile=tile)


def build_archive(out_dir: Path) -> dict[str, Path]:
    """Write the four scenes into ``out_dir``; scene id -> STAC item path."""
    utc = dt.UTC
    return {
        SCENE_CLEAR: write_scene(
            out_dir, SCENE_CLEAR, dt.datetime(2023, 6, 1, 10, 0, tzinfo=utc), VEGETATION, (500000.0, 500600.0),
            baseline="03.01", tile="33TWN", edits={"B08": _nodata_rows(slice(20, 22))},
        ),
        SCENE_WEST: write_scene(
            out_dir, SCENE_WEST, dt.datetime(2023, 6, 11, 10, 0, tzinfo=utc), VEGETATION, (500000.0, 500240.0),
            baseline="05.09", tile="33TWN",
        ),
        SCENE_EAST: write_scene(
            out_dir, SCENE_EAST, dt.datetime(2023, 6, 11, 10, 0, 5, tzinfo=utc), VEGETATION_EAST, (500240.0, 500600.0),
            baseline="05.09", tile="33TXN",
        ),
        SCENE_CLOUDY: write_scene(
            out_dir, SCENE_CLOUDY, dt.datetime(2023, 6, 21, 10, 0, tzinfo=utc), CLOUD, (500000.0, 500600.0),
            baseline="05.09", tile="33TWN",
        ),
    }


def copy_archive(source: Path, target: Path) -> Path:
    """A private copy of a built archive (for tests that break files)."""
    shutil.copytree(source, target)
    return target


def request_body(**extra: Any) -> dict[str, Any]:
    """A valid POST /api/v1/timeseries body over FIELD_UTM for June 2023."""
    return {"geometry": FIELD_UTM, "crs": CRS, "time_range": dict(TIME_RANGE), **extra}


# --- fixtures (import them into a test module: ``from fis_archive import archive, ingested``) ----

@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The archive, written once per test session (do not modify: use ``copy_archive``)."""
    root = tmp_path_factory.mktemp("fis-archive")
    build_archive(root)
    return root


def ingest_into(app: Any, root: Path) -> Any:
    from fis.services.ingest import ingest

    report = ingest([str(root)], app.extensions["fis"].sessions)
    assert not report.failed, report.failed
    return report


@pytest.fixture
def ingested(app: Any, archive: Path) -> Any:
    """The migrated app (SQLite and PostGIS) with the archive ingested."""
    report = ingest_into(app, archive)
    assert len(report.created) == len(SCENE_IDS)
    return app
