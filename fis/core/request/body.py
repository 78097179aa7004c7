"""The time-series request body (the wire format) as a pydantic model: every key, type, range, default once.

Validating a body resolves it into the engine's :class:`~fis.core.request.value.TimeseriesRequest`
(``TimeseriesBody.model_validate(body).request``). Composite values go through the existing value
parsers (geometry, CRS, time range, indices, statistics, aggregation), whose fis errors pass
through :func:`fis.core.request.errors.translate` unchanged; the JSON Schema of the published API
is this model's ``model_json_schema()``.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fis.core.aggregation import LAST_INTERVAL, PICKS, parse_aggregation
from fis.core.expressions import BUILTIN_INDICES, MAX_EXPRESSION_LENGTH, NAME_RE
from fis.core.geometry import AOI, parse_crs, parse_geometry
from fis.core.observation import OUTPUTS
from fis.core.options import PIXEL_RULES
from fis.core.request.checks import MAX_DISK_RADIUS, MAX_RESOLUTION
from fis.core.request.errors import Hint, translate
from fis.core.request.names import MAX_NAME_LENGTH, NAME_PATTERN, parse_series_name
from fis.core.request.options import (
    MAX_INDICES,
    MAX_PERCENTILES,
    parse_indices,
    parse_statistics,
)
from fis.core.request.value import CloudMaskSettings, TimeseriesRequest
from fis.core.stats import HISTOGRAM_TYPES, MAX_BINS
from fis.core.timerange import TimeRange, parse_time_range
from fis.errors import InvalidGeometry, InvalidInput

_MASK = CloudMaskSettings()


def _json_number(value: Any) -> Any:
    """A JSON number: no strings, no booleans, no NaN or infinity (ranges are the field's constraints)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number_type", "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "must be a finite number")
    return value


_Number = BeforeValidator(_json_number)
Finite = Annotated[float, _Number, Hint("a finite number")]
Fraction = Annotated[float, Field(ge=0, le=1), _Number, Hint("a number between 0 and 1")]
Radius = Annotated[
    int, Field(ge=0, le=MAX_DISK_RADIUS), _Number,
    Hint(f"an integer from 0 to {MAX_DISK_RADIUS}: disk radius in mask pixels, 0 = off"),
]
Resolution = Annotated[
    float, Field(gt=0, le=MAX_RESOLUTION), _Number, Hint(f"metres, greater than 0 and at most {MAX_RESOLUTION:g}")
]
Metres = Annotated[float, Field(gt=0), _Number, Hint("metres, greater than 0")]

GEOMETRY_SCHEMA: dict[str, Any] = {
    "description": (
        "The field: a GeoJSON Polygon, MultiPolygon or Feature with one of those (its `properties` are kept), "
        "or WKT (optionally `SRID=n;`-prefixed). Coordinates x/y in `crs`."
    ),
    "anyOf": [
        {"type": "object", "required": ["type", "coordinates"],
         "properties": {"type": {"enum": ["Polygon", "MultiPolygon"]}, "coordinates": {"type": "array"}}},
        {"type": "object", "required": ["type", "geometry"],
         "properties": {"type": {"const": "Feature"}, "geometry": {"type": "object"},
                        "properties": {"type": ["object", "null"]}}},
        {"type": "string", "minLength": 1},
    ],
}
TIME_RANGE_SCHEMA: dict[str, Any] = {
    "description": "Inclusive UTC dates or date-times; a bare date `to` means the whole day.",
    "type": "object",
    "properties": {"from": {"type": "string", "examples": ["2015-07-01"]},
                   "to": {"type": "string", "examples": ["2015-09-30"]}},
    "required": ["from", "to"],
    "additionalProperties": False,
}
INDICES_SCHEMA: dict[str, Any] = {
    "description": (
        "Indices besides NDVI: a list of built-ins, or an object name -> band math (null = the built-in of "
        f"that name). At most {MAX_INDICES}."
    ),
    "anyOf": [
        {"type": "array", "items": {"enum": list(BUILTIN_INDICES)}, "examples": [["ndwi", "evi"]]},
        {"type": "object", "propertyNames": {"pattern": NAME_RE.pattern}, "maxProperties": MAX_INDICES + 1,
         "additionalProperties": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_EXPRESSION_LENGTH},
                                            {"type": "null"}]},
         "examples": [{"ndmi": None, "my_ratio": "(B08 - B11) / (B08 + B11)"}]},
        {"type": "null"},
    ],
    "default": None,
}
INTERVAL_PATTERN = "^[Pp]([0-9]+[YyMmWwDd])+$"
INTERVAL_HINT = "an ISO 8601 duration of whole days from P1D to P1Y such as P10D or P1M"


