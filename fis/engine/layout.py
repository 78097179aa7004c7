"""The per-request layout: the statistics grid, the polygon's pixels and the cloud-cell lookup.

Computed once per request (before any date is read): the CRS most scenes are in, the grid at
the requested resolution anchored on a reference file's native pixels, the polygon rasterised
under its pixel rule, and the cloud grid each statistics pixel takes its cloud cell from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from fis.core.bands import NATIVE_RESOLUTION
from fis.core.request import TimeseriesRequest
from fis.core.scenes import SceneRecord
from fis.engine.grid import Grid, cell_lookup, grid_for_bounds, pixel_weights, snap_resolution
from fis.engine.raster import DatasetCache
from fis.errors import RasterReadError, RequestTooLarge


@dataclass(frozen=True)
class RequestLayout:
    """Everything computed once per request: grids, the polygon mask and the cloud-cell lookup."""

    grid: Grid
    inside: np.ndarray
    cloud_grid: Grid
    cloud_cells: tuple[np.ndarray, np.ndarray]
    #: per inside pixel (np.nonzero order), its weight under the pixel rule ``coverage``; else None
    weights: np.ndarray | None = None

    @property
    def cloud_cell_index(self) -> np.ndarray:
        """Per inside pixel, the flat index of its cloud cell (``cloud_cells`` raveled; computed once):
        ``cells.ravel().take(index)`` is ``cells[cloud_cells]`` with one gather instead of two."""
        index = self.__dict__.get("_cloud_cell_index")
        if index is None:
            index = np.ravel_multi_index(self.cloud_cells, self.cloud_grid.shape)
            object.__setattr__(self, "_cloud_cell_index", index)
        return index


def request_layout(
    request: TimeseriesRequest, scenes: Sequence[SceneRecord], cache: DatasetCache, *, max_pixels: int
) -> RequestLayout:
    """Choose the CRS and pixel grid for the request and rasterise the polygon once (under its pixel rule).

    Raises :class:`~fis.errors.RequestTooLarge` when the grid has more than ``max_pixels`` pixels.
    """
    crs, reference = grid_crs(scenes, cache)
    with cache.dataset(reference) as dataset:
        native = (abs(dataset.transform.a), abs(dataset.transform.e))
        anchor = (dataset.transform.c, dataset.transform.f)
    resolution = snap_resolution(request.resolution, native)
    geometry: BaseGeometry = request.aoi.to_crs(crs)
    grid = grid_for_bounds(geometry.bounds, crs, resolution, anchor=anchor)
    if grid.size > max_pixels:
        raise RequestTooLarge(
            f"geometry needs a {grid.width} x {grid.height} = {grid.size} pixel grid at {resolution[0]:g} m; "
            f"the limit for one synchronous request is {max_pixels} pixels (FIS_MAX_PIXELS). "
            "Use a coarser resolution or split the geometry.",
            field="geometry",
            details={"pixels": grid.size, "max_pixels": max_pixels, "resolution": resolution[0]},
        )
    inside, weights = pixel_weights(grid, geometry, rule=request.pixel_rule, min_coverage=request.min_coverage)
    cloud_resolution = request.cloud_mask.resolution
    if cloud_resolution <= resolution[0] * (1 + 1e-9):
        cloud_grid = grid
    else:
        # the mask at the polygon's cells needs the probabilities within average_over + dilation_size cells
        margin = request.cloud_mask.average_over + request.cloud_mask.dilation_size
        # anchored at multiples of the cloud resolution in the CRS, like the precomputed layers,
        # so on-the-fly masks and CLM layers of any tile share one cell grid
        cloud_grid = grid_for_bounds(grid.bounds, crs, (cloud_resolution, cloud_resolution), margin=margin)
    return RequestLayout(
        grid=grid, inside=inside, cloud_grid=cloud_grid, cloud_cells=cell_lookup(grid, cloud_grid, inside),
        weights=weights,
    )


def grid_crs(scenes: Sequence[SceneRecord], cache: DatasetCache) -> tuple[CRS, str]:
    """The CRS most of the scenes are in, and a 10 m band file on that CRS's native grid."""
    crs_of: dict[str, CRS] = {}
    for scene in scenes:
        href = reference_href(scene)
        if scene.crs:
            crs_of[scene.id] = CRS.from_user_input(scene.crs)
        else:
            with cache.dataset(href) as dataset:
                crs_of[scene.id] = CRS.from_user_input(dataset.crs)
    counts = Counter(crs.to_string() for crs in crs_of.values())
    chosen = counts.most_common(1)[0][0]
    # the first scene whose reference file opens: one unreadable file fails its date, not the request
    candidates = [s for s in scenes if crs_of[s.id].to_string() == chosen]
    for scene in candidates:
        try:
            with cache.dataset(reference_href(scene)):
                pass
        except RasterReadError:
            continue
        return crs_of[scene.id], reference_href(scene)
    return crs_of[candidates[0].id], reference_href(candidates[0])


def reference_href(scene: SceneRecord) -> str:
    """The file whose pixels anchor the grid: a 10 m band, else the scene's finest band."""
    for band in ("B04", "B08", "B02", "B03"):
        if band in scene.assets:
            return scene.assets[band].href
    finest = min(scene.assets.values(), key=lambda a: a.resolution or NATIVE_RESOLUTION.get(a.band, 60))
    return finest.href
