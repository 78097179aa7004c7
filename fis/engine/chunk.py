"""Shared reads for a chunk of features: one read per band window of a date, cut per feature.

Features whose grids share a CRS, a resolution and an anchor (the same reference file's pixels) are
windows of one *union grid*. A chunk reads each band of a date once on the union grid (and on the
union of the cloud grids), and every feature of the chunk takes its pixels as a window of those
arrays (:class:`SharedFetch`): the per-feature code path (:meth:`fis.engine.dates.DateReader.read`)
is the single-request one, only the source of its arrays differs, so each feature's values are the
values of its single request.

:func:`plan_chunks` groups the features of a job into chunks of spatially close features with the
same scenes (for a batch runner).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np
from affine import Affine
from shapely.geometry.base import BaseGeometry

from fis.core.scenes import BandAsset, SceneRecord
from fis.engine.dates import DirectFetch
from fis.engine.grid import Grid

K = TypeVar("K", bound=Hashable)

#: offsets between grids within this fraction of a pixel count as whole pixels
ALIGN_TOLERANCE = 1e-6


def _same_cells(a: Grid, b: Grid) -> bool:
    """Same CRS and pixel size, north-up (alignment not checked)."""
    t, g = a.transform, b.transform
    return (
        a.crs_wkt == b.crs_wkt and not t.b and not t.d and not g.b and not g.d
        and math.isclose(t.a, g.a, rel_tol=1e-12) and math.isclose(t.e, g.e, rel_tol=1e-12)
    )


def _offset(outer: Grid, inner: Grid) -> tuple[int, int] | None:
    """(row, col) of ``inner``'s first pixel on ``outer``'s pixels, when whole; else None."""
    if not _same_cells(outer, inner):
        return None
    t, g = outer.transform, inner.transform
    col = (g.c - t.c) / t.a
    row = (g.f - t.f) / t.e
    if abs(col - round(col)) > ALIGN_TOLERANCE or abs(row - round(row)) > ALIGN_TOLERANCE:
        return None
    return round(row), round(col)


def window_of(outer: Grid, inner: Grid) -> tuple[slice, slice] | None:
    """Rows and columns of ``outer`` that are exactly ``inner`` (same CRS, pixel size and alignment), else None."""
    offset = _offset(outer, inner)
    if offset is None:
        return None
    r0, c0 = offset
    if c0 < 0 or r0 < 0 or c0 + inner.width > outer.width or r0 + inner.height > outer.height:
        return None
    return slice(r0, r0 + inner.height), slice(c0, c0 + inner.width)


def union_grid(grids: Sequence[Grid]) -> Grid | None:
    """The smallest grid holding every one of ``grids`` as a window (aligned on the first), or None
    when they do not share a CRS, pixel size and alignment."""
    first = grids[0]
    r0 = c0 = 0
    r1, c1 = first.height, first.width
    for grid in grids[1:]:
        offset = _offset(first, grid)
        if offset is None:
            return None
        row, col = offset
        r0, c0 = min(r0, row), min(c0, col)
        r1, c1 = max(r1, row + grid.height), max(c1, col + grid.width)
    return Grid(crs=first.crs, transform=first.transform @ Affine.translation(c0, r0), width=c1 - c0, height=r1 - r0)


class SharedFetch:
    """One date's reads for a chunk: each band read once on the union grids, handed out as windows.

    :meth:`prefetch` reads a band of the date's scenes on the union grids the chunk needs (one
    :func:`fis.engine.dates.mosaic` call: each file read once); layers are read on the union cloud
    grid on first use. A grid that is not a window of what was read falls back to a direct read
    (correct, only not shared).
    """

    def __init__(self, direct: DirectFetch, cloud_grid: Grid):
        self.direct = direct
        self.cloud_grid = cloud_grid
        self._bands: dict[str, list[tuple[Grid, np.ndarray]]] = {}
        self._layers: dict[str, np.ndarray] = {}
        self._probability: tuple[Grid, np.ndarray] | None = None
        self._lock = threading.Lock()
        #: reads that were not windows of a shared read (diagnostics; 0 in a well-formed chunk)
        self.direct_reads = 0

    def prefetch(self, group: list[SceneRecord], band: str, grids: list[Grid]) -> None:
        """Read ``band`` of the date's scenes on every one of ``grids`` at once."""
        arrays = self.direct.mosaic(group, band, grids)
        self._bands.setdefault(band, []).extend(zip(grids, arrays, strict=True))

    def mosaic(self, group: list[SceneRecord], band: str, grids: list[Grid]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = []
        for grid in grids:
            out.append(_cut(self._bands.get(band, ()), grid))
        missing = [g for g, a in zip(grids, out, strict=True) if a is None]
        if missing:
            self.direct_reads += 1
            read = iter(self.direct.mosaic(group, band, missing))
            out = [a if a is not None else next(read) for a in out]
        return out  # type: ignore[return-value]

    def share_probability(self, grid: Grid, probability: np.ndarray) -> None:
        """The model's probabilities on ``grid`` (a union model grid), handed out as windows."""
        self._probability = (grid, probability)

    def probability(self, grid: Grid) -> np.ndarray | None:
        if self._probability is None:
            return None
        return _cut([self._probability], grid)

    def layer(self, asset: BandAsset, grid: Grid) -> np.ndarray:
        window = window_of(self.cloud_grid, grid)
        if window is None:
            self.direct_reads += 1
            return self.direct.layer(asset, grid)
        with self._lock:
            array = self._layers.get(asset.href)
        if array is None:
            array = self.direct.layer(asset, self.cloud_grid)
            with self._lock:
                self._layers[asset.href] = array
        return array[window]


def _cut(read: Sequence[tuple[Grid, np.ndarray]], grid: Grid) -> np.ndarray | None:
    for outer, array in read:
        window = window_of(outer, grid)
        if window is not None:
            return array[window]
    return None


# --- planning chunks of a job ------------------------------------------------------------------

#: metres per degree of latitude (pixel estimates only)
METRES_PER_DEGREE = 111_320.0


def estimated_pixels(bounds: tuple[float, float, float, float], resolution: float) -> int:
    """Pixels of a ``resolution`` m grid over lon/lat ``bounds`` (an estimate for planning)."""
    west, south, east, north = bounds
    lat = math.radians((south + north) / 2)
    width = (east - west) * METRES_PER_DEGREE * max(math.cos(lat), 1e-6) / resolution + 1
    height = (north - south) * METRES_PER_DEGREE / resolution + 1
    return math.ceil(width) * math.ceil(height)


def hilbert_index(x: int, y: int, order: int = 16) -> int:
    """Position of cell (x, y) along the Hilbert curve filling a 2**order square (close cells, close indices)."""
    n = 1 << order
    d = 0
    s = n >> 1
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = n - 1 - x, n - 1 - y
            x, y = y, x
        s >>= 1
    return d


def plan_chunks(
    features: Sequence[tuple[K, BaseGeometry, frozenset[str]]],
    *,
    max_features: int,
    max_pixels: int,
    resolution: float = 10.0,
) -> list[list[K]]:
    """Chunks of spatially close features that share their reads: ``(key, EPSG:4326 geometry, scene ids)``
    in, lists of keys out.

    Features with different scene sets never share a chunk (a chunk reads one set of files per
    date). Within a scene set the features are ordered along a Hilbert curve of their centres, and
    a chunk closes at ``max_features`` or when its bounding box would exceed ``max_pixels`` pixels
    of ``resolution`` m (the union grid the engine reads, bounding memory). A feature that alone
    exceeds ``max_pixels`` gets a chunk of its own.
    """
    by_scenes: dict[frozenset[str], list[tuple[K, BaseGeometry]]] = defaultdict(list)
    for key, geometry, scenes in features:
        by_scenes[scenes].append((key, geometry))
    chunks: list[list[K]] = []
    for members in (by_scenes[s] for s in sorted(by_scenes, key=lambda s: sorted(s))):
        boxes = [g.bounds if not g.is_empty else (0.0, 0.0, 0.0, 0.0) for _, g in members]
        keys = _hilbert_keys(boxes)
        order = sorted(range(len(members)), key=lambda i: keys[i])
        chunk: list[K] = []
        extent: tuple[float, float, float, float] | None = None
        for i in order:
            box = boxes[i]
            grown = box if extent is None else (
                min(extent[0], box[0]), min(extent[1], box[1]), max(extent[2], box[2]), max(extent[3], box[3])
            )
            if chunk and (len(chunk) >= max_features or estimated_pixels(grown, resolution) > max_pixels):
                chunks.append(chunk)
                chunk, grown = [], box
            chunk.append(members[i][0])
            extent = grown
        if chunk:
            chunks.append(chunk)
    return chunks


def _hilbert_keys(boxes: Sequence[tuple[float, float, float, float]]) -> list[int]:
    """Hilbert-curve position of each box's centre within the boxes' common extent."""
    west = min(b[0] for b in boxes)
    south = min(b[1] for b in boxes)
    span = max(max(b[2] for b in boxes) - west, max(b[3] for b in boxes) - south, 1e-9)
    cells = (1 << 16) - 1
    keys = []
    for box in boxes:
        x = int(((box[0] + box[2]) / 2 - west) / span * cells)
        y = int(((box[1] + box[3]) / 2 - south) / span * cells)
        keys.append(hilbert_index(min(max(x, 0), cells), min(max(y, 0), cells)))
    return keys
