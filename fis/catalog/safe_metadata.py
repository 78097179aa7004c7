"""Sentinel-2 SAFE product metadata: ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` and a granule's
``MTD_TL.xml`` -> values (:class:`ProductMetadata`, the band files, the tile's CRS and sensing time).

Pure XML parsing (namespace-agnostic); what is read and the radiometry rule are described in
:mod:`fis.catalog.safe`, which turns a product on disk into a :class:`~fis.core.scenes.SceneRecord`.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from shapely.affinity import translate
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from fis.core.bands import BANDS, NATIVE_RESOLUTION
from fis.core.radiometry import OFFSET_BASELINE, Radiometry
from fis.errors import IngestError

#: Product metadata file names: Level-1C and Level-2A.
MTD_NAMES: tuple[str, ...] = ("MTD_MSIL1C.xml", "MTD_MSIL2A.xml")

#: Processing baselines this reader knows (02.xx .. 05.xx; 04.00 introduced the -1000 DN offset).
#: A product of another baseline is refused: its radiometry conventions are not known here.
KNOWN_BASELINE_MAJORS: range = range(2, 6)

#: The scene classification layer of L2A products (class codes, not reflectance).
SCL = "SCL"
SCL_RESOLUTION = 20
_SCL_RADIOMETRY = Radiometry(scale=1.0, offset=0.0, nodata=0)

_IMAGE_NAME = re.compile(r"_(?P<band>B\d{2}|B8A|SCL|TCI|AOT|WVP)(?:_(?P<res>\d+)m)?$")
_TILE_IN_NAME = re.compile(r"_T(?P<tile>\d{2}[A-Z]{3})(?:_|$)")
_BASELINE = re.compile(r"^N?(?P<major>\d{2})\.?(?P<minor>\d{2})$")


@dataclass(frozen=True)
class ProductMetadata:
    """What a product metadata file (``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``) says."""

    product_level: str  # "L1C" or "L2A"
    processing_baseline: str  # "05.09"
    datetime: dt.datetime  # PRODUCT_START_TIME, UTC
    quantification_value: float
    add_offsets: dict[str, float]  # band -> RADIO_ADD_OFFSET / BOA_ADD_OFFSET in DN; empty before 04.00
    nodata: float | None
    product_uri: str | None = None
    product_type: str | None = None
    spacecraft: str | None = None  # "Sentinel-2A"
    relative_orbit: int | None = None
    orbit_direction: str | None = None
    tile: str | None = None  # "31TDH"
    footprint: BaseGeometry | None = None  # EPSG:4326 lon/lat
    image_files: tuple[str, ...] = ()
    image_format: str | None = None  # "JPEG2000" / "GeoTIFF" (Granule imageFormat)
    cloud_cover: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def platform(self) -> str | None:
        """STAC-style platform name (``sentinel-2a``)."""
        return self.spacecraft.lower() if self.spacecraft else None

    def radiometry(self, band: str) -> Radiometry:
        """``reflectance = (DN + ADD_OFFSET) / Q``, as ``DN * scale + offset``."""
        if band == SCL:
            return _SCL_RADIOMETRY
        q = self.quantification_value
        return Radiometry(scale=1.0 / q, offset=self.add_offsets.get(band, 0.0) / q, nodata=self.nodata)


# --- XML helpers (namespace-agnostic) ---------------------------------------------------------

def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _first(root: ET.Element, name: str) -> ET.Element | None:
    for element in root.iter():
        if _local(element.tag) == name:
            return element
    return None


def _all(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if _local(element.tag) == name]


def _text(root: ET.Element, name: str) -> str | None:
    element = _first(root, name)
    if element is None or element.text is None or not element.text.strip():
        return None
    return element.text.strip()


def _parse_xml(data: bytes, name: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise IngestError(f"{name}: metadata XML cannot be parsed ({exc}); the file is truncated or not XML") from None


def _parse_time(text: str | None, what: str, name: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(f"{name}: {what} {text!r} is not an ISO 8601 date-time") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


# --- product metadata -------------------------------------------------------------------------

def parse_product_metadata(xml_bytes: bytes, *, name: str = "MTD_MSIL1C.xml") -> ProductMetadata:
    """Parse a product metadata file; raise :class:`IngestError` naming ``name`` and the reason."""
    root = _parse_xml(xml_bytes, name)
    level = _product_level(root, name)
    baseline = _baseline(root, name)
    when = _parse_time(
        _text(root, "PRODUCT_START_TIME") or _text(root, "DATATAKE_SENSING_START"), "PRODUCT_START_TIME", name
    )
    if when is None:
        raise IngestError(f"{name}: PRODUCT_START_TIME is missing")
    quantification = _quantification(root, level, name)
    offsets = _add_offsets(root, level, name)
    if not offsets and _baseline_tuple(baseline) >= OFFSET_BASELINE:
        tag = "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"
        raise IngestError(
            f"{name}: processing baseline {baseline} products carry {tag} per band, but this metadata "
            "lists none; refusing to guess the radiometric offset"
        )
    product_uri = _text(root, "PRODUCT_URI")
    granules = _all(root, "Granule") or _all(root, "Granules")
    image_files = tuple(
        element.text.strip()
        for element in root.iter()
        if _local(element.tag) in ("IMAGE_FILE", "IMAGE_FILE_2A") and element.text and element.text.strip()
    )
    image_format = granules[0].get("imageFormat") if granules else None
    granule_id = granules[0].get("granuleIdentifier") if granules else None
    orbit = _text(root, "SENSING_ORBIT_NUMBER")
    cloud = _text(root, "Cloud_Coverage_Assessment")
    return ProductMetadata(
        product_level=level,
        processing_baseline=baseline,
        datetime=when,
        quantification_value=quantification,
        add_offsets=offsets,
        nodata=_nodata(root),
        product_uri=product_uri,
        product_type=_text(root, "PRODUCT_TYPE"),
        spacecraft=_text(root, "SPACECRAFT_NAME"),
        relative_orbit=int(orbit) if orbit and orbit.isdigit() else None,
        orbit_direction=_text(root, "SENSING_ORBIT_DIRECTION"),
        tile=tile_from_names(product_uri, granule_id, *image_files[:1]),
        footprint=_footprint(root, name),
        image_files=image_files,
        image_format=image_format,
        cloud_cover=_float_or_none(cloud),
        extra={"granule_identifier": granule_id} if granule_id else {},
    )


def _product_level(root: ET.Element, name: str) -> str:
    candidates = [
        _local(root.tag),
        _text(root, "PRODUCT_TYPE") or "",
        _text(root, "PROCESSING_LEVEL") or "",
        posixpath.basename(name),
    ]
    for text in candidates:
        upper = text.upper().replace("-", "")
        if "LEVEL2A" in upper or upper.endswith("2A") or "MSIL2A" in upper:
            return "L2A"
        if "LEVEL1C" in upper or upper.endswith("1C") or "MSIL1C" in upper:
            return "L1C"
    raise IngestError(
        f"{name}: not a Sentinel-2 Level-1C or Level-2A product metadata file (root element {_local(root.tag)!r})"
    )


def _baseline_tuple(baseline: str) -> tuple[int, int]:
    match = _BASELINE.match(baseline)
    assert match is not None
    return int(match["major"]), int(match["minor"])


def _baseline(root: ET.Element, name: str) -> str:
    text = _text(root, "PROCESSING_BASELINE")
    if text is None:
        raise IngestError(f"{name}: PROCESSING_BASELINE is missing; cannot tell whether band values carry an offset")
    match = _BASELINE.match(text)
    if match is None:
        raise IngestError(f"{name}: processing baseline {text!r} cannot be parsed (expected e.g. '05.09')")
    major = int(match["major"])
    if major not in KNOWN_BASELINE_MAJORS:
        raise IngestError(
            f"{name}: processing baseline {text!r} is unknown (known: 02.00 to 05.xx); its radiometric "
            "conventions are not known to fis, so the product is not registered"
        )
    return f"{match['major']}.{match['minor']}"


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _quantification(root: ET.Element, level: str, name: str) -> float:
    tag = "QUANTIFICATION_VALUE" if level == "L1C" else "BOA_QUANTIFICATION_VALUE"
    text = _text(root, tag) or (_text(root, "QUANTIFICATION_VALUE") if level == "L2A" else None)
    value = _float_or_none(text)
    if value is None or not value > 0:
        raise IngestError(f"{name}: {tag} is missing or not a positive number ({text!r})")
    return value


def _add_offsets(root: ET.Element, level: str, name: str) -> dict[str, float]:
    tag = "RADIO_ADD_OFFSET" if level == "L1C" else "BOA_ADD_OFFSET"
    offsets: dict[str, float] = {}
    for element in _all(root, tag):
        band_id = element.get("band_id", element.get("bandId"))
        value = _float_or_none((element.text or "").strip())
        if band_id is None or not band_id.isdigit() or int(band_id) >= len(BANDS) or value is None:
            raise IngestError(f"{name}: {tag} entry band_id={band_id!r} value={element.text!r} cannot be read")
        offsets[BANDS[int(band_id)]] = value
    return offsets


def _nodata(root: ET.Element) -> float | None:
    for special in _all(root, "Special_Values"):
        if (_text(special, "SPECIAL_VALUE_TEXT") or "").upper() == "NODATA":
            return _float_or_none(_text(special, "SPECIAL_VALUE_INDEX"))
    return 0.0


def tile_from_names(*names: str | None) -> str | None:
    """The MGRS tile (``31TDH``) in the first of ``names`` (product URI, granule id, file name) that has one."""
    for text in names:
        if text:
            match = _TILE_IN_NAME.search(posixpath.basename(text).replace(".SAFE", ""))
            if match:
                return match["tile"]
    return None


def _footprint(root: ET.Element, name: str) -> BaseGeometry | None:
    text = _text(root, "EXT_POS_LIST")
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise IngestError(f"{name}: EXT_POS_LIST holds non-numbers") from None
    if len(values) % 2 or len(values) < 6:
        raise IngestError(f"{name}: EXT_POS_LIST must hold at least three 'lat lon' pairs, got {len(values)} numbers")
    lonlat = [(values[i + 1], values[i]) for i in range(0, len(values), 2)]  # the file lists lat lon
    return footprint_polygon(lonlat)


def footprint_polygon(lonlat: list[tuple[float, float]]) -> BaseGeometry:
    """A lon/lat polygon; a ring crossing the antimeridian is split into a MultiPolygon at +-180."""
    lons = [lon for lon, _ in lonlat]
    if max(lons) - min(lons) <= 180:
        shape: BaseGeometry = Polygon(lonlat)
        return shape if shape.is_valid else shape.buffer(0)
    shifted = Polygon([(lon + 360 if lon < 0 else lon, lat) for lon, lat in lonlat])
    if not shifted.is_valid:
        shifted = shifted.buffer(0)
    east = shifted.intersection(box(0, -90, 180, 90))
    west = translate(shifted.intersection(box(180, -90, 360, 90)), xoff=-360)
    parts = [p for g in (east, west) for p in getattr(g, "geoms", [g]) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(parts) if len(parts) > 1 else parts[0]


def parse_tile_metadata(xml_bytes: bytes, *, name: str) -> dict[str, Any]:
    """``tile_id``, ``sensing_time`` and (when given) ``crs``, the 10 m ``geoposition`` (ULX, ULY, XDIM,
    YDIM) and ``size`` (NROWS, NCOLS) of a granule's ``MTD_TL.xml``; ``name`` is used in messages."""
    root = _parse_xml(xml_bytes, name)
    out: dict[str, Any] = {
        "tile_id": _text(root, "TILE_ID"),
        "sensing_time": _parse_time(_text(root, "SENSING_TIME"), "SENSING_TIME", name),
    }
    code = _text(root, "HORIZONTAL_CS_CODE")
    if code:
        out["crs"] = code if code.upper().startswith("EPSG:") else f"EPSG:{code}"
    for geo in _all(root, "Geoposition"):
        if geo.get("resolution") == "10":
            out["geoposition"] = tuple(_float_or_none(_text(geo, k)) for k in ("ULX", "ULY", "XDIM", "YDIM"))
    for size in _all(root, "Size"):
        if size.get("resolution") == "10":
            out["size"] = tuple(_float_or_none(_text(size, k)) for k in ("NROWS", "NCOLS"))
    return out


