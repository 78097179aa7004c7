"""A field uploaded as a file (GeoJSON, zipped Shapefile, GeoPackage), read with GDAL (pyogrio) and validated by
the same geometry parsing as request bodies (:func:`fis.core.geometry.parse_geometry`)."""

from __future__ import annotations

import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from pyogrio.raw import read as read_layer
from shapely.geometry import mapping

from fis.core.geometry import AOI, geodesic_area_ha, parse_geometry
from fis.errors import InvalidInput

#: File name endings accepted, and what they are.
KINDS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".zip": "zipped Shapefile"}
#: Largest total size of the files inside an uploaded zip (bytes): guards against zip bombs.
MAX_UNZIPPED_BYTES = 50 * 1024 * 1024
_ACCEPTED = "upload a GeoJSON (.geojson, .json), a zipped Shapefile (.zip) or a GeoPackage (.gpkg) with one polygon"


@dataclass(frozen=True)
class ParsedField:
    """A validated field: its geometry in EPSG:4326, area and parsing warnings."""

    aoi: AOI

    def to_json(self) -> dict[str, Any]:
        return {
            "geometry": mapping(self.aoi.geometry_4326),
            "area_ha": round(geodesic_area_ha(self.aoi.geometry_4326), 4),
            "crs": self.aoi.crs.to_string(),
            "warnings": list(self.aoi.warnings),
        }


def parse_field_file(data: bytes, filename: str, *, field: str = "file") -> ParsedField:
    """The one polygon of an uploaded file; a 400 naming ``field`` when the file is not one readable polygon."""
    suffix = PurePosixPath(filename).suffix.lower()
    kind = KINDS.get(suffix)
    if kind is None:
        raise InvalidInput(f"{field}: {filename!r} is not a supported file; {_ACCEPTED}", field=field)
    if not data:
        raise InvalidInput(f"{field}: {filename!r} is empty; {_ACCEPTED}", field=field)
    with tempfile.TemporaryDirectory(prefix="fis-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        source = _shapefile_in_zip(path, filename, field) if suffix == ".zip" else str(path)
        geometry, crs = _one_geometry(source, filename, kind, field)
    return ParsedField(parse_geometry(shapely.to_geojson(geometry), crs=crs, field=field))


def parse_field_geometry(value: Any, crs: Any = None, *, field: str = "geometry") -> ParsedField:
    """A field given as GeoJSON or WKT (``crs`` as in a request body), validated like a request body's geometry."""
    return ParsedField(parse_geometry(value, crs=crs, field=field))


def _shapefile_in_zip(path: Path, filename: str, field: str) -> str:
    """The GDAL path of the one ``.shp`` in a zip archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.filename.startswith("__MACOSX/")]
    except zipfile.BadZipFile:
        raise InvalidInput(f"{field}: {filename!r} is not a zip archive; {_ACCEPTED}", field=field) from None
    if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
        raise InvalidInput(
            f"{field}: {filename!r} unpacks to more than {MAX_UNZIPPED_BYTES // (1024 * 1024)} MB; "
            "send only the field's Shapefile (.shp, .shx, .dbf, .prj)",
            field=field,
        )
    shapefiles = [m.filename for m in members if m.filename.lower().endswith(".shp")]
    if len(shapefiles) != 1:
        found = f"{len(shapefiles)} ({', '.join(shapefiles)})" if shapefiles else "none"
        raise InvalidInput(
            f"{field}: {filename!r} must hold exactly one Shapefile (.shp with its .shx, .dbf, .prj); found {found}",
            field=field,
        )
    return f"/vsizip/{path}/{shapefiles[0]}"


def _one_geometry(source: str, filename: str, kind: str, field: str) -> tuple[Any, str | None]:
    """The single feature's geometry and the layer's CRS (None when the file has none: lon/lat is assumed)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GDAL's notes about file names in the temp folder
            layers = pyogrio.list_layers(source)
            if len(layers) != 1:
                names = ", ".join(str(name) for name, _ in layers)
                raise InvalidInput(
                    f"{field}: the {kind} {filename!r} has {len(layers)} layers ({names}); send a file with one layer "
                    "holding one polygon",
                    field=field,
                )
            meta, _, geometries, _ = read_layer(source, read_geometry=True, columns=[])
    except (DataSourceError, DataLayerError) as exc:
        reason = str(exc).replace(source, filename).split("; It might help")[0]  # not our temporary path
        message = f"{field}: {filename!r} cannot be read as a {kind} ({reason}); {_ACCEPTED}"
        raise InvalidInput(message, field=field) from None
    if len(geometries) != 1:
        raise InvalidInput(
            f"{field}: the {kind} {filename!r} has {len(geometries)} features; send one feature, the field's polygon",
            field=field,
        )
    if geometries[0] is None:
        raise InvalidInput(f"{field}: the feature of {filename!r} has no geometry; {_ACCEPTED}", field=field)
    crs = meta.get("crs")
    return shapely.from_wkb(geometries[0]), crs if isinstance(crs, str) and crs else None
