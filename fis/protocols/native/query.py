"""The query strings of the native GET endpoints as pydantic models (unknown parameters are a 400).

Values arrive as text: thresholds are numbers 0..1 (empty or ``null`` clears a stored one), flags
are true/false (also 1/0, yes/no), ``format`` is case-insensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo

from fis.core.request.errors import Hint, translate
from fis.core.request.querystring import parse_bool, parse_threshold
from fis.errors import InvalidInput
from fis.protocols.native.export import FORMATS

Q = TypeVar("Q", bound="Query")


def _threshold(value: Any, info: ValidationInfo) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "null")):
        return None
    return parse_threshold(value, field=str(info.field_name))


def _flag(value: Any, info: ValidationInfo) -> bool | None:
    return parse_bool(value, field=str(info.field_name))


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _integer(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str) and not value.strip():
        return None  # empty = the default
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise InvalidInput(
                f"query parameter {info.field_name}={value!r} is not an integer", field=str(info.field_name)
            ) from None
    return value


Threshold = Annotated[
    float | None, Field(ge=0, le=1), BeforeValidator(_threshold), Hint("a number between 0 and 1, e.g. 0.3")
]
Flag = Annotated[bool | None, BeforeValidator(_flag)]
Limit = Annotated[int, Field(ge=1, le=1000), Hint("an integer from 1 to 1000")]
SceneLimit = Annotated[int, Field(ge=1, le=10000), Hint("an integer from 1 to 10000")]
#: Offsets fit a 32-bit signed integer (larger ones overflowed the databases' 64-bit OFFSET into a 500).
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET), Hint(f"an integer from 0 to {MAX_OFFSET}")]


class Query(BaseModel):
    """A query string; ``from_args`` validates a (multi)dict of text values."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_args(cls: type[Q], args: Mapping[str, Any]) -> Q:
        """Validate the query parameters (the first value of each)."""
        try:
            return cls.model_validate({key: args.get(key) for key in args})
        except ValidationError as exc:
            raise translate(exc, cls, what="query string") from None


class SeriesQuery(Query):
    """``GET /api/v1/timeseries/{id}``: the format and a cloud filter overriding the stored one."""

    model_config = ConfigDict(title="SeriesQuery")

    format: Annotated[Literal[FORMATS] | None, BeforeValidator(_lower)] = Field(  # type: ignore[valid-type]
        None,
        description="Response format: `json` (default), `csv` (one row per observation), `long_csv` (one row per "
                    "observation and statistic) or `geojson` (the series' geometry as a GeoJSON Feature with the JSON "
                    "body, minus the geometry, in its properties); case-insensitive. Without it an Accept header "
                    "preferring text/csv or application/geo+json over application/json selects csv or geojson; "
                    "anything else gives JSON.",
    )
    max_cloud_fraction: Threshold = Field(
        None, description="Observations with a larger cloudy-pixel share are cloudy; empty or null clears the "
                          "stored threshold [default: the stored one].", examples=[0.2]
    )
    max_cloud_probability: Threshold = Field(
        None, description="Observations whose P(cloud) is larger are cloudy; empty or null clears the stored "
                          "threshold [default: the stored one].", examples=[0.5]
    )
    include_cloudy: Flag = Field(
        None, description="Show cloudy observations (flagged) instead of leaving them out: true/false, 1/0 or yes/no, "
                          "case-insensitive [default: the stored choice].", examples=["true"]
    )


class SeriesListQuery(Query):
    """``GET /api/v1/timeseries``: one page of the stored series (JSON only)."""

    model_config = ConfigDict(title="SeriesListQuery")

    format: Annotated[Literal["json"] | None, BeforeValidator(_lower)] = Field(
        None, description="Only JSON; export one series as CSV with GET /api/v1/timeseries/{series_id}?format=csv."
    )
    limit: Annotated[Limit | None, BeforeValidator(_integer)] = Field(
        None, description="Items per page [default: FIS_PAGE_SIZE]."
    )
    offset: Annotated[Offset | None, BeforeValidator(_integer)] = Field(0, description="Items to skip.")


class ScenesQuery(Query):
    """``GET /api/v1/scenes``: a page of the registered scenes, optionally within a box and a time interval."""

    model_config = ConfigDict(title="ScenesQuery")

    bbox: str | None = Field(
        None, description="minlon,minlat,maxlon,maxlat: only scenes whose footprint intersects this box.",
        examples=["14.99,46.04,15.01,46.06"], json_schema_extra={"pattern": r"^[^,]+,[^,]+,[^,]+,[^,]+$"},
    )
    datetime: str | None = Field(
        None, description='STAC-style interval: "2023-04-01/2023-04-30", "../2023-04-30", "2023-04-01/..", or one '
                          "date (that whole day) or date-time (that instant); ends inclusive, UTC.",
        examples=["2023-04-01/2023-04-30"],
    )
    limit: Annotated[SceneLimit | None, BeforeValidator(_integer)] = Field(100, description="Page size.")
    offset: Annotated[Offset | None, BeforeValidator(_integer)] = Field(0, description="Items to skip.")


Pixels = Annotated[int, Field(ge=200, le=4000), Hint("an integer from 200 to 4000 (pixels)")]
Dpi = Annotated[int, Field(ge=50, le=600), Hint("an integer from 50 to 600")]


class PlotQuery(Query):
    """``GET /api/v1/timeseries/{id}/plot.png``: the figure's cloud thresholds and size."""

    model_config = ConfigDict(title="PlotQuery")

    max_cloud_fraction: Threshold = Field(
        None, description="Dates with a larger cloudy-pixel share are cloudy; empty or null clears the stored "
                          "threshold [default: the stored one]."
    )
    max_cloud_probability: Threshold = Field(
        None, description="Dates whose P(cloud) is larger are cloudy; empty or null clears the stored threshold "
                          "[default: the stored one]."
    )
    width: Annotated[Pixels | None, BeforeValidator(_integer)] = Field(None, description="Width in pixels [1200].")
    height: Annotated[Pixels | None, BeforeValidator(_integer)] = Field(None, description="Height in pixels [800].")
    dpi: Annotated[Dpi | None, BeforeValidator(_integer)] = Field(None, description="Dots per inch (text size) [100].")
