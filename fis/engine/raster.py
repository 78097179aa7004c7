"""Reading band windows onto a request grid, with a bounded shared pool of open datasets."""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import rasterio
import rasterio.crs
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import reproject
from rasterio.windows import Window

from fis.core.radiometry import Radiometry
from fis.core.scenes import BandAsset
from fis.engine.grid import Grid
from fis.errors import RasterReadError

#: Handles that served a window larger than this (native pixels) are closed after use.
KEEP_OPEN_MAX_WINDOW = 256 * 1024


@dataclass(frozen=True)
class NativeWindow:
    """Reflectance of a window of a file's own pixels, and where it lies."""

    values: np.ndarray
    transform: Affine


class DatasetCache:
    """A bounded pool of open rasterio datasets shared by all threads.

    A handle is used by one thread at a time (GDAL handles are not thread-safe): ``dataset()``
    checks one out and returns it afterwards; idle handles beyond ``size`` are closed, least
    recently used first. Keeping files open between requests is what makes warm requests fast.
    """

    def __init__(self, size: int = 1024):
        self.size = size
        self._idle: OrderedDict[str, list[rasterio.io.DatasetReader]] = OrderedDict()
        self._idle_count = 0
        self._lock = threading.Lock()
        self._heavy: dict[int, bool] = {}

    @contextmanager
    def dataset(self, href: str) -> Iterator[rasterio.io.DatasetReader]:
        """An open dataset for ``href``, exclusively yours inside the ``with`` block."""
        handle = None
        with self._lock:
            handles = self._idle.get(href)
            if handles:
                handle = handles.pop()
                self._idle_count -= 1
                if not handles:  # no empty lists: closing the least recently used pops from the first one
                    del self._idle[href]
        if handle is None:
            try:
                handle = rasterio.open(href, sharing=False)  # one thread at a time uses a handle
            except (RasterioError, OSError) as exc:
                raise RasterReadError(f"cannot open raster {href}: {exc}") from None
        broken = False
        try:
            yield handle
        except (RasterioError, OSError, RasterReadError):
            broken = True
            raise
        finally:
            if broken or self._heavy.pop(id(handle), False):
                handle.close()
            else:
                self._give_back(href, handle)

    def release_after_use(self, handle: rasterio.io.DatasetReader) -> None:
        """Close ``handle`` when its ``with`` block ends instead of keeping it open.

        GDAL keeps buffers sized to the largest window read from a handle; keeping handles that
        served very large windows would grow memory with the number of files, not the field.
        """
        self._heavy[id(handle)] = True

    def _give_back(self, href: str, handle: rasterio.io.DatasetReader) -> None:
        to_close = []
        with self._lock:
            self._idle.setdefault(href, []).append(handle)
            self._idle.move_to_end(href)
            self._idle_count += 1
            while self._idle_count > self.size:
                old_href, old_handles = next(iter(self._idle.items()))
                to_close.append(old_handles.pop())
                self._idle_count -= 1
                if not old_handles:
                    del self._idle[old_href]
        for old in to_close:
            old.close()

    def close(self) -> None:
        """Close every idle handle."""
        with self._lock:
            handles = [h for hs in self._idle.values() for h in hs]
            self._idle.clear()
            self._idle_count = 0
        for handle in handles:
            handle.close()


@lru_cache(maxsize=256)
def _same_crs(dataset_wkt: str, grid_wkt: str) -> bool:
    return dataset_wkt == grid_wkt or CRS.from_wkt(dataset_wkt) == CRS.from_wkt(grid_wkt)


#: the CRS of each open dataset as WKT (hashing a rasterio CRS exports its WKT every time)
_DATASET_WKT: weakref.WeakKeyDictionary[rasterio.io.DatasetReader, str] = weakref.WeakKeyDictionary()


def _wkt_of(dataset: rasterio.io.DatasetReader) -> str:
    wkt = _DATASET_WKT.get(dataset)
    if wkt is None:
        wkt = dataset.crs.to_wkt()
        _DATASET_WKT[dataset] = wkt
    return wkt