def _has_suffix(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in (".jp2", ".tif", ".tiff")


def band_files(meta: ProductMetadata) -> dict[str, tuple[str, float]]:
    """Band -> (file relative to the SAFE root, without extension; resolution in m), native resolution first.

    L2A lists most bands at several resolutions (``R10m/.._B02_10m``, ``R20m/.._B02_20m``, ...): the
    native one wins, else the finest. TCI, AOT and WVP are not bands; ``SCL`` is kept.
    """
    candidates: dict[str, list[tuple[float, str]]] = {}
    for entry in meta.image_files:
        stem = posixpath.splitext(entry)[0] if _has_suffix(entry) else entry
        match = _IMAGE_NAME.search(posixpath.basename(stem))
        if match is None:
            continue
        band = match["band"]
        if band not in BANDS and band != SCL:
            continue  # TCI, AOT, WVP
        native = SCL_RESOLUTION if band == SCL else NATIVE_RESOLUTION[band]
        resolution = float(match["res"]) if match["res"] else float(native)
        candidates.setdefault(band, []).append((resolution, stem))
    chosen: dict[str, tuple[str, float]] = {}
    for band, options in candidates.items():
        native = SCL_RESOLUTION if band == SCL else NATIVE_RESOLUTION[band]
        # the native-resolution file, else the finest one
        resolution, stem = min(options, key=lambda o: (o[0] != native, o[0]))
        chosen[band] = (stem, resolution)
    return chosen