class HistogramBody(BaseModel):
    """``statistics.histogram``: exactly one of ``bins``, ``bin_width`` (with ``low`` and ``high``) or ``edges``."""

    model_config = ConfigDict(extra="forbid")

    bins: Annotated[int, Field(ge=1, le=MAX_BINS), _Number, Hint(f"an integer from 1 to {MAX_BINS}")] | None = (
        Field(None, description="Number of bins.")
    )
    bin_width: Annotated[float, Field(gt=0), _Number, Hint("a number greater than 0")] | None = Field(
        None, description="Width of each bin (needs low and high)."
    )
    edges: Annotated[list[Finite], Field(min_length=2, max_length=MAX_BINS + 1)] | None = Field(
        None, description="Strictly increasing bin edges."
    )
    low: Finite | None = Field(None, description="Lower end of the range (with high) [default: each date's min].")
    high: Finite | None = Field(None, description="Upper end of the range (with low) [default: each date's max].")
    type: Literal[HISTOGRAM_TYPES] | None = Field(  # type: ignore[valid-type]
        "equidistant", description="equal_frequency puts the inner edges at quantiles (only with bins)."
    )


class StatisticsBody(BaseModel):
    """``statistics``: extra percentiles and a histogram of NDVI and every index."""

    model_config = ConfigDict(extra="forbid")

    percentiles: (
        Annotated[list[Annotated[float, Field(ge=0, le=1), _Number]], Field(max_length=MAX_PERCENTILES)] | None
    ) = Field(None, description="Fractions 0..1, e.g. [0.05, 0.5, 0.95].")
    histogram: HistogramBody | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        parse_statistics(data)  # the messages; raises InvalidInput
        return data


class AggregationBody(BaseModel):
    """``aggregation``: one row per time interval (a string is the ``interval`` alone)."""

    model_config = ConfigDict(extra="forbid")

    interval: Annotated[StrictStr, Field(pattern=INTERVAL_PATTERN), Hint(INTERVAL_HINT)] = Field(
        description="ISO 8601 duration of whole days, P1D..P1Y (P10D, P2W, P1M, P1M15D, P1Y).", examples=["P10D"]
    )
    last_interval: Literal[LAST_INTERVAL] | None = Field(  # type: ignore[valid-type]
        "shorten", description="When the range is not a whole number of intervals."
    )
    pick: Literal[PICKS] | None = Field("all", description="Which dates make an interval's row.")  # type: ignore[valid-type]

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"interval": data}
        parse_aggregation(data)  # the messages; raises InvalidInput
        return data


def _aggregation_shorthand(schema: dict[str, Any]) -> None:
    schema["anyOf"].insert(0, {"type": "string", "pattern": INTERVAL_PATTERN, "description": "the interval alone"})


