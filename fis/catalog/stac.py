"""Read STAC Items / ItemCollections / FeatureCollections into :class:`SceneRecord` s.

Band assets are found by asset key (``B04``), by Earth Search v1 key (``red``) or by the
``eo:bands`` name. Radiometry comes from ``raster:bands`` or the processing-baseline rule
(:mod:`fis.core.radiometry`).
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import shapely.geometry
from shapely.geometry.base import BaseGeometry

from fis.core.bands import COMMON_NAMES, normalise_band_name
from fis.core.geometry import split_antimeridian
from fis.core.radiometry import Radiometry, radiometry_for_asset
from fis.core.scenes import BandAsset, SceneRecord
from fis.errors import FisError, IngestError

_RASTER_TYPES = ("image/tiff", "image/jp2", "image/vnd.stac.geotiff", "application/x-geotiff")
_RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
#: L2A scene classification (asset key ``scl``): class codes, registered as band "SCL"
SCL = "SCL"
_SCL_RADIOMETRY = Radiometry(scale=1.0, offset=0.0, nodata=0)


def iter_item_dicts(document: Any, *, source: str) -> Iterator[dict[str, Any]]:
    """The STAC Item dicts in an Item, ItemCollection or FeatureCollection document."""
    if not isinstance(document, dict):
        raise IngestError(f"{source}: not a JSON object (expected a STAC Item or ItemCollection)")
    kind = document.get("type")
    if kind == "Feature":
        yield document
    elif kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise IngestError(f"{source}: FeatureCollection without a 'features' list")
        yield from features
    else:
        raise IngestError(
            f"{source}: type {kind!r} is not a STAC Item ('Feature') or ItemCollection ('FeatureCollection')"
        )


def scene_from_item(item: dict[str, Any], *, base_href: str | None = None) -> SceneRecord:
    """Build a scene record from a STAC Item dict; raise :class:`IngestError` with the reason."""
    item_id = item.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise IngestError("STAC item without an 'id'")
    props = item.get("properties") or {}
    when = _item_datetime(item_id, props)
    footprint = _footprint(item_id, item)
    base = base_href or _self_href(item)
    baseline = props.get("s2:processing_baseline") or props.get("processing:version")
    assets = _band_assets(item_id, item.get("assets") or {}, baseline=baseline, base_href=base)
    if not assets:
        raise IngestError(
            f"{item_id}: no Sentinel-2 band assets found; expected asset keys B01..B12/B8A, "
            "Earth Search names (red, nir, ...) or eo:bands names"
        )
    return SceneRecord(
        id=item_id,
        datetime=when,
        footprint=footprint,
        assets=assets,
        collection=item.get("collection"),
        platform=props.get("platform"),
        tile=_tile(props),
        processing_baseline=str(baseline) if baseline is not None else None,
        product_level=_product_level(item, props),
        crs=_crs(props),
        source=base,
        properties={k: props[k] for k in ("eo:cloud_cover", "s2:product_uri", "s2:product_type") if k in props},
    )


def load_json_source(source: str) -> Any:
    """Load a local JSON file or an http(s) URL."""
    if urlparse(source).scheme in ("http", "https"):
        import urllib.request

        with urllib.request.urlopen(source, timeout=30) as response:  # an operator-given URL
            return json.loads(response.read())
    return json.loads(Path(source).read_text())


def _item_datetime(item_id: str, props: dict[str, Any]) -> dt.datetime:
    text = props.get("datetime") or props.get("start_datetime")
    if not text:
        raise IngestError(f"{item_id}: properties.datetime is missing")
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(f"{item_id}: properties.datetime {text!r} is not ISO 8601") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _footprint(item_id: str, item: dict[str, Any]) -> BaseGeometry:
    geometry = item.get("geometry")
    try:
        shape = shapely.geometry.shape(geometry) if geometry else shapely.geometry.box(*item["bbox"][:4])
    except Exception as exc:  # noqa: BLE001 - any malformed geometry is reported the same way
        raise IngestError(f"{item_id}: geometry/bbox cannot be read ({exc})") from None
    if shape.is_empty:
        raise IngestError(f"{item_id}: geometry is empty")
    try:
        split = split_antimeridian(shape)  # a footprint drawn across +-180 (RFC 7946 wants it split)
    except FisError as exc:
        raise IngestError(f"{item_id}: footprint {exc.message}") from None
    if split is not None:
        shape = split
    if not shape.is_valid:
        shape = shape.buffer(0)
    return shape


def _self_href(item: dict[str, Any]) -> str | None:
    for link in item.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            return str(link["href"])
    return None


def resolve_href(href: str, base_href: str | None) -> str:
    """Absolute href of an asset (relative hrefs resolve against the item's location)."""
    if urlparse(href).scheme or href.startswith("/"):
        return href
    if not base_href:
        return href
    if urlparse(base_href).scheme in ("http", "https", "s3", "gs"):
        return urljoin(base_href, href)
    return str((Path(base_href).parent / href).resolve())


def _band_of_asset(key: str, asset: dict[str, Any]) -> str | None:
    band = normalise_band_name(key)
    if band:
        return band
    eo_bands = asset.get("eo:bands") or (asset.get("bands") if isinstance(asset.get("bands"), list) else None) or []
    if len(eo_bands) != 1 or not isinstance(eo_bands[0], dict):
        return None
    name = eo_bands[0].get("name")
    if name and normalise_band_name(str(name)):
        return normalise_band_name(str(name))
    common = eo_bands[0].get("common_name") or eo_bands[0].get("eo:common_name")
    return COMMON_NAMES.get(str(common)) if common else None


def _is_raster(asset: dict[str, Any]) -> bool:
    roles = asset.get("roles") or ["data"]
    if "data" not in roles:
        return False
    media = str(asset.get("type") or "")
    if media:
        return media.startswith(_RASTER_TYPES)
    return posixpath.splitext(urlparse(str(asset.get("href", ""))).path)[1].lower() in _RASTER_SUFFIXES


def _band_assets(item_id: str, assets: dict[str, Any], *, baseline: Any, base_href: str | None) -> dict[str, BandAsset]:
    found: dict[str, BandAsset] = {}
    preferred: dict[str, bool] = {}
    for key, asset in assets.items():
        if not isinstance(asset, dict) or not asset.get("href") or not _is_raster(asset):
            continue
        band = _band_of_asset(key, asset) or (SCL if key.lower().removesuffix("-jp2") == "scl" else None)
        if band is None:
            continue
        is_cog = "tiff" in str(asset.get("type") or "") or str(asset["href"]).lower().endswith((".tif", ".tiff"))
        if band in found and (preferred[band] or not is_cog):
            continue  # keep the first COG/GeoTIFF over a JP2 duplicate (Earth Search "red" vs "red-jp2")
        raster_bands = asset.get("raster:bands") or []
        raster_band = raster_bands[0] if raster_bands and isinstance(raster_bands[0], dict) else None
        resolution = (raster_band or {}).get("spatial_resolution") or asset.get("gsd")
        found[band] = BandAsset(
            band=band,
            href=resolve_href(str(asset["href"]), base_href),
            radiometry=_SCL_RADIOMETRY
            if band == SCL
            else radiometry_for_asset(raster_band, processing_baseline=str(baseline) if baseline else None),
            resolution=float(resolution) if resolution else None,
        )
        preferred[band] = is_cog
    return dict(sorted(found.items(), key=lambda kv: kv[0]))


def _tile(props: dict[str, Any]) -> str | None:
    if props.get("s2:mgrs_tile"):
        return str(props["s2:mgrs_tile"])
    code = props.get("grid:code")
    if isinstance(code, str) and code.startswith("MGRS-"):
        return code[5:]
    zone, band, square = props.get("mgrs:utm_zone"), props.get("mgrs:latitude_band"), props.get("mgrs:grid_square")
    if zone and band and square:
        return f"{int(zone):02d}{band}{square}"
    return None


def _product_level(item: dict[str, Any], props: dict[str, Any]) -> str:
    product_type = str(props.get("s2:product_type") or "").upper()
    if product_type:
        return "L2A" if product_type.endswith("2A") else "L1C"
    level = str(props.get("processing:level") or "").upper()
    if level in ("L1C", "L2A"):
        return level
    names = f"{item.get('collection') or ''} {item.get('id') or ''}".upper()
    return "L2A" if ("L2A" in names or "MSIL2A" in names) else "L1C"


def _crs(props: dict[str, Any]) -> str | None:
    if props.get("proj:code"):
        return str(props["proj:code"])
    if props.get("proj:epsg"):
        return f"EPSG:{int(props['proj:epsg'])}"
    return None
