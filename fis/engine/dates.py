"""Reading one acquisition date: its tiles mosaicked onto the request's grid, and its cloud mask.

Per band the first tile's valid pixels win and later tiles only fill gaps. The per-pixel cloud
mask comes from the precomputed CLM layers (seam cells recomputed on the mosaic), from the L2A
scene classification, or from s2cloudless run on the cloud grid at read time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fis.core.bands import BANDS
from fis.core.request import CloudMaskSettings, TimeseriesRequest
from fis.core.scenes import BandAsset, SceneRecord
from fis.engine.cloudlayers import CLM, CLP, CloudLayerSettings, has_matching_layers
from fis.engine.clouds import CloudModel, cloud_mask
from fis.engine.grid import Grid
from fis.engine.layermosaic import bounding_window, exact_cells, layer_owner, take_owned
from fis.engine.layout import RequestLayout
from fis.engine.phases import PhaseClock
from fis.engine.raster import DatasetCache, read_band_on_grids
from fis.engine.reductions import DatePixels
from fis.engine.remote import RemotePolicy

#: L2A scene classification: cloud medium/high probability and thin cirrus; cloud shadow.
SCL = "SCL"
SCL_CLOUD_CLASSES = (8, 9, 10)
SCL_SHADOW_CLASS = 3


#: bands every request reads: they define the valid pixels (and NDVI)
BASE_BANDS = frozenset({"B04", "B08"})


@dataclass(frozen=True)
class Needs:
    """What a request needs read per date: the bands on its grid (None: every band) and whether the cloud mask."""

    bands: frozenset[str] | None = None
    mask: bool = True


def needs_of(request: TimeseriesRequest, model_bands: tuple[str, ...]) -> Needs:
    """The bands and cloud mask the request's ``outputs``, indices and options need (the mask brings its own
    inputs: the CLM layer, the SCL band or the model's bands on the cloud grid)."""
    outputs = request.outputs
    pick = request.aggregation.pick if request.aggregation is not None else None
    mask = "cloud_fraction" in outputs or request.mask_clouds or pick in ("least_cloudy", "clear_mean")
    if "bands" in outputs:
        return Needs(bands=None, mask=mask)
    bands = set(BASE_BANDS)
    if "cloud_probability" in outputs:
        bands.update(model_bands)
    for index in request.indices:
        bands.update(index.bands)
    bands.update(request.extra_bands)
    return Needs(bands=frozenset(bands), mask=mask)


@dataclass
class LayerCells:
    """A date's cloud cells from precomputed layers, before its seam cells are patched."""

    probability: np.ndarray | None
    mask: np.ndarray
    #: cells that must be computed on the mosaic (their neighbourhood crosses a tile seam)
    seam: np.ndarray
    #: rows and columns of the cloud grid holding the seam cells and their neighbourhoods; None: no seam
    window: tuple[slice, slice] | None

    def patch(self, probability: np.ndarray, mask: np.ndarray) -> None:
        """Take the seam cells from ``probability`` / ``mask`` computed on the mosaic over ``window``."""
        assert self.window is not None
        here = self.seam[self.window]
        self.mask[self.window][here] = mask[here]
        if self.probability is not None:
            self.probability[self.window][here] = probability[here]


@dataclass
class DatePlan:
    """What one date of one request reads (:meth:`DateReader.plan`)."""

    #: bands any of the date's scenes has, in band order
    present: tuple[str, ...]
    #: bands read on the request's grid
    on_field: frozenset[str]
    #: where the cloud mask comes from (see :meth:`DateReader.cloud_source`)
    source: str | None
    #: the precomputed layers' cells (source "precomputed")
    layers: LayerCells | None
    #: the grid the model runs on at read time (the cloud grid, or the layers' seam window); None: not run
    model_grid: Grid | None

    def band_grids(self, grid: Grid, model_bands: Sequence[str]) -> list[tuple[str, list[Grid]]]:
        """Each band read, with the grids it is read on: ``grid`` (the request's) and/or the model grid."""
        out = []
        for band in self.present:
            on_model_grid = self.model_grid is not None and band in model_bands
            if band not in self.on_field and not on_model_grid:
                continue
            grids = [grid] if band in self.on_field else []
            if on_model_grid and (not grids or self.model_grid != grid):
                grids.append(self.model_grid)  # type: ignore[arg-type]
            out.append((band, grids))
        return out