class TimeseriesBody(BaseModel):
    """The body of ``POST /api/v1/timeseries`` (and of ``fis stats``). Optional keys given as null take their
    defaults."""

    model_config = ConfigDict(extra="forbid", title="TimeseriesRequest")

    geometry: Annotated[Any, WithJsonSchema(GEOMETRY_SCHEMA)] = Field(...)
    crs: Annotated[StrictStr | StrictInt, Hint("an EPSG code, OGC URN/URL or CRS84")] | None = Field(
        None, description='CRS of the coordinates (default EPSG:4326): "EPSG:32633", 32633, an OGC URN/URL, "CRS84".'
    )
    time_range: Annotated[Any, WithJsonSchema(TIME_RANGE_SCHEMA)] = Field(...)
    resolution: Resolution | None = Field(10.0, description="Grid resolution in metres.")
    cloud_threshold: Fraction | None = Field(
        _MASK.threshold, description="s2cloudless probability above which a pixel of the cloud mask is cloudy."
    )
    cloud_mask_resolution: Metres | None = Field(_MASK.resolution, description="Cloud mask resolution in metres.")
    cloud_mask_average_over: Radius | None = Field(
        _MASK.average_over, description="Disk radius (mask pixels) of the probability smoothing; 0 = off."
    )
    cloud_mask_dilation: Radius | None = Field(
        _MASK.dilation_size, description="Disk radius (mask pixels) of the mask dilation; 0 = off."
    )
    max_cloud_fraction: Fraction | None = Field(
        None, description="Observations with a larger cloudy-pixel share are cloudy (null = no limit)."
    )
    max_cloud_probability: Fraction | None = Field(
        None, description="Observations whose averaged-vector P(cloud) is larger are cloudy (null = no limit)."
    )
    include_cloudy: StrictBool | None = Field(False, description="Return cloudy observations too (flagged).")
    mask_clouds: StrictBool | None = Field(
        False, description="Statistics over the valid pixels the cloud mask calls clear only."
    )
    indices: Annotated[Any, WithJsonSchema(INDICES_SCHEMA)] = None
    statistics: StatisticsBody | None = Field(None, description="Extra percentiles and histograms.")
    aggregation: AggregationBody | None = Field(
        None, description="One row per time interval.", json_schema_extra=_aggregation_shorthand
    )
    pixel_rule: Literal[PIXEL_RULES] | None = Field(  # type: ignore[valid-type]
        "center", description="Which pixels belong to the polygon; coverage weights them by covered fraction."
    )
    min_coverage: Fraction | None = Field(
        0.0, description='With "pixel_rule": "coverage": leave out pixels covered less than this fraction.'
    )
    outputs: Annotated[list[Literal[OUTPUTS]], Field(min_length=1)] | None = Field(  # type: ignore[valid-type]
        None,
        description=(
            "The measures to compute [default: all]; the engine reads only the bands they need (ndvi: B04, B08; "
            "bands: all 13; cloud_probability: the model's bands; cloud_fraction: the cloud mask). Unrequested "
            "measures are absent from the JSON observations and empty in CSV; requested indices are always computed."
        ),
        examples=[["ndvi", "cloud_fraction"]],
    )
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN)] | None = Field(
        None, description="Display name of the series [default: the GeoJSON Feature's properties.name]."
    )

    _request: TimeseriesRequest | None = PrivateAttr(None)

    @field_validator("geometry", "time_range", mode="before")
    @classmethod
    def _required(cls, value: Any, info: Any) -> Any:
        if value is None:
            raise InvalidInput(f"{info.field_name}: is required but missing (or null)", field=info.field_name)
        return value

    @field_validator("geometry")
    @classmethod
    def _geometry_type(cls, value: Any) -> Any:
        if not isinstance(value, (dict, str, AOI)):
            parse_geometry(value, field="geometry")  # raises InvalidGeometry naming the type
        return value

    @field_validator("crs", mode="before")
    @classmethod
    def _crs(cls, value: Any) -> Any:
        if value is not None:
            parse_crs(value, field="crs")
        return value

    @field_validator("time_range")
    @classmethod
    def _time_range(cls, value: Any) -> TimeRange:
        return value if isinstance(value, TimeRange) else parse_time_range(value, field="time_range")

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        return parse_series_name(value)

    @field_validator("indices")
    @classmethod
    def _indices(cls, value: Any) -> Any:
        return parse_indices(value)

    @model_validator(mode="after")
    def _resolve(self) -> TimeseriesBody:
        self._request = self._to_request()
        return self

    @property
    def request(self) -> TimeseriesRequest:
        """The validated request (the engine's value)."""
        assert self._request is not None
        return self._request

    def _to_request(self) -> TimeseriesRequest:
        if isinstance(self.geometry, AOI):
            aoi, properties = self.geometry, None
        else:
            aoi = parse_geometry(self.geometry, crs=self.crs, field="geometry")
            properties = feature_properties(self.geometry)
        pixel_rule = self.pixel_rule or "center"
        min_coverage = 0.0 if self.min_coverage is None else float(self.min_coverage)
        if min_coverage and pixel_rule != "coverage":
            raise InvalidInput(
                f'min_coverage: only applies with "pixel_rule": "coverage" (got pixel_rule {pixel_rule!r})',
                field="min_coverage",
            )
        percentiles, histogram = parse_statistics(
            None if self.statistics is None else self.statistics.model_dump(exclude_none=True)
        )
        name = self.name
        if name is None and properties is not None:
            label = properties.get("name")
            name = parse_series_name(label, field="geometry.properties.name") if isinstance(label, str) else None
        outputs = OUTPUTS if self.outputs is None else tuple(o for o in OUTPUTS if o in self.outputs)
        _check_outputs(
            outputs,
            max_cloud_fraction=self.max_cloud_fraction,
            max_cloud_probability=self.max_cloud_probability,
            pick=None if self.aggregation is None else self.aggregation.pick,
        )
        return TimeseriesRequest(
            aoi=aoi,
            time_range=self.time_range,
            resolution=10.0 if self.resolution is None else float(self.resolution),
            cloud_mask=CloudMaskSettings(
                threshold=_MASK.threshold if self.cloud_threshold is None else self.cloud_threshold,
                resolution=_MASK.resolution if self.cloud_mask_resolution is None else self.cloud_mask_resolution,
                average_over=_MASK.average_over
                if self.cloud_mask_average_over is None
                else self.cloud_mask_average_over,
                dilation_size=_MASK.dilation_size if self.cloud_mask_dilation is None else self.cloud_mask_dilation,
            ),
            max_cloud_fraction=None if self.max_cloud_fraction is None else float(self.max_cloud_fraction),
            max_cloud_probability=None if self.max_cloud_probability is None else float(self.max_cloud_probability),
            include_cloudy=bool(self.include_cloudy),
            mask_clouds=bool(self.mask_clouds),
            indices=self.indices or (),
            percentiles=percentiles,
            histogram=histogram,
            aggregation=None if self.aggregation is None else parse_aggregation(self.aggregation.model_dump()),
            pixel_rule=pixel_rule,
            min_coverage=min_coverage,
            outputs=outputs,
            name=name,
            properties=properties,
        )


