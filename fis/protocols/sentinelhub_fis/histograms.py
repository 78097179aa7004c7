"""The histogram types of FIS' ``TYPE`` parameter, each over one channel's values of one date."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import Final

import numpy as np

#: Histogram types of FIS' ``TYPE``; STREAMING is the default (a real response to a request
#: with ``BINS`` and without ``TYPE`` has STREAMING's ``{"value", "count"}`` bins).
HISTOGRAM_TYPES: Final[tuple[str, ...]] = ("EQUALFREQUENCY", "EQUIDISTANT", "STREAMING")
DEFAULT_HISTOGRAM: Final = "STREAMING"
MAX_BINS: Final = 1000
#: The streaming histogram first summarises more distinct values than this into as many
#: equal-width cells (centroid + count), then merges; see :func:`streaming_histogram`.
STREAMING_PRESUMMARY: Final = 4096


def equidistant_histogram(values: np.ndarray, bins: int) -> list[dict[str, float]]:
    """``bins`` bins of equal width from min to max (last one closed): ``{"lowEdge", "mean", "count"}``.

    ``mean`` is the mean of the values in the bin (the bin centre for an empty bin). When every
    value is the same there is one bin.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return [{"lowEdge": lo, "mean": lo, "count": float(v.size)}]
    width = (hi - lo) / bins
    index = np.minimum(np.floor((v - lo) / width).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins).astype(np.float64)
    sums = np.bincount(index, weights=v, minlength=bins)
    out = []
    for i in range(bins):
        low = lo + i * width
        mean = float(sums[i] / counts[i]) if counts[i] else low + width / 2
        out.append({"lowEdge": low, "mean": mean, "count": float(counts[i])})
    return out


def equal_frequency_histogram(values: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Sorted values in runs of ``ceil(n / bins)``; the last run holds the rest.

    ``{"lowEdge": first value of the run, "mean": mean of the run, "count"}`` - the layout of
    the real responses (39576 pixels in 11 bins: 10 x 3598 + 3596). With fewer values than
    ``bins`` (or rounding) there can be fewer than ``bins`` bins.
    """
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    size = math.ceil(v.size / bins)
    starts = np.arange(0, v.size, size)
    sums = np.add.reduceat(v, starts)
    counts = np.diff(np.append(starts, v.size)).astype(np.float64)
    return [
        {"lowEdge": float(v[s]), "mean": float(total / count), "count": float(count)}
        for s, total, count in zip(starts, sums, counts, strict=True)
    ]


def streaming_histogram(
    values: np.ndarray, bins: int, *, presummary: int = STREAMING_PRESUMMARY
) -> list[dict[str, float]]:
    """At most ``bins`` centroids ``{"value", "count"}``, ascending (Ben-Haim & Tom-Tov style).

    Start from one centroid per distinct value (weighted by its count) and merge the two
    adjacent centroids closest in value (the leftmost pair on ties) into their weighted mean
    until ``bins`` are left. Order-independent (the real FIS streams the pixels, so its bins
    depend on the pixel order). More than ``presummary`` distinct values are first summarised
    into that many equal-width cells (centroid = mean of the cell's values).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    uniq, counts_int = np.unique(v, return_counts=True)
    counts = counts_int.astype(np.float64)
    sums = uniq * counts
    if uniq.size > presummary:
        lo, hi = float(uniq[0]), float(uniq[-1])
        cell = np.minimum(((uniq - lo) / (hi - lo) * presummary).astype(np.int64), presummary - 1)
        c: np.ndarray = np.bincount(cell, weights=counts, minlength=presummary)
        s: np.ndarray = np.bincount(cell, weights=sums, minlength=presummary)
        keep = c > 0
        counts, sums = c[keep], s[keep]
        uniq = sums / counts
    centres = [float(x) for x in uniq]
    weights = [float(x) for x in counts]
    n = len(centres)
    if n <= bins:
        return [{"value": c, "count": w} for c, w in zip(centres, weights, strict=True)]
    nxt = [*range(1, n), -1]
    prv = [-1, *range(n - 1)]
    alive = [True] * n
    version = [0] * n
    heap = [(centres[i + 1] - centres[i], i, 0, 0) for i in range(n - 1)]
    heapq.heapify(heap)
    left = n
    while left > bins:
        _, i, vi, vj = heapq.heappop(heap)
        j = nxt[i]
        if not alive[i] or j < 0 or version[i] != vi or version[j] != vj:
            continue
        total = weights[i] + weights[j]
        centres[i] = (centres[i] * weights[i] + centres[j] * weights[j]) / total
        weights[i] = total
        version[i] += 1
        alive[j] = False
        nxt[i] = nxt[j]
        if nxt[j] >= 0:
            prv[nxt[j]] = i
        left -= 1
        if prv[i] >= 0:
            p = prv[i]
            heapq.heappush(heap, (centres[i] - centres[p], p, version[p], version[i]))
        if nxt[i] >= 0:
            q = nxt[i]
            heapq.heappush(heap, (centres[q] - centres[i], i, version[i], version[q]))
    return [{"value": centres[i], "count": weights[i]} for i in range(n) if alive[i]]


HISTOGRAMS: Final[dict[str, Callable[[np.ndarray, int], list[dict[str, float]]]]] = {
    "EQUALFREQUENCY": equal_frequency_histogram,
    "EQUIDISTANT": equidistant_histogram,
    "STREAMING": streaming_histogram,
}

