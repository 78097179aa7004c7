"""The JSON bodies of the native series API as models: a series (``series_json``), its observations, a list page
(``series_summary``) and the GeoJSON export. Descriptive (see :mod:`fis.protocols.schemas`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from fis.core.aggregation import LAST_INTERVAL, PICKS
from fis.core.request.names import MAX_NAME_LENGTH, NAME_PATTERN
from fis.core.stats import HISTOGRAM_TYPES
from fis.protocols.schemas import BBox, GeoJSONArea, ResponseModel, only_when, url

Fraction = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=0)]
SeriesStatus = Literal["OK", "PARTIAL"]


class Statistics(ResponseModel):
    """NDVI = (B08 - B04) / (B08 + B04), or one index, over the valid pixels where it is defined; every value null
    when there is none. Percentiles interpolate linearly; std is the population standard deviation (ddof = 0)."""

    mean: float | None
    min: float | None
    max: float | None
    std: float | None
    median: float | None
    p10: float | None
    p25: float | None
    p75: float | None
    p90: float | None


class BandMeans(ResponseModel):
    """Mean TOA reflectance per band over the valid pixels (null when there is none or the band is absent)."""

    B01: float | None
    B02: float | None
    B03: float | None
    B04: float | None
    B05: float | None
    B06: float | None
    B07: float | None
    B08: float | None
    B8A: float | None
    B09: float | None
    B10: float | None
    B11: float | None
    B12: float | None


class PixelCounts(ResponseModel):
    """Pixel counts of one observation."""

    total: Count = Field(description="Grid pixels that belong to the polygon.")
    valid: Count = Field(description="total - nodata.")
    cloudy: Count = Field(description="Valid pixels flagged by the per-pixel cloud mask.")
    nodata: Count = Field(description="Polygon pixels with no data in at least one band of the date, or with "
                                      "B08 + B04 == 0 (no valid NDVI).")
    shadow: Count = only_when("Only for L2A scenes (cloud_source scl): valid pixels of SCL class 3, cloud shadow.")
    clear: Count = only_when("Only with mask_clouds: valid pixels the cloud mask calls clear (the pixels the "
                             "statistics are computed on).")


class ScaleOffset(ResponseModel):
    """reflectance = DN * scale + offset."""

    scale: float
    offset: float


class SceneDetails(ResponseModel):
    """Catalog facts of one scene of an observation."""

    id: str = Field(description="Scene id.")
    tile: str | None = Field(description="MGRS tile.")
    processing_baseline: str | None = Field(description="Processing baseline, e.g. 05.09.")
    product_level: str = Field(description="L1C or L2A.")
    platform: str | None = Field(description="sentinel-2a, -2b, -2c.")
    radiometry: ScaleOffset | dict[str, ScaleOffset] = Field(
        description="As applied (once) to this scene's bands: {scale, offset} when all bands share it, else per band."
    )


class HistogramBin(ResponseModel):
    """One bin of a histogram."""

    low: float = Field(description="Lower edge (inclusive).")
    high: float = Field(description="Upper edge (exclusive; inclusive for the last bin).")
    count: float = Field(ge=0, description="Pixel count (an integer); with pixel_rule coverage the sum of the "
                                           "pixels' covered fractions.")


class Histogram(ResponseModel):
    """The histogram of one variable over the valid pixels."""

    bins: list[HistogramBin]
    underflow: float = Field(ge=0, description="Values below the first edge (weighted like count).")
    overflow: float = Field(ge=0, description="Values above the last edge (weighted like count).")


class AggregationInterval(ResponseModel):
    """The interval of an aggregated row."""

    from_: dt.datetime = Field(alias="from", description="Start of the interval (inclusive).")
    to: dt.datetime = Field(description="End of the interval (inclusive).")
    observations: list[dt.date] = Field(description="Dates used for this row.")


class Observation(ResponseModel):
    """The statistics of one UTC acquisition date (or, with aggregation, of one interval)."""

    date: dt.date = Field(description="UTC acquisition date (one observation per date; same-date tiles are mosaicked).")
    datetime: dt.datetime = Field(description="Earliest acquisition time of the date's scenes (UTC).")
    scenes: list[str] = Field(description="Scene ids mosaicked into this observation.")
    scene_details: list[SceneDetails] = only_when("Catalog facts of each scene in `scenes` (every API response).")
    ndvi: Statistics
    bands: BandMeans
    cloud_probability: Fraction | None = Field(
        description="s2cloudless P(cloud) of the polygon's averaged 10-band vector (object-level); null without "
                    "valid pixels or model bands."
    )
    cloud_fraction: Fraction | None = Field(
        description="cloudy / valid pixels from the per-pixel cloud mask; null when valid == 0."
    )
    pixels: PixelCounts
    cloud_source: Literal["s2cloudless", "precomputed", "scl"] | None = Field(
        description="Where cloud_fraction came from: the s2cloudless pixel mask computed for this request, the "
                    "scene's precomputed CLM layer (same settings), or the L2A scene classification (classes 8, 9, "
                    "10). null when there is no cloud information (e.g. a model band missing)."
    )
    cloudy: bool = Field(description="True when the active filter's threshold is exceeded.")
    indices: dict[str, Statistics] = only_when("Only with `indices`: the statistics of each requested index.")
    percentiles: dict[str, dict[str, float | None]] = only_when(
        "Only with `statistics.percentiles`: {variable: {p<percent>: value}} for `ndvi` and every index."
    )
    histograms: dict[str, Histogram | None] = only_when(
        "Only with `statistics.histogram`: the histogram of `ndvi` and of every index (null without values)."
    )
    interval: AggregationInterval = only_when("Only with `aggregation`: the interval of this row.")


class ObservationError(ResponseModel):
    """A date that could not be computed."""

    date: dt.date
    scenes: list[str]
    message: str = Field(description="Why the date could not be computed (e.g. an unreadable raster).")


class UtcTimeRange(ResponseModel):
    """The requested interval, normalised to UTC instants (both inclusive)."""

    from_: dt.datetime = Field(alias="from")
    to: dt.datetime


class CloudFilter(ResponseModel):
    """The filter applied to this response: the stored request's values, overridden by query parameters."""

    max_cloud_fraction: Fraction | None = Field(description="Threshold on cloud_fraction.")
    max_cloud_probability: Fraction | None = Field(description="Threshold on cloud_probability.")
    include_cloudy: bool


