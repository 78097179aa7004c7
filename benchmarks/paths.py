"""The compared implementations ("paths"). Each turns (polygon, scenes) into the same records.

A record is one dict per acquisition date with the observation's numbers::

    {"total", "valid", "cloudy", "nodata",                      # pixel counts
     "ndvi_mean", "ndvi_min", ..., "ndvi_p90",                  # NDVI statistics over valid pixels
     "B01" .. "B12", "B8A",                                     # mean TOA reflectance per band
     "cloud_probability", "cloud_fraction"}

Every path is a class with ``setup()`` (imports, model loading: once per process, not timed),
``new_request_state()`` (what a *cold* request starts from: for ours a fresh Engine with an empty
open-dataset cache) and ``run(polygon) -> {date: record}`` (timed). ``PATHS`` maps a path name to
its class; a path whose prerequisites are missing raises :class:`NotAvailable` from ``setup()``.

The peers are written the way a script author would: they do not import fis.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
MODEL_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")
NATIVE = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10,
          "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20}
NDVI_STATS = ("mean", "min", "max", "std", "median", "p10", "p25", "p75", "p90")
# the request's cloud settings (fis defaults, s2cloudless defaults)
THRESHOLD, AVERAGE_OVER, DILATION, MASK_RES, STATS_RES = 0.4, 1, 1, 160.0, 10.0

Record = dict[str, Any]

# rasterstats 0.21 multiplies Affine with `*` (affine >= 3 warns); not what we measure
warnings.filterwarnings("ignore", message=".*matmul.*")
warnings.filterwarnings("ignore", category=DeprecationWarning)


class NotAvailable(RuntimeError):
    """The path cannot run here (e.g. precomputed cloud layers are not implemented yet)."""


# --------------------------------------------------------------------------------------- ours


class Ours:
    """fis: ``Engine.compute`` on the archive's scenes, the cloud mask computed at request time."""

    label = "ours (mask at request time)"
    use_layers = False
    #: the request's ``outputs`` (None: the default, every measure)
    outputs: list[str] | None = None

    def __init__(self, ctx: "Context"):
        self.ctx = ctx

    def setup(self) -> None:
        from fis.catalog.stac import scene_from_item
        from fis.engine.clouds import load_model

        self.model = load_model("s2cloudless-v0.1")
        self.scenes = [scene_from_item(json.loads(p.read_text()), base_href=str(p)) for p in self.ctx.items]

    def _engine_kwargs(self) -> dict[str, Any]:
        import inspect

        from fis.engine.engine import Engine

        parameters = inspect.signature(Engine.__init__).parameters
        kwargs: dict[str, Any] = {}
        if "use_cloud_layers" in parameters:
            kwargs["use_cloud_layers"] = self.use_layers
        if "gdal_cachemax_mb" in parameters and os.environ.get("FIS_GDAL_CACHEMAX_MB"):  # run.py --gdal-cachemax
            kwargs["gdal_cachemax_mb"] = int(os.environ["FIS_GDAL_CACHEMAX_MB"])
        return kwargs

    def new_request_state(self) -> None:
        from fis.engine.raster import DatasetCache
        from fis.engine.engine import Engine

        self.engine = Engine(self.model, cache=DatasetCache(4096), max_pixels=50_000_000, read_threads=2, **self._engine_kwargs())

    def run(self, polygon: Any) -> dict[str, Record]:
        from fis.core.request import parse_timeseries_request

        from common import request_body

        body = request_body(polygon)
        if self.outputs is not None:
            body["outputs"] = self.outputs
        request = parse_timeseries_request(body)
        result = self.engine.compute(request, self.scenes)
        if result.errors:
            raise RuntimeError(f"ours reported errors: {result.errors[:3]}")
        return {obs.date.isoformat(): _ours_record(obs) for obs in result.observations}


def _ours_record(obs: Any) -> Record:
    rec: Record = {
        "total": obs.pixels.total, "valid": obs.pixels.valid, "cloudy": obs.pixels.cloudy, "nodata": obs.pixels.nodata,
        "cloud_probability": obs.cloud_probability, "cloud_fraction": obs.cloud_fraction,
    }
    rec.update({f"ndvi_{k}": obs.ndvi.get(k) for k in NDVI_STATS})
    rec.update({b: obs.bands.get(b) for b in BANDS})
    return rec


