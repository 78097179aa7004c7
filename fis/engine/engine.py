"""Orchestration: scenes + request -> one observation per acquisition date.

Per request the grid, the polygon's pixel mask and the cloud-grid lookup are computed once;
per date the band windows are read onto that grid (tiles of one date mosaicked, first valid
pixel wins), reduced to statistics, and the cloud model runs once on all averaged vectors.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from pyproj import CRS
import rasterio
from shapely.geometry.base import BaseGeometry

from fis.core.bands import BANDS, NATIVE_RESOLUTION
from fis.core.scenes import SceneRecord
from fis.engine.cloudlayers import CLM, CLP, CloudLayerSettings, has_matching_layers
from fis.engine.clouds import CloudModel, cloud_mask
from fis.errors import FisError, RasterReadError, RequestTooLarge
from fis.engine.grid import Grid, cell_lookup, grid_for_bounds, pixel_weights, snap_resolution
from fis.engine.layermosaic import bounding_window, exact_cells, layer_owner, take_owned
from fis.core.observation import Observation, ObservationError, SeriesResult
from fis.engine.raster import DatasetCache, read_band_on_grids
from fis.engine.reductions import DatePixels, DateReduction, reduce_date
from fis.core.request import TimeseriesRequest

Progress = Callable[[int, int], None]
#: L2A scene classification: cloud medium/high probability and thin cirrus; cloud shadow.
SCL = "SCL"
SCL_CLOUD_CLASSES = (8, 9, 10)
SCL_SHADOW_CLASS = 3
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class RequestLayout:
    """Everything computed once per request: grids, the polygon mask and the cloud-cell lookup."""

    grid: Grid
    inside: np.ndarray
    cloud_grid: Grid
    cloud_cells: tuple[np.ndarray, np.ndarray]
    #: per inside pixel (np.nonzero order), its weight under the pixel rule ``coverage``; else None
    weights: np.ndarray | None = None


@dataclass(frozen=True)
class DateItem:
    """One acquisition date of a request: its scenes and either its pixels or why it failed."""

    date: dt.date
    datetime: dt.datetime
    scenes: tuple[str, ...]
    outcome: DatePixels | ObservationError
    layout: RequestLayout


@dataclass(frozen=True)
class ReducedDate:
    """One row of a series before the batched cloud-model call: a date (or an interval) reduced."""

    date: dt.date
    datetime: dt.datetime
    scenes: tuple[str, ...]
    reduction: DateReduction
    interval: dict[str, object] | None = None


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


def predict_vectors(model: CloudModel, vectors: list[np.ndarray | None]) -> list[float | None]:
    """P(cloud) of each averaged band vector in one model call (None stays None)."""
    rows = [v for v in vectors if v is not None]
    if not rows:
        return [None] * len(vectors)
    predicted = iter(model.predict(np.vstack(rows)).tolist())
    return [next(predicted) if v is not None else None for v in vectors]


def series_result(
    model: CloudModel,
    rows: list[ReducedDate],
    errors: list[ObservationError],
    grid: dict[str, Any],
    warnings: tuple[str, ...],
) -> SeriesResult:
    """Observations of reduced rows, with ``cloud_probability`` from one batched model call."""
    probabilities = predict_vectors(model, [r.reduction.model_vector for r in rows])
    observations = tuple(
        Observation(
            date=r.date,
            datetime=r.datetime,
            scenes=r.scenes,
            ndvi=r.reduction.ndvi,
            bands=r.reduction.bands,
            cloud_probability=p,
            cloud_fraction=r.reduction.cloud_fraction,
            pixels=r.reduction.pixels,
            cloud_source=r.reduction.cloud_source,
            indices=r.reduction.indices,
            percentiles=r.reduction.percentiles,
            histograms=r.reduction.histograms,
            interval=r.interval,
        )
        for r, p in zip(rows, probabilities)
    )
    return SeriesResult(observations=observations, errors=tuple(errors), model=model.name, grid=grid, warnings=warnings)


class Engine:
    """Computes observation records; holds the model and the open-dataset cache."""

    def __init__(
        self,
        model: CloudModel,
        *,
        cache: DatasetCache | None = None,
        max_pixels: int = 4_000_000,
        read_threads: int = 2,
        use_cloud_layers: bool = True,
        gdal_cachemax_mb: int | None = None,
    ):
        self.model = model
        self.cache = cache or DatasetCache()
        self.max_pixels = max_pixels
        self.read_threads = max(1, read_threads)
        #: use registered CLP/CLM layers when they match a request's cloud settings
        self.use_cloud_layers = use_cloud_layers
        # one long-lived pool: its threads keep their open-dataset caches between requests
        self._pool = ThreadPoolExecutor(
            max_workers=self.read_threads,
            thread_name_prefix="fis-read",
            initializer=_enter_gdal_environment,
            initargs=(GDAL_CACHEMAX_MB if gdal_cachemax_mb is None else gdal_cachemax_mb,),
        )

    def compute(self, request: TimeseriesRequest, scenes: Sequence[SceneRecord], *, progress: Progress | None = None) -> SeriesResult:
        """The observations of ``scenes`` over the request's AOI, one per UTC date, ascending.

        Each date is reduced with the request's statistics options (clear-pixel statistics,
        indices, percentiles, histograms); temporal aggregation is :mod:`fis.engine.compute`'s.
        """
        results: list[ReducedDate] = []
        errors: list[ObservationError] = []
        layout: RequestLayout | None = None
        def reduce(pixels: DatePixels) -> DateReduction:
            return reduce_date(
                pixels, model_bands=self.model.input_bands, model_level=self.model.manifest.product_level,
                options=request.statistics,
            )

        # reduced on the read threads: only the small reductions wait in the queue, not pixels
        for item in self.iter_dates(request, scenes, progress=progress, reducer=reduce, pixel_probability=False):
            if isinstance(item.outcome, ObservationError):
                errors.append(item.outcome)
            else:
                results.append(ReducedDate(item.date, item.datetime, item.scenes, item.outcome))  # type: ignore[arg-type]
            layout = item.layout
        grid = layout.grid.to_dict() if layout is not None else {}
        warnings = tuple(f"{r.date.isoformat()} ({', '.join(r.scenes)}): {w}" for r in results for w in r.reduction.warnings)
        return series_result(self.model, results, errors, grid, warnings)

    def iter_dates(
        self,
        request: TimeseriesRequest,
        scenes: Sequence[SceneRecord],
        *,
        progress: Progress | None = None,
        reducer: Callable[[DatePixels], Any] | None = None,
        pixel_probability: bool = True,
    ) -> Iterator[DateItem]:
        """Stream one :class:`DateItem` per UTC date (ascending): its pixels, or its error.

        Dates are read concurrently on the engine's pool but yielded in order, so a caller
        holds at most a few dates' pixels at a time. With ``reducer`` the read thread applies
        it and the item's outcome is its result instead of the pixels. Without
        ``pixel_probability`` the pixels' ``probability`` may be None (no CLP layer is read).
        """
        scenes = [s for s in scenes if request.time_range.contains(s.datetime)]
        if not scenes:
            return
        layout = self.layout(request, scenes)
        by_date: dict[dt.date, list[SceneRecord]] = defaultdict(list)
        for scene in sorted(scenes, key=lambda s: (s.datetime, s.id)):
            by_date[scene.date].append(scene)
        dates = sorted(by_date)

        def work(date: dt.date) -> DateItem:
            group = by_date[date]
            ids = tuple(s.id for s in group)
            when = min(s.datetime for s in group)
            try:
                outcome: Any = self._read_date(request, layout, group, pixel_probability=pixel_probability)
                if reducer is not None:
                    outcome = reducer(outcome)
            except FisError as exc:
                outcome = ObservationError(date=date, scenes=ids, message=exc.message)
            return DateItem(date=date, datetime=when, scenes=ids, outcome=outcome, layout=layout)

        for done, item in enumerate(_bounded_map(self._pool, work, dates, window=self.read_threads + 1), start=1):
            if progress:
                progress(done, len(dates))
            yield item

    def layout(self, request: TimeseriesRequest, scenes: Sequence[SceneRecord]) -> RequestLayout:
        """Choose the CRS and pixel grid for the request and rasterise the polygon once (under its pixel rule)."""
        crs, reference = self._grid_crs(scenes)
        with self.cache.dataset(reference) as dataset:
            native = (abs(dataset.transform.a), abs(dataset.transform.e))
            anchor = (dataset.transform.c, dataset.transform.f)
        resolution = snap_resolution(request.resolution, native)
        geometry: BaseGeometry = request.aoi.to_crs(crs)
        grid = grid_for_bounds(geometry.bounds, crs, resolution, anchor=anchor)
        if grid.size > self.max_pixels:
            raise RequestTooLarge(
                f"geometry needs a {grid.width} x {grid.height} = {grid.size} pixel grid at {resolution[0]:g} m; "
                f"the limit for one synchronous request is {self.max_pixels} pixels (FIS_MAX_PIXELS). "
                "Use a coarser resolution or split the geometry.",
                field="geometry",
                details={"pixels": grid.size, "max_pixels": self.max_pixels, "resolution": resolution[0]},
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
            grid=grid, inside=inside, cloud_grid=cloud_grid, cloud_cells=cell_lookup(grid, cloud_grid, inside), weights=weights
        )

    def _grid_crs(self, scenes: Sequence[SceneRecord]) -> tuple[CRS, str]:
        """The CRS most of the scenes are in, and a 10 m band file on that CRS's native grid."""
        crs_of: dict[str, CRS] = {}
        for scene in scenes:
            href = _reference_href(scene)
            if scene.crs:
                crs_of[scene.id] = CRS.from_user_input(scene.crs)
            else:
                with self.cache.dataset(href) as dataset:
                    crs_of[scene.id] = CRS.from_user_input(dataset.crs)
        counts = Counter(crs.to_string() for crs in crs_of.values())
        chosen = counts.most_common(1)[0][0]
        # the first scene whose reference file opens: one unreadable file fails its date, not the request
        candidates = [s for s in scenes if crs_of[s.id].to_string() == chosen]
        for scene in candidates:
            try:
                with self.cache.dataset(_reference_href(scene)):
                    pass
            except RasterReadError:
                continue
            return crs_of[scene.id], _reference_href(scene)
        return crs_of[candidates[0].id], _reference_href(candidates[0])

    def _read_date(self, request: TimeseriesRequest, layout: RequestLayout, group: list[SceneRecord], *, pixel_probability: bool = True) -> DatePixels:
        """Read every band of one date onto the grid (tiles mosaicked) and sample the cloud mask."""
        inside = layout.inside
        rows, cols = layout.cloud_cells
        present = [band for band in BANDS if any(band in s.assets for s in group)]
        level = group[0].product_level
        source = self._cloud_source(request, group, present)
        layers = self._read_layers(request, layout, group, with_probability=pixel_probability) if source == "precomputed" else None
        # where the model runs at request time: the cloud grid, or only the layers' seam window
        model_grid: Grid | None = None
        if source == "s2cloudless":
            model_grid = layout.cloud_grid
        elif layers is not None and layers.window is not None:
            model_grid = layout.cloud_grid.window(*layers.window)
        model_bands = set(self.model.input_bands)
        values: dict[str, np.ndarray] = {}
        full: dict[str, np.ndarray] = {}
        cloudy = probability = shadow = None
        for band in present:
            on_model_grid = model_grid is not None and band in model_bands
            grids = [layout.grid, model_grid] if on_model_grid and model_grid != layout.grid else [layout.grid]
            mosaics = _mosaic(group, band, grids, self.cache)  # type: ignore[arg-type]
            values[band] = mosaics[0][inside]
            if on_model_grid:
                full[band] = mosaics[-1]
        if layers is not None:
            if model_grid is not None:
                layers.patch(*self._cloud_mask(request, model_grid, full))
            cloudy = layers.mask[rows, cols]
            probability = layers.probability[rows, cols] if layers.probability is not None else None
        elif source == "scl":
            scl = _mosaic(group, SCL, [layout.grid], self.cache)[0][inside]
            cloudy = np.isin(scl, SCL_CLOUD_CLASSES)
            shadow = scl == SCL_SHADOW_CLASS
        elif source == "s2cloudless":
            probability_map, mask = self._cloud_mask(request, layout.cloud_grid, full)
            cloudy = mask[rows, cols]
            probability = probability_map[rows, cols]
        return DatePixels(
            values=values, cloudy=cloudy, probability=probability, cloud_source=source if cloudy is not None else None,
            shadow=shadow, product_level=level, weights=layout.weights,
        )

    def _cloud_source(self, request: TimeseriesRequest, group: list[SceneRecord], present: list[str]) -> str | None:
        """Where this date's per-pixel cloud mask comes from (see ``Observation.cloud_source``)."""
        if any(s.product_level != self.model.manifest.product_level for s in group):
            return "scl" if all(SCL in s.assets for s in group) else None
        settings = CloudLayerSettings.for_mask(self.model.name, request.cloud_mask)
        if self.use_cloud_layers and all(has_matching_layers(s, settings) for s in group):
            return "precomputed"
        if set(self.model.input_bands).issubset(present):
            return "s2cloudless"
        return None

    def _read_layers(
        self, request: TimeseriesRequest, layout: RequestLayout, group: list[SceneRecord], *, with_probability: bool
    ) -> "LayerCells":
        """The mosaic of the tiles' CLM (and CLP, only ``with_probability``) on the cloud grid, and
        the cells whose neighbourhood crosses a tile seam, which must be computed on the mosaic."""
        grid = layout.cloud_grid
        masks: list[np.ndarray] = []
        probabilities: list[np.ndarray] = []
        for scene in group:
            masks.append(read_band_on_grids(scene.assets[CLM], [grid], self.cache)[0])
            if with_probability:
                # the reader takes CLP 0 (P < 0.5/255) for no data; where the CLM has data it is P ~ 0
                probabilities.append(np.nan_to_num(read_band_on_grids(scene.assets[CLP], [grid], self.cache)[0]))
            if np.logical_or.reduce([np.isfinite(m) for m in masks]).all():
                break  # the tiles so far have data on every cell: later tiles own none
        owner = layer_owner([np.isfinite(m) for m in masks])
        clm = take_owned(masks, owner)
        probability = np.where(np.isfinite(clm), take_owned(probabilities, owner), np.nan) if with_probability else None
        settings = request.cloud_mask
        radius = settings.average_over + settings.dilation_size
        needed = np.zeros(grid.shape, dtype=bool)
        needed[layout.cloud_cells] = True
        seam = needed & ~exact_cells(owner, radius)
        window = bounding_window(seam, radius, grid.shape) if seam.any() else None
        return LayerCells(probability=probability, mask=clm == 1, seam=seam, window=window)

    def _cloud_mask(self, request: TimeseriesRequest, grid: Grid, full: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """s2cloudless probabilities on ``grid`` (the cloud grid), and the post-processed boolean mask."""
        features = np.stack([full[b].ravel() for b in self.model.input_bands], axis=1)
        probability = self.model.predict(features).reshape(grid.shape)
        settings = request.cloud_mask
        mask = cloud_mask(probability, threshold=settings.threshold, average_over=settings.average_over, dilation_size=settings.dilation_size)
        return probability, mask


def _reference_href(scene: SceneRecord) -> str:
    for band in ("B04", "B08", "B02", "B03"):
        if band in scene.assets:
            return scene.assets[band].href
    finest = min(scene.assets.values(), key=lambda a: a.resolution or NATIVE_RESOLUTION.get(a.band, 60))
    return finest.href


def _mosaic(group: list[SceneRecord], band: str, grids: list[Grid], cache: DatasetCache) -> list[np.ndarray]:
    """One band of one date on each grid: the first scene's valid pixels win, later tiles fill gaps
    (a later tile is read only over the part of each grid that still has gaps)."""
    result: list[np.ndarray] | None = None
    for scene in group:
        asset = scene.assets.get(band)
        if asset is None:
            continue
        if result is None:
            result = read_band_on_grids(asset, grids, cache)
            continue
        gaps = [np.isnan(r) for r in result]
        windows = [_gap_window(g) for g in gaps]
        todo = [i for i, window in enumerate(windows) if window is not None]
        if not todo:
            break
        parts = read_band_on_grids(asset, [grids[i].window(*windows[i]) for i in todo], cache)  # type: ignore[misc]
        for i, extra in zip(todo, parts):
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


def _bounded_map(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Sequence[T], *, window: int) -> Iterator[R]:
    """Like ``pool.map`` but with at most ``window`` items in flight, so memory stays bounded."""
    pending: deque[Future[R]] = deque()
    iterator = iter(items)
    for item in iterator:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            break
    while pending:
        yield pending.popleft().result()
        for item in iterator:
            pending.append(pool.submit(fn, item))
            break


#: GDAL's block cache in MB unless the engine is given one (``FIS_GDAL_CACHEMAX_MB``). GDAL's default
#: (5 % of RAM) lets decoded blocks of large fields pile up in the process; a request reads each
#: window once, so a larger cache only pays off when requests overlap.
GDAL_CACHEMAX_MB = 64


def _enter_gdal_environment(cachemax_mb: int) -> None:
    """Give a read thread one lasting GDAL environment (entering one per read costs file stats)."""
    environment = rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_CACHEMAX=cachemax_mb)
    environment.__enter__()
    threading.current_thread().__dict__["_fis_gdal_env"] = environment
