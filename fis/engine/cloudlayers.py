"""Precomputed cloud layers per scene: CLP (probability * 255, uint8) and CLM (0 clear, 1 cloud,
255 no data), at 160 m by default, as Sentinel Hub precomputes them for its archive.

A layer is computed over the scene's extent on a grid of cells at multiples of the layer
resolution in the scene's CRS (the same cells the on-the-fly path uses) from the mean of the
native pixels of the ten model bands, written as COGs under ``<data_dir>/cloud-layers/<scene id>/``
and then registered on the scene together with the settings that made it. Files are written to a
temporary name and renamed; the scene row is updated only after both files are complete, so a crash
never leaves a half-written layer registered. Re-running skips scenes whose registered layer matches the settings.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling

from fis.core.radiometry import Radiometry
from fis.core.scenes import BandAsset, SceneRecord
from fis.engine.clouds import CloudModel, ModelManifest, cloud_mask
from fis.engine.grid import Grid, grid_for_bounds
from fis.engine.raster import DatasetCache, read_band_on_grids
from fis.errors import FisError, InvalidInput

CLP = "CLP"
CLM = "CLM"
CLM_NODATA = 255
#: Version of the cell-mean computation (see ``CloudLayerSettings.cells``).
CELL_MEANS_VERSION = 2
#: Rows of layer cells read per strip (bounded memory on full 110 km tiles).
STRIP_CELLS = 32


@dataclass(frozen=True)
class CloudLayerSettings:
    """How a layer was made; a request uses a layer only when these match its cloud settings."""

    model: str
    resolution: float = 160.0
    threshold: float = 0.4
    average_over: int = 1
    dilation_size: int = 1
    #: how band values become cell means; a layer of another version is recomputed, never used.
    #: 2: exact digital-number means; 1 (layers recorded without it): float32 sums
    cells: int = CELL_MEANS_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_mask(cls, model: str, mask: Any) -> CloudLayerSettings:
        """The layer settings matching a request's :class:`fis.core.request.CloudMaskSettings`."""
        return cls(
            model=model, resolution=mask.resolution, threshold=mask.threshold,
            average_over=mask.average_over, dilation_size=mask.dilation_size,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CloudLayerSettings:
        return cls(
            model=str(data["model"]),
            resolution=float(data["resolution"]),
            threshold=float(data["threshold"]),
            average_over=int(data["average_over"]),
            dilation_size=int(data["dilation_size"]),
            cells=int(data.get("cells", 1)),
        )

    def matches(self, other: CloudLayerSettings) -> bool:
        return (
            self.model == other.model
            and math.isclose(self.resolution, other.resolution, rel_tol=1e-9)
            and math.isclose(self.threshold, other.threshold, rel_tol=1e-9)
            and self.average_over == other.average_over
            and self.dilation_size == other.dilation_size
            and self.cells == other.cells
        )


def registered_settings(scene: SceneRecord) -> CloudLayerSettings | None:
    """The settings of the layer registered on ``scene`` (None when it has none)."""
    data = scene.properties.get("cloud_layers")
    if not data or CLP not in scene.assets or CLM not in scene.assets:
        return None
    return CloudLayerSettings.from_dict(data["settings"])


def has_matching_layers(scene: SceneRecord, settings: CloudLayerSettings) -> bool:
    registered = registered_settings(scene)
    return registered is not None and registered.matches(settings)


def scene_layer_grid(scene: SceneRecord, resolution: float, cache: DatasetCache) -> Grid:
    """The scene's extent (finest band file) on a ``resolution`` grid aligned to multiples of it."""
    reference = min(scene.assets.values(), key=lambda a: a.resolution or 60.0)
    with cache.dataset(reference.href) as dataset:
        transform, width, height, crs = dataset.transform, dataset.width, dataset.height, dataset.crs
    left, top = transform.c, transform.f
    right, bottom = left + transform.a * width, top + transform.e * height
    # cells at multiples of the resolution in the CRS: every tile's layer shares one cell grid
    return grid_for_bounds((left, bottom, right, top), CRS.from_user_input(crs), (resolution, resolution))


def compute_probability(scene: SceneRecord, model: CloudModel, grid: Grid, cache: DatasetCache) -> np.ndarray:
    """s2cloudless probability on ``grid`` (NaN where any model band has no data), strip by strip."""
    missing = [b for b in model.input_bands if b not in scene.assets]
    if missing:
        raise InvalidInput(
            f"scene {scene.id} lacks the model band(s) {', '.join(missing)}; no cloud layer can be computed",
            field="scene",
        )
    if scene.product_level != model.manifest.product_level:
        raise InvalidInput(
            f"scene {scene.id} is {scene.product_level}; "
            f"{model.name} is trained on {model.manifest.product_level} only",
            field="scene",
        )
    probability = np.full(grid.shape, np.nan, dtype=np.float32)
    for row0 in range(0, grid.height, STRIP_CELLS):
        rows = min(STRIP_CELLS, grid.height - row0)
        strip = Grid(
            crs=grid.crs, transform=grid.transform @ Affine.translation(0, row0), width=grid.width, height=rows
        )
        stack = [read_band_on_grids(scene.assets[b], [strip], cache)[0] for b in model.input_bands]
        features = np.stack([a.ravel() for a in stack], axis=1)
        probability[row0 : row0 + rows] = model.predict(features).reshape(strip.shape)
    return probability


def write_layers(
    scene: SceneRecord, model: CloudModel, settings: CloudLayerSettings, out_dir: Path, cache: DatasetCache
) -> dict[str, BandAsset]:
    """Compute and write CLP and CLM COGs for ``scene``; returns their assets (not yet registered)."""
    grid = scene_layer_grid(scene, settings.resolution, cache)
    with rasterio.Env():
        probability = compute_probability(scene, model, grid, cache)
    data = np.isfinite(probability)
    mask = cloud_mask(
        probability,
        threshold=settings.threshold,
        average_over=settings.average_over,
        dilation_size=settings.dilation_size,
    )
    clp = np.where(data, np.round(np.nan_to_num(probability) * 255), 0).astype(np.uint8)
    clm = np.where(data, mask.astype(np.uint8), CLM_NODATA).astype(np.uint8)
    folder = out_dir / _safe_name(scene.id)
    folder.mkdir(parents=True, exist_ok=True)
    tag = _settings_tag(settings)
    clp_path = folder / f"CLP_{tag}.tif"
    clm_path = folder / f"CLM_{tag}.tif"
    # both files are complete under temporary names before either gets its final name, so a
    # crash never leaves a final CLP without its CLM (or a half-written file under a final name)
    partials: list[Path] = []
    try:
        partials.append(
            _write_cog(clp_path, clp, grid, nodata=None, valid=data, description="s2cloudless cloud probability * 255")
        )
        partials.append(
            _write_cog(
                clm_path, clm, grid, nodata=CLM_NODATA, valid=None,
                description="cloud mask: 0 clear, 1 cloud, 255 no data",
            )
        )
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
    for partial, final in zip(partials, (clp_path, clm_path), strict=True):
        os.replace(partial, final)
    return {
        CLP: BandAsset(
            band=CLP,
            href=str(clp_path),
            radiometry=Radiometry(scale=1 / 255, offset=0.0, nodata=None),
            resolution=settings.resolution,
        ),
        CLM: BandAsset(
            band=CLM,
            href=str(clm_path),
            radiometry=Radiometry(scale=1.0, offset=0.0, nodata=CLM_NODATA),
            resolution=settings.resolution,
        ),
    }


def layer_properties(settings: CloudLayerSettings) -> dict[str, Any]:
    return {"settings": settings.to_dict(), "created": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}


def _settings_tag(settings: CloudLayerSettings) -> str:
    return (
        f"{settings.model}_r{settings.resolution:g}_t{settings.threshold:g}"
        f"_a{settings.average_over}_d{settings.dilation_size}"
    )


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


def _write_cog(
    path: Path, array: np.ndarray, grid: Grid, *, nodata: int | None, valid: np.ndarray | None, description: str
) -> Path:
    """Write a single-band uint8 COG to ``<path>.partial`` and return that path (the caller renames)."""
    tmp = path.with_name(path.name + ".partial")
    profile: dict[str, Any] = {
        "driver": "COG", "width": grid.width, "height": grid.height, "count": 1, "dtype": "uint8",
        "crs": grid.crs.to_wkt(), "transform": grid.transform, "compress": "DEFLATE",
        "overview_resampling": Resampling.nearest.name,
    }
    if nodata is not None:
        profile["nodata"] = nodata
    try:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(array, 1)
            dst.set_band_description(1, description)
            if valid is not None:
                dst.write_mask((valid * 255).astype(np.uint8))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


@dataclass
class LayerReport:
    """What a ``fis clouds`` run did."""

    computed: list[str]
    skipped: list[str]
    failed: list[tuple[str, str]]
    #: scenes the model does not apply to (e.g. L2A: their cloud source is the SCL layer)
    not_applicable: list[str] = field(default_factory=list)
    #: wall-clock seconds of the run
    seconds: float = 0.0

    @property
    def scenes_per_minute(self) -> float | None:
        """Scenes computed per minute of the run (None when nothing was computed)."""
        if not self.computed or self.seconds <= 0:
            return None
        return len(self.computed) * 60.0 / self.seconds


def layers_to_compute(
    scenes: list[SceneRecord], model_level: str, settings: CloudLayerSettings, *, force: bool = False
) -> tuple[list[SceneRecord], LayerReport]:
    """The scenes whose layers must be computed, and a report of the others: not applicable (another
    product level than the model's) or skipped (a registered layer matches ``settings`` and its files
    exist; unless ``force``). This is what makes a run resumable."""
    report = LayerReport(computed=[], skipped=[], failed=[])
    todo = []
    for scene in scenes:
        if scene.product_level != model_level:
            report.not_applicable.append(scene.id)
        elif not force and has_matching_layers(scene, settings) and all(
            Path(scene.assets[layer].href).is_file() for layer in (CLP, CLM)
        ):
            report.skipped.append(scene.id)
        else:
            todo.append(scene)
    return todo, report


def compute_cloud_layers(
    scenes: list[SceneRecord],
    model: CloudModel,
    settings: CloudLayerSettings,
    out_dir: Path,
    cache: DatasetCache,
    register: Any,
    *,
    force: bool = False,
    progress: Any = None,
) -> LayerReport:
    """Compute missing layers for ``scenes`` in this process; ``register(scene_id, assets, properties)``
    stores each as soon as it is written.

    Scenes whose registered layer matches ``settings`` (and whose files exist) are skipped
    unless ``force``; a failing scene is reported and the others go on.
    """
    start = time.perf_counter()
    todo, report = layers_to_compute(scenes, model.manifest.product_level, settings, force=force)
    if progress:
        for scene_id in [*report.not_applicable, *report.skipped]:
            progress(scene_id)
    for scene in todo:
        try:
            assets = write_layers(scene, model, settings, out_dir, cache)
            register(scene.id, assets, layer_properties(settings))
            report.computed.append(scene.id)
        except FisError as exc:
            report.failed.append((scene.id, exc.message))
        except (OSError, rasterio.errors.RasterioError) as exc:
            report.failed.append((scene.id, str(exc)))
        if progress:
            progress(scene.id)
    report.seconds = time.perf_counter() - start
    return report


def write_layers_task(
    scene: SceneRecord, manifest: ModelManifest, settings: CloudLayerSettings, out_dir: str
) -> dict[str, BandAsset] | str:
    """:func:`write_layers` in a worker process (a dask task): the scene's layer assets, or why it
    failed (a message; errors are returned, not raised, so they need not travel as exceptions).

    The model and an open-dataset cache are kept per worker process.
    """
    try:
        return write_layers(scene, _worker_model(manifest), settings, Path(out_dir), _worker_cache())
    except FisError as exc:
        return exc.message
    except (OSError, rasterio.errors.RasterioError) as exc:
        return str(exc)


@lru_cache(maxsize=2)
def _worker_model(manifest: ModelManifest) -> CloudModel:
    return CloudModel(manifest)


@lru_cache(maxsize=1)
def _worker_cache() -> DatasetCache:
    return DatasetCache(256)
