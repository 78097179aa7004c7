"""Pure numpy reductions: NDVI and the statistics registry (no I/O, no geometry)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

#: Percentiles use numpy's default linear interpolation between closest ranks.
STATISTICS: Final[Mapping[str, Callable[[np.ndarray], float]]] = {
    "mean": lambda v: float(np.mean(v)),
    "min": lambda v: float(np.min(v)),
    "max": lambda v: float(np.max(v)),
    "std": lambda v: float(np.std(v)),  # population standard deviation (ddof=0)
    "median": lambda v: float(np.median(v)),
    "p10": lambda v: float(np.percentile(v, 10)),
    "p25": lambda v: float(np.percentile(v, 25)),
    "p75": lambda v: float(np.percentile(v, 75)),
    "p90": lambda v: float(np.percentile(v, 90)),
}

NDVI_STATISTICS: Final[tuple[str, ...]] = ("mean", "min", "max", "std", "median", "p10", "p25", "p75", "p90")


#: Statistics that are percentiles (numpy's linear interpolation), by name.
_PERCENT_OF = {"median": 50.0, "p10": 10.0, "p25": 25.0, "p75": 75.0, "p90": 90.0}


def summarise(
    values: np.ndarray, names: tuple[str, ...] = NDVI_STATISTICS, weights: np.ndarray | None = None
) -> dict[str, float | None]:
    """Each named statistic of a 1-D array of valid values; all ``None`` when it is empty.

    With ``weights`` (one per value, > 0: the pixel's covered fraction) the mean is the
    weighted mean, std the weighted population std ``sqrt(sum w (v - m)^2 / sum w)``, the
    median and percentiles are :func:`weighted_quantile` and min/max are over all values.
    """
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return {name: None for name in names}
    if weights is None:
        return _summarise_unweighted(flat, names)
    w = np.asarray(weights, dtype=np.float64).ravel()
    mean = float(np.sum(w * flat) / np.sum(w))
    out: dict[str, float | None] = {}
    for name in names:
        if name == "mean":
            out[name] = mean
        elif name == "std":
            out[name] = float(np.sqrt(np.sum(w * (flat - mean) ** 2) / np.sum(w)))
        elif name == "min":
            out[name] = float(np.min(flat))
        elif name == "max":
            out[name] = float(np.max(flat))
        elif name == "median":
            out[name] = weighted_quantile(flat, w, 0.5)
        else:  # pNN
            out[name] = weighted_quantile(flat, w, float(name[1:]) / 100)
    return out


def _summarise_unweighted(flat: np.ndarray, names: tuple[str, ...]) -> dict[str, float | None]:
    """:data:`STATISTICS` of a non-empty float64 array, bit for bit, with fewer passes over the values:
    the sum once for the mean and std, and the order statistics by :func:`linear_percentiles`."""
    out: dict[str, float | None] = {}
    mean = None
    if "mean" in names or "std" in names:
        # np.mean's value: the same pairwise sum, divided by the count as np.mean divides it
        mean = np.add.reduce(flat) / np.intp(flat.size)
    low = high = None
    if "min" in names or "max" in names or any(name in _PERCENT_OF for name in names):
        low, high = float(np.min(flat)), float(np.max(flat))
    for name in names:
        if name == "mean":
            out[name] = float(mean)  # type: ignore[arg-type]
        elif name == "std":
            # np.std given the mean it would compute itself (shape (1,), as with keepdims)
            out[name] = float(np.std(flat, mean=np.full(1, mean)))
        elif name == "min":
            out[name] = low
        elif name == "max":
            out[name] = high
        elif name not in _PERCENT_OF:
            out[name] = STATISTICS[name](flat)
    ranked = [name for name in names if name in _PERCENT_OF]
    if ranked:
        assert low is not None and high is not None
        values = linear_percentiles(flat, [_PERCENT_OF[n] for n in ranked], low=low, high=high)
        out.update(zip(ranked, values, strict=True))
    return {name: out[name] for name in names}


#: below this many values one np.percentile call (a copy and one partition) is as fast as bucketing
_BUCKETED_MIN_SIZE = 1 << 16
#: value buckets of :func:`linear_percentiles`
_BUCKETS = 4096


def linear_percentiles(flat: np.ndarray, percents: list[float], *, low: float, high: float) -> list[float]:
    """``np.percentile(flat, percents)`` (linear interpolation), bit for bit, for a 1-D float64 array
    whose minimum and maximum are ``low`` and ``high``.

    Large arrays are not partitioned whole: the values are counted into buckets of equal width
    between ``low`` and ``high`` (an order-preserving map), and only the buckets holding the ranks
    numpy interpolates between are partitioned; the interpolation is numpy's own.
    """
    n = flat.size
    scale = _BUCKETS / (high - low) if high > low else 0.0
    if n < _BUCKETED_MIN_SIZE or not (np.isfinite(low) and np.isfinite(high) and np.isfinite(scale) and scale > 0):
        return [float(v) for v in np.percentile(flat, percents)]
    # numpy's virtual indexes, neighbouring ranks and weights (method "linear")
    q = np.true_divide(np.asarray(percents), 100)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    above = virtual >= n - 1
    previous[above] = n - 1
    following = np.where(above, n - 1, previous + 1)
    previous_index = previous.astype(np.intp)
    following_index = following.astype(np.intp)
    gamma = virtual - np.where(above, -1, previous_index)  # numpy's gamma uses index -1 for "last"
    ranks = np.unique(np.concatenate((previous_index, following_index)))
    # bucket of each value: monotone in the value, so a rank's value lies in the bucket where the
    # cumulative count passes the rank, at the rank's position among that bucket's values
    bucket = np.subtract(flat, low)
    np.multiply(bucket, scale, out=bucket)
    index = bucket.astype(np.intp)
    del bucket
    np.minimum(index, _BUCKETS - 1, out=index)
    counts = np.bincount(index, minlength=_BUCKETS)
    ends = np.cumsum(counts)
    rank_bucket = np.searchsorted(ends, ranks, side="right")
    wanted = np.zeros(_BUCKETS, dtype=bool)
    wanted[rank_bucket] = True
    keep = wanted[index]
    chosen, chosen_bucket = flat[keep], index[keep]
    del index, keep
    order_of: dict[int, float] = {}
    for bucket_id in np.unique(rank_bucket):
        members = chosen[chosen_bucket == bucket_id]
        start = int(ends[bucket_id] - counts[bucket_id])
        local = [int(r) - start for r in ranks[rank_bucket == bucket_id]]
        members.partition(local)
        for r, k in zip(ranks[rank_bucket == bucket_id], local, strict=True):
            order_of[int(r)] = float(members[k])
    a = np.array([order_of[int(i)] for i in previous_index])
    b = np.array([order_of[int(i)] for i in following_index])
    # numpy's _lerp
    diff_b_a = b - a
    result = np.add(a, diff_b_a * gamma)
    np.subtract(b, diff_b_a * (1 - gamma), out=result, where=gamma >= 0.5)
    return [float(v) for v in result]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` weighted by ``weights`` (exactextract's definition).

    Sorted ascending, value k (0-based) of n sits at ``S_k = k w_k + (n - 1) sum_{i<k} w_i``; the
    quantile is the linear interpolation at ``h = q S_n`` with ``S_n = (n - 1) sum w``. With equal
    weights this is numpy's default (linear interpolation between closest ranks).
    """
    order = np.argsort(values, kind="stable")
    v = np.asarray(values, dtype=np.float64)[order]
    w = np.asarray(weights, dtype=np.float64)[order]
    n = v.size
    if n == 1:
        return float(v[0])
    before = np.concatenate(([0.0], np.cumsum(w)[:-1]))
    s = np.arange(n) * w + (n - 1) * before
    h = q * (n - 1) * float(np.sum(w))
    return float(np.interp(h, s, v))


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """(NIR - red) / (NIR + red) in float64; NaN where either is NaN or the sum is 0."""
    red64 = np.asarray(red, dtype=np.float64)
    nir64 = np.asarray(nir, dtype=np.float64)
    total = nir64 + red64
    with np.errstate(invalid="ignore", divide="ignore"):
        index = np.subtract(nir64, red64)
        np.divide(index, total, out=index)
    np.putmask(index, total == 0, np.nan)
    return index


def mean_or_none(values: np.ndarray, weights: np.ndarray | None = None) -> float | None:
    """Mean (weighted by ``weights`` when given) of a 1-D array, ``None`` when empty."""
    if not values.size:
        return None
    if weights is None:
        return float(np.mean(values, dtype=np.float64))
    w = np.asarray(weights, dtype=np.float64)
    return float(np.sum(w * values.astype(np.float64)) / np.sum(w))


# --- requested percentiles ----------------------------------------------------------------------


def percentile_key(q: float) -> str:
    """The name of the ``q`` quantile (0..1) as a percentile: 0.05 -> ``p5``, 0.025 -> ``p2.5``."""
    text = f"{round(q * 100, 10):.10f}".rstrip("0").rstrip(".")
    return f"p{text}"


def percentiles(
    values: np.ndarray, qs: tuple[float, ...], weights: np.ndarray | None = None
) -> dict[str, float | None]:
    """``{percentile_key(q): value}`` with numpy's linear interpolation (:func:`weighted_quantile`
    with ``weights``); ``None`` when empty."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return {percentile_key(q): None for q in qs}
    if weights is not None:
        return {percentile_key(q): weighted_quantile(flat, weights, q) for q in qs}
    return {percentile_key(q): float(np.quantile(flat, q)) for q in qs}


# --- histograms ---------------------------------------------------------------------------------

HISTOGRAM_TYPES: Final[tuple[str, ...]] = ("equidistant", "equal_frequency")
MAX_BINS: Final = 1000


@dataclass(frozen=True)
class HistogramSpec:
    """How the bins of a histogram are laid out (validated by :mod:`fis.core.request`).

    Exactly one of ``bins`` (a count), ``bin_width`` (needs ``low`` and ``high``) or ``edges``
    (explicit, strictly increasing). Without ``low``/``high`` an equidistant range is the data's
    own min..max of each date (min - 0.5 .. max + 0.5 when they are equal, like numpy).
    ``equal_frequency`` puts the inner edges at the quantiles of the values within the range.
    """

    type: str = "equidistant"
    bins: int | None = None
    bin_width: float | None = None
    edges: tuple[float, ...] | None = None
    low: float | None = None
    high: float | None = None

    @property
    def n_bins(self) -> int:
        if self.edges is not None:
            return len(self.edges) - 1
        if self.bin_width is not None:
            assert self.low is not None and self.high is not None
            return max(1, math.ceil((self.high - self.low) / self.bin_width - 1e-9))
        assert self.bins is not None
        return self.bins

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "bins": self.n_bins}
        if self.bin_width is not None:
            out["bin_width"] = self.bin_width
        if self.edges is not None:
            out["edges"] = list(self.edges)
        if self.low is not None:
            out["low"] = self.low
            out["high"] = self.high
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HistogramSpec:
        edges = data.get("edges")
        return cls(
            type=data.get("type", "equidistant"),
            bins=None if (edges is not None or data.get("bin_width") is not None) else data.get("bins"),
            bin_width=data.get("bin_width"),
            edges=tuple(edges) if edges is not None else None,
            low=data.get("low"),
            high=data.get("high"),
        )

    def edges_for(self, values: np.ndarray) -> np.ndarray | None:
        """The bin edges for one set of values (``None`` when they are needed and there are none)."""
        if self.edges is not None:
            return np.asarray(self.edges, dtype=np.float64)
        low, high = self.low, self.high
        n = self.n_bins
        fixed = low is not None and high is not None
        if not fixed:
            if values.size == 0:
                return None
            low, high = float(values.min()), float(values.max())
            if low == high:
                low, high = low - 0.5, high + 0.5
        assert low is not None and high is not None
        if self.type == "equal_frequency":
            inside = values[(values >= low) & (values <= high)]
            if inside.size:
                inner = np.quantile(inside, np.arange(1, n) / n)
                return np.concatenate(([low], inner, [high]))
            return _tidy(np.linspace(low, high, n + 1), fixed)
        if self.bin_width is not None:
            edges = low + self.bin_width * np.arange(n + 1, dtype=np.float64)
            edges[-1] = high
            return _tidy(edges, fixed)
        return _tidy(np.linspace(low, high, n + 1), fixed)


def _tidy(edges: np.ndarray, fixed: bool) -> np.ndarray:
    """Round inner edges of a user-given range to 12 decimals (``-0.7`` rather than ``-0.7000000000000001``).

    The outer edges stay exactly ``low`` and ``high``; nothing is rounded when that would break
    the strict order, or when the range comes from the data.
    """
    if not fixed or edges.size <= 2:
        return edges
    rounded = edges.copy()
    rounded[1:-1] = np.round(edges[1:-1], 12)
    return rounded if bool(np.all(np.diff(rounded) > 0)) else edges


def histogram(values: np.ndarray, spec: HistogramSpec, weights: np.ndarray | None = None) -> dict[str, Any] | None:
    """Exact bin counts of every value: ``{"bins": [{"low", "high", "count"}], "underflow", "overflow"}``.

    A bin holds ``low <= v < high``; the last bin also holds ``v == high``. Values below the
    first edge are ``underflow``, above the last ``overflow``. ``None`` when there are no values.
    With ``weights`` (pixel rule ``coverage``) every count is the sum of the weights of its
    values (a float: coverage-weighted frequencies, as exactextract's ``frac``/``frequency``).
    """
    if weights is not None:
        return _weighted_histogram(values, spec, np.asarray(weights, dtype=np.float64).ravel())
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return None
    edges = spec.edges_for(flat)
    assert edges is not None
    if not np.all(np.isfinite(edges)):  # a data range too wide for float64 (e.g. -1e308..1e308)
        return None
    n = edges.size - 1
    below = flat < edges[0]
    above = flat > edges[-1]
    inside = flat[~below & ~above]
    index = np.searchsorted(edges, inside, side="right") - 1
    index[index >= n] = n - 1  # v == last edge
    counts = np.bincount(index, minlength=n)
    return {
        "bins": [
            {"low": float(edges[i]), "high": float(edges[i + 1]), "count": int(counts[i])} for i in range(n)
        ],
        "underflow": int(below.sum()),
        "overflow": int(above.sum()),
    }


def _weighted_histogram(values: np.ndarray, spec: HistogramSpec, weights: np.ndarray) -> dict[str, Any] | None:
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return None
    edges = spec.edges_for(flat)
    assert edges is not None
    if not np.all(np.isfinite(edges)):
        return None
    n = edges.size - 1
    below = flat < edges[0]
    above = flat > edges[-1]
    keep = ~below & ~above
    index = np.searchsorted(edges, flat[keep], side="right") - 1
    index[index >= n] = n - 1
    counts = np.bincount(index, weights=weights[keep], minlength=n)
    return {
        "bins": [
            {"low": float(edges[i]), "high": float(edges[i + 1]), "count": float(counts[i])} for i in range(n)
        ],
        "underflow": float(weights[below].sum()),
        "overflow": float(weights[above].sum()),
    }