def _axis_aligned(dataset: rasterio.io.DatasetReader, grid: Grid) -> bool:
    """True when the dataset is north-up in the grid's CRS, so windows can be cut directly."""
    src = dataset.transform
    if dataset.crs is None or src.b != 0 or src.d != 0 or src.a <= 0 or src.e >= 0:
        return False
    return _same_crs(_wkt_of(dataset), grid.crs_wkt)


def _fill_value(asset: BandAsset, dataset: rasterio.io.DatasetReader) -> float:
    nodata = asset.radiometry.nodata if asset.radiometry.nodata is not None else dataset.nodata
    return nodata if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)) else 0


def read_native_window(
    asset: BandAsset, bounds: tuple[float, float, float, float], cache: DatasetCache
) -> NativeWindow:
    """Reflectance of the smallest window of native pixels covering ``bounds`` (NaN outside the file)."""
    with cache.dataset(asset.href) as dataset:
        return _read_native_window(asset, dataset, bounds)


def _read_native_window(
    asset: BandAsset, dataset: rasterio.io.DatasetReader, bounds: tuple[float, float, float, float]
) -> NativeWindow:
    src = dataset.transform
    left, bottom, right, top = bounds
    col0 = math.floor((left - src.c) / src.a + 1e-9)
    col1 = math.ceil((right - src.c) / src.a - 1e-9)
    row0 = math.floor((top - src.f) / src.e + 1e-9)
    row1 = math.ceil((bottom - src.f) / src.e - 1e-9)
    shape = (max(row1 - row0, 1), max(col1 - col0, 1))
    c0, c1 = max(col0, 0), min(col1, dataset.width)
    r0, r1 = max(row0, 0), min(row1, dataset.height)
    transform = src @ Affine.translation(col0, row0)
    if not (c1 > c0 and r1 > r0):
        return NativeWindow(values=np.full(shape, np.nan, dtype=np.float32), transform=transform)
    try:
        raw = dataset.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    except (RasterioError, OSError) as exc:
        raise RasterReadError(f"cannot read {asset.band} from {asset.href}: {exc}") from None
    reflectance = replace(asset.radiometry, nodata=_fill_value(asset, dataset)).to_reflectance(raw)
    if reflectance.shape == shape:  # the window lies inside the file: no NaN frame, no copy
        return NativeWindow(values=reflectance, transform=transform)
    values = np.full(shape, np.nan, dtype=np.float32)
    values[r0 - row0 : r1 - row0, c0 - col0 : c1 - col0] = reflectance
    return NativeWindow(values=values, transform=transform)


