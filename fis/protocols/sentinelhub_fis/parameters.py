"""FIS request parameters: the query string and body (any key case) -> validated :class:`FisParameters`,
and their translation into the one request model the engine computes
(:class:`fis.core.request.TimeseriesRequest`).

Every error is a :class:`FisParameterError` naming the parameter and what is accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import pyproj
import shapely
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from fis.core.geometry import AOI, parse_crs, parse_geometry
from fis.core.limits import check_json_depth, check_wkt_depth
from fis.core.request import TimeseriesRequest
from fis.core.timerange import TimeRange, parse_interval
from fis.errors import FisError, InvalidInput
from fis.protocols.sentinelhub_fis.histograms import DEFAULT_HISTOGRAM, HISTOGRAM_TYPES, MAX_BINS
from fis.protocols.sentinelhub_fis.layers import LAYERS, FisLayer

DEFAULT_RESOLUTION: Final = "10m"
#: Largest pixel side accepted, in metres (as for ``/api/v1/timeseries``).
MAX_RESOLUTION_M: Final = 10_000.0
#: Metres per degree of latitude (mean), used to turn a resolution in degrees into metres.
METRES_PER_DEGREE: Final = 111_320.0

#: Parameters this endpoint reads (all case-insensitive). Others are ignored, as OGC services do.
PARAMETERS: Final[tuple[str, ...]] = (
    "LAYER", "CRS", "TIME", "GEOMETRY", "BBOX", "RESOLUTION", "BINS", "TYPE", "MAXCC", "SERVICE", "EXCEPTIONS",
)
#: Parameters that would change the result but are not supported: rejected, never ignored.
UNSUPPORTED: Final[dict[str, str]] = {
    "EVALSCRIPT": "custom evalscripts are not supported; use one of the predefined layers",
    "EVALSCRIPTURL": "custom evalscripts are not supported; use one of the predefined layers",
    "EVALSOURCE": "custom evalscripts are not supported; use one of the predefined layers",
}

_CRS_ALIASES: Final[dict[str, str]] = {"CRS:84": "OGC:CRS84", "CRS84": "OGC:CRS84"}
_RESOLUTION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(m)?\s*$", re.IGNORECASE)


class FisParameterError(InvalidInput):
    """A FIS parameter is missing or cannot be used (HTTP 400), named in ``field``.

    ``ogc_code`` is the OGC exception code of the report (``MissingParameterValue``,
    ``InvalidParameterValue``, ``LayerNotDefined``, ``InvalidCRS``, ``OperationNotSupported``).
    """

    def __init__(self, parameter: str, message: str, *, ogc_code: str = "InvalidParameterValue",
                 accepted: Sequence[str] | None = None):
        details: dict[str, Any] = {"parameter": parameter}
        if accepted:
            details["accepted"] = list(accepted)
        super().__init__(f"{parameter}: {message}", field=parameter, details=details)
        self.ogc_code = ogc_code


# -------------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class FisParameters:
    """A validated FIS request."""

    layer: FisLayer
    crs: pyproj.CRS
    aoi: AOI
    time_range: TimeRange
    #: pixel side in metres
    resolution: float
    bins: int | None = None
    histogram: str = DEFAULT_HISTOGRAM
    #: percent, 0..100
    maxcc: float = 100.0
    #: True when GEOMETRY/BBOX were read lat/lon (EPSG:4326 axis order)
    lat_lon: bool = False


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FisParameterError(name, f"must be a text value, got {type(value).__name__}")
    text = str(value).strip()
    return text if text else None


def _required(params: Mapping[str, Any], name: str, what: str) -> str:
    text = _text(params, name)
    if text is None:
        raise FisParameterError(name, f"is required; {what}", ogc_code="MissingParameterValue")
    return text


def parse_layer(value: str) -> FisLayer:
    layer = LAYERS.get(value.upper())
    if layer is None:
        raise FisParameterError(
            "LAYER", f"{value!r} is not a layer of this service; use one of {', '.join(LAYERS)}",
            ogc_code="LayerNotDefined", accepted=list(LAYERS),
        )
    return layer


def parse_fis_crs(value: str) -> tuple[pyproj.CRS, bool]:
    """The CRS and whether its coordinates are given latitude first (EPSG:4326 axis order)."""
    text = _CRS_ALIASES.get(value.strip().upper(), value.strip())
    try:
        crs = parse_crs(text, field="CRS")
    except FisError as exc:
        raise FisParameterError(
            "CRS", f"{value!r} is not a CRS this service knows; use e.g. EPSG:4326 (lat/lon axis order), CRS:84 "
            "(lon/lat) or a projected CRS such as EPSG:32633",
            ogc_code="InvalidCRS",
        ) from exc
    lat_first = crs.is_geographic and crs.axis_info[0].direction.lower() in ("north", "south")
    return crs, lat_first


def parse_fis_time(value: str) -> TimeRange:
    try:
        return parse_interval(value, field="TIME")
    except FisError as exc:
        raise FisParameterError(
            "TIME", f"{value!r} is not accepted ({exc.message.removeprefix('TIME: ')}); use from/to as ISO 8601 dates "
            "or date-times, e.g. 2017-01-01/2017-02-01 or 2017-01-01T00:00:00Z/2017-02-01T23:59:59Z",
        ) from exc


def _swap_xy(geom: Any) -> Any:
    return shapely.transform(geom, lambda coords: coords[:, ::-1])


def _as_geojson(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    def lists(obj: Any) -> Any:
        return [lists(o) for o in obj] if isinstance(obj, (list, tuple)) else obj

    gj = mapping(geom)
    return {"type": gj["type"], "coordinates": lists(gj["coordinates"])}


def parse_fis_geometry(geometry: str | None, bbox: str | None, crs: pyproj.CRS, lat_first: bool) -> AOI:
    """The AOI of ``GEOMETRY`` (WKT) or ``BBOX``, in ``crs`` and x/y order."""
    if geometry is not None and bbox is not None:
        raise FisParameterError("GEOMETRY", "GEOMETRY and BBOX are both given; send one of them")
    order = "lat/lon (EPSG:4326 axis order)" if lat_first else "x/y"
    if geometry is not None:
        check_wkt_depth(geometry, field="GEOMETRY")
        try:
            with np.errstate(invalid="ignore"):
                geom = shapely.from_wkt(geometry, on_invalid="raise")
        except (GEOSException, ValueError) as exc:
            raise FisParameterError(
                "GEOMETRY", f"{_short(geometry)} is not WKT ({exc}); send e.g. POLYGON((a1 b1, a2 b2, a3 b3, a1 b1)) "
                f"with coordinates in {order} order of CRS",
            ) from None
        if not isinstance(geom, (Polygon, MultiPolygon)):
            raise FisParameterError(
                "GEOMETRY", f"WKT {geom.geom_type.upper()} is not accepted; send a POLYGON or MULTIPOLYGON"
            )
        name = "GEOMETRY"
    elif bbox is not None:
        parts = [p.strip() for p in bbox.split(",")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        what = "minlat,minlon,maxlat,maxlon" if lat_first else "minx,miny,maxx,maxy"
        if len(numbers) != 4 or not all(math.isfinite(x) for x in numbers):
            raise FisParameterError("BBOX", f"{bbox!r} is not accepted; send four numbers {what} in the units of CRS")
        a0, b0, a1, b1 = numbers
        if a0 >= a1 or b0 >= b1:
            raise FisParameterError("BBOX", f"{bbox!r} is empty or inverted; send {what} with min < max")
        geom = box(a0, b0, a1, b1)
        name = "BBOX"
    else:
        raise FisParameterError(
            "GEOMETRY", "GEOMETRY (WKT polygon) or BBOX is required", ogc_code="MissingParameterValue",
        )
    if lat_first:
        _check_lat_lon(geom, name)
        geom = _swap_xy(geom)
    try:
        return parse_geometry(_as_geojson(geom), crs=crs, field=name)
    except FisError as exc:
        raise FisParameterError(name, re.sub(r"^(?i:geometry|bbox)[.\w\[\]]*: ", "", exc.message)) from exc


def _check_lat_lon(geom: Any, name: str) -> None:
    """Latitude-first coordinates must be lat within -90..90 and lon within -180..180."""
    coords = shapely.get_coordinates(geom)
    if not coords.size or not np.isfinite(coords).all():
        return  # parse_geometry reports empty and non-finite geometries
    bad = (np.abs(coords[:, 0]) > 90) | (np.abs(coords[:, 1]) > 180)
    if bad.any():
        a, b = coords[int(np.argmax(bad))]
        raise FisParameterError(
            name, f"coordinate ({a:g} {b:g}) is not latitude/longitude: with this CRS (EPSG:4326 axis order) "
            "coordinates are read latitude first, latitude within -90..90 and longitude within -180..180, as FIS "
            "clients send them; for longitude first use CRS=CRS:84",
        )


def parse_resolution(value: str, crs: pyproj.CRS, aoi: AOI) -> float:
    """``10m`` -> 10.0; a bare number is in CRS units (see the module notes for degrees)."""
    m = _RESOLUTION_RE.match(value)
    what = f"a positive number of metres with the m suffix (e.g. 10m, at most {MAX_RESOLUTION_M:g}m) or in CRS units"
    if not m:
        raise FisParameterError("RESOLUTION", f"{value!r} is not accepted; use {what}")
    number = float(m.group(1))
    if m.group(2):
        metres = number
    elif crs.is_geographic:
        lat = aoi.geometry_4326.centroid.y
        metres = number * METRES_PER_DEGREE * math.sqrt(max(math.cos(math.radians(lat)), 1e-6))
    else:
        factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        metres = number * (factor or 1.0)
    if not (math.isfinite(metres) and 0 < metres <= MAX_RESOLUTION_M):
        raise FisParameterError("RESOLUTION", f"{value!r} ({metres:g} m) is out of range; use {what}")
    return metres


def parse_bins(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer() and 1 <= number <= MAX_BINS):
        raise FisParameterError("BINS", f"{value!r} is not accepted; use an integer from 1 to {MAX_BINS}")
    return int(number)


def parse_histogram_type(value: str | None) -> str:
    if value is None:
        return DEFAULT_HISTOGRAM
    kind = value.strip().upper()
    if kind not in HISTOGRAM_TYPES:
        raise FisParameterError(
            "TYPE", f"{value!r} is not accepted; use one of {', '.join(HISTOGRAM_TYPES)} (default {DEFAULT_HISTOGRAM})",
            accepted=HISTOGRAM_TYPES,
        )
    return kind


def parse_maxcc(value: str | None) -> float:
    if value is None:
        return 100.0
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0 <= number <= 100):
        raise FisParameterError(
            "MAXCC", f"{value!r} is not accepted; use a number from 0 to 100 (the highest cloud cover in percent "
            "of the polygon's pixels, 100 = keep every date)",
        )
    return number


def parse_fis_parameters(params: Mapping[str, Any]) -> FisParameters:
    """Validate FIS parameters (keys in upper case) into :class:`FisParameters`.

    Every error is a :class:`FisParameterError` naming the parameter and what is accepted.
    """
    for name, reason in UNSUPPORTED.items():
        if params.get(name) not in (None, ""):
            raise FisParameterError(name, reason, ogc_code="OperationNotSupported")
    service = _text(params, "SERVICE")
    if service is not None and service.upper() != "FIS":
        raise FisParameterError("SERVICE", f"{service!r} is not served here; use SERVICE=FIS or leave it out")
    layer = parse_layer(_required(params, "LAYER", f"use one of {', '.join(LAYERS)}"))
    crs, lat_first = parse_fis_crs(
        _required(params, "CRS", "give the CRS of GEOMETRY/BBOX, e.g. EPSG:4326 (lat/lon) or EPSG:32633")
    )
    time_range = parse_fis_time(_required(params, "TIME", "give from/to, e.g. 2017-01-01/2017-02-01"))
    aoi = parse_fis_geometry(_text(params, "GEOMETRY"), _text(params, "BBOX"), crs, lat_first)
    resolution = parse_resolution(_text(params, "RESOLUTION") or DEFAULT_RESOLUTION, crs, aoi)
    return FisParameters(
        layer=layer,
        crs=crs,
        aoi=aoi,
        time_range=time_range,
        resolution=resolution,
        bins=parse_bins(_text(params, "BINS")),
        histogram=parse_histogram_type(_text(params, "TYPE")),
        maxcc=parse_maxcc(_text(params, "MAXCC")),
        lat_lon=lat_first,
    )


def _short(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[: limit - 3] + "...")



def timeseries_request(params: FisParameters) -> TimeseriesRequest:
    """The engine's request for ``params``: their AOI (x/y order), time range and resolution in metres;
    every other option (cloud mask, pixel rule, statistics) at its default."""
    return TimeseriesRequest(aoi=params.aoi, time_range=params.time_range, resolution=params.resolution)


# ------------------------------------------------------------------------------- on the wire

#: POST bodies read as a form (any other POST body is read as a JSON object).
FORM_MIMETYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
JSON_EXCEPTIONS: Final = frozenset({"APPLICATION/JSON", "JSON"})
XML_EXCEPTIONS: Final = frozenset({"XML", "TEXT/XML", "APPLICATION/XML", "APPLICATION/VND.OGC.SE_XML"})


class MultiValues(Protocol):
    """A query string or form: each name with every value it was given (werkzeug's ``MultiDict``)."""

    def __iter__(self) -> Iterator[str]: ...

    def getlist(self, key: str) -> list[Any]: ...


def wire_parameters(
    query: MultiValues, *, form: MultiValues | None = None, body: bytes | None = None
) -> dict[str, Any]:
    """Query string, then the body on top (``form``, or ``body``: the bytes of a JSON object); keys upper-cased.

    A name given twice (in any case, with different values) within one of them is an error.
    """
    merged = _query(query, "query string")
    if form is not None:
        merged.update(_query(form, "form body"))
    elif body is not None and body.strip():
        check_json_depth(body)
        try:
            decoded = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FisParameterError(
                "body", f"the POST body is not a JSON object ({exc}); send the FIS parameters as JSON "
                '(e.g. {"layer": "NDVI", "crs": "EPSG:4326", "time": "2017-01-01/2017-02-01", ...}), '
                "as a form, or in the query string",
            ) from None
        if not isinstance(decoded, dict):
            raise FisParameterError(
                "body", f"the POST body is JSON {type(decoded).__name__}, not an object; send the FIS "
                "parameters as a JSON object of name -> value",
            )
        merged.update(_upper(decoded, "JSON body"))
    return merged


def _upper(source: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Keys upper-cased; the same name twice (in any case) with different values is an error."""
    out: dict[str, Any] = {}
    for key, value in source.items():
        name = str(key).strip().upper()
        if name in out and out[name] != value:
            raise FisParameterError(
                name, f"is given twice in the {where} with different values ({out[name]!r}, {value!r}); send it once"
            )
        out[name] = value
    return out


def _query(source: MultiValues, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in source:
        distinct = list(dict.fromkeys(source.getlist(key)))
        if len(distinct) > 1:
            raise FisParameterError(key.upper(), f"is given {len(distinct)} times in the {where}; send it once")
        out[key] = distinct[0]
    return _upper(out, where)


def exceptions_format(params: Mapping[str, Any]) -> str:
    """``xml`` (an OGC ServiceExceptionReport, the default) or ``json`` (``EXCEPTIONS``)."""
    value = params.get("EXCEPTIONS")
    if value is None or str(value).strip() == "":
        return "xml"
    text = str(value).strip().upper()
    if text in JSON_EXCEPTIONS:
        return "json"
    if text in XML_EXCEPTIONS:
        return "xml"
    raise FisParameterError(
        "EXCEPTIONS",
        f"{value!r} is not accepted; use XML (the default, an OGC ServiceExceptionReport) or application/json",
    )