class OursPrecomputed(Ours):
    """fis with precomputed CLP/CLM layers (160 m, per scene) read at request time instead of running
    s2cloudless. Needs ``fis.engine.cloudlayers``; the layers are made once per archive (untimed, cached in
    ``benchmarks/data/<archive>-cloud-layers``) by :func:`prepare_cloud_layers`."""

    label = "ours (precomputed cloud layers)"
    use_layers = True

    def setup(self) -> None:
        super().setup()
        self.scenes = prepare_cloud_layers(self.ctx, self.scenes, self.model)


class OursRecipe(OursPrecomputed):
    """The seed's recipe: precomputed layers and ``outputs: ["ndvi", "cloud_fraction"]`` (B04, B08 and
    the CLM layer read per date)."""

    label = "ours, precomputed + outputs [ndvi, cloud_fraction]"
    outputs = ["ndvi", "cloud_fraction"]


class OursLocal(Ours):
    """``--remote`` only: ours on the local files of the served archive (the remote numbers must equal these)."""

    label = "ours on the local files (remote mode: same numbers?)"

    def setup(self) -> None:
        super().setup()
        from fis.catalog.stac import scene_from_item

        self.scenes = [scene_from_item(json.loads(p.read_text()), base_href=str(p)) for p in self.ctx.local_items]


