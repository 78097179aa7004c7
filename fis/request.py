"""Validation of a time-series request body (and of query-string options) into typed objects.

Every error is an :class:`~fis.errors.InvalidInput` (or a subclass) whose ``field`` is the JSON
key, dotted for nested keys (``time_range.from``), and whose message says what to send instead.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field as dc_field
from typing import Any

from fis.errors import InvalidInput
from fis.geometry import AOI, parse_crs, parse_geometry
from fis.timerange import TimeRange, parse_time_range

__all__ = [
    "ACCEPTED_KEYS",
    "CloudMaskSettings",
    "TimeseriesRequest",
    "parse_bool",
    "parse_threshold",
    "parse_timeseries_request",
]

ACCEPTED_KEYS: tuple[str, ...] = (
    "geometry",
    "crs",
    "time_range",
    "resolution",
    "cloud_threshold",
    "cloud_mask_resolution",
    "cloud_mask_average_over",
    "cloud_mask_dilation",
    "max_cloud_fraction",
    "max_cloud_probability",
    "include_cloudy",
)
REQUIRED_KEYS: tuple[str, ...] = ("geometry", "time_range")

MAX_RESOLUTION = 10_000.0
MAX_DISK_RADIUS = 10


# ------------------------------------------------------------------------------ value checks


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return repr(value)


def _number(
    value: Any,
    key: str,
    *,
    lo: float,
    hi: float | None,
    lo_inclusive: bool,
    what: str,
) -> float:
    """A finite real number within ``lo..hi`` (``hi`` inclusive); bools and strings rejected."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{key}: must be a number ({what}), got {_describe(value)}", field=key)
    x = float(value)
    if not math.isfinite(x):
        raise InvalidInput(f"{key}: must be a finite number ({what}), got {value!r}", field=key)
    if (x < lo if lo_inclusive else x <= lo) or (hi is not None and x > hi):
        raise InvalidInput(f"{key}: {value!r} is out of range; use {what}", field=key)
    return x


def _fraction(value: Any, key: str) -> float:
    return _number(value, key, lo=0.0, hi=1.0, lo_inclusive=True, what="a number between 0 and 1")


def _radius(value: Any, key: str) -> int:
    what = f"an integer from 0 to {MAX_DISK_RADIUS}: disk radius in mask pixels, 0 = off"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{key}: must be a number ({what}), got {_describe(value)}", field=key)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{key}: must be a finite number ({what}), got {value!r}", field=key)
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{key}: must be an integer ({what}), got {value!r}", field=key)
    n = int(value)
    if not 0 <= n <= MAX_DISK_RADIUS:
        raise InvalidInput(f"{key}: {value!r} is out of range; use {what}", field=key)
    return n


def _resolution(value: Any, key: str) -> float:
    return _number(
        value, key, lo=0.0, hi=MAX_RESOLUTION, lo_inclusive=False,
        what=f"metres, greater than 0 and at most {MAX_RESOLUTION:g}",
    )


