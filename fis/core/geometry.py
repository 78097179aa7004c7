"""Area-of-interest parsing: GeoJSON / WKT polygons in any CRS, validated, repaired, reprojected.

Rules (DESIGN.md section 3):

* Input is a GeoJSON Polygon, MultiPolygon or Feature holding one of those, or a WKT
  POLYGON / MULTIPOLYGON string. EPSG:4326 unless a CRS is given.
* Axis order is always x/y (lon/lat), whatever the CRS authority says.
* Invalid polygons (self-intersections, bow-ties) are repaired with ``shapely.make_valid``
  and only the polygonal parts are kept; the repair is reported in ``AOI.warnings``.
* Every error is an :class:`~fis.errors.InvalidGeometry` / :class:`~fis.errors.InvalidCRS`
  whose ``field`` is the request key.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pyproj
import shapely
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from fis.core.geometry_input import read_geojson, read_wkt, short_repr, type_name
from fis.core.limits import check_json_depth, check_vertices
from fis.errors import InvalidCRS, InvalidGeometry

__all__ = [
    "AOI", "WGS84", "geodesic_area_ha", "parse_crs", "parse_geometry", "split_antimeridian", "transform_geometry",
]

PolygonalGeometry = Polygon | MultiPolygon
G = TypeVar("G", bound=BaseGeometry)

WGS84: pyproj.CRS = pyproj.CRS.from_epsg(4326)
"""The default CRS (used in x/y = lon/lat order)."""

# Densification: long edges are split before reprojection so that they follow the curve they
# describe. Base step ~1 km (0.01 degree); capped so one geometry gains at most ~2k vertices.
_DENSIFY_METRES = 1000.0
_DENSIFY_DEGREES = 0.01
_DENSIFY_MAX_NEW_VERTICES = 2_000

_CRS_ALIASES = {
    "CRS84": "OGC:CRS84",
    "OGC:CRS84": "OGC:CRS84",
    "WGS84": "EPSG:4326",
    "WGS 84": "EPSG:4326",
}

_CRS_HINT = 'use an EPSG code such as "EPSG:4326" or "EPSG:32633", an OGC URN/URL, or "CRS84"'


@dataclass(frozen=True)
class AOI:
    """A parsed, valid polygonal area of interest.

    ``geometry`` is in ``crs`` (x/y order), ``geometry_4326`` is the same area in lon/lat.
    ``warnings`` holds human-readable notices (e.g. that the geometry was repaired).
    """

    geometry: Polygon | MultiPolygon
    crs: pyproj.CRS
    geometry_4326: Polygon | MultiPolygon
    warnings: tuple[str, ...] = ()

    def to_crs(self, crs: pyproj.CRS | str | int) -> Polygon | MultiPolygon:
        """Return the geometry reprojected to ``crs`` (x/y order, long edges densified)."""
        target = parse_crs(crs)
        if _same_crs(target, self.crs):
            return self.geometry
        if _same_crs(target, WGS84):
            return self.geometry_4326
        return transform_geometry(self.geometry, self.crs, target)


# --------------------------------------------------------------------------------------- CRS


def parse_crs(value: str | int | pyproj.CRS | None, *, field: str = "crs") -> pyproj.CRS:
    """Parse a CRS given as EPSG code/string, OGC URN or URL, "CRS84", or a pyproj CRS.

    ``None`` means EPSG:4326. Unknown or non-2D-horizontal CRSs raise :class:`InvalidCRS`.
    """
    if value is None:
        return WGS84
    if isinstance(value, pyproj.CRS):
        crs = value
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidCRS(
            f"{field}: {value!r} is not a CRS identifier (got {type_name(value)}); {_CRS_HINT}",
            field=field,
        )
    else:
        crs = _crs_from_user_input(value, field)
    if not (crs.is_geographic or crs.is_projected):
        raise InvalidCRS(
            f"{field}: {short_repr(value)} ({crs.name}) is not a 2D geographic or projected CRS; {_CRS_HINT}",
            field=field,
        )
    return crs


#: PROJ strings, WKT and PROJJSON parts that make PROJ open a file or a grid named by the client.
_NAMES_A_FILE = re.compile(
    r"(?i)(?:\b(?:init|nadgrids|geoidgrids|grids|file)\s*=)|parameterfile|parameter_file|\bgrid_name\b"
)


def _crs_from_user_input(value: str | int, field: str) -> pyproj.CRS:
    if isinstance(value, int):
        if value <= 0:
            raise InvalidCRS(f"{field}: {value} is not a valid EPSG code; {_CRS_HINT}", field=field)
        text = f"EPSG:{value}"
    else:
        text = value.strip()
        if not text:
            raise InvalidCRS(f"{field}: the CRS is an empty string; {_CRS_HINT}", field=field)
        text = _CRS_ALIASES.get(text.upper(), text)
        if text.isdigit():
            text = f"EPSG:{text}"
        if _NAMES_A_FILE.search(text):
            raise InvalidCRS(
                f"{field}: {short_repr(value)} names a file or grid (+init, +nadgrids, +geoidgrids, grids, "
                f"PARAMETERFILE); such CRS definitions are refused; {_CRS_HINT}",
                field=field,
            )
    try:
        return pyproj.CRS.from_user_input(text)
    except CRSError:
        raise InvalidCRS(f"{field}: {short_repr(value)} is not a CRS known to PROJ; {_CRS_HINT}", field=field) from None


def _same_crs(a: pyproj.CRS, b: pyproj.CRS) -> bool:
    return a == b or a.equals(b, ignore_axis_order=True)


# --------------------------------------------------------------------------------- transform


def transform_geometry(geom: G, src: pyproj.CRS, dst: pyproj.CRS) -> G:
    """Reproject ``geom`` from ``src`` to ``dst`` in x/y order, densifying long edges first.

    Returns a geometry of the same type. Raises :class:`InvalidGeometry` if a coordinate
    cannot be transformed (outside the projection's domain).
    """
    if _same_crs(src, dst):
        return geom
    transformer = pyproj.Transformer.from_crs(src, dst, always_xy=True)
    dense = _densify(geom, src)

    def _xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return transformer.transform(x, y)

    with np.errstate(invalid="ignore", over="ignore"):
        out = shapely.transform(dense, _xy, interleaved=False)  # type: ignore[arg-type]  # stubs: interleaved only
    coords = shapely.get_coordinates(out)
    if coords.size and not np.isfinite(coords).all():
        raise InvalidGeometry(
            f"geometry: cannot transform the geometry from {_crs_label(src)} to {_crs_label(dst)} "
            f"(some coordinates fall outside the target projection's domain); "
            f'check the coordinates and the "crs" they are given in',
            field="geometry",
        )
    return out


def _densify(geom: G, crs: pyproj.CRS) -> G:
    if crs.is_geographic:
        step = _DENSIFY_DEGREES
    else:
        try:
            metres_per_unit = crs.axis_info[0].unit_conversion_factor or 1.0
        except (IndexError, AttributeError):  # pragma: no cover - every projected CRS has axes
            metres_per_unit = 1.0
        step = _DENSIFY_METRES / metres_per_unit
    step = max(step, float(shapely.length(geom)) / _DENSIFY_MAX_NEW_VERTICES)
    if not math.isfinite(step) or step <= 0:
        return geom
    dense = shapely.segmentize(geom, step)
    if isinstance(geom, MultiPolygon) and isinstance(dense, Polygon):
        return MultiPolygon([dense])  # type: ignore[return-value]  # G is MultiPolygon here; GEOS collapsed it
    return dense


# ---------------------------------------------------------------------------------- geometry


def parse_geometry(
    value: Any,
    *,
    crs: str | int | pyproj.CRS | None = None,
    field: str = "geometry",
) -> AOI:
    """Parse a GeoJSON Polygon/MultiPolygon/Feature (dict or JSON text) or WKT into an :class:`AOI`.

    ``crs`` (default EPSG:4326, or the GeoJSON ``crs`` member when given) is the CRS of the
    coordinates, always read as x/y. Invalid polygons are repaired (see module docs).
    """
    warnings: list[str] = []
    crs_member: str | int | None = None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            check_json_depth(text, field=field)
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise InvalidGeometry(
                    f"{field}: the text looks like JSON but does not parse ({exc}); "
                    "send a GeoJSON object or a WKT POLYGON/MULTIPOLYGON",
                    field=field,
                ) from None
            geom, crs_member = read_geojson(value, field, warnings)
        else:
            geom, crs_member = read_wkt(text, field)
    elif isinstance(value, dict):
        geom, crs_member = read_geojson(value, field, warnings)
    else:
        raise InvalidGeometry(
            f"{field}: expected a GeoJSON Polygon, MultiPolygon or Feature object or a WKT string, "
            f"got {type_name(value)}",
            field=field,
        )

    if crs is not None:
        source_crs = parse_crs(crs, field="crs")
        if crs_member is not None:
            member_crs = parse_crs(crs_member, field=f"{field}.crs")
            if not _same_crs(member_crs, source_crs):
                warnings.append(
                    f'{field}: the geometry\'s own crs ({_crs_label(member_crs)}) was ignored because "crs" '
                    f"({_crs_label(source_crs)}) was given"
                )
    else:
        source_crs = parse_crs(crs_member, field=f"{field}.crs")

    check_vertices(int(shapely.get_num_coordinates(geom)), field=field)
    geom = shapely.force_2d(geom)
    if geom.is_empty:
        raise InvalidGeometry(
            f"{field}: the geometry is empty; send a polygon with at least 3 distinct corners", field=field
        )
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidGeometry(
            f"{field}: the geometry has NaN or infinite coordinates; every coordinate must be a finite number",
            field=field,
        )
    if source_crs.is_geographic:
        _check_lonlat_bounds(coords, source_crs, field)
        geom = _split_antimeridian(geom, field, warnings)

    geom = _repair(geom, field, warnings)
    geom_4326 = transform_geometry(geom, source_crs, WGS84)
    if not source_crs.is_geographic:  # a projected polygon across 180 degrees jumps in lon/lat
        geom_4326 = _split_antimeridian(geom_4326, field, warnings)
    if not geom_4326.is_valid:
        # Reprojection can fold a barely-valid polygon; repair the lon/lat copy (with a warning).
        geom_4326 = _repair(geom_4326, field, warnings, after_transform=True)
    return AOI(geometry=geom, crs=source_crs, geometry_4326=geom_4326, warnings=tuple(warnings))


def geodesic_area_ha(geometry_4326: BaseGeometry) -> float:
    """Geodesic area of a lon/lat geometry in hectares (WGS 84 ellipsoid)."""
    area, _ = pyproj.Geod(ellps="WGS84").geometry_area_perimeter(geometry_4326)
    return abs(area) / 10_000


def split_antimeridian(geom: BaseGeometry) -> PolygonalGeometry | None:
    """RFC 7946 section 3.1.9: a lon/lat polygon whose ring jumps by more than 180 degrees of
    longitude between consecutive positions crosses the antimeridian; return it cut at +-180
    into a MultiPolygon (each part within [-180, 180]), or None when no ring jumps.

    Raises :class:`InvalidGeometry` for a ring that goes once around a pole (its unwrapped
    longitudes do not close), which has no lon/lat polygon.
    """
    polygons = list(geom.geoms) if isinstance(geom, MultiPolygon) else [geom] if isinstance(geom, Polygon) else []
    if not any(_jumps(ring) for poly in polygons for ring in (poly.exterior, *poly.interiors)):
        return None
    parts: list[Polygon] = []
    for poly in polygons:
        shell = _unwrap(poly.exterior)
        centre = float(shell[:, 0].mean())
        holes = []
        for interior in poly.interiors:
            hole = _unwrap(interior)
            hole[:, 0] += 360.0 * round((centre - float(hole[:, 0].mean())) / 360.0)
            holes.append(hole)
        unwrapped: PolygonalGeometry = Polygon(shell, holes)
        if not unwrapped.is_valid:
            unwrapped = _polygonal_part(shapely.make_valid(unwrapped)) or Polygon()
        for k in (-1, 0, 1):
            window = shapely.box(-180.0 + 360.0 * k, -90.0, 180.0 + 360.0 * k, 90.0)
            piece = _polygonal_part(unwrapped.intersection(window))
            if piece is not None and not piece.is_empty:
                piece = shapely.transform(piece, lambda xy, k=k: xy - np.array([360.0 * k, 0.0]))
                parts.extend(piece.geoms if isinstance(piece, MultiPolygon) else [piece])
    merged = _polygonal_part(shapely.union_all(parts)) if parts else None
    if merged is None:
        return None
    return merged if isinstance(merged, MultiPolygon) else MultiPolygon([merged])


def _jumps(ring: Any) -> bool:
    lon = np.asarray(ring.coords)[:, 0]
    return bool((np.abs(np.diff(lon)) > 180.0).any())


def _unwrap(ring: Any) -> np.ndarray:
    """The ring's positions with longitudes made continuous (may leave [-180, 180])."""
    xy = np.array(ring.coords, dtype=np.float64)[:, :2]
    step = np.diff(xy[:, 0])
    shift = np.concatenate([[0.0], np.cumsum(np.where(step > 180.0, -360.0, np.where(step < -180.0, 360.0, 0.0)))])
    if shift[-1] != 0.0:
        raise InvalidGeometry(
            "geometry: a ring goes around a pole (its longitudes wrap once around the globe); "
            "such an area has no lon/lat polygon: split it, or send it in a polar projection with \"crs\"",
            field="geometry",
        )
    xy[:, 0] += shift
    return xy


def _split_antimeridian(geom: PolygonalGeometry, field: str, warnings: list[str]) -> PolygonalGeometry:
    try:
        split = split_antimeridian(geom)
    except InvalidGeometry as exc:
        raise InvalidGeometry(exc.message.replace("geometry:", f"{field}:", 1), field=field) from None
    if split is None:
        return geom
    warnings.append(
        f"{field} crosses the antimeridian (a longitude step of more than 180 degrees); "
        "it was read as the shorter way across 180 degrees and split there into a MultiPolygon (RFC 7946)"
    )
    return split


def _check_lonlat_bounds(coords: np.ndarray, crs: pyproj.CRS, field: str) -> None:
    x, y = coords[:, 0], coords[:, 1]
    bad = (x < -180) | (x > 180) | (y < -90) | (y > 90)
    if bad.any():
        bx, by = coords[int(np.argmax(bad))]
        swapped = -180 <= by <= 180 and -90 <= bx <= 90
        likely = "the axes may be swapped" if swapped else "the data may be projected"
        raise InvalidGeometry(
            f"{field}: coordinate ({_num(bx)}, {_num(by)}) is outside lon [-180, 180] / lat [-90, 90] "
            f"for {_crs_label(crs)}; {likely}. Positions must be [lon, lat] (x, y); if the coordinates "
            'are projected, pass "crs" (e.g. "EPSG:32633" or "EPSG:3857")',
            field=field,
            details={"coordinate": [float(bx), float(by)], "crs": _crs_label(crs)},
        )


def _repair(geom: BaseGeometry, field: str, warnings: list[str], *, after_transform: bool = False) -> PolygonalGeometry:
    if geom.is_valid:
        assert isinstance(geom, (Polygon, MultiPolygon))
        return geom
    reason = shapely.is_valid_reason(geom)
    repaired = _polygonal_part(shapely.make_valid(geom, method="structure", keep_collapsed=False))
    if repaired is None or repaired.is_empty or repaired.area <= 0:
        raise InvalidGeometry(
            f"{field}: the geometry is invalid ({reason}) and nothing with an area is left after repair; "
            "send a polygon whose rings do not cross themselves and enclose an area",
            field=field,
            details={"reason": reason},
        )
    when = " after reprojection to EPSG:4326" if after_transform else ""
    warnings.append(f"{field} was invalid{when} ({reason}) and was repaired with make_valid; check the result")
    return repaired


def _polygonal_part(geom: BaseGeometry) -> PolygonalGeometry | None:
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    polys: list[Polygon] = []
    for part in getattr(geom, "geoms", ()):
        sub = _polygonal_part(part)
        if isinstance(sub, Polygon):
            polys.append(sub)
        elif isinstance(sub, MultiPolygon):
            polys.extend(sub.geoms)
    polys = [p for p in polys if not p.is_empty and p.area > 0]
    if not polys:
        return None
    if len(polys) == 1:
        return polys[0]
    merged = shapely.union_all(polys)
    return merged if isinstance(merged, (Polygon, MultiPolygon)) else _polygonal_part(merged)


# -------------------------------------------------------------------------------- helpers


def _num(v: float) -> str:
    return f"{v:.10g}"


def _crs_label(crs: pyproj.CRS) -> str:
    auth = crs.to_authority()
    return f"{auth[0]}:{auth[1]}" if auth else crs.name