class ReadFloor(Ours):
    """Diagnostic: only the band reads ours makes (the same windows and tiles, the same pool of
    open datasets, two threads, GDAL settings as ours), without resampling, mosaicking, the model
    or statistics: what merely reading the pixels costs, so ours can be judged against it."""

    label = "floor: only the reads ours makes (diagnostic)"

    def new_request_state(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import rasterio
        from fis.engine.raster import DatasetCache
        from fis.engine.engine import GDAL_CACHEMAX_MB

        super().new_request_state()
        self.cache = DatasetCache(4096)

        cachemax = int(os.environ.get("FIS_GDAL_CACHEMAX_MB") or GDAL_CACHEMAX_MB)
        options: dict[str, Any] = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
        threads = 2
        if self.ctx.local_items:  # --remote: the engine's remote pool size and GDAL HTTP settings
            options, threads = self.engine.remote.gdal_options(), self.engine.remote_threads

        def enter_gdal_environment() -> None:
            rasterio.Env(**options, GDAL_CACHEMAX=cachemax).__enter__()

        self.pool = ThreadPoolExecutor(max_workers=threads, initializer=enter_gdal_environment)

    def run(self, polygon: Any) -> dict[str, Record]:
        import rasterio
        from fis.engine.raster import read_native_window
        from fis.core.request import parse_timeseries_request

        from common import request_body

        request = parse_timeseries_request(request_body(polygon))
        scenes = [s for s in self.scenes if request.time_range.contains(s.datetime)]
        with rasterio.Env(**(self.engine.remote.gdal_options() if self.ctx.local_items else {})):
            layout = self.engine.layout(request, scenes)
        by_date: dict[Any, list[Any]] = defaultdict(list)
        for scene in sorted(scenes, key=lambda s: (s.datetime, s.id)):
            by_date[scene.date].append(scene)
        stats_bounds = layout.grid.bounds
        boxes = (layout.grid.bounds, layout.cloud_grid.bounds)
        union = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        model_bands = set(self.model.input_bands)

        def read_date(group: list[Any]) -> None:
            for band in BANDS:
                bounds = union if band in model_bands else stats_bounds
                for scene in group:  # a later tile only while the window still has no-data pixels
                    if not np.isnan(read_native_window(scene.assets[band], bounds, self.cache).values).any():
                        break

        list(self.pool.map(read_date, [by_date[d] for d in sorted(by_date)]))
        total = float(layout.inside.sum())
        return {d.isoformat(): {"total": total} for d in sorted(by_date)}


def prepare_cloud_layers(ctx: "Context", scenes: list[Any], model: Any, *, log: Any = None) -> list[Any]:
    """Scenes with CLP/CLM assets attached, computing missing layers into the archive's cache.

    The one function to adapt when the ``fis.engine.cloudlayers`` API changes; raises NotAvailable when
    the module (or the engine switch to use it) does not exist yet.
    """
    try:
        import dataclasses
        import inspect

        from fis.engine import cloudlayers as cl
        from fis.engine.raster import DatasetCache
        from fis.engine.engine import Engine

        needed = ("CloudLayerSettings", "write_layers", "layer_properties", "has_matching_layers", "CLP", "CLM")
        missing = [name for name in needed if not hasattr(cl, name)]
        if missing or "use_cloud_layers" not in inspect.signature(Engine.__init__).parameters:
            raise NotAvailable(f"fis.engine.cloudlayers lacks {missing or 'Engine(use_cloud_layers=...)'}")
    except ImportError as exc:
        raise NotAvailable(f"not available yet (fis.engine.cloudlayers not importable: {exc})") from None
    settings = cl.CloudLayerSettings(model=model.name, resolution=MASK_RES, threshold=THRESHOLD,
                                     average_over=AVERAGE_OVER, dilation_size=DILATION)
    out_dir = ctx.archive_root.parent / f"{ctx.archive_root.name}-cloud-layers"  # not below the archive (fis ingest)
    manifest_path = out_dir / "layers.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    cache = DatasetCache(64)
    result = []
    changed = False
    import time

    start = time.perf_counter()
    for scene in scenes:
        entry = manifest.get(scene.id)
        if entry and entry["settings"] == settings.to_dict() and all(Path(entry[k]["href"]).is_file() for k in (cl.CLP, cl.CLM)):
            from fis.core.scenes import BandAsset

            assets = {k: BandAsset.from_dict(k, entry[k]) for k in (cl.CLP, cl.CLM)}
        else:
            assets = cl.write_layers(scene, model, settings, out_dir, cache)
            manifest[scene.id] = {"settings": settings.to_dict(), **{k: a.to_dict() for k, a in assets.items()}}
            changed = True
        result.append(dataclasses.replace(
            scene, assets={**scene.assets, **assets}, properties={**scene.properties, "cloud_layers": cl.layer_properties(settings)},
        ))
    cache.close()
    if changed:
        manifest["_seconds"] = round(time.perf_counter() - start, 1)
        out_dir.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return result


# --------------------------------------------------------------------------- peers: shared parts


@dataclass(frozen=True)
class Context:
    """What every path gets: the archive (STAC item files) and where it lives."""

    archive_root: Path
    items: list[Path]
    #: ``--remote``: the local item files of the archive that ``items`` (http hrefs) serve
    local_items: list[Path] | None = None


@dataclass(frozen=True)
class Tile:
    """One scene as a peer script sees it: date, time, id and a file per band (parsed from STAC)."""

    id: str
    date: str
    datetime: str
    files: dict[str, str]


def read_catalog(items: list[Path]) -> dict[str, list[Tile]]:
    """Scenes per UTC date, tiles in acquisition order (the first tile of a date wins where tiles overlap)."""
    by_date: dict[str, list[Tile]] = defaultdict(list)
    for path in items:
        item = json.loads(path.read_text())
        files = {}
        for asset in item["assets"].values():
            bands = asset.get("eo:bands") or []
            if "data" in asset.get("roles", []) and len(bands) == 1 and bands[0]["name"] in BANDS:
                href = asset["href"]  # a URL (--remote: read through GDAL's /vsicurl/) or a relative path
                files[bands[0]["name"]] = f"/vsicurl/{href}" if "://" in href else str((path.parent / href).resolve())
        when = item["properties"]["datetime"]
        by_date[when[:10]].append(Tile(item["id"], when[:10], when, files))
    return {d: sorted(ts, key=lambda t: (t.datetime, t.id)) for d, ts in sorted(by_date.items())}


def reflectance(dn: np.ndarray) -> np.ndarray:
    """L1C DN (baseline >= 04.00) -> TOA reflectance, float64; DN 0 (no data) -> NaN."""
    out = np.asarray(dn, dtype=np.float64) * 1e-4 - 0.1
    return np.where(np.asarray(dn) == 0, np.nan, out)


def ndvi_stats(values: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float | None]:
    if values.size == 0:
        return {f"ndvi_{k}": None for k in NDVI_STATS}
    if weights is None:
        out = {"mean": np.mean(values), "min": np.min(values), "max": np.max(values), "std": np.std(values),
               "median": np.median(values), "p10": np.percentile(values, 10), "p25": np.percentile(values, 25),
               "p75": np.percentile(values, 75), "p90": np.percentile(values, 90)}
    else:  # coverage-weighted (peer B): mean and std weighted; order statistics of the covered pixels
        mean = np.average(values, weights=weights)
        out = {"mean": mean, "min": np.min(values), "max": np.max(values),
               "std": math.sqrt(np.average((values - mean) ** 2, weights=weights)),
               "median": np.median(values), "p10": np.percentile(values, 10), "p25": np.percentile(values, 25),
               "p75": np.percentile(values, 75), "p90": np.percentile(values, 90)}
    return {f"ndvi_{k}": float(v) for k, v in out.items()}


class Bounds:
    """Raster bounds of a file (cached per path: a script would look them up once)."""

    _cache: dict[str, tuple[float, float, float, float, Any, Any]] = {}

    @classmethod
    def of(cls, path: str) -> tuple[float, float, float, float, Any, Any]:
        if path not in cls._cache:
            import rasterio

            with rasterio.open(path) as ds:
                b = ds.bounds
                cls._cache[path] = (b.left, b.bottom, b.right, b.top, ds.transform, ds.crs)
        return cls._cache[path]


def tiles_for(polygon: Any, tiles: list[Tile]) -> tuple[list[Tile], bool]:
    """The tiles a script reads for ``polygon``: the first tile whose 10 m raster holds the whole
    polygon (no mosaic needed), else every tile it intersects (mosaicked, first tile wins)."""
    minx, miny, maxx, maxy = polygon.bounds
    hits = []
    for tile in tiles:
        left, bottom, right, top, _, _ = Bounds.of(tile.files["B04"])
        if left <= minx and right >= maxx and bottom <= miny and top >= maxy:
            return [tile], False
        if left < maxx and right > minx and bottom < maxy and top > miny:
            hits.append(tile)
    return hits, len(hits) > 1


def write_vrt(path: Path, band: str, tiles: list[Tile], resolution: float | None) -> str:
    """A GDAL VRT mosaic of ``band`` over ``tiles`` (first tile wins, DN 0 = no data), at
    ``resolution`` (nearest; an integer upsampling of 20/60 m bands onto the 10 m pixels) or native."""
    infos = [Bounds.of(t.files[band]) for t in tiles]
    native = abs(infos[0][4].a)
    res = resolution or native
    left, top = min(i[0] for i in infos), max(i[3] for i in infos)
    right, bottom = max(i[2] for i in infos), min(i[1] for i in infos)
    width, height = int(round((right - left) / res)), int(round((top - bottom) / res))
    sources = []
    for tile, info in reversed(list(zip(tiles, infos))):  # VRT: later sources overwrite, so the first tile last
        t = info[4]
        w = int(round((info[2] - info[0]) / abs(t.a)))
        h = int(round((info[3] - info[1]) / abs(t.e)))
        sources.append(
            f'<ComplexSource resampling="nearest"><SourceFilename relativeToVRT="0">{tile.files[band]}</SourceFilename>'
            f'<SourceBand>1</SourceBand><SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>'
            f'<DstRect xOff="{(info[0] - left) / res:.6f}" yOff="{(top - info[3]) / res:.6f}" '
            f'xSize="{w * abs(t.a) / res:.6f}" ySize="{h * abs(t.e) / res:.6f}"/><NODATA>0</NODATA></ComplexSource>'
        )
    crs = infos[0][5].to_wkt().replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>{crs}</SRS>'
        f"<GeoTransform>{left}, {res}, 0, {top}, 0, {-res}</GeoTransform>"
        f'<VRTRasterBand dataType="UInt16" band="1"><NoDataValue>0</NoDataValue>{"".join(sources)}</VRTRasterBand></VRTDataset>'
    )
    return str(path)


