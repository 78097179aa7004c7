"""The request grid: CRS, transform and shape on which statistics are computed, and the pixel rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from fis.core.options import PIXEL_RULES

#: A requested resolution within this relative distance of the source's native pixel size
#: snaps to the native grid (10 m asked, 9.995 m stored: use the stored pixels, never resample).
NATIVE_SNAP_TOLERANCE = 0.01


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid in a projected CRS."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def crs_wkt(self) -> str:
        """The CRS as WKT (computed once per grid; used to compare with files' CRSs cheaply)."""
        wkt = self.__dict__.get("_crs_wkt")
        if wkt is None:
            wkt = self.crs.to_wkt()
            object.__setattr__(self, "_crs_wkt", wkt)
        return wkt

    @property
    def resolution(self) -> tuple[float, float]:
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def size(self) -> int:
        return self.width * self.height

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        left, top = self.transform.c, self.transform.f
        return left, top + self.transform.e * self.height, left + self.transform.a * self.width, top

    def window(self, rows: slice, cols: slice) -> Grid:
        """The part of this grid covering ``rows`` x ``cols`` (same cells, same CRS)."""
        r0, r1, _ = rows.indices(self.height)
        c0, c1, _ = cols.indices(self.width)
        part = Grid(crs=self.crs, transform=self.transform @ Affine.translation(c0, r0), width=c1 - c0, height=r1 - r0)
        if "_crs_wkt" in self.__dict__:  # the same CRS: no second export
            object.__setattr__(part, "_crs_wkt", self.__dict__["_crs_wkt"])
        return part

    def to_dict(self) -> dict[str, object]:
        return {
            "crs": self.crs.to_string(),
            "resolution": list(self.resolution),
            "width": self.width,
            "height": self.height,
            "bounds": list(self.bounds),
        }


def snap_resolution(requested: float, native: tuple[float, float] | None) -> tuple[float, float]:
    """The pixel size to use: the native one when the request is within 1 % of it."""
    if native is not None and all(abs(requested - n) <= NATIVE_SNAP_TOLERANCE * n for n in native):
        return native
    return requested, requested


def grid_for_bounds(
    bounds: tuple[float, float, float, float],
    crs: CRS,
    resolution: tuple[float, float],
    *,
    anchor: tuple[float, float] = (0.0, 0.0),
    margin: int = 0,
) -> Grid:
    """The smallest grid aligned to ``anchor`` + k * resolution that covers ``bounds``, plus ``margin`` pixels."""
    res_x, res_y = resolution
    ax, ay = anchor
    left = ax + math.floor(round((bounds[0] - ax) / res_x, 9)) * res_x - margin * res_x
    right = ax + math.ceil(round((bounds[2] - ax) / res_x, 9)) * res_x + margin * res_x
    top = ay + math.ceil(round((bounds[3] - ay) / res_y, 9)) * res_y + margin * res_y
    bottom = ay + math.floor(round((bounds[1] - ay) / res_y, 9)) * res_y - margin * res_y
    width = max(1, round((right - left) / res_x))
    height = max(1, round((top - bottom) / res_y))
    return Grid(crs=crs, transform=Affine(res_x, 0.0, left, 0.0, -res_y, top), width=width, height=height)


def polygon_mask(grid: Grid, geometry: BaseGeometry, *, all_touched: bool = False) -> np.ndarray:
    """Pixels of ``grid`` that belong to ``geometry`` (in the grid's CRS).

    Default rule: a pixel belongs when its centre is inside (holes excluded). A polygon that
    covers no pixel centre still gets the pixel containing its centroid (or, when the centroid
    lies outside the polygon, e.g. a thin L or ring, a point on the polygon).
    """
    mask: np.ndarray = rasterio.features.geometry_mask(
        [geometry], out_shape=grid.shape, transform=grid.transform, all_touched=all_touched, invert=True
    )
    if not mask.any() and not geometry.is_empty:
        point = geometry.centroid
        if not geometry.intersects(point):
            point = geometry.representative_point()
        col, row = ~grid.transform @ (point.x, point.y)
        row_i, col_i = math.floor(row), math.floor(col)
        if 0 <= row_i < grid.height and 0 <= col_i < grid.width:
            mask[row_i, col_i] = True
    return mask




def coverage_fraction(grid: Grid, geometry: BaseGeometry) -> np.ndarray:
    """Exact fraction (0..1) of each pixel's area inside ``geometry``, as exactextract computes it.

    Pixels wholly inside get 1 without any geometry work; only pixels the boundary crosses are
    intersected with the polygon.
    """
    touched = rasterio.features.geometry_mask(
        [geometry], out_shape=grid.shape, transform=grid.transform, all_touched=True, invert=True
    )
    fraction = np.zeros(grid.shape, dtype=np.float64)
    boundary = rasterio.features.geometry_mask(
        [geometry.boundary], out_shape=grid.shape, transform=grid.transform, all_touched=True, invert=True
    ) & touched
    fraction[touched & ~boundary] = 1.0
    rows, cols = np.nonzero(boundary)
    if rows.size:
        t = grid.transform
        x0 = t.c + cols * t.a
        y0 = t.f + rows * t.e
        cells = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
        fraction[rows, cols] = shapely.area(shapely.intersection(cells, geometry)) / abs(t.a * t.e)
    return np.clip(fraction, 0.0, 1.0)


def pixel_weights(
    grid: Grid, geometry: BaseGeometry, *, rule: str = "center", min_coverage: float = 0.0
) -> tuple[np.ndarray, np.ndarray | None]:
    """The polygon's pixels under ``rule`` and, for ``coverage``, each one's weight (else None).

    ``center``: centre inside (default); ``all_touched``: any pixel the polygon touches;
    ``coverage``: pixels whose covered fraction is > 0 and >= ``min_coverage``, weighted by it.
    Every rule keeps the tiny-polygon guarantee: at least the pixel holding the centroid.
    """
    if rule == "center":
        return polygon_mask(grid, geometry), None
    if rule == "all_touched":
        return polygon_mask(grid, geometry, all_touched=True), None
    if rule != "coverage":
        raise ValueError(f"unknown pixel rule {rule!r}; use one of {', '.join(PIXEL_RULES)}")
    fraction = coverage_fraction(grid, geometry)
    mask = (fraction > 0) & (fraction >= min_coverage)
    if not mask.any():
        mask = polygon_mask(grid, geometry)
        return mask, np.where(mask, np.maximum(fraction, 1e-12), 0.0)[mask]
    return mask, fraction[mask]


def cell_lookup(fine: Grid, coarse: Grid, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each True pixel of ``mask`` on ``fine``, the (row, col) of the ``coarse`` cell holding its centre."""
    rows, cols = np.nonzero(mask)
    xs, ys = fine.transform @ (cols + 0.5, rows + 0.5)  # type: ignore[operator]  # affine types scalars; arrays work
    ccols, crows = ~coarse.transform @ (np.asarray(xs), np.asarray(ys))
    crow = np.clip(np.floor(crows).astype(np.int64), 0, coarse.height - 1)
    ccol = np.clip(np.floor(ccols).astype(np.int64), 0, coarse.width - 1)
    return crow, ccol
