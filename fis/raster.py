"""Reading band windows onto a request grid, with a bounded per-thread cache of open datasets."""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from collections import OrderedDict

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import reproject
from rasterio.windows import Window

from fis.catalog.records import BandAsset
from fis.errors import RasterReadError
from fis.grid import Grid


class DatasetCache:
    """Open rasterio datasets kept between requests: at most ``size`` per thread (LRU)."""

    def __init__(self, size: int = 256):
        self.size = size
        self._local = threading.local()

    def _entries(self) -> OrderedDict[str, rasterio.io.DatasetReader]:
        entries = getattr(self._local, "entries", None)
        if entries is None:
            entries = self._local.entries = OrderedDict()
        return entries

    def open(self, href: str) -> rasterio.io.DatasetReader:
        entries = self._entries()
        dataset = entries.get(href)
        if dataset is not None:
            entries.move_to_end(href)
            return dataset
        try:
            dataset = rasterio.open(href)
        except (RasterioError, OSError) as exc:
            raise RasterReadError(f"cannot open raster {href}: {exc}") from None
        entries[href] = dataset
        while len(entries) > self.size:
            _, old = entries.popitem(last=False)
            old.close()
        return dataset

    def forget(self, href: str) -> None:
        dataset = self._entries().pop(href, None)
        if dataset is not None:
            dataset.close()


def _aligned_window(dataset: rasterio.io.DatasetReader, grid: Grid) -> Window | None:
    """The integer window of ``dataset`` that is exactly ``grid`` (same CRS and pixel grid), else None."""
    src = dataset.transform
    dst = grid.transform
    if dataset.crs is None or not dataset.crs == grid.crs:
        return None
    if src.b != 0 or src.d != 0 or not math.isclose(src.a, dst.a, rel_tol=1e-9) or not math.isclose(src.e, dst.e, rel_tol=1e-9):
        return None
    col = (dst.c - src.c) / src.a
    row = (dst.f - src.f) / src.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return None
    return Window(int(round(col)), int(round(row)), grid.width, grid.height)


def read_band(
    asset: BandAsset,
    grid: Grid,
    cache: DatasetCache,
    *,
    resampling: Resampling = Resampling.nearest,
) -> np.ndarray:
    """Reflectance of one band asset on ``grid`` (float32, NaN where there is no data)."""
    dataset = cache.open(asset.href)
    nodata = asset.radiometry.nodata
    if nodata is None:
        nodata = dataset.nodata
    fill = nodata if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)) else 0
    try:
        window = _aligned_window(dataset, grid)
        if window is not None:
            values = dataset.read(1, window=window, boundless=True, fill_value=fill)
        else:
            values = np.full(grid.shape, fill, dtype=dataset.dtypes[0])
            reproject(
                source=rasterio.band(dataset, 1),
                destination=values,
                src_nodata=fill,
                dst_nodata=fill,
                dst_transform=grid.transform,
                dst_crs=grid.crs,
                resampling=resampling,
            )
    except (RasterioError, OSError) as exc:
        cache.forget(asset.href)
        raise RasterReadError(f"cannot read {asset.band} from {asset.href}: {exc}") from None
    return replace(asset.radiometry, nodata=fill).to_reflectance(values)