def cloud_grid(polygon: Any, anchor: tuple[float, float]) -> tuple[Any, int, int]:
    """The 160 m grid of the cloud mask: the polygon's bbox snapped outward to 160 m cells counted
    from the 10 m grid origin ``anchor``, plus average_over + dilation + 1 cells around it."""
    from affine import Affine

    margin = AVERAGE_OVER + DILATION + 1
    ax, ay = anchor
    minx, miny, maxx, maxy = polygon.bounds
    # the 10 m grid covering the polygon, then the 160 m cells covering that grid
    left10 = ax + math.floor(round((minx - ax) / STATS_RES, 9)) * STATS_RES
    right10 = ax + math.ceil(round((maxx - ax) / STATS_RES, 9)) * STATS_RES
    top10 = ay + math.ceil(round((maxy - ay) / STATS_RES, 9)) * STATS_RES
    bottom10 = ay + math.floor(round((miny - ay) / STATS_RES, 9)) * STATS_RES
    left = ax + (math.floor(round((left10 - ax) / MASK_RES, 9)) - margin) * MASK_RES
    right = ax + (math.ceil(round((right10 - ax) / MASK_RES, 9)) + margin) * MASK_RES
    top = ay + (math.ceil(round((top10 - ay) / MASK_RES, 9)) + margin) * MASK_RES
    bottom = ay + (math.floor(round((bottom10 - ay) / MASK_RES, 9)) - margin) * MASK_RES
    width, height = int(round((right - left) / MASK_RES)), int(round((top - bottom) / MASK_RES))
    return Affine(MASK_RES, 0, left, 0, -MASK_RES, top), width, height