def _check_outputs(
    outputs: tuple[str, ...], *, max_cloud_fraction: float | None, max_cloud_probability: float | None, pick: str | None
) -> None:
    """A filter or pick that needs a measure the request's ``outputs`` leave out is an :class:`InvalidInput`."""
    needs: list[tuple[str, str]] = []
    if max_cloud_fraction is not None:
        needs.append(("max_cloud_fraction", "cloud_fraction"))
    if max_cloud_probability is not None:
        needs.append(("max_cloud_probability", "cloud_probability"))
    if pick == "least_cloudy":  # ranks by cloud_fraction, then cloud_probability
        needs += [("aggregation.pick", "cloud_fraction"), ("aggregation.pick", "cloud_probability")]
    for key, measure in needs:
        if measure not in outputs:
            raise InvalidInput(
                f"{key}: needs {measure!r}, which outputs {list(outputs)} leave out; add {measure!r} to outputs "
                f"or drop {key}",
                field=key,
            )


def feature_properties(geometry: Any) -> dict[str, Any] | None:
    """The ``properties`` of a GeoJSON Feature (object or null), else None."""
    if isinstance(geometry, str) and geometry.strip().startswith("{"):
        geometry = json.loads(geometry)
    if not isinstance(geometry, dict) or geometry.get("type") != "Feature":
        return None
    properties = geometry.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidGeometry(
            f"geometry.properties: must be an object or null (GeoJSON), got {type(properties).__name__}",
            field="geometry.properties",
        )
    return properties


ACCEPTED_KEYS: tuple[str, ...] = tuple(TimeseriesBody.model_fields)
REQUIRED_KEYS: tuple[str, ...] = tuple(k for k, f in TimeseriesBody.model_fields.items() if f.is_required())


def parse_timeseries_request(body: Any) -> TimeseriesRequest:
    """Validate a JSON request body into a :class:`TimeseriesRequest` (errors: :class:`InvalidInput`)."""
    try:
        return TimeseriesBody.model_validate(body).request
    except ValidationError as exc:
        raise translate(exc, TimeseriesBody) from None
