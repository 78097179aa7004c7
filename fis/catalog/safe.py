"""Sentinel-2 SAFE products (``.SAFE`` directories and zipped SAFE files) -> :class:`SceneRecord`.

What is read, and from where:

- ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` (the product metadata, :func:`parse_product_metadata`):
  product level, ``PRODUCT_URI``, ``PROCESSING_BASELINE``, ``PRODUCT_START_TIME``, spacecraft,
  relative orbit (``SENSING_ORBIT_NUMBER``), ``QUANTIFICATION_VALUE`` (L2A:
  ``BOA_QUANTIFICATION_VALUE``), the per-band ``RADIO_ADD_OFFSET`` (L2A: ``BOA_ADD_OFFSET``),
  the NODATA special value, the footprint (``EXT_POS_LIST``, *lat lon* pairs) and the band files
  (``IMAGE_FILE`` / ``IMAGE_FILE_2A`` entries, relative to the SAFE root, without extension).
- ``GRANULE/<id>/MTD_TL.xml`` (tile metadata, when present): CRS (``HORIZONTAL_CS_CODE``), tile
  sensing time (``SENSING_TIME``, the scene datetime as on STAC catalogues) and ``TILE_ID``.

Radiometry per band (the one rule of :mod:`fis.core.radiometry`): ``scale = 1 / QUANTIFICATION_VALUE``,
``offset = ADD_OFFSET / QUANTIFICATION_VALUE``, i.e. ``reflectance = (DN + ADD_OFFSET) / Q``. The
offset comes from the metadata file, never from the baseline number: a baseline >= 04.00 product
whose metadata lists no offset is refused rather than guessed.

Band files are taken at their native resolution (L2A keeps resampled copies in ``R10m``/``R20m``/
``R60m``; ``B02_10m`` is used, not ``B02_20m``); the L2A scene classification is added as asset
``SCL`` (class codes: scale 1, offset 0, nodata 0). Zipped products are read in place: the
metadata with :mod:`zipfile`, the rasters by GDAL through ``/vsizip/`` hrefs.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.affinity import translate

from fis.core.bands import BANDS, NATIVE_RESOLUTION
from fis.core.scenes import BandAsset, SceneRecord
from fis.errors import IngestError
from fis.core.radiometry import OFFSET_BASELINE, Radiometry

__all__ = [
    "KNOWN_BASELINE_MAJORS",
    "MTD_NAMES",
    "band_files",
    "footprint_polygon",
    "ProductMetadata",
    "is_safe_source",
    "parse_product_metadata",
    "scene_from_safe",
]

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
_EXTENSIONS = {"JPEG2000": (".jp2", ".tif"), "GEOTIFF": (".tif", ".jp2")}


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
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


# --- product metadata -------------------------------------------------------------------------

def parse_product_metadata(xml_bytes: bytes, *, name: str = "MTD_MSIL1C.xml") -> ProductMetadata:
    """Parse a product metadata file; raise :class:`IngestError` naming ``name`` and the reason."""
    root = _parse_xml(xml_bytes, name)
    level = _product_level(root, name)
    baseline = _baseline(root, name)
    when = _parse_time(_text(root, "PRODUCT_START_TIME") or _text(root, "DATATAKE_SENSING_START"), "PRODUCT_START_TIME", name)
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
        tile=_tile_from_names(product_uri, granule_id, *image_files[:1]),
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
    raise IngestError(f"{name}: not a Sentinel-2 Level-1C or Level-2A product metadata file (root element {_local(root.tag)!r})")


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


def _tile_from_names(*names: str | None) -> str | None:
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


# --- products on disk: directory or zip -------------------------------------------------------

class _Product:
    """Files of one SAFE product, relative to its root, in a directory or a zip."""

    def __init__(self, source: Path):
        self.source = source
        self.zip: zipfile.ZipFile | None = None
        self.prefix = ""
        if source.is_dir():
            self.root = source
            mtd = next((source / n for n in MTD_NAMES if (source / n).is_file()), None)
            if mtd is None:
                raise IngestError(f"{source}: no {' or '.join(MTD_NAMES)} in this directory; not a Sentinel-2 SAFE product")
            self.mtd = mtd.name
        elif source.is_file() and source.name in MTD_NAMES:
            self.source = self.root = source.parent
            self.mtd = source.name
        elif source.is_file():
            self._open_zip(source)
        else:
            raise IngestError(f"{source}: no such file or directory")

    def _open_zip(self, source: Path) -> None:
        try:
            self.zip = zipfile.ZipFile(source)
            names = self.zip.namelist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise IngestError(f"{source}: not a readable zip file ({exc}); the file is corrupt or truncated") from None
        candidates = sorted(
            (n for n in names if posixpath.basename(n) in MTD_NAMES and n.count("/") <= 1),
            key=lambda n: n.count("/"),
        )
        if not candidates:
            self.close()
            raise IngestError(f"{source}: the zip holds no <product>.SAFE/{' or '.join(MTD_NAMES)}; not a zipped Sentinel-2 SAFE product")
        self.mtd_member = candidates[0]
        self.prefix = posixpath.dirname(self.mtd_member)
        self.mtd = posixpath.basename(self.mtd_member)
        self.members = set(names)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
            self.zip = None

    def member(self, relative: str) -> str:
        return posixpath.join(self.prefix, relative) if self.prefix else relative

    def display(self, relative: str) -> str:
        """A name for messages: the file inside the product."""
        if self.zip is not None:
            return f"{self.source}!/{self.member(relative)}"
        return str(self.root / relative)

    def exists(self, relative: str) -> bool:
        if self.zip is not None:
            return self.member(relative) in self.members
        return (self.root / relative).is_file()

    def read(self, relative: str) -> bytes:
        try:
            if self.zip is not None:
                return self.zip.read(self.member(relative))
            return (self.root / relative).read_bytes()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, ValueError) as exc:
            raise IngestError(f"{self.display(relative)}: cannot be read ({exc}); the product is corrupt or truncated") from None

    def href(self, relative: str) -> str:
        if self.zip is not None:
            return f"/vsizip/{self.source.resolve()}/{self.member(relative)}"
        return str((self.root / relative).resolve())

    def granule_dirs(self) -> list[str]:
        if self.zip is not None:
            start = self.member("GRANULE/")
            found = {m[len(start):].split("/", 1)[0] for m in self.members if m.startswith(start) and m[len(start):].count("/") >= 1}
            return sorted(f"GRANULE/{g}" for g in found if g)
        granule = self.root / "GRANULE"
        return sorted(f"GRANULE/{p.name}" for p in granule.iterdir() if p.is_dir()) if granule.is_dir() else []


def is_safe_source(path: Path) -> bool:
    """A ``.SAFE`` directory (or any directory holding MTD_MSIL1C/2A.xml) or a ``.zip`` file."""
    if path.is_dir():
        return path.suffix.upper() == ".SAFE" or any((path / n).is_file() for n in MTD_NAMES)
    return path.is_file() and path.suffix.lower() == ".zip"


def scene_from_safe(path: str | Path, *, check_rasters: bool = True) -> SceneRecord:
    """Build a scene record from a ``.SAFE`` directory, a zipped SAFE or an MTD_MSIL*.xml file.

    Raises :class:`IngestError` naming the file and the reason: unreadable or truncated zip,
    unparseable metadata, unknown processing baseline, missing band file. With
    ``check_rasters`` every band file is opened once by GDAL (header only) so a damaged raster
    is refused at ingest rather than at request time.
    """
    product = _Product(Path(path))
    try:
        return _scene(product, check_rasters=check_rasters)
    finally:
        product.close()


def _scene(product: _Product, *, check_rasters: bool) -> SceneRecord:
    meta = parse_product_metadata(product.read(product.mtd), name=product.display(product.mtd))
    chosen = band_files(meta)
    if not any(band in chosen for band in BANDS):
        raise IngestError(
            f"{product.display(product.mtd)}: no band IMAGE_FILE entries (B01..B12) in the metadata; "
            "cannot locate the band rasters"
        )
    extensions = _EXTENSIONS.get((meta.image_format or "").upper(), (".jp2", ".tif"))
    files: dict[str, tuple[str, float]] = {}
    for band, (relative, resolution) in chosen.items():
        found = next((relative + ext for ext in extensions if product.exists(relative + ext)), None)
        if found is None:
            raise IngestError(
                f"{product.display(relative + extensions[0])}: band {band} file is missing "
                f"(listed in {product.mtd}); the product is incomplete"
            )
        files[band] = (found, resolution)

    tile_meta = _tile_metadata(product, files)
    crs = tile_meta.get("crs")
    if check_rasters or not crs:
        crs = _check_rasters(product, files, crs)
    footprint = meta.footprint or _footprint_from_tile(tile_meta, crs, product)
    when = tile_meta.get("sensing_time") or meta.datetime
    assets = {
        band: BandAsset(band=band, href=product.href(relative), radiometry=meta.radiometry(band), resolution=float(resolution))
        for band, (relative, resolution) in files.items()
    }
    scene_id = (meta.product_uri or product.source.name).removesuffix(".zip").removesuffix(".SAFE")
    properties: dict[str, Any] = {
        "spacecraft": meta.spacecraft,
        "relative_orbit": meta.relative_orbit,
        "orbit_direction": meta.orbit_direction,
        "product_uri": meta.product_uri,
        "product_type": meta.product_type,
        "quantification_value": meta.quantification_value,
        "add_offsets": dict(meta.add_offsets),
        "eo:cloud_cover": meta.cloud_cover,
        "source_format": "SAFE zip" if product.zip is not None else "SAFE",
        "tile_id": tile_meta.get("tile_id"),
    }
    return SceneRecord(
        id=scene_id,
        datetime=when,
        footprint=footprint,
        assets=dict(sorted(assets.items())),
        collection=f"sentinel-2-{meta.product_level.lower()}",
        platform=meta.platform,
        tile=meta.tile or _tile_from_names(tile_meta.get("tile_id")),
        processing_baseline=meta.processing_baseline,
        product_level=meta.product_level,
        crs=crs,
        source=str(product.source.resolve()),
        properties={k: v for k, v in properties.items() if v is not None},
    )


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


def _tile_metadata(product: _Product, files: dict[str, tuple[str, float]]) -> dict[str, Any]:
    """CRS, sensing time, tile id and geoposition from GRANULE/<id>/MTD_TL.xml (empty when absent)."""
    granules = sorted({posixpath.join(*rel.split("/")[:2]) for rel, _ in files.values() if rel.startswith("GRANULE/")})
    granules = granules or product.granule_dirs()
    for granule in granules:
        relative = f"{granule}/MTD_TL.xml"
        if not product.exists(relative):
            continue
        name = product.display(relative)
        root = _parse_xml(product.read(relative), name)
        out: dict[str, Any] = {"tile_id": _text(root, "TILE_ID"), "sensing_time": _parse_time(_text(root, "SENSING_TIME"), "SENSING_TIME", name)}
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
    return {}


def _check_rasters(product: _Product, files: dict[str, tuple[str, float]], crs: str | None) -> str | None:
    """Open every band file's header with GDAL; return the CRS (from the files when the tile metadata has none)."""
    import rasterio
    from rasterio.errors import RasterioError

    for band, (relative, _) in files.items():
        try:
            with rasterio.open(product.href(relative)) as dataset:
                if dataset.count < 1:
                    raise IngestError(f"{product.display(relative)}: band {band} file holds no raster band")
                if crs is None and dataset.crs is not None and band != SCL:
                    epsg = dataset.crs.to_epsg()
                    crs = f"EPSG:{epsg}" if epsg else dataset.crs.to_wkt()
        except (RasterioError, OSError) as exc:
            raise IngestError(f"{product.display(relative)}: band {band} file cannot be opened by GDAL ({exc})") from None
    return crs


def _footprint_from_tile(tile: dict[str, Any], crs: str | None, product: _Product) -> BaseGeometry:
    """The tile's extent in lon/lat, for metadata without EXT_POS_LIST."""
    geo, size = tile.get("geoposition"), tile.get("size")
    if not crs or not geo or not size or None in geo or None in size:
        raise IngestError(f"{product.display(product.mtd)}: no footprint (EXT_POS_LIST) and no tile geoposition to derive one from")
    from pyproj import Transformer
    from shapely import segmentize
    from shapely import transform as shapely_transform

    ulx, uly, xdim, ydim = geo
    rows, cols = size
    extent = box(ulx, uly + ydim * rows, ulx + xdim * cols, uly)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return shapely_transform(segmentize(extent, max(abs(xdim * cols), abs(ydim * rows)) / 16), to_lonlat.transform, interleaved=False)

