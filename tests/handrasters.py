"""Hand-checkable Sentinel-2 scenes for the engine tests (real COG + STAC files via fis.demo.synthetic).

The standard scene is a 10 x 10 grid of 10 m pixels in EPSG:32633 whose upper-left corner is
(X0, Y0). Pixel (row, col) has its centre at (X0 + 10*col + 5, Y0 - 10*row - 5) and the
"index value" ``v = row*10 + col``; the default band DNs are ``B04 = 100 + v`` and
``B08 = 1000 + v`` with baseline 02.14 (no offset), so reflectance = DN / 10000 and every
mean over a block of pixels can be computed by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from fis.catalog.stac import scene_from_item
from fis.core.bands import BANDS
from fis.core.request import TimeseriesRequest, parse_timeseries_request
from fis.core.scenes import SceneRecord
from fis.demo.synthetic import BandRaster, grid_transform, reflectance_to_dn, write_stac_scene

UTC = dt.UTC
X0, Y0 = 500000.0, 5000000.0
N = 10

#: Scene-mean TOA reflectance of the real clear scene (reference scene 4, 2015-07-11) and of the
#: real cloudy scene (reference scene 0, 2015-08-20), rounded to 4 decimals: P(cloud) 0.009 / 0.980.
CLEAR: dict[str, float] = {
    "B01": 0.1033, "B02": 0.0756, "B03": 0.0676, "B04": 0.0423, "B05": 0.0784, "B06": 0.224,
    "B07": 0.2839, "B08": 0.2746, "B8A": 0.3135, "B09": 0.0861, "B10": 0.001, "B11": 0.1407, "B12": 0.0625,
}
CLOUDY: dict[str, float] = {
    "B01": 0.3128, "B02": 0.2988, "B03": 0.2755, "B04": 0.2754, "B05": 0.2894, "B06": 0.366,
    "B07": 0.4086, "B08": 0.3907, "B8A": 0.4293, "B09": 0.1346, "B10": 0.0022, "B11": 0.3182, "B12": 0.2575,
}

WHEN = dt.datetime(2020, 6, 1, 10, 0, 0, tzinfo=UTC)
TIME_RANGE = {"from": "2020-01-01", "to": "2020-12-31"}


def index_values(rows: int = N, cols: int = N) -> np.ndarray:
    """``v[row, col] = row*10 + col`` (int64)."""
    r, c = np.mgrid[0:rows, 0:cols]
    return r * 10 + c


def transform(resolution: float = 10.0, *, x0: float = X0, y0: float = Y0) -> Affine:
    return grid_transform(x0, y0, resolution)


def default_dn() -> dict[str, np.ndarray]:
    v = index_values()
    return {"B04": (100 + v).astype(np.uint16), "B08": (1000 + v).astype(np.uint16)}


def write_scene(
    out_dir: Path,
    scene_id: str,
    bands: Mapping[str, np.ndarray | tuple[np.ndarray, float]] | None = None,
    *,
    when: dt.datetime = WHEN,
    x0: float = X0,
    y0: float = Y0,
    processing_baseline: str = "02.14",
    **kwargs: Any,
) -> SceneRecord:
    """Write a scene (per-band COG + STAC item) and read it back as a SceneRecord.

    ``bands`` maps band id -> DN array (10 m) or (DN array, resolution in metres).
    """
    bands = default_dn() if bands is None else bands
    rasters = {}
    for band, value in bands.items():
        dn, res = value if isinstance(value, tuple) else (value, 10.0)
        rasters[band] = BandRaster(np.asarray(dn, dtype=np.uint16), grid_transform(x0, y0, res))
    item_path = write_stac_scene(
        out_dir, scene_id, when, rasters, processing_baseline=processing_baseline, **kwargs
    )
    return scene_from_item(json.loads(item_path.read_text()), base_href=str(item_path))


def uniform_scene_bands(
    reflectance: Mapping[str, float], *, shape: tuple[int, int] = (N, N), processing_baseline: str = "02.14"
) -> dict[str, tuple[np.ndarray, float]]:
    """All 13 bands at 10 m holding one reflectance each (a homogeneous field)."""
    return {
        band: (reflectance_to_dn(np.full(shape, reflectance[band]), processing_baseline=processing_baseline), 10.0)
        for band in BANDS
    }


def split_scene_bands(
    left: Mapping[str, float], right: Mapping[str, float], *, split_col: int, shape: tuple[int, int] = (N, N)
) -> dict[str, tuple[np.ndarray, float]]:
    """All 13 bands at 10 m: columns < ``split_col`` hold ``left``, the others ``right``."""
    out = {}
    for band in BANDS:
        refl = np.full(shape, right[band])
        refl[:, :split_col] = left[band]
        out[band] = (reflectance_to_dn(refl, processing_baseline="02.14"), 10.0)
    return out


def ring(x_min: float, y_min: float, x_max: float, y_max: float) -> list[list[float]]:
    """A closed rectangle ring in absolute coordinates."""
    return [[x_min, y_min], [x_max, y_min], [x_max, y_max], [x_min, y_max], [x_min, y_min]]


def pixel_rect(row0: int, col0: int, row1: int, col1: int, *, inset: float = 0.0) -> list[list[float]]:
    """Ring along the outer edges of pixels rows row0..row1, cols col0..col1 (inclusive), shrunk by ``inset`` m."""
    return ring(
        X0 + 10 * col0 + inset, Y0 - 10 * (row1 + 1) + inset, X0 + 10 * (col1 + 1) - inset, Y0 - 10 * row0 - inset
    )


def polygon(*rings: Sequence[Sequence[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [list(map(list, r)) for r in rings]}


def make_request(geometry: Any, *, crs: str | None = "EPSG:32633", **options: Any) -> TimeseriesRequest:
    body: dict[str, Any] = {"geometry": geometry, "time_range": options.pop("time_range", TIME_RANGE), **options}
    if crs is not None:
        body["crs"] = crs
    return parse_timeseries_request(body)


def centres_inside(shape_geometry: Any, rows: int = N, cols: int = N) -> np.ndarray:
    """Boolean (rows, cols): pixel centre strictly inside the shapely geometry (independent oracle)."""
    from shapely.geometry import Point

    out = np.zeros((rows, cols), dtype=bool)
    for r in range(rows):
        for c in range(cols):
            out[r, c] = shape_geometry.contains(Point(X0 + 10 * c + 5, Y0 - 10 * r - 5))
    return out
