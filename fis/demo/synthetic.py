"""Write Sentinel-2-like scenes as per-band GeoTIFFs (COG) plus a STAC 1.0.0 Item.

Low-level building block for unit tests, benchmarks and :mod:`fis.demo.archive`. The layout mimics
Earth Search v1 ``sentinel-2-l1c`` items: one single-band uint16 file per band at its own
resolution, ``raster:bands`` ``scale``/``offset`` carrying the processing-baseline 04.00 offset,
and ``s2:processing_baseline`` in the properties.

Written layout::

    <out_dir>/<scene_id>/<band>.tif        one per band, e.g. B04.tif (file named by band id)
    <out_dir>/<scene_id>/<scene_id>.json   the STAC Item, asset hrefs relative ("./B04.tif")
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import CRSError
from shapely import box, segmentize, unary_union
from shapely import transform as shapely_transform
from shapely.geometry import mapping

from fis.core.bands import BANDS, COMMON_NAMES, normalise_band_name
from fis.core.geometry import split_antimeridian
from fis.errors import InvalidCRS, InvalidInput

__all__ = [
    "COG_MEDIA_TYPE",
    "BandRaster",
    "baseline_offset_dn",
    "grid_transform",
    "reflectance_to_dn",
    "write_stac_scene",
]

COG_MEDIA_TYPE: Final = "image/tiff; application=geotiff; profile=cloud-optimized"
GTIFF_MEDIA_TYPE: Final = "image/tiff; application=geotiff"

#: Band id -> Earth Search v1 asset key (``"B04"`` -> ``"red"``).
_ASSET_KEY: Final[dict[str, str]] = {band: key for key, band in COMMON_NAMES.items()}

#: Band id -> ``eo:bands`` ``common_name``. The STAC eo extension (v1.1.0) knows a single
#: ``rededge`` common name, so B05-B07 share it (as on Earth Search); the asset keys stay
#: ``rededge1``..``rededge3``.
_EO_COMMON_NAME: Final[dict[str, str]] = {
    band: ("rededge" if key.startswith("rededge") else key) for band, key in _ASSET_KEY.items()
}

_TITLES: Final[dict[str, str]] = {
    "B01": "Coastal aerosol (band 1)", "B02": "Blue (band 2)", "B03": "Green (band 3)",
    "B04": "Red (band 4)", "B05": "Red edge 1 (band 5)", "B06": "Red edge 2 (band 6)",
    "B07": "Red edge 3 (band 7)", "B08": "NIR 1 (band 8)", "B8A": "NIR 2 (band 8A)",
    "B09": "NIR 3 (band 9)", "B10": "Cirrus (band 10)", "B11": "SWIR 1 (band 11)",
    "B12": "SWIR 2 (band 12)",
}

_STAC_EXTENSIONS: Final[list[str]] = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
]

QUANTIFICATION_VALUE: Final = 10000
RADIO_ADD_OFFSET: Final = -1000  # DN offset from processing baseline 04.00 on


@dataclass(frozen=True)
class BandRaster:
    """One band's digital numbers on its own pixel grid."""

    dn: np.ndarray
    """2-D uint16 digital numbers; 0 is no-data."""
    transform: Affine
    """Pixel grid (north-up affine) of this band; bands may differ in resolution."""


def grid_transform(x_min: float, y_max: float, resolution: float) -> Affine:
    """North-up affine transform with upper-left corner ``(x_min, y_max)`` and square pixels."""
    if not resolution > 0:
        raise InvalidInput(f"resolution must be positive, got {resolution!r}", field="resolution")
    return Affine(resolution, 0.0, x_min, 0.0, -resolution, y_max)


def _baseline_tuple(processing_baseline: str) -> tuple[int, int]:
    try:
        major, minor = processing_baseline.strip().split(".")
        return int(major), int(minor)
    except ValueError:
        raise InvalidInput(
            f"processing baseline must look like '05.09', got {processing_baseline!r}",
            field="processing_baseline",
        ) from None


def baseline_offset_dn(processing_baseline: str) -> int:
    """The L1C ``RADIO_ADD_OFFSET`` in DN: -1000 from baseline 04.00 on, else 0."""
    return RADIO_ADD_OFFSET if _baseline_tuple(processing_baseline) >= (4, 0) else 0