class Grid(ResponseModel):
    """The statistics grid used (an empty object when no scene matched)."""

    crs: str = only_when("CRS of the grid, e.g. EPSG:32633.")
    resolution: Annotated[list[float], Field(min_length=2, max_length=2)] = only_when("Pixel size (x, y).")
    width: int = only_when("Columns.")
    height: int = only_when("Rows.")
    bounds: Annotated[list[float], Field(min_length=4, max_length=4)] = only_when("minx, miny, maxx, maxy.")


class CloudMaskParameters(ResponseModel):
    """The per-pixel cloud mask settings."""

    threshold: Fraction = Field(description="cloud_threshold")
    resolution: float = Field(description="cloud_mask_resolution (m)")
    average_over: int
    dilation_size: int


class HistogramParameters(ResponseModel):
    """The normalised histogram request."""

    type: Literal[HISTOGRAM_TYPES]  # type: ignore[valid-type]
    bins: int
    bin_width: float = only_when("Given bin width.")
    edges: list[float] = only_when("Given edges.")
    low: float = only_when("Lower end of the range.")
    high: float = only_when("Upper end of the range.")


class StatisticsParameters(ResponseModel):
    """The requested extra statistics."""

    percentiles: list[float] = only_when("Requested quantiles (0..1).")
    histogram: HistogramParameters = only_when("The histogram.")


class AggregationParameters(ResponseModel):
    """The temporal aggregation."""

    interval: str
    last_interval: Literal[LAST_INTERVAL]  # type: ignore[valid-type]
    pick: Literal[PICKS]  # type: ignore[valid-type]