# -------------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class CloudMaskSettings:
    """How the per-pixel s2cloudless cloud mask is computed (values checked on construction)."""

    threshold: float = 0.4
    resolution: float = 160.0
    average_over: int = 1
    dilation_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", _fraction(self.threshold, "cloud_threshold"))
        object.__setattr__(
            self, "resolution",
            _number(self.resolution, "cloud_mask_resolution", lo=0.0, hi=None, lo_inclusive=False,
                    what="metres, greater than 0"),
        )
        object.__setattr__(self, "average_over", _radius(self.average_over, "cloud_mask_average_over"))
        object.__setattr__(self, "dilation_size", _radius(self.dilation_size, "cloud_mask_dilation"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: ``threshold``, ``resolution``, ``average_over``, ``dilation_size``."""
        return {
            "threshold": self.threshold,
            "resolution": self.resolution,
            "average_over": self.average_over,
            "dilation_size": self.dilation_size,
        }


@dataclass(frozen=True)
class TimeseriesRequest:
    """A validated request for a field's per-acquisition statistics."""

    aoi: AOI
    time_range: TimeRange
    resolution: float = 10.0
    cloud_mask: CloudMaskSettings = dc_field(default_factory=CloudMaskSettings)
    max_cloud_fraction: float | None = None
    max_cloud_probability: float | None = None
    include_cloudy: bool = False

    def parameters(self) -> dict[str, Any]:
        """JSON-serialisable record of every option (stored with the series); excludes the geometry."""
        return {
            "crs": self.aoi.crs.to_string(),
            "time_range": self.time_range.to_dict(),
            "resolution": float(self.resolution),
            "cloud_mask": self.cloud_mask.to_dict(),
            "max_cloud_fraction": self.max_cloud_fraction,
            "max_cloud_probability": self.max_cloud_probability,
            "include_cloudy": self.include_cloudy,
        }


# ------------------------------------------------------------------------------------ parsing


def parse_timeseries_request(body: Any) -> TimeseriesRequest:
    """Validate a JSON request body into a :class:`TimeseriesRequest`.

    Required: ``geometry``, ``time_range``. Optional keys given as ``null`` take their defaults.
    """
    if not isinstance(body, dict):
        raise InvalidInput(
            f"request body: must be a JSON object with keys {', '.join(REQUIRED_KEYS)} (required) and "
            f"optional {', '.join(k for k in ACCEPTED_KEYS if k not in REQUIRED_KEYS)}; got {_describe(body)}",
            field=None,
        )
    unknown = sorted(str(k) for k in body if k not in ACCEPTED_KEYS)
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, ACCEPTED_KEYS, n=1)
            if close:
                hints.append(f"{k!r} -> did you mean {close[0]!r}?")
        hint = f" ({'; '.join(hints)})" if hints else ""
        raise InvalidInput(
            f"unknown key(s) {', '.join(repr(k) for k in unknown)}{hint}; accepted keys are {', '.join(ACCEPTED_KEYS)}",
            field=unknown[0],
            details={"unknown": unknown, "accepted": list(ACCEPTED_KEYS)},
        )
    for key in REQUIRED_KEYS:
        if body.get(key) is None:
            raise InvalidInput(f"{key}: is required but missing (or null)", field=key)

    def opt(key: str) -> Any:
        return body.get(key)

    crs = parse_crs(opt("crs"), field="crs") if opt("crs") is not None else None
    aoi = parse_geometry(body["geometry"], crs=crs, field="geometry")
    time_range = parse_time_range(body["time_range"], field="time_range")

    defaults = CloudMaskSettings()
    cloud_mask = CloudMaskSettings(
        threshold=defaults.threshold if opt("cloud_threshold") is None else _fraction(opt("cloud_threshold"), "cloud_threshold"),
        resolution=(
            defaults.resolution if opt("cloud_mask_resolution") is None
            else _number(opt("cloud_mask_resolution"), "cloud_mask_resolution", lo=0.0, hi=None,
                         lo_inclusive=False, what="metres, greater than 0")
        ),
        average_over=(
            defaults.average_over if opt("cloud_mask_average_over") is None
            else _radius(opt("cloud_mask_average_over"), "cloud_mask_average_over")
        ),
        dilation_size=(
            defaults.dilation_size if opt("cloud_mask_dilation") is None
            else _radius(opt("cloud_mask_dilation"), "cloud_mask_dilation")
        ),
    )

    include_cloudy = opt("include_cloudy")
    if include_cloudy is None:
        include_cloudy = False
    elif not isinstance(include_cloudy, bool):
        raise InvalidInput(
            f"include_cloudy: must be a boolean (JSON true or false), got {_describe(include_cloudy)}",
            field="include_cloudy",
        )

    return TimeseriesRequest(
        aoi=aoi,
        time_range=time_range,
        resolution=10.0 if opt("resolution") is None else _resolution(opt("resolution"), "resolution"),
        cloud_mask=cloud_mask,
        max_cloud_fraction=None if opt("max_cloud_fraction") is None else _fraction(opt("max_cloud_fraction"), "max_cloud_fraction"),
        max_cloud_probability=(
            None if opt("max_cloud_probability") is None
            else _fraction(opt("max_cloud_probability"), "max_cloud_probability")
        ),
        include_cloudy=include_cloudy,
    )


def parse_threshold(value: str | None, *, field: str) -> float | None:
    """Parse a query-string threshold in 0..1; ``None`` (parameter absent) gives ``None``."""
    if value is None:
        return None
    what = "a number between 0 and 1, e.g. 0.3"
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be {what}, got {_describe(value)}", field=field)
    text = value.strip()
    try:
        x = float(text)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a number; use {what}", field=field) from None
    if not math.isfinite(x):
        raise InvalidInput(f"{field}: {value!r} is not a finite number; use {what}", field=field)
    if not 0.0 <= x <= 1.0:
        raise InvalidInput(f"{field}: {value!r} is out of range; use {what}", field=field)
    return x


_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def parse_bool(value: str | None, *, field: str) -> bool | None:
    """Parse a query-string flag: true/false, 1/0, yes/no (case-insensitive); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InvalidInput(f"{field}: {value!r} is not a boolean; use true or false (also 1/0, yes/no)", field=field)