@lru_cache(maxsize=4096)
def _nearest_index(native_key: tuple[float, ...], grid_key: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row/column of the native pixel holding each grid pixel centre (cached per geometry pair)."""
    a, c, e, f, height, width = native_key
    ga, gc, ge, gf, gheight, gwidth = grid_key
    xs = gc + (np.arange(int(gwidth)) + 0.5) * ga
    ys = gf + (np.arange(int(gheight)) + 0.5) * ge
    cols = np.floor((xs - c) / a).astype(np.int64)
    rows = np.floor((ys - f) / e).astype(np.int64)
    inside = bool(((cols >= 0) & (cols < width)).all() and ((rows >= 0) & (rows < height)).all())
    return rows, cols, inside


def _keys(native: NativeWindow, grid: Grid) -> tuple[tuple[float, ...], tuple[float, ...]]:
    t, g = native.transform, grid.transform
    height, width = native.values.shape
    return (t.a, t.c, t.e, t.f, height, width), (g.a, g.c, g.e, g.f, grid.height, grid.width)


def sample_nearest(native: NativeWindow, grid: Grid) -> np.ndarray:
    """Each grid pixel takes the native pixel containing its centre (NaN outside the window)."""
    rows, cols, inside = _nearest_index(*_keys(native, grid))
    height, width = native.values.shape
    if inside:
        if _is_run(rows) and _is_run(cols):  # same pixel grid: a window, no gather
            window: np.ndarray = native.values[rows[0] : rows[0] + rows.size, cols[0] : cols[0] + cols.size]
            return window
        return _gather(native.values, rows, cols)
    out = _gather(native.values, np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1))
    out[~((rows >= 0) & (rows < height)), :] = np.nan
    out[:, ~((cols >= 0) & (cols < width))] = np.nan
    return out


def _gather(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``values[rows][:, cols]``: columns first (on the fewer native rows), then whole rows (3-4x faster
    than numpy's fancy indexing along the second axis)."""
    gathered: np.ndarray = np.take(np.take(values, cols, axis=1), rows, axis=0)
    return gathered


def _is_run(index: np.ndarray) -> bool:
    """True when ``index`` is consecutive integers (k, k+1, ...)."""
    return bool(index.size) and int(index[-1]) - int(index[0]) == index.size - 1 and bool((np.diff(index) == 1).all())


def _block_offsets(native: NativeWindow, grid: Grid) -> tuple[int, int, int] | None:
    """(factor, row offset, col offset) when grid cells are whole blocks of native pixels, else None."""
    t, g = native.transform, grid.transform
    factor = g.a / t.a
    if abs(factor - round(factor)) > 1e-9 or abs(g.e / t.e - factor) > 1e-9:
        return None
    col0 = (g.c - t.c) / t.a
    row0 = (g.f - t.f) / t.e
    if abs(col0 - round(col0)) > 1e-6 or abs(row0 - round(row0)) > 1e-6:
        return None
    return round(factor), round(row0), round(col0)


def block_mean(native: NativeWindow, grid: Grid, radiometry: Radiometry | None = None) -> np.ndarray:
    """Each grid cell takes the mean of the valid native pixels whose centres fall in it (float64).

    With the window's ``radiometry`` the mean is exact: reflectances that are whole digital
    numbers over a whole divisor (e.g. ``(DN - 1000) / 10000``) are summed as digital numbers and
    scaled once, so a cell's value does not depend on float32 rounding of its pixels (the model's
    split thresholds can sit exactly on such means).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        if radiometry is not None and radiometry.integer_form()[0] is not None:
            # exact means do not depend on the order of summation: sum in the fastest one
            fast = _block_sums(native, grid, any_order=True)
            exact = _exact_means(*fast, native.values, radiometry)
            if exact is not None:
                return exact
        sums, counts = _block_sums(native, grid)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _exact_means(sums: np.ndarray, counts: np.ndarray, values: np.ndarray, radiometry: Radiometry) -> np.ndarray | None:
    """Cell means from sums of float32 reflectances recovered as whole digital numbers, or None
    when the radiometry has no whole-number form or the sums are too large to recover exactly."""
    divisor, offset_dn = radiometry.integer_form()
    if divisor is None or not counts.size:
        return None
    flat = values.ravel()
    # the largest magnitude, NaN-blind
    largest = max(float(np.fmax.reduce(flat)), -float(np.fmin.reduce(flat))) * divisor if flat.size else 0.0
    if not np.isfinite(largest):  # every value NaN: no sums to recover
        return None
    # each float32 reflectance is within 2**-24 (relative) of DN / divisor: the sum of n of them
    # is within n * largest * 2**-24 digital numbers of the whole-number sum; recover it below 1/4
    if int(counts.max()) * largest * 2.0**-24 >= 0.25:
        return None
    mean_dn = np.where(counts > 0, np.rint(sums * divisor) / np.maximum(counts, 1), np.nan)
    return (mean_dn - offset_dn) * radiometry.scale + radiometry.offset


def _block_sums(native: NativeWindow, grid: Grid, *, any_order: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per cell of ``grid``: the float64 sum and the count of valid native pixels whose centres fall in it.

    ``any_order``: the sums may be added in another order than numpy's ``sum(axis=(1, 3))`` (their
    last bits may differ; for :func:`_exact_means`, which rounds them to whole digital numbers).
    """
    aligned = _block_sums_any_order if any_order else _block_sums_aligned
    blocks = _block_offsets(native, grid)
    if blocks is not None:
        return aligned(native.values, grid, *blocks)
    split = _common_subpixel(native, grid)
    if split is not None:
        # pixels that straddle cells (60 m in 160 m): split each into equal sub-pixels that nest,
        # so every cell is the area-weighted mean of the pixels it overlaps (as GDAL's average)
        repeat, sub = split
        values = np.repeat(np.repeat(native.values, repeat, axis=0), repeat, axis=1)
        t = native.transform
        fine = NativeWindow(values=values, transform=Affine(sub, 0.0, t.c, 0.0, -sub, t.f))
        blocks = _block_offsets(fine, grid)
        if blocks is not None:
            return aligned(fine.values, grid, *blocks)
    t = native.transform
    height, width = native.values.shape
    xs = t.c + (np.arange(width) + 0.5) * t.a
    ys = t.f + (np.arange(height) + 0.5) * t.e
    cols = np.floor((xs - grid.transform.c) / grid.transform.a).astype(np.int64)
    rows = np.floor((ys - grid.transform.f) / grid.transform.e).astype(np.int64)
    cell = rows[:, None] * grid.width + cols[None, :]
    keep = ((rows >= 0) & (rows < grid.height))[:, None] & ((cols >= 0) & (cols < grid.width))[None, :]
    keep &= np.isfinite(native.values)
    index = cell[keep]
    sums = np.bincount(index, weights=native.values[keep].astype(np.float64), minlength=grid.size)
    counts = np.bincount(index, minlength=grid.size)
    return sums.reshape(grid.shape), counts.reshape(grid.shape)


def _common_subpixel(native: NativeWindow, grid: Grid) -> tuple[int, float] | None:
    """(repeat, sub-pixel size) when native pixels split into whole sub-pixels that nest in the
    grid's cells (e.g. 60 m -> 3 x 20 m for 160 m cells), for small repeats; else None."""
    pixel, cell = abs(native.transform.a), abs(grid.transform.a)
    if abs(abs(native.transform.e) - pixel) > 1e-9 * pixel or abs(abs(grid.transform.e) - cell) > 1e-9 * cell:
        return None
    for repeat in (2, 3, 4, 5, 6):
        sub = pixel / repeat
        ratio = cell / sub
        if abs(ratio - round(ratio)) < 1e-9:
            return repeat, sub
    return None


def _cell_block(values: np.ndarray, grid: Grid, factor: int, row0: int, col0: int) -> np.ndarray:
    """The ``grid.height * factor`` x ``grid.width * factor`` native pixels under the grid (NaN outside ``values``)."""
    need_h, need_w = grid.height * factor, grid.width * factor
    if row0 >= 0 and col0 >= 0 and values.shape[0] - row0 >= need_h and values.shape[1] - col0 >= need_w:
        block = values[row0 : row0 + need_h, col0 : col0 + need_w]  # the window covers every cell: a view
    else:
        block = np.full((need_h, need_w), np.nan, dtype=np.float32)
        src_r0, src_c0 = max(row0, 0), max(col0, 0)
        dst_r0, dst_c0 = src_r0 - row0, src_c0 - col0
        h = max(0, min(values.shape[0] - src_r0, need_h - dst_r0))
        w = max(0, min(values.shape[1] - src_c0, need_w - dst_c0))
        if h and w:
            block[dst_r0 : dst_r0 + h, dst_c0 : dst_c0 + w] = values[src_r0 : src_r0 + h, src_c0 : src_c0 + w]
    return block


def _block_sums_aligned(
    values: np.ndarray, grid: Grid, factor: int, row0: int, col0: int
) -> tuple[np.ndarray, np.ndarray]:
    """Block sums and counts when each cell is exactly ``factor`` x ``factor`` native pixels (a reshape)."""
    block = _cell_block(values, grid, factor, row0, col0)
    cells = block.reshape(grid.height, factor, grid.width, factor)
    finite = np.isfinite(cells)
    if finite.all():  # no gaps: the same sums without masking
        return cells.sum(axis=(1, 3), dtype=np.float64), np.full(grid.shape, factor * factor)
    return np.where(finite, cells, 0).sum(axis=(1, 3), dtype=np.float64), finite.sum(axis=(1, 3))


def _block_sums_any_order(
    values: np.ndarray, grid: Grid, factor: int, row0: int, col0: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_block_sums_aligned` summed row by row of each block, then across (3x faster; same
    counts, sums equal up to the order of float64 additions)."""
    block = _cell_block(values, grid, factor, row0, col0)
    finite = np.isfinite(block)
    if finite.all():
        return _add_blocks(block, grid, factor, np.float64), np.full(grid.shape, factor * factor)
    zeroed = np.where(finite, block, np.float32(0))
    return _add_blocks(zeroed, grid, factor, np.float64), _add_blocks(finite, grid, factor, np.int64)


def _add_blocks(values: np.ndarray, grid: Grid, factor: int, dtype: type[np.generic]) -> np.ndarray:
    """Per cell, the sum of its ``factor`` x ``factor`` values: every ``factor``-th row added in
    ``dtype`` (whole rows at once), then the ``factor`` columns of each cell."""
    rows: np.ndarray = values[0::factor].astype(dtype)
    for k in range(1, factor):
        rows += values[k::factor]
    summed: np.ndarray = rows.reshape(grid.height, grid.width, factor).sum(axis=2)
    return summed


def _resample(native: NativeWindow, grid: Grid, radiometry: Radiometry | None = None) -> np.ndarray:
    """Nearest when the grid is as fine or finer than the native pixels, block mean when coarser."""
    if grid.resolution[0] <= abs(native.transform.a) * (1 + 1e-9):
        return sample_nearest(native, grid)
    return block_mean(native, grid, radiometry)


def _union_bounds(grids: Sequence[Grid]) -> tuple[float, float, float, float]:
    boxes = [g.bounds for g in grids]
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def read_band_on_grids(asset: BandAsset, grids: Sequence[Grid], cache: DatasetCache) -> list[np.ndarray]:
    """Reflectance of one band on each grid (float32, NaN = no data), reading the file once.

    Same-CRS files are cut to the native window covering all grids and resampled in numpy
    (nearest when upsampling, mean of contained pixels when downsampling). Files in another
    CRS (a neighbouring UTM zone) are warped with GDAL.
    """
    with cache.dataset(asset.href) as dataset:
        if all(_axis_aligned(dataset, g) for g in grids):
            native = _read_native_window(asset, dataset, _union_bounds(grids))
            if native.values.size > KEEP_OPEN_MAX_WINDOW:
                cache.release_after_use(dataset)
            return [_resample(native, g, asset.radiometry) for g in grids]
        return [
            _warp(
                asset,
                dataset,
                g,
                Resampling.nearest if g.resolution[0] <= abs(dataset.transform.a) else Resampling.average,
            )
            for g in grids
        ]


def read_band(asset: BandAsset, grid: Grid, cache: DatasetCache) -> np.ndarray:
    """Reflectance of one band asset on ``grid`` (float32, NaN where there is no data)."""
    return read_band_on_grids(asset, [grid], cache)[0]


def _warp(asset: BandAsset, dataset: rasterio.io.DatasetReader, grid: Grid, resampling: Resampling) -> np.ndarray:
    fill = _fill_value(asset, dataset)
    values = np.full(grid.shape, fill, dtype=dataset.dtypes[0])
    try:
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
        raise RasterReadError(f"cannot read {asset.band} from {asset.href}: {exc}") from None
    return replace(asset.radiometry, nodata=fill).to_reflectance(values)