class StoredParameters(ResponseModel):
    """Every option of the request as stored with the series (the geometry is stored separately)."""

    crs: str = Field(description="CRS the geometry was given in.")
    time_range: UtcTimeRange
    resolution: float = Field(description="Requested resolution in metres.")
    cloud_mask: CloudMaskParameters
    max_cloud_fraction: Fraction | None = Field(description="Stored default filter.")
    max_cloud_probability: Fraction | None = Field(description="Stored default filter.")
    include_cloudy: bool
    grid: Grid
    model: str = Field(description="Cloud model manifest name.")
    mask_clouds: bool = only_when("Only when requested.")
    pixel_rule: Literal["all_touched", "coverage"] = only_when("Only when not `center`.")
    min_coverage: float = only_when("Only when given (> 0).")
    indices: dict[str, str] = only_when("Only when requested: name -> band math (built-ins with their formula).")
    statistics: StatisticsParameters = only_when("Only when requested.")
    aggregation: AggregationParameters = only_when("Only when requested.")


class SeriesLinks(ResponseModel):
    """Links of a series."""

    self: str = url("The series.")
    csv: str = url("Its CSV export.")
    collection: str = url("The list of series.")


class ObservationCounts(ResponseModel):
    """How many observations there are and how many this response shows."""

    observations: int = Field(description="Stored observations.")
    returned: int = Field(description="Observations in this response.")
    cloudy: int = Field(description="Stored observations the filter calls cloudy.")


class TimeseriesResponse(ResponseModel):
    """A stored time series, filtered by ``filter``."""

    id: str = Field(description="Series id (UUID).", json_schema_extra={"format": "uuid"})
    name: str = only_when("Only when the series has a name (request `name`, a Feature's `properties.name`, or PATCH).")
    properties: dict[str, Any] = only_when(
        "Only when the request geometry was a Feature: its `properties` (flat in the GeoJSON export's properties)."
    )
    status: SeriesStatus = Field(description="PARTIAL when some dates could not be computed (see errors).")
    created_at: dt.datetime
    time_range: UtcTimeRange
    geometry: GeoJSONArea
    parameters: StoredParameters
    model: str = Field(description="Cloud model used.", examples=["s2cloudless-v0.1"])
    filter: CloudFilter
    summary: ObservationCounts
    observations: list[Observation] = Field(description="Dates ascending.")
    errors: list[ObservationError]
    warnings: list[str] = Field(description="E.g. that the geometry was repaired or its own crs ignored.")
    links: SeriesLinks
    reused: Count = only_when("POST and refresh only: dates (observations and errors) taken from a stored series "
                              "with the same geometry and parameters instead of computed.")
    computed: Count = only_when("POST and refresh only: dates computed.")


class SeriesFeature(ResponseModel):
    """`format=geojson` (or Accept: application/geo+json): the field as a GeoJSON Feature with the series in its
    properties, for GIS tools."""

    type: Literal["Feature"]
    id: str = Field(description="Series id.", json_schema_extra={"format": "uuid"})
    geometry: GeoJSONArea
    properties: dict[str, Any] = Field(
        description="The request Feature's own properties (if any), then the JSON response (TimeseriesResponse) "
                    "without `geometry` and `properties`."
    )


class TimeseriesSummary(ResponseModel):
    """One stored series in the list."""

    id: str = Field(json_schema_extra={"format": "uuid"})
    name: str = only_when("Only when the series has a name.")
    status: SeriesStatus
    created_at: dt.datetime
    time_range: UtcTimeRange
    bbox: BBox
    observations: int = Field(description="Stored observations.")
    model: str
    links: SeriesLinks


class PageLinks(ResponseModel):
    """Neighbour pages, when there are any."""

    next: str = url("The next page.", optional=True)
    prev: str = url("The previous page.", optional=True)


class TimeseriesList(ResponseModel):
    """A page of stored series."""

    items: list[TimeseriesSummary] = Field(description="Newest first.")
    total: int
    limit: int
    offset: int
    links: PageLinks


class RenameBody(ResponseModel):
    """The body of ``PATCH /api/v1/timeseries/{series_id}``."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)] | None = Field(
        description="The new name (1 to 200 characters, no control characters); null removes it."
    )