def reflectance_to_dn(reflectance: np.ndarray, *, processing_baseline: str) -> np.ndarray:
    """Encode TOA reflectance as L1C digital numbers (uint16).

    Inverse of ``reflectance = (DN + offset) / 10000`` with ``offset = -1000`` for baseline
    >= 04.00 (else 0): ``DN = round(reflectance * 10000) - offset``. NaN becomes 0 (no-data);
    data pixels are clipped to 1..65534 so they never collide with no-data or saturation.
    """
    refl = np.asarray(reflectance, dtype=np.float64)
    offset = baseline_offset_dn(processing_baseline)
    nan = np.isnan(refl)
    dn = np.rint(np.where(nan, 0.0, refl) * QUANTIFICATION_VALUE) - offset
    dn_uint16: np.ndarray = np.clip(dn, 1, 65534).astype(np.uint16)
    dn_uint16[nan] = 0
    return dn_uint16


def _utc_iso(value: _dt.datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(
            f"datetime must be timezone-aware (UTC), got naive {value.isoformat()!r}", field="datetime"
        )
    utc = value.astimezone(_dt.UTC).replace(tzinfo=None)
    text = utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds")
    return text + "Z"


def _check_band(band: str, raster: BandRaster) -> tuple[str, np.ndarray]:
    canonical = normalise_band_name(band)
    if canonical is None or band.lower() in COMMON_NAMES:
        raise InvalidInput(f"band keys must be Sentinel-2 band ids B01..B12/B8A, got {band!r}", field="bands")
    dn = np.asarray(raster.dn)
    if dn.ndim != 2:
        raise InvalidInput(f"band {band}: dn must be 2-D, got shape {dn.shape}", field="bands")
    if dn.dtype != np.uint16:
        if not np.issubdtype(dn.dtype, np.integer) or (dn.size and (dn.min() < 0 or dn.max() > 65535)):
            raise InvalidInput(
                f"band {band}: dn must be uint16 digital numbers, got dtype {dn.dtype} "
                "(use reflectance_to_dn to encode reflectance)",
                field="bands",
            )
        dn = dn.astype(np.uint16)
    t = raster.transform
    if t.b != 0 or t.d != 0 or t.a <= 0 or t.e >= 0:
        raise InvalidInput(
            f"band {band}: transform must be north-up with positive pixel size, got {t!r}", field="bands"
        )
    return canonical, dn


def _write_tif(path: Path, dn: np.ndarray, transform: Affine, crs: str, nodata: int | None, cog: bool) -> None:
    h, w = dn.shape
    profile: dict[str, Any] = {
        "count": 1, "height": h, "width": w, "dtype": "uint16", "crs": crs, "transform": transform,
        "nodata": nodata,
    }
    if cog:
        profile.update(
            driver="COG", compress="DEFLATE", predictor="YES", blocksize=256,
            overviews="AUTO", overview_resampling="AVERAGE",
        )
        # GDAL's COG driver stops at the block size; ask for overviews down to 128 px so even
        # small test scenes carry at least one level when they are larger than that.
        profile["overview_count"] = max(0, math.ceil(math.log2(max(h, w) / 128))) if max(h, w) > 128 else 0
    else:
        profile.update(driver="GTiff", tiled=True, blockxsize=256, blockysize=256, compress="deflate", predictor=2)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn, 1)


def _footprint_4326(extents: list[tuple[float, float, float, float]], crs: str) -> Any:
    footprint = unary_union([box(*e) for e in extents])
    span = max(footprint.bounds[2] - footprint.bounds[0], footprint.bounds[3] - footprint.bounds[1])
    footprint = segmentize(footprint, max(span / 16, 1e-9))
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lonlat = shapely_transform(footprint, to_lonlat.transform, interleaved=False)  # type: ignore[arg-type]  # stubs: interleaved only
    # a tile across the antimeridian: a MultiPolygon cut at +-180, as Earth Search writes it
    return split_antimeridian(lonlat) or lonlat


def _round_coords(obj: Any, ndigits: int = 9) -> Any:
    if isinstance(obj, float):
        return round(obj, ndigits)
    if isinstance(obj, (list, tuple)):
        return [_round_coords(v, ndigits) for v in obj]
    if isinstance(obj, dict):
        return {k: _round_coords(v, ndigits) for k, v in obj.items()}
    return obj


