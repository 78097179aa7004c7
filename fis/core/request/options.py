"""Parsers of the composite options of a request body: ``indices`` and ``statistics`` (percentiles, histogram).

The pydantic body model (:mod:`fis.core.request.body`) calls them in its validators; each raises
:class:`~fis.errors.InvalidInput` naming the dotted key and what to send.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from fis.core.expressions import IndexDefinition, builtin_index, custom_index
from fis.core.request.checks import describe as _describe
from fis.core.request.checks import number as _number
from fis.core.stats import HISTOGRAM_TYPES, MAX_BINS, HistogramSpec, percentile_key
from fis.errors import InvalidInput

MAX_INDICES = 20
MAX_PERCENTILES = 100
STATISTICS_KEYS: tuple[str, ...] = ("percentiles", "histogram")
HISTOGRAM_KEYS: tuple[str, ...] = ("bins", "bin_width", "edges", "low", "high", "type")


# ------------------------------------------------------------------------ statistics options


def parse_indices(value: Any) -> tuple[IndexDefinition, ...]:
    """``["ndwi", "evi"]`` (built-ins) or ``{"ndwi": null, "my_ratio": "(B08 - B11) / (B08 + B11)"}``.

    NDVI is always computed (the ``ndvi`` block); naming it here changes nothing.
    """
    if value is None:
        return ()
    definitions: list[IndexDefinition] = []
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise InvalidInput(
                    f"indices: list entries must be names of built-in indices (strings), got {_describe(item)}; "
                    'define your own as an object: {"my_ratio": "(B08 - B11) / (B08 + B11)"}',
                    field="indices",
                )
            if item != item.lower():
                raise InvalidInput(
                    f"indices.{item}: index names are lower case; send {item.lower()!r}", field=f"indices.{item}"
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
            f"statistics: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"accepted keys are {', '.join(STATISTICS_KEYS)}",
            field=f"statistics.{unknown[0]}",
            details={"unknown": unknown, "accepted": list(STATISTICS_KEYS)},
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
        raise InvalidInput(
            f"{key}.{missing}: low and high come together; give both or neither", field=f"{key}.{missing}"
        )
    if low is not None:
        low = _number(low, f"{key}.low", lo=-math.inf, hi=None, lo_inclusive=False, what="a finite number")
        high = _number(high, f"{key}.high", lo=-math.inf, hi=None, lo_inclusive=False, what="a finite number")
        if low >= high:
            raise InvalidInput(f"{key}: low ({low:g}) must be less than high ({high:g})", field=f"{key}.low")
    if given == ["bins"]:
        bins = value["bins"]
        if (
            isinstance(bins, bool)
            or not isinstance(bins, (int, float))
            or not float(bins).is_integer()
            or not 1 <= bins <= MAX_BINS
        ):
            raise InvalidInput(
                f"{key}.bins: {_describe(bins)} is not accepted; use an integer from 1 to {MAX_BINS}",
                field=f"{key}.bins",
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
    numbers = [
        _number(e, f"{key}.edges", lo=-math.inf, hi=None, lo_inclusive=False, what="a finite number") for e in edges
    ]
    if any(b <= a for a, b in itertools.pairwise(numbers)):
        raise InvalidInput(f"{key}.edges: {edges!r} is not strictly increasing", field=f"{key}.edges")
    return HistogramSpec(type=kind, edges=tuple(numbers))