def decimated_model_bands(tiles: list[Tile], transform: Any, width: int, height: int, rule: str = "area") -> np.ndarray:
    """The ten model bands averaged onto the 160 m grid, tiles mosaicked (first wins), reflectance
    with NaN where no tile has data; shape (height, width, 10).

    ``rule="area"``: GDAL's average resampling (``rasterio.warp.reproject``), the exact
    area-weighted mean; ``read(out_shape=..., resampling=average)`` would be the same for the 10 m
    and 20 m bands but not for 60 m pixels, which do not nest in 160 m cells (GDAL's RasterIO
    average snaps them to whole pixels). ``rule="centre"`` (diagnostic only): fis' rule, the mean of
    the native pixels whose centres fall in a cell.
    """
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    stack = np.full((height, width, len(MODEL_BANDS)), np.nan)
    left, top = transform.c, transform.f
    right, bottom = left + width * transform.a, top + height * transform.e
    for k, band in enumerate(MODEL_BANDS):
        out = stack[:, :, k]
        for tile in tiles:
            b_left, b_bottom, b_right, b_top, _, _ = Bounds.of(tile.files[band])
            if b_left >= right or b_right <= left or b_bottom >= top or b_top <= bottom:
                continue  # the tile does not reach the grid
            if not np.isnan(out).any():
                break  # earlier tiles covered every cell (first tile wins)
            with rasterio.open(tile.files[band]) as ds:
                if rule == "area":
                    dst = np.zeros((height, width), dtype=np.float32)
                    reproject(rasterio.band(ds, 1), dst, src_nodata=0, dst_nodata=0, dst_transform=transform,
                              dst_crs=ds.crs, resampling=Resampling.average)
                    values = reflectance(dst)
                elif rule == "numpy":
                    values = _numpy_area_mean(ds, transform, width, height)
                else:
                    values = _centre_rule_mean(ds, transform, width, height)
            gaps = np.isnan(out)
            out[gaps] = values[gaps]
    return stack


def _numpy_area_mean(ds: Any, transform: Any, width: int, height: int) -> np.ndarray:
    """The area-weighted mean of the raster's valid pixels in each 160 m cell, computed in numpy from
    the digital numbers (60 m pixels split into 3 x 3 sub-pixels of 20 m, which nest): what GDAL's
    average computes, except for cells the raster covers only in part, where this is the mean of
    the covered part (diagnostic: isolates GDAL's edge handling)."""
    from rasterio.windows import Window

    t = ds.transform
    split = 1
    while (MASK_RES / (abs(t.a) / split)) % 1:
        split += 1
    c0 = max(0, math.floor((transform.c - t.c) / t.a)); c1 = min(ds.width, math.ceil((transform.c + width * MASK_RES - t.c) / t.a))
    r0 = max(0, math.floor((t.f - transform.f) / -t.e)); r1 = min(ds.height, math.ceil((t.f - transform.f + height * MASK_RES) / -t.e))
    out = np.full((height, width), np.nan)
    if c1 <= c0 or r1 <= r0:
        return out
    dn = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0)).astype(np.float64)
    dn = np.repeat(np.repeat(np.where(dn == 0, np.nan, dn), split, axis=0), split, axis=1)
    sub = abs(t.a) / split
    xs = t.c + c0 * t.a + (np.arange(dn.shape[1]) + 0.5) * sub
    ys = t.f + r0 * t.e - (np.arange(dn.shape[0]) + 0.5) * sub
    return _cell_means(dn, xs, ys, transform, width, height) * 1e-4 - 0.1


