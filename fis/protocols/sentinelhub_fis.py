"""Sentinel Hub FIS (Feature Info Service) compatibility: parameters, layers, statistics.

``GET|POST /ogc/fis`` (``fis.api.ogc``) answers the requests FIS clients such as
sentinelhub-py's ``FisRequest`` send, in the response shape of the real service::

    {"C0": [{"date": "2017-01-31",
             "basicStats": {"min": ..., "max": ..., "mean": ..., "stDev": ...},
             "histogram": {"bins": [...]}},          # only with BINS
            ...],                                     # dates newest first
     "C1": [...], ...}                                # the last channel is dataMask

This module is pure where it can be: parameter parsing (:func:`parse_fis_parameters`), the
layer definitions (:data:`LAYERS`, :func:`layer_channels`) and the statistics
(:func:`channel_statistics` and the three histogram types). The HTTP side (merging query
string and body, the OGC exception report) lives in ``fis.api.ogc``; :func:`run_fis` ties a
parsed request to the engine.

Semantics (what differs from the real FIS is listed in the README, "FIS-compatible endpoint"):

* ``GEOMETRY`` is WKT. For a geographic CRS whose authority axis order is latitude first
  (``EPSG:4326``, as WCS 1.1.1 and FIS use it) the coordinates are read as lat/lon; ``CRS:84``
  and projected CRSs are read x/y. ``BBOX`` is ``minx,miny,maxx,maxy`` in the same axis order
  (``minlat,minlon,maxlat,maxlon`` for EPSG:4326).
* ``RESOLUTION`` is ``<n>m`` (metres) or a bare number in CRS units; degrees are turned into
  the side of a square pixel of the same area as an n x n degree cell at the centroid
  latitude (``n * 111320 * sqrt(cos(lat))`` metres).
* ``MAXCC`` (percent) drops dates whose cloud fraction inside the polygon (pixels flagged by
  the per-pixel cloud mask / pixels with data) is above it; a date whose cloud fraction is
  unknown is dropped unless ``MAXCC`` is 100.
* Statistics are over the layer's valid pixels (centre inside the polygon, data in the bands
  the layer uses, a finite value in every channel; clear pixels only for ``NDVI-CLEAR``).
  Channel values are float32 (FIS layers are 32-bit float output); ``min``/``max`` are those
  values, ``mean`` and ``stDev`` (population, ddof=0) are computed in float64.
  A date without valid pixels is left out of the response (FIS has no way to say "no data").
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pyproj
import shapely
from shapely.errors import GEOSException
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from fis.core.bands import BANDS
from fis.errors import FisError, InvalidInput
from fis.core.geometry import AOI, parse_crs, parse_geometry
from fis.engine.reductions import DatePixels
from fis.core.timerange import TimeRange, parse_interval

__all__ = [
    "DEFAULT_RESOLUTION",
    "FisDate",
    "FisLayer",
    "FisParameterError",
    "FisParameters",
    "HISTOGRAM_TYPES",
    "LAYERS",
    "MAX_BINS",
    "channel_statistics",
    "equal_frequency_histogram",
    "equidistant_histogram",
    "fis_response",
    "layer_channels",
    "parse_fis_parameters",
    "run_fis",
    "streaming_histogram",
]

#: Histogram types of FIS' ``TYPE``; STREAMING is the default (a real response to a request
#: with ``BINS`` and without ``TYPE`` has STREAMING's ``{"value", "count"}`` bins).
HISTOGRAM_TYPES: Final[tuple[str, ...]] = ("EQUALFREQUENCY", "EQUIDISTANT", "STREAMING")
DEFAULT_HISTOGRAM: Final = "STREAMING"
MAX_BINS: Final = 1000
DEFAULT_RESOLUTION: Final = "10m"
#: Largest pixel side accepted, in metres (as for ``/api/v1/timeseries``).
MAX_RESOLUTION_M: Final = 10_000.0
#: Metres per degree of latitude (mean), used to turn a resolution in degrees into metres.
METRES_PER_DEGREE: Final = 111_320.0
#: The streaming histogram first summarises more distinct values than this into as many
#: equal-width cells (centroid + count), then merges; see :func:`streaming_histogram`.
STREAMING_PRESUMMARY: Final = 4096

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


# ------------------------------------------------------------------------------------ layers


@dataclass(frozen=True)
class FisLayer:
    """A predefined layer: how its channels are computed from one date's pixels."""

    name: str
    description: str
    #: one name per output channel (C0, C1, ...); the dataMask channel is appended after them
    channels: tuple[str, ...]
    #: the bands the channels are computed from (a pixel needs data in all of them)
    bands: tuple[str, ...]
    compute: Callable[[DatePixels], list[np.ndarray]] = field(repr=False)
    #: what the layer needs from the cloud mask: None, "mask" (CLM), "probability" (CLP), "clear"
    cloud: str | None = None


