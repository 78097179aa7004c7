"""The features of a batch: any vector file people have, read with geopandas (pyogrio).

GeoPackage (a chosen layer), zipped Shapefile, Shapefile, GeoJSON FeatureCollection, FlatGeobuf and
GeoParquet; the CRS is the file's (none: lon/lat is assumed, with a warning). Each feature gets an
answer: PENDING with its lon/lat polygon (repaired with a warning when invalid), or FAILED with a
code and a reason (``empty_geometry``, ``not_polygon``, ``invalid_geometry``, ``missing_id``,
``duplicate_id``). A file that cannot be read is an :class:`~fis.errors.InvalidInput` naming it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError
from shapely.geometry import MultiPolygon, Polygon

from fis.core.geometry import parse_geometry
from fis.errors import FisError, InvalidInput
from fis.store.batch import NewFeature

#: file name endings read, and what they are
KINDS: dict[str, str] = {
    ".gpkg": "GeoPackage", ".zip": "zipped Shapefile", ".shp": "Shapefile", ".geojson": "GeoJSON",
    ".json": "GeoJSON", ".fgb": "FlatGeobuf", ".parquet": "GeoParquet", ".geoparquet": "GeoParquet",
}
_ACCEPTED = "give a GeoPackage (.gpkg), a zipped Shapefile (.zip), a Shapefile (.shp), GeoJSON (.geojson, .json), " \
    "FlatGeobuf (.fgb) or GeoParquet (.parquet)"
#: the default id: the file's feature id (FID), or the row number where the format has none
FID = "FID"


@dataclass(frozen=True)
class BatchInput:
    """The features of one input file, its content hash and the warnings about the file as a whole."""

    features: tuple[NewFeature, ...]
    content_sha256: str
    warnings: tuple[str, ...] = ()


def read_batch_input(path: Path, *, layer: str | None = None, id_column: str | None = None,
                     name: str | None = None) -> BatchInput:
    """Read every feature of ``path`` (``name``: how to call the file in messages, default its name)."""
    label = name or path.name
    suffix = path.suffix.lower()
    kind = KINDS.get(suffix)
    if kind is None:
        raise InvalidInput(f"input: {label!r} is not a supported vector file; {_ACCEPTED}", field="input")
    if not path.is_file():
        raise InvalidInput(f"input: {label} does not exist (or is not a file); {_ACCEPTED}", field="input")
    digest = _sha256(path)
    frame, notes = _read_frame(path, suffix, kind, label, layer)
    return BatchInput(features=tuple(_features(frame, id_column, label)), content_sha256=digest,
                      warnings=tuple(notes))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_frame(
    path: Path, suffix: str, kind: str, label: str, layer: str | None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    notes: list[str] = []
    try:
        if suffix in (".parquet", ".geoparquet"):
            if layer is not None:
                raise InvalidInput(f"--layer: a {kind} file has no layers ({label})", field="layer")
            frame = gpd.read_parquet(path)
            frame.index = pd.RangeIndex(len(frame))
        else:
            source = _zip_source(path, label) if suffix == ".zip" else str(path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                layers = [str(name) for name, _ in pyogrio.list_layers(source)]
                if layer is None and len(layers) > 1:
                    raise InvalidInput(
                        f"--layer: the {kind} {label} has {len(layers)} layers ({', '.join(layers)}); choose one "
                        "with --layer",
                        field="layer",
                    )
                if layer is not None and layer not in layers:
                    raise InvalidInput(
                        f"--layer: the {kind} {label} has no layer {layer!r}; its layers: {', '.join(layers)}",
                        field="layer",
                    )
                frame = gpd.read_file(source, layer=layer, engine="pyogrio", fid_as_index=True)
    except (DataSourceError, DataLayerError, OSError, ValueError) as exc:
        if isinstance(exc, FisError):
            raise
        reason = str(exc).split("; It might help")[0].replace(str(path), label)
        raise InvalidInput(f"input: {label} cannot be read as a {kind} ({reason}); {_ACCEPTED}",
                           field="input") from None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry is None:
        raise InvalidInput(f"input: {label} has no geometry column; {_ACCEPTED}", field="input")
    if frame.crs is None:
        notes.append(f"{label} does not say its CRS; the coordinates were read as lon/lat (EPSG:4326)")
    return frame, notes


def _zip_source(path: Path, label: str) -> str:
    """The GDAL path of the one Shapefile in a zip archive."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.startswith("__MACOSX/") and n.lower().endswith(".shp")]
    except zipfile.BadZipFile:
        raise InvalidInput(f"input: {label} is not a zip archive; {_ACCEPTED}", field="input") from None
    if len(names) != 1:
        found = f"{len(names)} ({', '.join(names)})" if names else "none"
        raise InvalidInput(
            f"input: {label} must hold exactly one Shapefile (.shp with its .shx, .dbf, .prj); found {found}",
            field="input",
        )
    return f"/vsizip/{path}/{names[0]}"


