"""A Statistical API body (:mod:`.body`) translated into the one request model plus this protocol's values.

:func:`parse_statistical_request` validates a body into a :class:`~.query.StatisticalQuery`: the engine's
:class:`~fis.core.request.TimeseriesRequest` (area, time, resolution in metres, cloud-mask settings) plus what
only this protocol has (the evalscript, the collection, the scene filter, the mosaicking order, the intervals
and the calculations). Every error is an :class:`~fis.errors.InvalidInput` whose ``field`` is the dotted key.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
from typing import Any, Final

import pyproj
from pydantic import ValidationError
from shapely.geometry import box, mapping

from fis.core.aggregation import Aggregation, parse_duration
from fis.core.geometry import AOI, parse_crs, parse_geometry
from fis.core.request import CloudMaskSettings, TimeseriesRequest
from fis.core.request.checks import MAX_RESOLUTION
from fis.core.request.errors import translate
from fis.core.stats import MAX_BINS, HistogramSpec
from fis.core.timerange import TimeRange, parse_datetime
from fis.errors import FisError, InvalidInput
from fis.protocols.sentinelhub_stats.body import (
    StatAggregation,
    StatBounds,
    StatBoundsProperties,
    StatCalculation,
    StatCloudMask,
    StatDataFilter,
    StatHistogramDefinition,
    StatisticalRequestBody,
    StatProcessing,
)
from fis.protocols.sentinelhub_stats.intervals import statistical_intervals
from fis.protocols.sentinelhub_stats.query import (
    DEFAULT_INTERPOLATION,
    Calculations,
    OutputCalculation,
    Percentiles,
    StatisticalQuery,
)

#: ``input.data[].type`` -> product level of the scenes it reads.
COLLECTIONS: Final[dict[str, str]] = {"sentinel-2-l1c": "L1C", "sentinel-2-l2a": "L2A", "S2L1C": "L1C", "S2L2A": "L2A"}
#: Metres per degree of latitude (mean), to turn a resolution in degrees into metres.
METRES_PER_DEGREE: Final = 111_320.0


def parse_statistical_request(body: Any) -> StatisticalQuery:
    """Validate a Statistical API body (a decoded JSON object) into a :class:`StatisticalQuery`."""
    try:
        parsed = StatisticalRequestBody.model_validate(body)
    except ValidationError as exc:
        raise translate(exc, StatisticalRequestBody) from None
    data = parsed.input.data[0]
    level = COLLECTIONS.get(data.type)
    if level is None:
        raise InvalidInput(
            f"input.data[0].type: {data.type!r} is not a collection of this service; use sentinel-2-l1c or "
            "sentinel-2-l2a (fis holds Sentinel-2 only)",
            field="input.data.0.type", details={"accepted": ["sentinel-2-l1c", "sentinel-2-l2a"]},
        )
    processing = data.processing or StatProcessing.model_validate({})
    if processing.harmonizeValues is False:
        raise InvalidInput(
            "input.data[0].processing.harmonizeValues: false is not supported; fis always gives harmonized "
            "values (the baseline 04.00 offset applied); leave it out",
            field="input.data.0.processing.harmonizeValues",
        )
    aoi = _aoi(parsed.input.bounds)
    aggregation = parsed.aggregation
    start = _when(aggregation.timeRange.from_, "aggregation.timeRange.from")
    end = _when(aggregation.timeRange.to, "aggregation.timeRange.to")
    if end <= start:
        raise InvalidInput(
            f"aggregation.timeRange: from ({aggregation.timeRange.from_}) must be before to "
            f"({aggregation.timeRange.to})",
            field="aggregation.timeRange",
        )
    duration = parse_duration(aggregation.aggregationInterval.of, field="aggregation.aggregationInterval.of")
    behaviour = (aggregation.aggregationInterval.lastIntervalBehavior or "SKIP").lower()
    spans = statistical_intervals(start, end, Aggregation(interval=duration, last_interval=behaviour))
    filters = data.dataFilter or StatDataFilter.model_validate({})
    scene_range = None
    if filters.timeRange is not None:
        f0 = _when(filters.timeRange.from_, "input.data.0.dataFilter.timeRange.from")
        f1 = _when(filters.timeRange.to, "input.data.0.dataFilter.timeRange.to")
        if f1 <= f0:
            raise InvalidInput(
                "input.data[0].dataFilter.timeRange: from must be before to", field="input.data.0.dataFilter.timeRange"
            )
        scene_range = TimeRange(f0, f1 - dt.timedelta(microseconds=1))
    reading_end = max([end, *(s.end + dt.timedelta(microseconds=1) for s in spans)])
    mask = processing.cloudMask or StatCloudMask.model_validate({})
    defaults = CloudMaskSettings()
    request = TimeseriesRequest(
        aoi=aoi,
        time_range=TimeRange(start, reading_end - dt.timedelta(microseconds=1)),
        resolution=_resolution(aggregation, aoi),
        cloud_mask=CloudMaskSettings(
            threshold=defaults.threshold if mask.threshold is None else mask.threshold,
            resolution=defaults.resolution if mask.resolution is None else mask.resolution,
            average_over=defaults.average_over if mask.averageOver is None else mask.averageOver,
            dilation_size=defaults.dilation_size if mask.dilationSize is None else mask.dilationSize,
        ),
        outputs=("ndvi",),
    )
    return StatisticalQuery(
        request=request,
        evalscript=aggregation.evalscript,
        collection=data.type,
        product_level=level,
        intervals=tuple(spans),
        calculations=_calculations(parsed.calculations or {}),
        mosaicking_order=filters.mosaickingOrder or "mostRecent",
        max_cloud_coverage=filters.maxCloudCoverage,
        scene_range=scene_range,
    )


def _when(value: str, key: str) -> dt.datetime:
    return parse_datetime(value, field=key)


def _crs(value: str) -> pyproj.CRS:
    try:
        return parse_crs(value, field="input.bounds.properties.crs")
    except FisError as exc:
        raise InvalidInput(
            f"input.bounds.properties.crs: {value!r} is not a CRS this service knows; use an OGC URL such as "
            "http://www.opengis.net/def/crs/EPSG/0/4326, http://www.opengis.net/def/crs/OGC/1.3/CRS84 or "
            "http://www.opengis.net/def/crs/EPSG/0/32633",
            field="input.bounds.properties.crs",
        ) from exc


def _aoi(bounds: StatBounds) -> AOI:
    crs = _crs((bounds.properties or StatBoundsProperties.model_validate({})).crs)
    if bounds.bbox is None and bounds.geometry is None:
        raise InvalidInput("input.bounds: give bbox and/or geometry", field="input.bounds")
    clip = None
    if bounds.bbox is not None:
        x0, y0, x1, y1 = bounds.bbox
        if x0 >= x1 or y0 >= y1:
            raise InvalidInput(
                f"input.bounds.bbox: {bounds.bbox} is empty or inverted; send [minx, miny, maxx, maxy] with min < max",
                field="input.bounds.bbox",
            )
        clip = box(x0, y0, x1, y1)
    if bounds.geometry is None:
        assert clip is not None
        return parse_geometry(_geojson(clip), crs=crs, field="input.bounds.bbox")
    aoi = parse_geometry(bounds.geometry, crs=crs, field="input.bounds.geometry")
    if clip is None:
        return aoi
    clipped = aoi.geometry.intersection(clip)
    if clipped.is_empty:
        raise InvalidInput(
            "input.bounds: the geometry lies outside bbox; send a bbox that overlaps the geometry (or only one)",
            field="input.bounds",
        )
    return parse_geometry(_geojson(clipped), crs=crs, field="input.bounds.geometry")


def _geojson(geometry: Any) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON object of lists (what the geometry parser reads)."""
    out: dict[str, Any] = json.loads(json.dumps(mapping(geometry)))
    return out