def _ndvi(pixels: DatePixels) -> np.ndarray:
    red = np.asarray(pixels.values["B04"], dtype=np.float64)
    nir = np.asarray(pixels.values["B08"], dtype=np.float64)
    total = nir + red
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total != 0, (nir - red) / total, np.nan)


def _bands(*names: str) -> Callable[[DatePixels], list[np.ndarray]]:
    return lambda pixels: [pixels.values[b] for b in names]


def _true_color(pixels: DatePixels) -> list[np.ndarray]:
    # Sentinel Hub's true-colour script: 2.5 x reflectance (0.4 reflectance -> 1.0); the real
    # responses show this gain (e.g. lowEdge 0.1035 = 2.5 x 0.0414).
    return [TRUE_COLOR_GAIN * np.asarray(pixels.values[b], dtype=np.float64) for b in ("B04", "B03", "B02")]


def _clp(pixels: DatePixels) -> list[np.ndarray]:
    assert pixels.probability is not None
    return [np.round(np.asarray(pixels.probability, dtype=np.float64) * 255.0)]


def _clm(pixels: DatePixels) -> list[np.ndarray]:
    assert pixels.cloudy is not None
    return [np.asarray(pixels.cloudy, dtype=bool).astype(np.float64)]


TRUE_COLOR_GAIN: Final = 2.5

LAYERS: Final[dict[str, FisLayer]] = {
    layer.name: layer
    for layer in (
        FisLayer("NDVI", "NDVI = (B08 - B04) / (B08 + B04)", ("NDVI",), ("B04", "B08"), lambda p: [_ndvi(p)]),
        FisLayer(
            "NDVI-CLEAR", "NDVI over the pixels the per-pixel cloud mask calls clear",
            ("NDVI",), ("B04", "B08"), lambda p: [_ndvi(p)], cloud="clear",
        ),
        FisLayer(
            "BANDS-S2-L1C", "the 13 L1C bands as TOA reflectance, B01..B12 with B8A after B08",
            BANDS, BANDS, _bands(*BANDS),
        ),
        FisLayer(
            "TRUE-COLOR-S2-L1C", "2.5 x TOA reflectance of B04, B03, B02 (red, green, blue)",
            ("R", "G", "B"), ("B04", "B03", "B02"), _true_color,
        ),
        FisLayer(
            "CLP", "cloud probability x 255 (0-255, rounded) of the cloud-mask cell holding each pixel",
            ("CLP",), (), _clp, cloud="probability",
        ),
        FisLayer("CLM", "per-pixel cloud mask: 0 clear, 1 cloud", ("CLM",), (), _clm, cloud="mask"),
    )
}
DATA_MASK: Final = "dataMask"


def data_mask(pixels: DatePixels) -> np.ndarray:
    """Pixels with data in every band that was read (FIS' ``dataMask``)."""
    valid = np.ones(pixels.total, dtype=bool)
    for values in pixels.values.values():
        valid &= np.isfinite(values)
    return valid


def cloud_fraction(pixels: DatePixels) -> float | None:
    """Cloudy pixels / pixels with data (None without a cloud mask or without data)."""
    if pixels.cloudy is None:
        return None
    has_data = data_mask(pixels)
    n = int(has_data.sum())
    if n == 0:
        return None
    return float((np.asarray(pixels.cloudy, dtype=bool) & has_data).sum()) / n


def layer_channels(layer: FisLayer, pixels: DatePixels) -> list[np.ndarray]:
    """The layer's channel values (float32) over its valid pixels, dataMask (all 1.0) last.

    Valid: data in every band the layer reads (every band read, for CLP/CLM), a finite value in
    every channel, and for NDVI-CLEAR a clear pixel. Every array has the same length (the number
    of valid pixels, possibly 0).
    """
    n_out = len(layer.channels) + 1
    if pixels.total == 0 or any(b not in pixels.values for b in layer.bands) or not pixels.values:
        return [np.empty(0, dtype=np.float32)] * n_out
    if layer.bands:
        valid = np.ones(pixels.total, dtype=bool)
        for band in layer.bands:
            valid &= np.isfinite(pixels.values[band])
    else:  # cloud layers: every pixel with data
        valid = data_mask(pixels)
    if layer.cloud in ("mask", "clear") and pixels.cloudy is None:
        return [np.empty(0, dtype=np.float32)] * n_out
    if layer.cloud == "probability" and pixels.probability is None:
        return [np.empty(0, dtype=np.float32)] * n_out
    if layer.cloud == "clear":
        valid &= ~np.asarray(pixels.cloudy, dtype=bool)
    channels = [np.asarray(c).astype(np.float32) for c in layer.compute(pixels)]
    for values in channels:
        valid &= np.isfinite(values)
    out = [values[valid] for values in channels]
    out.append(np.ones(int(valid.sum()), dtype=np.float32))
    return out


