"""Sentinel-2 SAFE products (``.SAFE`` directories and zipped SAFE files) -> :class:`SceneRecord`.

What is read, and from where:

- ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` (the product metadata,
  :func:`fis.catalog.safe_metadata.parse_product_metadata`): product level, ``PRODUCT_URI``,
  ``PROCESSING_BASELINE``, ``PRODUCT_START_TIME``, spacecraft,
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

import posixpath
import zipfile
import zlib
from pathlib import Path
from typing import Any

from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from fis.catalog.safe_metadata import (
    MTD_NAMES,
    SCL,
    band_files,
    parse_product_metadata,
    parse_tile_metadata,
    tile_from_names,
)
from fis.core.bands import BANDS
from fis.core.scenes import BandAsset, SceneRecord
from fis.errors import IngestError

__all__ = ["is_safe_source", "scene_from_safe"]

_EXTENSIONS = {"JPEG2000": (".jp2", ".tif"), "GEOTIFF": (".tif", ".jp2")}


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
                raise IngestError(
                    f"{source}: no {' or '.join(MTD_NAMES)} in this directory; not a Sentinel-2 SAFE product"
                )
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
            raise IngestError(
                f"{source}: the zip holds no <product>.SAFE/{' or '.join(MTD_NAMES)}; "
                "not a zipped Sentinel-2 SAFE product"
            )
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
            raise IngestError(
                f"{self.display(relative)}: cannot be read ({exc}); the product is corrupt or truncated"
            ) from None

    def href(self, relative: str) -> str:
        if self.zip is not None:
            return f"/vsizip/{self.source.resolve()}/{self.member(relative)}"
        return str((self.root / relative).resolve())

    def granule_dirs(self) -> list[str]:
        if self.zip is not None:
            start = self.member("GRANULE/")
            found = {
                m[len(start) :].split("/", 1)[0]
                for m in self.members
                if m.startswith(start) and m[len(start) :].count("/") >= 1
            }
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
        band: BandAsset(
            band=band, href=product.href(relative), radiometry=meta.radiometry(band), resolution=float(resolution)
        )
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
        tile=meta.tile or tile_from_names(tile_meta.get("tile_id")),
        processing_baseline=meta.processing_baseline,
        product_level=meta.product_level,
        crs=crs,
        source=str(product.source.resolve()),
        properties={k: v for k, v in properties.items() if v is not None},
    )


def _tile_metadata(product: _Product, files: dict[str, tuple[str, float]]) -> dict[str, Any]:
    """CRS, sensing time, tile id and geoposition from GRANULE/<id>/MTD_TL.xml (empty when absent)."""
    granules = sorted({posixpath.join(*rel.split("/")[:2]) for rel, _ in files.values() if rel.startswith("GRANULE/")})
    granules = granules or product.granule_dirs()
    for granule in granules:
        relative = f"{granule}/MTD_TL.xml"
        if product.exists(relative):
            return parse_tile_metadata(product.read(relative), name=product.display(relative))
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
            raise IngestError(
                f"{product.display(relative)}: band {band} file cannot be opened by GDAL ({exc})"
            ) from None
    return crs


def _footprint_from_tile(tile: dict[str, Any], crs: str | None, product: _Product) -> BaseGeometry:
    """The tile's extent in lon/lat, for metadata without EXT_POS_LIST."""
    geo, size = tile.get("geoposition"), tile.get("size")
    if not crs or not geo or not size or None in geo or None in size:
        raise IngestError(
            f"{product.display(product.mtd)}: no footprint (EXT_POS_LIST) and no tile geoposition to derive one from"
        )
    from pyproj import Transformer
    from shapely import segmentize
    from shapely import transform as shapely_transform

    ulx, uly, xdim, ydim = geo
    rows, cols = size
    extent = box(ulx, uly + ydim * rows, ulx + xdim * cols, uly)
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    outline: BaseGeometry = shapely_transform(
        segmentize(extent, max(abs(xdim * cols), abs(ydim * rows)) / 16),
        to_lonlat.transform,  # type: ignore[arg-type]  # stubs: interleaved=True only
        interleaved=False,
    )
    return outline
