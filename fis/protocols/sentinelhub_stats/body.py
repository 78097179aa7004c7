"""The Statistical API request body as pydantic models: every key, type and range of Sentinel Hub's request.

The published JSON Schema (OpenAPI) is :class:`StatisticalRequestBody`'s; :mod:`.translate` validates a body with
it and turns it into a :class:`~.query.StatisticalQuery`.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from fis.core.request.checks import MAX_RESOLUTION
from fis.core.request.errors import Hint
from fis.core.stats import MAX_BINS

MOSAICKING_ORDERS: Final = ("mostRecent", "leastRecent", "leastCC")
INTERPOLATIONS: Final = ("higher", "lower", "nearest", "midpoint", "linear")
MAX_PERCENTILES: Final = 100
_FINITE = Field(allow_inf_nan=False)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StatTimeRange(_Model):
    """``{"from", "to"}``: ISO 8601 date-times (UTC when no offset); ``to`` is exclusive."""

    from_: StrictStr = Field(alias="from", description="Start (inclusive), e.g. 2023-06-01T00:00:00Z.")
    to: StrictStr = Field(description="End (exclusive), e.g. 2023-07-01T00:00:00Z.")


class StatBoundsProperties(_Model):
    crs: StrictStr = Field(
        "http://www.opengis.net/def/crs/EPSG/0/4326",
        description="OGC URL of the CRS of bbox/geometry (EPSG/0/4326, OGC/1.3/CRS84, EPSG/0/3857, UTM zones ...).",
    )


class StatBounds(_Model):
    """``input.bounds``: ``bbox`` and/or ``geometry`` (with both, the geometry clipped to the box)."""

    bbox: Annotated[list[Annotated[float, _FINITE]], Field(min_length=4, max_length=4)] | None = Field(
        None, description="[minx, miny, maxx, maxy] in the CRS (lon/lat for EPSG:4326)."
    )
    geometry: dict[str, Any] | None = Field(None, description="GeoJSON Polygon or MultiPolygon in the CRS.")
    properties: StatBoundsProperties | None = None


class StatDataFilter(_Model):
    timeRange: StatTimeRange | None = Field(None, description="Scenes acquired in this range only.")
    maxCloudCoverage: Annotated[float, Field(ge=0, le=100), Hint("a number from 0 to 100")] | None = Field(
        None, description="Highest scene cloud cover in percent (the scene's eo:cloud_cover)."
    )
    mosaickingOrder: Literal[MOSAICKING_ORDERS] | None = Field(  # type: ignore[valid-type]
        None, description="Which acquisition of an interval a pixel takes with SIMPLE mosaicking (mostRecent)."
    )


class StatCloudMask(_Model):
    """fis' extension: the recipe of the per-pixel cloud mask behind ``CLM`` (defaults as the native API)."""

    threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    resolution: Annotated[float, Field(gt=0, le=MAX_RESOLUTION)] | None = None
    averageOver: Annotated[int, Field(ge=0, le=50)] | None = None
    dilationSize: Annotated[int, Field(ge=0, le=50)] | None = None


class StatProcessing(_Model):
    upsampling: StrictStr | None = Field(None, description="Accepted and ignored: fis reads on its own grid.")
    downsampling: StrictStr | None = Field(None, description="Accepted and ignored: fis reads on its own grid.")
    harmonizeValues: bool | None = Field(None, description="Only true (the default) is supported.")
    cloudMask: StatCloudMask | None = Field(None, description="fis extension: the CLM/CLP recipe.")


class StatData(_Model):
    type: StrictStr = Field(description="sentinel-2-l1c or sentinel-2-l2a.")
    id: StrictStr | None = None
    dataFilter: StatDataFilter | None = None
    processing: StatProcessing | None = None


class StatInput(_Model):
    bounds: StatBounds
    data: Annotated[list[StatData], Field(min_length=1, max_length=1)]


class StatAggregationInterval(_Model):
    of: StrictStr = Field(description="ISO 8601 duration of whole days: P1D, P5D, P1W, P1M, P1Y ...")
    lastIntervalBehavior: Literal["SKIP", "SHORTEN", "EXTEND"] | None = Field(
        None, description="When the range is not a whole number of intervals (default SKIP)."
    )


class StatAggregation(_Model):
    timeRange: StatTimeRange
    aggregationInterval: StatAggregationInterval
    evalscript: StrictStr = Field(description="A VERSION=3 evalscript.", max_length=200_000)
    width: Annotated[int, Field(ge=1, le=10_000)] | None = None
    height: Annotated[int, Field(ge=1, le=10_000)] | None = None
    resx: Annotated[float, Field(gt=0), _FINITE] | None = Field(None, description="Pixel width in CRS units.")
    resy: Annotated[float, Field(gt=0), _FINITE] | None = Field(None, description="Pixel height in CRS units.")


class StatPercentiles(_Model):
    k: Annotated[list[Annotated[float, Field(ge=0, le=100)]], Field(min_length=1, max_length=MAX_PERCENTILES)]
    interpolation: Literal[INTERPOLATIONS] | None = Field(  # type: ignore[valid-type]
        None, description="How a percentile between two values is taken (default higher)."
    )


class StatStatisticsDefinition(_Model):
    percentiles: StatPercentiles | None = None


class StatHistogramDefinition(_Model):
    """One of ``nBins``, ``binWidth`` or ``bins`` (explicit edges); ``lowEdge``/``highEdge`` default to the data's
    min and max."""

    nBins: Annotated[int, Field(ge=1, le=MAX_BINS)] | None = None
    binWidth: Annotated[float, Field(gt=0), _FINITE] | None = None
    lowEdge: Annotated[float, _FINITE] | None = None
    highEdge: Annotated[float, _FINITE] | None = None
    bins: Annotated[list[Annotated[float, _FINITE]], Field(min_length=2, max_length=MAX_BINS + 1)] | None = None


class StatCalculation(_Model):
    statistics: dict[str, StatStatisticsDefinition] | None = Field(None, description="Per band name or default.")
    histograms: dict[str, StatHistogramDefinition] | None = Field(None, description="Per band name or default.")


class StatisticalRequestBody(_Model):
    """The body of ``POST /api/v1/statistics`` (Sentinel Hub's Statistical API request)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="StatisticalRequest")

    input: StatInput
    aggregation: StatAggregation
    calculations: dict[str, StatCalculation] | None = Field(
        None, description="Per output id (or default): statistics and histograms per band (or default)."
    )