def _cell_means(values: np.ndarray, xs: np.ndarray, ys: np.ndarray, transform: Any, width: int, height: int) -> np.ndarray:
    """Mean of the finite ``values`` (pixel centres at ``xs`` x ``ys``) in each 160 m cell."""
    cols = np.floor((xs - transform.c) / MASK_RES).astype(int)
    rows = np.floor((transform.f - ys) / MASK_RES).astype(int)
    ok = ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :] & np.isfinite(values)
    cell = (rows[:, None] * width + cols[None, :])[ok]
    sums = np.bincount(cell, weights=values[ok], minlength=width * height)
    counts = np.bincount(cell, minlength=width * height)
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(height, width)


def _centre_rule_mean(ds: Any, transform: Any, width: int, height: int) -> np.ndarray:
    from rasterio.windows import Window

    t = ds.transform
    c0 = max(0, math.floor((transform.c - t.c) / t.a)); c1 = min(ds.width, math.ceil((transform.c + width * MASK_RES - t.c) / t.a))
    r0 = max(0, math.floor((t.f - transform.f) / -t.e)); r1 = min(ds.height, math.ceil((t.f - transform.f + height * MASK_RES) / -t.e))
    out = np.full((height, width), np.nan)
    if c1 <= c0 or r1 <= r0:
        return out
    dn = ds.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
    # and fis' precision: reflectance rounded to float32, cell means summed in float64, kept as float32
    # (LightGBM is discontinuous at its split thresholds and means of 4-decimal reflectances can sit
    # exactly on one, so float32 vs float64 flips a few cells' probability by up to ~0.04)
    refl = reflectance(dn).astype(np.float32).astype(np.float64)
    xs = t.c + (np.arange(c0, c1) + 0.5) * t.a
    ys = t.f + (np.arange(r0, r1) + 0.5) * t.e
    return _cell_means(refl, xs, ys, transform, width, height).astype(np.float32).astype(np.float64)


def s2cloudless_mask(detector: Any, stack: np.ndarray) -> np.ndarray:
    """s2cloudless' own probability + post-processing on a (h, w, 10) stack; no-data cells are given
    probability 0 and are never cloudy (they lie in the grid's outer margin)."""
    data = np.isfinite(stack).all(axis=2)
    probability = detector.get_cloud_probability_maps(np.where(data[..., None], stack, 0.0)[np.newaxis])[0]
    probability[~data] = 0.0
    mask = detector.get_mask_from_prob(probability[np.newaxis])[0].astype(bool)
    return mask & data