class Fetch(Protocol):
    """Where a date's pixels come from: band mosaics on grids, and one scene's cloud layer on a grid."""

    def mosaic(self, group: list[SceneRecord], band: str, grids: list[Grid]) -> list[np.ndarray]:
        """One band of the date's scenes on each grid (see :func:`mosaic`)."""
        ...

    def layer(self, asset: BandAsset, grid: Grid) -> np.ndarray:
        """One scene's layer (CLM or CLP) on ``grid``."""
        ...

    def probability(self, grid: Grid) -> np.ndarray | None:
        """The model's probabilities on ``grid`` when already computed, else None."""
        ...


class DirectFetch:
    """Reads the files (the single-request path)."""

    def __init__(self, cache: DatasetCache, remote: RemotePolicy | None = None):
        self.cache = cache
        self.remote = remote

    def mosaic(self, group: list[SceneRecord], band: str, grids: list[Grid]) -> list[np.ndarray]:
        return mosaic(group, band, grids, self.cache, self.remote)

    def layer(self, asset: BandAsset, grid: Grid) -> np.ndarray:
        return read_retrying(asset, [grid], self.cache, self.remote)[0]

    def probability(self, grid: Grid) -> np.ndarray | None:
        return None


class DateReader:
    """Reads the pixels of one date (its scenes) on a request's layout; safe to use from several threads."""

    def __init__(
        self, model: CloudModel, cache: DatasetCache, *, use_cloud_layers: bool = True,
        remote: RemotePolicy | None = None, phases: PhaseClock | None = None,
    ):
        self.model = model
        #: times the cloud model (``cloud_model``) for the engine's phase metrics
        self.phases = phases or PhaseClock()
        self.cache = cache
        #: retries of failed reads of remote files
        self.remote = remote or RemotePolicy()
        #: use registered CLP/CLM layers when they match a request's cloud settings
        self.use_cloud_layers = use_cloud_layers

    def read(
        self,
        mask: CloudMaskSettings,
        layout: RequestLayout,
        group: list[SceneRecord],
        *,
        pixel_probability: bool = True,
        needs: Needs | None = None,
        fetch: Fetch | None = None,
        plan: DatePlan | None = None,
    ) -> DatePixels:
        """Read the bands of one date onto the grid (tiles mosaicked) and sample the cloud mask.

        ``needs`` says which bands and whether the mask (default: every band and the mask). Without
        ``pixel_probability`` the pixels' ``probability`` may be None (no CLP layer is read).
        ``fetch`` gives the band mosaics and layers (default: read from the files; a chunk of
        features passes windows of its shared reads, :mod:`fis.engine.chunk`); ``plan`` is the
        date's :meth:`plan` when the caller already made it with the same arguments.
        """
        fetch = fetch or DirectFetch(self.cache, self.remote)
        plan = plan or self.plan(mask, layout, group, pixel_probability=pixel_probability, needs=needs, fetch=fetch)
        inside = layout.inside
        source, layers, model_grid = plan.source, plan.layers, plan.model_grid
        values: dict[str, np.ndarray] = {}
        full: dict[str, np.ndarray] = {}
        cloudy = probability = shadow = None
        for band, grids in plan.band_grids(layout.grid, self.model.input_bands):
            mosaics = fetch.mosaic(group, band, grids)
            if band in plan.on_field:
                values[band] = mosaics[0][inside]
            if model_grid is not None and band in self.model.input_bands:
                full[band] = mosaics[-1]
        if needs is not None and needs.bands is not None and SCL in needs.bands and all(SCL in s.assets for s in group):
            values[SCL] = fetch.mosaic(group, SCL, [layout.grid])[0][inside]  # as a value band
        if layers is not None:
            if model_grid is not None:
                layers.patch(*self._cloud_mask(mask, model_grid, full, fetch))
            cells = layout.cloud_cell_index
            cloudy = layers.mask.ravel().take(cells)
            probability = layers.probability.ravel().take(cells) if layers.probability is not None else None
        elif source == "scl":
            scl = values.get(SCL)
            if scl is None:
                scl = fetch.mosaic(group, SCL, [layout.grid])[0][inside]
            cloudy = np.isin(scl, SCL_CLOUD_CLASSES)
            shadow = scl == SCL_SHADOW_CLASS
        elif source == "s2cloudless":
            probability_map, cloudy_map = self._cloud_mask(mask, layout.cloud_grid, full, fetch)
            cloudy = cloudy_map.ravel().take(layout.cloud_cell_index)
            probability = probability_map.ravel().take(layout.cloud_cell_index) if pixel_probability else None
        return DatePixels(
            values=values, cloudy=cloudy, probability=probability, cloud_source=source if cloudy is not None else None,
            shadow=shadow, product_level=group[0].product_level, weights=layout.weights,
        )

    def plan(
        self,
        mask: CloudMaskSettings,
        layout: RequestLayout,
        group: list[SceneRecord],
        *,
        pixel_probability: bool = True,
        needs: Needs | None = None,
        fetch: Fetch | None = None,
    ) -> DatePlan:
        """What :meth:`read` reads for one date: the bands, the cloud source, the precomputed layers
        (read here, through ``fetch``) and the grid the model runs on at read time."""
        needs = needs or Needs()
        fetch = fetch or DirectFetch(self.cache, self.remote)
        present = [band for band in BANDS if any(band in s.assets for s in group)]
        on_field = frozenset(present) if needs.bands is None else needs.bands.intersection(present)
        source = self.cloud_source(mask, group, present) if needs.mask else None
        layers = None
        if source == "precomputed":
            layers = self._read_layers(mask, layout, group, with_probability=pixel_probability, fetch=fetch)
        # where the model runs at request time: the cloud grid, or only the layers' seam window
        model_grid: Grid | None = None
        if source == "s2cloudless":
            model_grid = layout.cloud_grid
        elif layers is not None and layers.window is not None:
            model_grid = layout.cloud_grid.window(*layers.window)
        return DatePlan(present=tuple(present), on_field=on_field, source=source, layers=layers, model_grid=model_grid)

    def cloud_source(self, mask: CloudMaskSettings, group: list[SceneRecord], present: list[str]) -> str | None:
        """Where this date's per-pixel cloud mask comes from (see ``Observation.cloud_source``)."""
        if any(s.product_level != self.model.manifest.product_level for s in group):
            return "scl" if all(SCL in s.assets for s in group) else None
        settings = CloudLayerSettings.for_mask(self.model.name, mask)
        if self.use_cloud_layers and all(has_matching_layers(s, settings) for s in group):
            return "precomputed"
        if set(self.model.input_bands).issubset(present):
            return "s2cloudless"
        return None

    def _read_layers(
        self, mask: CloudMaskSettings, layout: RequestLayout, group: list[SceneRecord], *, with_probability: bool,
        fetch: Fetch,
    ) -> LayerCells:
        """The mosaic of the tiles' CLM (and CLP, only ``with_probability``) on the cloud grid, and
        the cells whose neighbourhood crosses a tile seam, which must be computed on the mosaic."""
        grid = layout.cloud_grid
        masks: list[np.ndarray] = []
        probabilities: list[np.ndarray] = []
        for scene in group:
            masks.append(fetch.layer(scene.assets[CLM], grid))
            if with_probability:
                # the reader takes CLP 0 (P < 0.5/255) for no data; where the CLM has data it is P ~ 0
                probabilities.append(
                    np.nan_to_num(fetch.layer(scene.assets[CLP], grid))
                )
            if np.logical_or.reduce([np.isfinite(m) for m in masks]).all():
                break  # the tiles so far have data on every cell: later tiles own none
        owner = layer_owner([np.isfinite(m) for m in masks])
        clm = take_owned(masks, owner)
        probability = np.where(np.isfinite(clm), take_owned(probabilities, owner), np.nan) if with_probability else None
        radius = mask.average_over + mask.dilation_size
        needed = np.zeros(grid.shape, dtype=bool)
        needed[layout.cloud_cells] = True
        seam = needed & ~exact_cells(owner, radius)
        window = bounding_window(seam, radius, grid.shape) if seam.any() else None
        return LayerCells(probability=probability, mask=clm == 1, seam=seam, window=window)

    def _cloud_mask(
        self, mask: CloudMaskSettings, grid: Grid, full: dict[str, np.ndarray], fetch: Fetch | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """s2cloudless probabilities on ``grid`` (the cloud grid), and the post-processed boolean mask.

        The probabilities are the model's on each cell's band values (``full``), unless ``fetch``
        already has them for ``grid`` (the same model on the same values, shared by a chunk).
        """
        probability = fetch.probability(grid) if fetch is not None else None
        if probability is None:
            probability = self.predict_grid(grid, full)
        cloudy = cloud_mask(
            probability, threshold=mask.threshold, average_over=mask.average_over, dilation_size=mask.dilation_size
        )
        return probability, cloudy

    def predict_grid(self, grid: Grid, full: dict[str, np.ndarray]) -> np.ndarray:
        """The model's P(cloud) of each cell of ``grid`` from the model bands' values on it."""
        features = np.stack([full[b].ravel() for b in self.model.input_bands], axis=1)
        with self.phases("cloud_model"):
            probability: np.ndarray = self.model.predict(features).reshape(grid.shape)
        return probability


def read_retrying(
    asset: BandAsset, grids: list[Grid], cache: DatasetCache, remote: RemotePolicy | None = None
) -> list[np.ndarray]:
    """:func:`read_band_on_grids`, retried with backoff when a remote file fails (``remote``'s policy)."""
    policy = remote or RemotePolicy()
    return policy.retrying(asset.href, lambda: read_band_on_grids(asset, grids, cache))


def mosaic(
    group: list[SceneRecord], band: str, grids: list[Grid], cache: DatasetCache, remote: RemotePolicy | None = None
) -> list[np.ndarray]:
    """One band of one date on each grid: the first scene's valid pixels win, later tiles fill gaps
    (a later tile is read only over the part of each grid that still has gaps)."""
    result: list[np.ndarray] | None = None
    for scene in group:
        asset = scene.assets.get(band)
        if asset is None:
            continue
        if result is None:
            result = read_retrying(asset, grids, cache, remote)
            continue
        gaps = [np.isnan(r) for r in result]
        windows = [_gap_window(g) for g in gaps]
        todo = [i for i, window in enumerate(windows) if window is not None]
        if not todo:
            break
        parts = read_retrying(asset, [grids[i].window(*windows[i]) for i in todo], cache, remote)  # type: ignore[misc]
        for i, extra in zip(todo, parts, strict=True):
            rows, cols = windows[i]  # type: ignore[misc]
            np.copyto(result[i][rows, cols], extra, where=gaps[i][rows, cols])
    assert result is not None
    return result


def _gap_window(gaps: np.ndarray) -> tuple[slice, slice] | None:
    """The smallest rows x columns window holding every True of ``gaps``; None when there is none."""
    rows = np.flatnonzero(gaps.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(gaps.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