def _resolution(aggregation: StatAggregation, aoi: AOI) -> float:
    """The pixel side in metres from resx/resy (CRS units) or width/height (over the AOI's bounds)."""
    minx, miny, maxx, maxy = aoi.geometry.bounds
    if aggregation.resx is not None or aggregation.resy is not None:
        if aggregation.resx is None or aggregation.resy is None:
            raise InvalidInput("aggregation: give both resx and resy", field="aggregation.resx")
        rx, ry, key = aggregation.resx, aggregation.resy, "aggregation.resx"
    elif aggregation.width is not None or aggregation.height is not None:
        if aggregation.width is None or aggregation.height is None:
            raise InvalidInput("aggregation: give both width and height", field="aggregation.width")
        rx, ry, key = (maxx - minx) / aggregation.width, (maxy - miny) / aggregation.height, "aggregation.width"
    else:
        raise InvalidInput(
            "aggregation: give resx and resy (pixel size in CRS units) or width and height", field="aggregation.resx"
        )
    crs = aoi.crs
    if crs.is_geographic:
        lat = aoi.geometry_4326.centroid.y
        metres = math.sqrt(rx * ry) * METRES_PER_DEGREE * math.sqrt(max(math.cos(math.radians(lat)), 1e-6))
    else:
        if abs(rx - ry) > 0.01 * max(rx, ry):
            raise InvalidInput(
                f"{key}: pixels of {rx:g} x {ry:g} are not square; fis computes on square pixels: send equal "
                "resx and resy (or width and height in the proportions of the area)",
                field=key,
            )
        factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
        metres = rx * (factor or 1.0)
    if not (math.isfinite(metres) and 0 < metres <= MAX_RESOLUTION):
        raise InvalidInput(
            f"{key}: a pixel of {metres:g} m is out of range; use at most {MAX_RESOLUTION:g} m", field=key
        )
    return metres