def pixel_cells(xs: np.ndarray, ys: np.ndarray, transform: Any, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Row/col of the 160 m cell holding each pixel centre (x, y)."""
    cols = np.clip(np.floor((xs - transform.c) / transform.a).astype(int), 0, width - 1)
    rows = np.clip(np.floor((ys - transform.f) / transform.e).astype(int), 0, height - 1)
    return rows, cols


class _Peer:
    label = "peer"

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def setup(self) -> None:
        from s2cloudless import S2PixelCloudDetector

        self.detector = S2PixelCloudDetector(threshold=THRESHOLD, average_over=AVERAGE_OVER, dilation_size=DILATION, all_bands=False)
        _ = self.detector.classifier  # load the LightGBM model once, like a long-running script would
        self.catalog = read_catalog(self.ctx.items)
        first = next(iter(self.catalog.values()))[0]
        _, _, _, _, transform, _ = Bounds.of(first.files["B04"])
        self.anchor = (transform.c, transform.f)  # the 10 m grid origin of the first scene (as fis)

    def new_request_state(self) -> None:
        Bounds._cache.clear()
        self.tmp = Path(tempfile.mkdtemp(prefix="fis-bench-vrt-"))

    def object_probability(self, vector: np.ndarray) -> float:
        return float(self.detector.get_cloud_probability_maps(vector.reshape(1, 1, 1, -1))[0, 0, 0])


# ------------------------------------------------------------------------- peer A: rasterstats


class PeerA(_Peer):
    """rasterstats ``zonal_stats(stats=['count', 'mean'], raster_out=True)`` per band per date on the
    10 m pixels (a 10 m nearest VRT for 20/60 m bands and for tile mosaics) + s2cloudless for the mask."""

    label = "peer A: rasterstats + s2cloudless (160 m mask)"
    mask_resolution = MASK_RES
    cloud_rule = "area"

    def run(self, polygon: Any) -> dict[str, Record]:
        from rasterio.features import geometry_mask
        from rasterstats import zonal_stats

        out: dict[str, Record] = {}
        for date, date_tiles in self.catalog.items():
            tiles, mosaic = tiles_for(polygon, date_tiles)
            if not tiles:
                continue
            stats, arrays = {}, {}
            for band in BANDS:
                if not mosaic and NATIVE[band] == 10:
                    source = tiles[0].files[band]
                else:
                    source = write_vrt(self.tmp / f"{date}_{band}.vrt", band, tiles, STATS_RES)
                (zs,) = zonal_stats(polygon, source, stats=["count", "mean"], raster_out=True, all_touched=False, nodata=0)
                stats[band] = zs
                arrays[band] = zs["mini_raster_array"]
            first = stats["B04"]
            shape, affine = first["mini_raster_array"].shape, first["mini_raster_affine"]
            inside = geometry_mask([polygon], out_shape=shape, transform=affine, all_touched=False, invert=True)
            if not inside.any():  # smaller than a pixel: the pixel holding the centroid (fis' rule)
                c = polygon.centroid
                col, row = ~affine * (c.x, c.y)
                inside[int(math.floor(row)), int(math.floor(col))] = True
            valid = inside.copy()
            for band in BANDS:
                valid &= ~np.ma.getmaskarray(arrays[band])
            refl = {band: reflectance(np.ma.getdata(arrays[band])) for band in BANDS}
            with np.errstate(invalid="ignore", divide="ignore"):
                ndvi = (refl["B08"] - refl["B04"]) / (refl["B08"] + refl["B04"])
            valid &= np.isfinite(ndvi)
            n_valid = int(valid.sum())
            rec: Record = {"total": int(inside.sum()), "valid": n_valid, "nodata": int(inside.sum()) - n_valid}
            for band in BANDS:  # zonal_stats' own mean when its count is the valid pixels, else over them
                zs = stats[band]
                if zs["count"] == n_valid and zs["mean"] is not None:
                    rec[band] = zs["mean"] * 1e-4 - 0.1
                else:
                    rec[band] = float(np.mean(refl[band][valid])) if n_valid else None
            rec.update(ndvi_stats(ndvi[valid]))
            if n_valid:
                vector = np.array([rec[b] for b in MODEL_BANDS])
                rec["cloud_probability"] = self.object_probability(vector)
                # the mask's grid reaches 3 cells (480 m) past the polygon: mosaic every tile of the date for it
                cloudy = self.cloudy_pixels(polygon, date_tiles, refl, valid, affine)
                rec["cloudy"] = int(cloudy.sum())
                rec["cloud_fraction"] = rec["cloudy"] / n_valid
            else:
                rec.update(cloudy=0, cloud_probability=None, cloud_fraction=None)
            out[date] = rec
        return out

    def cloudy_pixels(self, polygon: Any, tiles: list[Tile], refl: dict[str, np.ndarray], valid: np.ndarray, affine: Any) -> np.ndarray:
        rows, cols = np.nonzero(valid)
        xs = affine.c + (cols + 0.5) * affine.a
        ys = affine.f + (rows + 0.5) * affine.e
        if self.mask_resolution == STATS_RES:  # the 10 m variant: s2cloudless on every pixel of the window
            stack = np.stack([refl[b] for b in MODEL_BANDS], axis=2)
            mask = s2cloudless_mask(self.detector, stack)
            return mask[rows, cols]
        transform, width, height = cloud_grid(polygon, self.anchor)
        mask = s2cloudless_mask(self.detector, decimated_model_bands(tiles, transform, width, height, self.cloud_rule))
        crow, ccol = pixel_cells(xs, ys, transform, width, height)
        return mask[crow, ccol]


class PeerA10m(PeerA):
    label = "peer A, 10 m mask: s2cloudless on every pixel"
    mask_resolution = STATS_RES


class PeerACentre(PeerA):
    """Diagnostic, not run by default: peer A with the 'mean of pixel centres in the cell' rule for the
    160 m bands, the rule fis used before it averaged 60 m pixels by area (commit 83c7ed7)."""

    label = "peer A, centre-rule 160 m cells (old fis rule, diagnostic)"
    cloud_rule = "centre"


class PeerANumpyCells(PeerA):
    """Diagnostic, not run by default: peer A with the 160 m cells averaged in numpy from the digital
    numbers instead of GDAL's warper (the mean of the covered part where a raster covers a cell
    only in part); everything else as peer A. Isolates GDAL's handling of cells on a raster's edge."""

    label = "peer A, 160 m cells averaged in numpy (diagnostic)"
    cloud_rule = "numpy"


# ------------------------------------------------------------------------- peer B: exactextract


class PeerB(_Peer):
    """exactextract ``exact_extract(rast, vec, ['mean', 'count'])`` per band per date at each band's
    native resolution (coverage-weighted), values+coverage of B04/B08 for NDVI, s2cloudless mask."""

    label = "peer B: exactextract + s2cloudless (160 m mask)"

    def run(self, polygon: Any) -> dict[str, Record]:
        from exactextract import exact_extract
        from shapely.geometry import mapping

        feature = [{"type": "Feature", "properties": {}, "geometry": mapping(polygon)}]
        out: dict[str, Record] = {}
        for date, date_tiles in self.catalog.items():
            tiles, mosaic = tiles_for(polygon, date_tiles)
            if not tiles:
                continue
            rec: Record = {}
            pix: dict[str, dict[str, Any]] = {}
            for band in BANDS:
                source = write_vrt(self.tmp / f"{date}_{band}.vrt", band, tiles, None) if mosaic else tiles[0].files[band]
                ops = ["mean", "count"] + (["values", "coverage", "center_x", "center_y"] if band in ("B04", "B08") else [])
                (res,) = exact_extract(source, feature, ops)
                props = res["properties"]
                rec[band] = props["mean"] * 1e-4 - 0.1 if props["count"] else None
                if band in ("B04", "B08"):
                    pix[band] = props
                if band == "B04":
                    rec["valid"] = props["count"]
            b4 = reflectance(np.asarray(pix["B04"]["values"]))
            b8 = reflectance(np.asarray(pix["B08"]["values"]))
            coverage = np.asarray(pix["B04"]["coverage"])
            with np.errstate(invalid="ignore", divide="ignore"):
                ndvi = (b8 - b4) / (b8 + b4)
            ok = np.isfinite(ndvi) & (coverage > 0)
            rec.update(ndvi_stats(ndvi[ok], coverage[ok]))
            rec["total"] = float(coverage.sum())
            rec["valid"] = float(coverage[ok].sum())
            rec["nodata"] = rec["total"] - rec["valid"]
            if ok.any():
                vector = np.array([rec[b] for b in MODEL_BANDS])
                rec["cloud_probability"] = self.object_probability(vector)
                transform, width, height = cloud_grid(polygon, self.anchor)
                mask = s2cloudless_mask(self.detector, decimated_model_bands(date_tiles, transform, width, height))
                xs = np.asarray(pix["B04"]["center_x"])[ok]
                ys = np.asarray(pix["B04"]["center_y"])[ok]
                crow, ccol = pixel_cells(xs, ys, transform, width, height)
                cloudy = mask[crow, ccol]
                rec["cloudy"] = float(coverage[ok][cloudy].sum())
                rec["cloud_fraction"] = rec["cloudy"] / rec["valid"]
            else:
                rec.update(cloudy=0.0, cloud_probability=None, cloud_fraction=None)
            out[date] = rec
        return out


PATHS: dict[str, type] = {
    "ours": Ours,
    "ours_precomputed": OursPrecomputed,
    "ours_recipe": OursRecipe,
    "ours_local": OursLocal,
    "peer_a": PeerA,
    "peer_b": PeerB,
    "peer_a_10m": PeerA10m,
    "peer_a_centre": PeerACentre,
    "read_floor": ReadFloor,
    "peer_a_numpy_cells": PeerANumpyCells,
}
