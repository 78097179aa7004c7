"""Reading the user's geometry text: WKT (with an optional ``SRID=n;`` prefix) and GeoJSON.

Only syntax and structure here (types, ring lengths, closing, finite positions), each error an
:class:`~fis.errors.InvalidGeometry` naming the offending part; :mod:`fis.core.geometry` validates,
repairs and reprojects what these readers return.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon

from fis.core.limits import check_wkt_depth
from fis.errors import InvalidCRS, InvalidGeometry

# ----------------------------------------------------------------------------------- WKT


_SRID_RE = re.compile(r"^SRID=(\d+);(.*)$", re.IGNORECASE | re.DOTALL)


def read_wkt(text: str, field: str) -> tuple[Polygon | MultiPolygon, str | int | None]:
    crs_member: int | None = None
    if not text:
        raise InvalidGeometry(f"{field}: the geometry is an empty string; send GeoJSON or a WKT POLYGON", field=field)
    m = _SRID_RE.match(text)
    if m:
        crs_member, text = int(m.group(1)), m.group(2).strip()
    check_wkt_depth(text, field=field)
    try:
        with np.errstate(invalid="ignore"):  # NaN coordinates are reported below
            geom = shapely.from_wkt(text, on_invalid="raise")
    except (GEOSException, ValueError) as exc:
        raise InvalidGeometry(
            f"{field}: {short_repr(text)} is not valid WKT ({exc}); send e.g. 'POLYGON((x1 y1, x2 y2, x3 y3, x1 y1))'",
            field=field,
        ) from None
    if not isinstance(geom, (Polygon, MultiPolygon)):
        raise InvalidGeometry(
            f"{field}: WKT {geom.geom_type.upper()} is not accepted; send a POLYGON or MULTIPOLYGON",
            field=field,
        )
    return geom, crs_member


# ------------------------------------------------------------------------------- GeoJSON


_ACCEPTED_TYPES = "Polygon, MultiPolygon or a Feature with one of those"


def read_geojson(obj: Any, field: str, warnings: list[str]) -> tuple[Polygon | MultiPolygon, str | int | None]:
    if not isinstance(obj, dict):
        raise InvalidGeometry(f"{field}: expected a GeoJSON object, got {type_name(obj)}", field=field)
    crs_member = _crs_member(obj, field)
    gtype = obj.get("type")
    if gtype is None:
        raise InvalidGeometry(f'{field}: GeoJSON object has no "type"; expected {_ACCEPTED_TYPES}', field=field)
    if gtype == "Feature":
        inner = obj.get("geometry")
        if inner is None:
            raise InvalidGeometry(
                f"{field}: the Feature has no geometry (null or missing); expected {_ACCEPTED_TYPES}", field=field
            )
        if not isinstance(inner, dict):
            raise InvalidGeometry(
                f"{field}: Feature.geometry must be a GeoJSON object, got {type_name(inner)}", field=field
            )
        if inner.get("type") == "Feature":
            raise InvalidGeometry(f"{field}: a Feature's geometry cannot be another Feature", field=field)
        geom, inner_crs = read_geojson(inner, field, warnings)
        return geom, crs_member if crs_member is not None else inner_crs
    if gtype == "FeatureCollection":
        raise InvalidGeometry(
            f"{field}: a FeatureCollection is not accepted here; send one {_ACCEPTED_TYPES}",
            field=field,
        )
    if gtype not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(
            f"{field}: GeoJSON type {short_repr(gtype)} is not accepted; expected {_ACCEPTED_TYPES}", field=field
        )
    if "coordinates" not in obj or obj["coordinates"] is None:
        raise InvalidGeometry(f'{field}: the {gtype} has no "coordinates"', field=field)
    coords = obj["coordinates"]
    if gtype == "Polygon":
        return _polygon(coords, field, "coordinates", warnings), crs_member
    if not isinstance(coords, list):
        raise InvalidGeometry(
            f"{field}: MultiPolygon coordinates must be a list of polygons (list of rings of [x, y] positions), "
            f"got {type_name(coords)}",
            field=field,
        )
    polys = [_polygon(p, field, f"coordinates[{i}]", warnings) for i, p in enumerate(coords)]
    polys = [p for p in polys if not p.is_empty]
    return MultiPolygon(polys), crs_member


def _crs_member(obj: dict[str, Any], field: str) -> str | int | None:
    member = obj.get("crs")
    if member is None:
        return None
    problem = (
        f'{field}.crs: unsupported GeoJSON crs member {short_repr(member)}; use {{"type": "name", '
        f'"properties": {{"name": "urn:ogc:def:crs:EPSG::32633"}}}} or pass "crs" instead'
    )
    if not isinstance(member, dict) or not isinstance(member.get("properties"), dict):
        raise InvalidCRS(problem, field=f"{field}.crs")
    props = member["properties"]
    if member.get("type") == "name" and isinstance(props.get("name"), str):
        name: str = props["name"]
        return name
    if member.get("type") == "EPSG" and isinstance(props.get("code"), int) and not isinstance(props.get("code"), bool):
        code: int = props["code"]  # pre-2008 GeoJSON form
        return code
    raise InvalidCRS(problem, field=f"{field}.crs")


def _polygon(rings: Any, field: str, path: str, warnings: list[str]) -> Polygon:
    if not isinstance(rings, list):
        raise InvalidGeometry(
            f"{field}: {path} must be a list of linear rings (each a list of [x, y] positions), "
            f"got {type_name(rings)}",
            field=field,
        )
    if not rings:
        return Polygon()
    parsed = [_ring(r, field, f"{path}[{i}]", warnings) for i, r in enumerate(rings)]
    return Polygon(parsed[0], parsed[1:])


def _ring(ring: Any, field: str, path: str, warnings: list[str]) -> list[tuple[float, float]]:
    """The ring's positions, closed; an unclosed ring is closed with a warning (RFC 7946 requires closure)."""
    if not isinstance(ring, list) or (ring and not isinstance(ring[0], list)):
        got = type_name(ring) if not isinstance(ring, list) else f"a list whose first item is {type_name(ring[0])}"
        raise InvalidGeometry(
            f"{field}: {path} must be a linear ring (a list of [x, y] positions), got {got}; "
            "check the nesting depth of the coordinates",
            field=field,
        )
    points = [_position(p, field, f"{path}[{i}]") for i, p in enumerate(ring)]
    closed = not points or points[0] == points[-1]
    if len(points) + (0 if closed else 1) < 4:
        raise InvalidGeometry(
            f"{field}: {path} has {len(points)} positions; a linear ring needs at least 4 "
            "(3 distinct corners plus the closing position)",
            field=field,
        )
    if not closed:
        points.append(points[0])
        warnings.append(
            f"{field}: {path} was not closed (its last position differs from the first); "
            "it was closed by repeating the first position"
        )
    return points


def _position(pos: Any, field: str, path: str) -> tuple[float, float]:
    if not isinstance(pos, list) or len(pos) < 2:
        raise InvalidGeometry(
            f"{field}: {path} must be a position [x, y] (lon/lat when unprojected), got {short_repr(pos)}; "
            "check the nesting depth of the coordinates",
            field=field,
        )
    if any(isinstance(v, list) for v in pos):
        raise InvalidGeometry(
            f"{field}: {path} is a list of positions where a position [x, y] was expected; "
            "check the nesting depth of the coordinates",
            field=field,
        )
    for v in pos:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidGeometry(f"{field}: {path} contains {short_repr(v)}; coordinates must be numbers", field=field)
    x, y = float(pos[0]), float(pos[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidGeometry(
            f"{field}: {path} is [{x}, {y}]; NaN or infinite coordinates are not allowed, "
            "every coordinate must be a finite number",
            field=field,
        )
    return x, y


# -------------------------------------------------------------------------------- helpers


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({short_repr(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