def _calculations(raw: dict[str, StatCalculation]) -> Calculations:
    out: dict[str, OutputCalculation] = {}
    for output, calculation in raw.items():
        percentiles = {
            band: Percentiles(tuple(float(k) for k in stats.percentiles.k),
                              stats.percentiles.interpolation or DEFAULT_INTERPOLATION)
            for band, stats in (calculation.statistics or {}).items() if stats.percentiles is not None
        }
        histograms = {
            band: _histogram(hist, f"calculations.{output}.histograms.{band}")
            for band, hist in (calculation.histograms or {}).items()
        }
        out[output] = OutputCalculation(percentiles=percentiles, histograms=histograms)
    return Calculations(out)


def _histogram(hist: StatHistogramDefinition, key: str) -> tuple[HistogramSpec, float | None]:
    given = [name for name in ("nBins", "binWidth", "bins") if getattr(hist, name) is not None]
    if len(given) != 1:
        raise InvalidInput(
            f"{key}: give exactly one of nBins, binWidth or bins (got {', '.join(given) or 'none'})", field=key
        )
    low, high = hist.lowEdge, hist.highEdge
    if low is not None and high is not None and low >= high:
        raise InvalidInput(f"{key}: lowEdge ({low:g}) must be below highEdge ({high:g})", field=f"{key}.lowEdge")
    if hist.bins is not None:
        edges = tuple(hist.bins)
        if any(b <= a for a, b in itertools.pairwise(edges)):
            raise InvalidInput(f"{key}.bins: edges must be strictly increasing, got {list(edges)}", field=f"{key}.bins")
        return HistogramSpec(edges=edges), None
    fixed = low is not None and high is not None
    if (low is None) != (high is None):
        raise InvalidInput(f"{key}: give both lowEdge and highEdge, or neither (the data's range)", field=key)
    if hist.binWidth is not None:
        if fixed:
            assert low is not None and high is not None
            if (high - low) / hist.binWidth > MAX_BINS:
                raise InvalidInput(
                    f"{key}.binWidth: more than {MAX_BINS} bins; use a wider bin", field=f"{key}.binWidth"
                )
            return HistogramSpec(bin_width=hist.binWidth, low=low, high=high), None
        return HistogramSpec(bins=1), hist.binWidth
    return HistogramSpec(bins=hist.nBins, low=low, high=high), None