def write_stac_scene(
    out_dir: Path,
    scene_id: str,
    datetime: _dt.datetime,
    bands: Mapping[str, BandRaster],
    *,
    crs: str = "EPSG:32633",
    processing_baseline: str = "05.09",
    asset_keys: Literal["band", "common"] = "common",
    raster_scale_offset: bool = True,
    nodata: int | None = 0,
    platform: str = "sentinel-2a",
    mgrs_tile: str = "33TWN",
    cog: bool = True,
    extra_properties: Mapping[str, Any] | None = None,
) -> Path:
    """Write one scene as per-band GeoTIFFs and a STAC Item; return the Item JSON path.

    Files go to ``<out_dir>/<scene_id>/<band>.tif`` (COG, DEFLATE, when ``cog`` else tiled
    GTiff) and ``<out_dir>/<scene_id>/<scene_id>.json``. Asset keys are band ids (``"B04"``)
    or Earth Search v1 common names (``"red"``). With ``raster_scale_offset`` each asset's
    ``raster:bands`` carries ``scale: 0.0001`` and ``offset`` (-0.1 from baseline 04.00 on,
    else 0.0). ``extra_properties`` are merged into the Item properties last (e.g.
    ``eo:cloud_cover``).
    """
    if not bands:
        raise InvalidInput("write_stac_scene needs at least one band", field="bands")
    if asset_keys not in ("band", "common"):
        raise InvalidInput(f"asset_keys must be 'band' or 'common', got {asset_keys!r}", field="asset_keys")
    if not scene_id or "/" in scene_id or "\\" in scene_id:
        raise InvalidInput(f"scene_id must be a plain file name, got {scene_id!r}", field="scene_id")
    when = _utc_iso(datetime)
    offset_dn = baseline_offset_dn(processing_baseline)
    try:
        proj_crs = ProjCRS.from_user_input(crs)
    except CRSError as exc:
        raise InvalidCRS(f"unknown CRS {crs!r}: {exc}", field="crs") from None
    epsg = proj_crs.to_epsg()

    checked = [(*_check_band(name, raster), raster.transform) for name, raster in bands.items()]
    seen = [band for band, _, _ in checked]
    if len(set(seen)) != len(seen):
        raise InvalidInput(f"the same band is given twice under different keys: {sorted(bands)}", field="bands")
    checked.sort(key=lambda entry: BANDS.index(entry[0]))
    scene_dir = Path(out_dir) / scene_id
    scene_dir.mkdir(parents=True, exist_ok=True)

    assets: dict[str, Any] = {}
    extents: list[tuple[float, float, float, float]] = []
    for band, dn, transform in checked:
        h, w = dn.shape
        _write_tif(scene_dir / f"{band}.tif", dn, transform, crs, nodata, cog)
        # north-up (checked): the extent follows from the coefficients
        extents.append((transform.c, transform.f + transform.e * h, transform.c + transform.a * w, transform.f))
        resolution = abs(transform.a)
        raster_band: dict[str, Any] = {"data_type": "uint16", "spatial_resolution": resolution}
        if nodata is not None:
            raster_band = {"nodata": nodata, **raster_band}
        if raster_scale_offset:
            raster_band["scale"] = 1.0 / QUANTIFICATION_VALUE
            raster_band["offset"] = offset_dn / QUANTIFICATION_VALUE
        key = band if asset_keys == "band" else _ASSET_KEY[band]
        res_label = f"{resolution:g}m"
        assets[key] = {
            "href": f"./{band}.tif",
            "type": COG_MEDIA_TYPE if cog else GTIFF_MEDIA_TYPE,
            "title": f"{_TITLES[band]} - {res_label}",
            "roles": ["data"],
            "gsd": resolution,
            "eo:bands": [{"name": band, "common_name": _EO_COMMON_NAME[band]}],
            "raster:bands": [raster_band],
            "proj:shape": [h, w],
            "proj:transform": [transform.a, transform.b, transform.c, transform.d, transform.e, transform.f],
        }

    footprint = _footprint_4326(extents, crs)
    properties: dict[str, Any] = {
        "datetime": when,
        "platform": platform,
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "s2:processing_baseline": processing_baseline,
        "s2:product_type": "S2MSI1C",
        "s2:mgrs_tile": mgrs_tile,
        "grid:code": f"MGRS-{mgrs_tile}",
        "proj:code": f"EPSG:{epsg}" if epsg is not None else None,
    }
    if epsg is not None:
        properties["proj:epsg"] = epsg
    else:
        properties["proj:wkt2"] = proj_crs.to_wkt()
    if extra_properties:
        properties.update(extra_properties)

    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": list(_STAC_EXTENSIONS),
        "id": scene_id,
        "bbox": [round(v, 9) for v in footprint.bounds],
        "geometry": _round_coords(mapping(footprint)),
        "properties": properties,
        "links": [],
        "assets": assets,
    }
    item_path = scene_dir / f"{scene_id}.json"
    item_path.write_text(json.dumps(item, indent=1) + "\n", encoding="utf-8")
    return item_path