def _features(frame: gpd.GeoDataFrame, id_column: str | None, label: str) -> list[NewFeature]:
    geometry_name = frame.geometry.name
    columns = [c for c in frame.columns if c != geometry_name]
    if id_column is not None and id_column != FID and id_column not in columns:
        raise InvalidInput(
            f"--id-column: {label} has no column {id_column!r}; its columns: {', '.join(map(str, columns)) or 'none'} "
            f"(or {FID}, the default)",
            field="id_column",
        )
    ids = [_id_text(v) for v in (frame.index if id_column in (None, FID) else frame[id_column])]
    seen = Counter(i for i in ids if i is not None)
    crs = frame.crs if frame.crs is not None else "EPSG:4326"
    records = frame[columns].to_dict(orient="records")
    out: list[NewFeature] = []
    for seq, (fid, geometry, attributes) in enumerate(zip(ids, frame.geometry, records, strict=True)):
        attrs = {str(k): _json_value(v) for k, v in attributes.items()}
        shown = fid if fid is not None else f"#{seq}"
        error = _id_problem(fid, seq, seen, id_column or FID)
        if error is not None:
            out.append(NewFeature(seq, shown, attrs, None, error[0], error[1]))
            continue
        assert fid is not None
        out.append(_feature(seq, fid, attrs, geometry, crs))
    return out


def _id_problem(fid: str | None, seq: int, seen: Counter[str], column: str) -> tuple[str, str] | None:
    if fid is None:
        return "missing_id", f"feature #{seq} has no value in the id column {column!r}; every feature needs an id"
    if seen[fid] > 1:
        return "duplicate_id", (
            f"id {fid!r} appears {seen[fid]} times in the id column {column!r}; ids must be unique (choose another "
            "column with --id-column)"
        )
    return None


def _feature(seq: int, fid: str, attrs: dict[str, Any], geometry: Any, crs: Any) -> NewFeature:
    if geometry is None or geometry.is_empty:
        return NewFeature(seq, fid, attrs, None, "empty_geometry", f"feature {fid}: the geometry is empty or missing")
    if not isinstance(geometry, (Polygon, MultiPolygon)):
        return NewFeature(seq, fid, attrs, None, "not_polygon",
                          f"feature {fid}: a {geometry.geom_type} is not a field; statistics need a Polygon or "
                          "MultiPolygon")
    try:
        aoi = parse_geometry(shapely.to_geojson(geometry), crs=crs, field=f"feature {fid}")
    except FisError as exc:
        return NewFeature(seq, fid, attrs, None, "invalid_geometry" if exc.status == 400 else exc.code, exc.message)
    return NewFeature(seq, fid, attrs, aoi.geometry_4326, warnings=aoi.warnings)


def _id_text(value: Any) -> str | None:
    value = _json_value(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text[:255]


def _json_value(value: Any) -> Any:
    """A cell as a JSON value (numpy scalars unwrapped, dates as ISO 8601, NaN as null)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return json.loads(json.dumps(value, default=str)) if not isinstance(value, np.ndarray) else value.tolist()
    return str(value)
