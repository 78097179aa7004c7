"""Statistics, percentiles and histograms of one output band of one interval, in Sentinel Hub's shape.

``sampleCount`` is the number of pixels of the bounding raster (the grid over the area's bounds);
``noDataCount`` counts the pixels outside the polygon, those the output's mask (``dataMask``) excludes and
those whose value is not finite. ``min``/``max``/``mean``/``stDev`` (population, ddof = 0) are over the rest,
with fis' own reductions (:mod:`fis.core.stats`); without values they are the string ``"NaN"``, as Sentinel Hub
answers. Percentiles with ``linear`` interpolation are fis' own percentiles (numpy's linear method); the other
interpolations are numpy's methods of the same names.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Final

import numpy as np

from fis.core.stats import histogram, percentiles, summarise
from fis.protocols.sentinelhub_stats.query import BandCalculation, Percentiles

#: What Sentinel Hub puts in a statistic without values.
NAN: Final = "NaN"


def band_result(values: np.ndarray, sample_count: int, calculation: BandCalculation) -> dict[str, Any]:
    """``{"stats": {...}, "histogram": {...}}`` (histogram only when asked for) of one band's valid values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    with np.errstate(over="ignore", invalid="ignore"):  # values near the float64 limits give "NaN", not warnings
        return _band_result(v, sample_count, calculation)


def _band_result(v: np.ndarray, sample_count: int, calculation: BandCalculation) -> dict[str, Any]:
    summary = summarise(v, ("min", "max", "mean", "std"))
    stats: dict[str, Any] = {
        "min": _number(summary["min"]),
        "max": _number(summary["max"]),
        "mean": _number(summary["mean"]),
        "stDev": _number(summary["std"]),
        "sampleCount": int(sample_count),
        "noDataCount": int(sample_count - v.size),
    }
    if calculation.percentiles is not None:
        stats["percentiles"] = percentile_values(v, calculation.percentiles)
    out: dict[str, Any] = {"stats": stats}
    if calculation.histogram is not None:
        out["histogram"] = histogram_result(v, calculation)
    return out


def percentile_values(values: np.ndarray, spec: Percentiles) -> dict[str, Any]:
    """``{"50.0": value}`` per requested percentile (``"NaN"`` without values)."""
    keys = [str(float(k)) for k in spec.k]
    if values.size == 0:
        return dict.fromkeys(keys, NAN)
    if spec.interpolation == "linear":
        got = percentiles(values, tuple(k / 100.0 for k in spec.k))
        return {key: _number(value) for key, value in zip(keys, got.values(), strict=True)}
    computed = np.percentile(values, np.asarray(spec.k), method=spec.interpolation)  # type: ignore[call-overload]
    return {key: float(value) for key, value in zip(keys, np.atleast_1d(computed), strict=True)}


def histogram_result(values: np.ndarray, calculation: BandCalculation) -> dict[str, Any]:
    """``{"bins": [{"lowEdge", "highEdge", "count"}], "overflow", "underflow"}`` with fis' exact bin counts."""
    spec = calculation.histogram
    assert spec is not None
    if calculation.bin_width is not None:  # binWidth over the data's own range
        if values.size == 0:
            return {"bins": [], "overflow": 0, "underflow": 0}
        low, high = float(values.min()), float(values.max())
        if low == high:
            high = low + calculation.bin_width
        spec = dataclasses.replace(spec, bins=None, bin_width=calculation.bin_width, low=low, high=high)
    counted = histogram(values, spec)
    if counted is None:
        edges = spec.edges_for(values)
        if edges is None or not np.all(np.isfinite(edges)):  # no values, or a range too wide for float64
            return {"bins": [], "overflow": 0, "underflow": 0}
        counted = {
            "bins": [{"low": float(a), "high": float(b), "count": 0} for a, b in itertools.pairwise(edges)],
            "underflow": 0, "overflow": 0,
        }
    return {
        "bins": [{"lowEdge": b["low"], "highEdge": b["high"], "count": b["count"]} for b in counted["bins"]],
        "overflow": counted["overflow"],
        "underflow": counted["underflow"],
    }


def _number(value: float | None) -> float | str:
    return NAN if value is None or not np.isfinite(value) else float(value)