# -------------------------------------------------------------------------------- statistics


def channel_statistics(values: np.ndarray, *, bins: int | None = None, histogram: str = DEFAULT_HISTOGRAM) -> dict[str, Any]:
    """``{"basicStats": {...}, "histogram": {"bins": [...]}}`` of a non-empty 1-D array.

    ``min``/``max`` are the (float32) values themselves; ``mean`` and ``stDev`` (population)
    are float64. ``histogram`` is only present when ``bins`` is given.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("channel_statistics needs at least one value")
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        mean, std = lo, 0.0
    else:
        mean = float(v.mean())
        std = float(np.sqrt(np.mean((v - mean) ** 2)))
    out: dict[str, Any] = {"basicStats": {"min": lo, "max": hi, "mean": mean, "stDev": std}}
    if bins is not None:
        out["histogram"] = {"bins": HISTOGRAMS[histogram](v, bins)}
    return out


def equidistant_histogram(values: np.ndarray, bins: int) -> list[dict[str, float]]:
    """``bins`` bins of equal width from min to max (last one closed): ``{"lowEdge", "mean", "count"}``.

    ``mean`` is the mean of the values in the bin (the bin centre for an empty bin). When every
    value is the same there is one bin.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return [{"lowEdge": lo, "mean": lo, "count": float(v.size)}]
    width = (hi - lo) / bins
    index = np.minimum(np.floor((v - lo) / width).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    sums = np.bincount(index, weights=v, minlength=bins)
    out = []
    for i in range(bins):
        low = lo + i * width
        mean = float(sums[i] / counts[i]) if counts[i] else low + width / 2
        out.append({"lowEdge": low, "mean": mean, "count": float(counts[i])})
    return out


def equal_frequency_histogram(values: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Sorted values in runs of ``ceil(n / bins)``; the last run holds the rest.

    ``{"lowEdge": first value of the run, "mean": mean of the run, "count"}`` - the layout of
    the real responses (39576 pixels in 11 bins: 10 x 3598 + 3596). With fewer values than
    ``bins`` (or rounding) there can be fewer than ``bins`` bins.
    """
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    size = math.ceil(v.size / bins)
    starts = np.arange(0, v.size, size)
    sums = np.add.reduceat(v, starts)
    counts = np.diff(np.append(starts, v.size)).astype(np.float64)
    return [
        {"lowEdge": float(v[s]), "mean": float(total / count), "count": float(count)}
        for s, total, count in zip(starts, sums, counts)
    ]


def streaming_histogram(values: np.ndarray, bins: int, *, presummary: int = STREAMING_PRESUMMARY) -> list[dict[str, float]]:
    """At most ``bins`` centroids ``{"value", "count"}``, ascending (Ben-Haim & Tom-Tov style).

    Start from one centroid per distinct value (weighted by its count) and merge the two
    adjacent centroids closest in value (the leftmost pair on ties) into their weighted mean
    until ``bins`` are left. Order-independent (the real FIS streams the pixels, so its bins
    depend on the pixel order). More than ``presummary`` distinct values are first summarised
    into that many equal-width cells (centroid = mean of the cell's values).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    uniq, counts_int = np.unique(v, return_counts=True)
    counts = counts_int.astype(np.float64)
    sums = uniq * counts
    if uniq.size > presummary:
        lo, hi = float(uniq[0]), float(uniq[-1])
        cell = np.minimum(((uniq - lo) / (hi - lo) * presummary).astype(np.int64), presummary - 1)
        c = np.bincount(cell, weights=counts, minlength=presummary)
        s = np.bincount(cell, weights=sums, minlength=presummary)
        keep = c > 0
        counts, sums = c[keep], s[keep]
        uniq = sums / counts
    centres = [float(x) for x in uniq]
    weights = [float(x) for x in counts]
    n = len(centres)
    if n <= bins:
        return [{"value": c, "count": w} for c, w in zip(centres, weights)]
    nxt = list(range(1, n)) + [-1]
    prv = [-1] + list(range(n - 1))
    alive = [True] * n
    version = [0] * n
    heap = [(centres[i + 1] - centres[i], i, 0, 0) for i in range(n - 1)]
    heapq.heapify(heap)
    left = n
    while left > bins:
        gap, i, vi, vj = heapq.heappop(heap)
        j = nxt[i]
        if not alive[i] or j < 0 or version[i] != vi or version[j] != vj:
            continue
        total = weights[i] + weights[j]
        centres[i] = (centres[i] * weights[i] + centres[j] * weights[j]) / total
        weights[i] = total
        version[i] += 1
        alive[j] = False
        nxt[i] = nxt[j]
        if nxt[j] >= 0:
            prv[nxt[j]] = i
        left -= 1
        if prv[i] >= 0:
            p = prv[i]
            heapq.heappush(heap, (centres[i] - centres[p], p, version[p], version[i]))
        if nxt[i] >= 0:
            q = nxt[i]
            heapq.heappush(heap, (centres[q] - centres[i], i, version[i], version[q]))
    return [{"value": centres[i], "count": weights[i]} for i in range(n) if alive[i]]


HISTOGRAMS: Final[dict[str, Callable[[np.ndarray, int], list[dict[str, float]]]]] = {
    "EQUALFREQUENCY": equal_frequency_histogram,
    "EQUIDISTANT": equidistant_histogram,
    "STREAMING": streaming_histogram,
}


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


# ------------------------------------------------------------------------------------ running


@dataclass(frozen=True)
class FisDate:
    """One date of a FIS response: per channel its statistics (or why it was left out)."""

    date: str
    channels: tuple[dict[str, Any], ...] = ()
    #: why the date is not in the response: "maxcc", "no valid pixels", or a read error
    omitted: str | None = None


def date_statistics(params: FisParameters, date: str, pixels: DatePixels) -> FisDate:
    """Apply MAXCC, then compute every channel's statistics of one date."""
    if params.maxcc < 100.0:
        fraction = cloud_fraction(pixels)
        if fraction is None:
            return FisDate(date, omitted="maxcc (cloud fraction unknown)")
        if fraction * 100.0 > params.maxcc:
            return FisDate(date, omitted="maxcc")
    channels = layer_channels(params.layer, pixels)
    if channels[-1].size == 0:
        return FisDate(date, omitted="no valid pixels")
    return FisDate(
        date, tuple(channel_statistics(c, bins=params.bins, histogram=params.histogram) for c in channels)
    )


def fis_response(params: FisParameters, dates: Sequence[FisDate]) -> dict[str, list[dict[str, Any]]]:
    """``{"C0": [...], ...}``: one entry per kept date, newest first; keys in channel order."""
    kept = sorted((d for d in dates if d.omitted is None), key=lambda d: d.date, reverse=True)
    body: dict[str, list[dict[str, Any]]] = {}
    for i in range(len(params.layer.channels) + 1):
        body[f"C{i}"] = [{"date": d.date, **d.channels[i]} for d in kept]
    return body


def timeseries_body(params: FisParameters) -> dict[str, Any]:
    """The ``/api/v1/timeseries`` style body the engine's request is built from (x/y order)."""
    crs = params.aoi.crs
    authority = crs.to_authority()

    def iso(t: Any) -> str:
        return t.isoformat().replace("+00:00", "Z")

    return {
        "geometry": _as_geojson(params.aoi.geometry),
        "crs": f"{authority[0]}:{authority[1]}" if authority else crs.to_wkt(),
        "time_range": {"from": iso(params.time_range.start), "to": iso(params.time_range.end)},
        "resolution": params.resolution,
    }


def run_fis(params: FisParameters, engine: Any, scenes: Sequence[Any]) -> Iterator[FisDate]:
    """Stream the engine's dates through :func:`date_statistics` (read errors become omitted dates)."""
    from fis.core.request import parse_timeseries_request

    try:
        request = parse_timeseries_request(timeseries_body(params))
    except InvalidInput as exc:  # the checks above should make this unreachable; name the FIS parameter anyway
        name = {"geometry": "GEOMETRY", "crs": "CRS", "time_range": "TIME", "resolution": "RESOLUTION"}.get(
            (exc.field or "").split(".")[0], "GEOMETRY"
        )
        raise FisParameterError(name, exc.message) from exc
    for item in engine.iter_dates(request, scenes):
        date = item.date.isoformat()
        if isinstance(item.outcome, DatePixels):
            yield date_statistics(params, date, item.outcome)
        else:
            yield FisDate(date, omitted=f"read error: {item.outcome.message}")
