"""Validation of a time-series request body (and of query-string options) into typed objects.

Every error is an :class:`~fis.errors.InvalidInput` (or a subclass) whose ``field`` is the JSON
key, dotted for nested keys (``time_range.from``), and whose message says what to send instead.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field as dc_field
from typing import Any

from fis.core.aggregation import Aggregation, parse_aggregation
from fis.errors import InvalidInput
from fis.core.expressions import IndexDefinition, builtin_index, custom_index
from fis.core.geometry import AOI, parse_crs, parse_geometry
from fis.core.options import PIXEL_RULES, StatisticsOptions
from fis.core.stats import HISTOGRAM_TYPES, MAX_BINS, HistogramSpec, percentile_key
from fis.core.timerange import TimeRange, parse_time_range

__all__ = [
    "ACCEPTED_KEYS",
    "CloudMaskSettings",
    "StatisticsOptions",
    "TimeseriesRequest",
    "parse_bool",
    "parse_series_name",
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
    "mask_clouds",
    "indices",
    "statistics",
    "aggregation",
    "pixel_rule",
    "min_coverage",
    "name",
)
REQUIRED_KEYS: tuple[str, ...] = ("geometry", "time_range")

MAX_RESOLUTION = 10_000.0
MAX_DISK_RADIUS = 10
MAX_INDICES = 20
MAX_PERCENTILES = 100
MAX_NAME_LENGTH = 200
STATISTICS_KEYS: tuple[str, ...] = ("percentiles", "histogram")
HISTOGRAM_KEYS: tuple[str, ...] = ("bins", "bin_width", "edges", "low", "high", "type")


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
    #: statistics over the valid pixels the cloud mask calls clear only
    mask_clouds: bool = False
    #: indices besides NDVI (built-in or custom band math), in request order
    indices: tuple[IndexDefinition, ...] = ()
    #: extra percentiles (0..1) of NDVI and of every index
    percentiles: tuple[float, ...] = ()
    #: a histogram of NDVI and of every index
    histogram: HistogramSpec | None = None
    #: one row per time interval instead of one per date
    aggregation: Aggregation | None = None
    #: which pixels belong to the polygon: "center" (default), "all_touched" or "coverage" (weighted)
    pixel_rule: str = "center"
    #: with "coverage": pixels covered less than this fraction are left out
    min_coverage: float = 0.0
    #: the user's name for the series (not a computation parameter)
    name: str | None = None
    #: the request Feature's ``properties`` (kept for the GeoJSON export)
    properties: dict[str, Any] | None = None

    @property
    def statistics(self) -> StatisticsOptions:
        """The options of the per-date reduction (:func:`fis.engine.reductions.reduce_date`)."""
        return StatisticsOptions(
            mask_clouds=self.mask_clouds, indices=self.indices, percentiles=self.percentiles, histogram=self.histogram
        )

    def parameters(self) -> dict[str, Any]:
        """JSON-serialisable record of every option (stored with the series); excludes the geometry.

        The statistics options appear only when they are used, so a default request's record is
        what it always was.
        """
        out: dict[str, Any] = {
            "crs": self.aoi.crs.to_string(),
            "time_range": self.time_range.to_dict(),
            "resolution": float(self.resolution),
            "cloud_mask": self.cloud_mask.to_dict(),
            "max_cloud_fraction": self.max_cloud_fraction,
            "max_cloud_probability": self.max_cloud_probability,
            "include_cloudy": self.include_cloudy,
        }
        if self.mask_clouds:
            out["mask_clouds"] = True
        if self.indices:
            out["indices"] = {index.name: index.expression for index in self.indices}
        statistics: dict[str, Any] = {}
        if self.percentiles:
            statistics["percentiles"] = list(self.percentiles)
        if self.histogram is not None:
            statistics["histogram"] = self.histogram.to_dict()
        if statistics:
            out["statistics"] = statistics
        if self.aggregation is not None:
            out["aggregation"] = self.aggregation.to_dict()
        if self.pixel_rule != "center":
            out["pixel_rule"] = self.pixel_rule
        if self.min_coverage:
            out["min_coverage"] = self.min_coverage
        return out


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

    mask_clouds = opt("mask_clouds")
    if mask_clouds is None:
        mask_clouds = False
    elif not isinstance(mask_clouds, bool):
        raise InvalidInput(
            f"mask_clouds: must be a boolean (JSON true or false), got {_describe(mask_clouds)}", field="mask_clouds"
        )
    percentiles, histogram = parse_statistics(opt("statistics"))
    pixel_rule = parse_pixel_rule(opt("pixel_rule"))
    min_coverage = 0.0 if opt("min_coverage") is None else _fraction(opt("min_coverage"), "min_coverage")
    if min_coverage and pixel_rule != "coverage":
        raise InvalidInput(
            f'min_coverage: only applies with "pixel_rule": "coverage" (got pixel_rule {pixel_rule!r})', field="min_coverage"
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
        mask_clouds=mask_clouds,
        indices=parse_indices(opt("indices")),
        percentiles=percentiles,
        histogram=histogram,
        aggregation=None if opt("aggregation") is None else parse_aggregation(opt("aggregation")),
        pixel_rule=pixel_rule,
        min_coverage=min_coverage,
        **_name_and_properties(body),
    )


def _name_and_properties(body: dict[str, Any]) -> dict[str, Any]:
    """``name`` (or the Feature's ``properties.name``) and the Feature's ``properties``."""
    geometry = body["geometry"]
    is_feature = isinstance(geometry, dict) and geometry.get("type") == "Feature"
    properties = geometry.get("properties") if is_feature else None
    properties = properties if isinstance(properties, dict) else None
    if body.get("name") is not None:
        return {"name": parse_series_name(body["name"]), "properties": properties}
    inherited = (properties or {}).get("name")
    name = parse_series_name(inherited, field="geometry.properties.name") if isinstance(inherited, str) else None
    return {"name": name, "properties": properties}


def parse_series_name(value: Any, *, field: str = "name") -> str | None:
    """A series name: null, or a string of 1 to 200 characters without control characters."""
    if value is None:
        return None
    what = f'a string of 1 to {MAX_NAME_LENGTH} characters, e.g. "north field 2023"'
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: must be {what}, got {_describe(value)}", field=field)
    if not value.strip():
        raise InvalidInput(f"{field}: {value!r} is empty; give {what} (or null for no name)", field=field)
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInput(f"{field}: {len(value)} characters is too long; give {what}", field=field)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            f"{field}: {value!r} contains control characters (e.g. a line break); give {what}", field=field
        )
    return value


def request_from_parameters(geometry_4326: Any, parameters: dict[str, Any], time_range: TimeRange) -> TimeseriesRequest:
    """The request a stored series' ``parameters`` record, over ``time_range`` (the geometry in EPSG:4326)."""
    from shapely.geometry import mapping

    cloud = parameters.get("cloud_mask") or {}
    statistics = parameters.get("statistics") or {}
    histogram = statistics.get("histogram")
    return TimeseriesRequest(
        aoi=parse_geometry(
            json.loads(json.dumps(mapping(geometry_4326))), crs=parse_crs("EPSG:4326", field="crs"), field="geometry"
        ),
        time_range=time_range,
        resolution=float(parameters.get("resolution", 10.0)),
        cloud_mask=CloudMaskSettings(**{k: cloud[k] for k in ("threshold", "resolution", "average_over", "dilation_size") if k in cloud}),
        max_cloud_fraction=parameters.get("max_cloud_fraction"),
        max_cloud_probability=parameters.get("max_cloud_probability"),
        include_cloudy=bool(parameters.get("include_cloudy", False)),
        mask_clouds=bool(parameters.get("mask_clouds", False)),
        indices=parse_indices(parameters.get("indices")),
        percentiles=tuple(statistics.get("percentiles") or ()),
        histogram=HistogramSpec.from_dict(histogram) if histogram is not None else None,
        aggregation=None if parameters.get("aggregation") is None else parse_aggregation(parameters["aggregation"]),
        pixel_rule=parameters.get("pixel_rule", "center"),
        min_coverage=float(parameters.get("min_coverage", 0.0)),
    )


def parse_pixel_rule(value: Any) -> str:
    """``center`` (default, also for null), ``all_touched`` or ``coverage``."""
    if value is None:
        return "center"
    if not isinstance(value, str) or value not in PIXEL_RULES:
        raise InvalidInput(
            f"pixel_rule: must be one of {', '.join(repr(r) for r in PIXEL_RULES)}, got {_describe(value)}",
            field="pixel_rule",
        )
    return value


# ------------------------------------------------------------------------ statistics options


def parse_indices(value: Any) -> tuple[IndexDefinition, ...]:
    """``["ndwi", "evi"]`` (built-ins) or ``{"ndwi": null, "my_ratio": "(B08 - B11) / (B08 + B11)"}``.

    NDVI is always computed (the ``ndvi`` block); naming it here changes nothing.
    """
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    definitions: list[IndexDefinition] = []
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise InvalidInput(
                    f"indices: list entries must be names of built-in indices (strings), got {_describe(item)}; "
                    'define your own as an object: {"my_ratio": "(B08 - B11) / (B08 + B11)"}',
                    field="indices",
                )
            definitions.append(builtin_index(item, field=f"indices.{item}"))
    elif isinstance(value, dict):
        definitions = [custom_index(name, expression) for name, expression in value.items()]
    else:
        raise InvalidInput(
            "indices: must be a list of built-in index names such as [\"ndwi\", \"evi\"] or an object of "
            f'name -> band math such as {{"my_ratio": "(B08 - B11) / (B08 + B11)"}}, got {_describe(value)}',
            field="indices",
        )
    unique: dict[str, IndexDefinition] = {}
    for definition in definitions:
        if definition.name != "ndvi":
            unique.setdefault(definition.name, definition)
    if len(unique) > MAX_INDICES:
        raise InvalidInput(f"indices: {len(unique)} indices requested; the limit is {MAX_INDICES}", field="indices")
    return tuple(unique.values())


def parse_statistics(value: Any) -> tuple[tuple[float, ...], HistogramSpec | None]:
    """``{"percentiles": [0.05, 0.5, 0.95], "histogram": {...}}`` -> (percentiles, histogram)."""
    if value is None:
        return (), None
    if not isinstance(value, dict):
        raise InvalidInput(
            'statistics: must be an object such as {"percentiles": [0.05, 0.5, 0.95], "histogram": {"bins": 10}}, '
            f"got {_describe(value)}",
            field="statistics",
        )
    unknown = sorted(str(k) for k in value if k not in STATISTICS_KEYS)
    if unknown:
        raise InvalidInput(
            f"statistics: unknown key(s) {', '.join(map(repr, unknown))}; accepted keys are {', '.join(STATISTICS_KEYS)}",
            field=f"statistics.{unknown[0]}", details={"unknown": unknown, "accepted": list(STATISTICS_KEYS)},
        )
    return _percentiles(value.get("percentiles")), (
        None if value.get("histogram") is None else parse_histogram(value["histogram"])
    )


def _percentiles(value: Any) -> tuple[float, ...]:
    key = "statistics.percentiles"
    what = "a list of numbers from 0 to 1, e.g. [0.05, 0.5, 0.95]"
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidInput(f"{key}: must be {what}, got {_describe(value)}", field=key)
    if len(value) > MAX_PERCENTILES:
        raise InvalidInput(f"{key}: {len(value)} percentiles requested; the limit is {MAX_PERCENTILES}", field=key)
    out: dict[str, float] = {}
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise InvalidInput(f"{key}: {_describe(item)} is not a number; use {what}", field=key)
        if not 0.0 <= item <= 1.0:
            raise InvalidInput(
                f"{key}: {item!r} is outside 0..1; percentiles are fractions ({what}: 0.95 is the 95th percentile)",
                field=key,
            )
        out.setdefault(percentile_key(float(item)), float(item))
    return tuple(out.values())


def parse_histogram(value: Any) -> HistogramSpec:
    """``{"bins": 10 | "bin_width": 0.05 | "edges": [...], "low": -1, "high": 1, "type": ...}``."""
    key = "statistics.histogram"
    example = '{"bins": 10, "low": -1, "high": 1}'
    if not isinstance(value, dict):
        raise InvalidInput(f"{key}: must be an object such as {example}, got {_describe(value)}", field=key)
    unknown = sorted(str(k) for k in value if k not in HISTOGRAM_KEYS)
    if unknown:
        raise InvalidInput(
            f"{key}: unknown key(s) {', '.join(map(repr, unknown))}; accepted keys are {', '.join(HISTOGRAM_KEYS)}",
            field=f"{key}.{unknown[0]}", details={"unknown": unknown, "accepted": list(HISTOGRAM_KEYS)},
        )
    given = [k for k in ("bins", "bin_width", "edges") if value.get(k) is not None]
    if len(given) != 1:
        problem = "has no bins" if not given else f"gives {' and '.join(given)}"
        raise InvalidInput(
            f"{key}: the histogram {problem}; give exactly one of bins (a count, 1..{MAX_BINS}), bin_width "
            f"(with low and high) or edges (a list of increasing numbers), e.g. {example}",
            field=key,
        )
    kind = value.get("type") or "equidistant"
    if kind not in HISTOGRAM_TYPES:
        raise InvalidInput(
            f"{key}.type: {kind!r} is not accepted; use one of {', '.join(HISTOGRAM_TYPES)} (default equidistant)",
            field=f"{key}.type", details={"accepted": list(HISTOGRAM_TYPES)},
        )
    if kind == "equal_frequency" and given != ["bins"]:
        raise InvalidInput(
            f"{key}.type: equal_frequency places the edges itself; give bins (a count), not {given[0]}",
            field=f"{key}.type",
        )
    low, high = value.get("low"), value.get("high")
    if (low is None) != (high is None):
        missing = "high" if high is None else "low"
        raise InvalidInput(f"{key}.{missing}: low and high come together; give both or neither", field=f"{key}.{missing}")
    if low is not None:
        low = _number(low, f"{key}.low", lo=-math.inf, hi=None, lo_inclusive=False, what="a finite number")
        high = _number(high, f"{key}.high", lo=-math.inf, hi=None, lo_inclusive=False, what="a finite number")
        if low >= high:
            raise InvalidInput(f"{key}: low ({low:g}) must be less than high ({high:g})", field=f"{key}.low")
    if given == ["bins"]:
        bins = value["bins"]
        if isinstance(bins, bool) or not isinstance(bins, (int, float)) or not float(bins).is_integer() or not 1 <= bins <= MAX_BINS:
            raise InvalidInput(
                f"{key}.bins: {_describe(bins)} is not accepted; use an integer from 1 to {MAX_BINS}", field=f"{key}.bins"
            )
        return HistogramSpec(type=kind, bins=int(bins), low=low, high=high)
    if given == ["bin_width"]:
        width = _number(value["bin_width"], f"{key}.bin_width", lo=0.0, hi=None, lo_inclusive=False,
                        what="a number greater than 0")
        if low is None or high is None:
            raise InvalidInput(
                f"{key}.bin_width: needs low and high (the range the bins of that width cover), e.g. "
                '{"bin_width": 0.05, "low": -1, "high": 1}',
                field=f"{key}.bin_width",
            )
        spec = HistogramSpec(type=kind, bin_width=width, low=low, high=high)
        if (high - low) / width > MAX_BINS:
            raise InvalidInput(
                f"{key}.bin_width: {width:g} splits {low:g}..{high:g} into more than {MAX_BINS} bins; use a wider bin",
                field=f"{key}.bin_width",
            )
        return spec
    edges = value["edges"]
    if low is not None:
        raise InvalidInput(f"{key}: edges already fix the range; leave out low and high", field=f"{key}.low")
    if not isinstance(edges, list) or not 2 <= len(edges) <= MAX_BINS + 1:
        raise InvalidInput(
            f"{key}.edges: must be a list of 2 to {MAX_BINS + 1} increasing numbers, e.g. [-1, 0, 0.3, 0.6, 1]",
            field=f"{key}.edges",
        )
    numbers = [_number(e, f"{key}.edges", lo=-math.inf, hi=None, lo_inclusive=False, what="a finite number") for e in edges]
    if any(b <= a for a, b in zip(numbers, numbers[1:])):
        raise InvalidInput(f"{key}.edges: {edges!r} is not strictly increasing", field=f"{key}.edges")
    return HistogramSpec(type=kind, edges=tuple(numbers))


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
