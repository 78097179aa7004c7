"""Pure numpy reductions: NDVI and the statistics registry (no I/O, no geometry)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

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


def summarise(values: np.ndarray, names: tuple[str, ...] = NDVI_STATISTICS) -> dict[str, float | None]:
    """Each named statistic of a 1-D array of valid values; all ``None`` when it is empty."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    if flat.size == 0:
        return {name: None for name in names}
    return {name: STATISTICS[name](flat) for name in names}


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """(NIR - red) / (NIR + red) in float64; NaN where either is NaN or the sum is 0."""
    red64 = np.asarray(red, dtype=np.float64)
    nir64 = np.asarray(nir, dtype=np.float64)
    total = nir64 + red64
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total != 0, (nir64 - red64) / total, np.nan)


def mean_or_none(values: np.ndarray) -> float | None:
    """Mean of a 1-D array, ``None`` when empty."""
    return float(np.mean(values, dtype=np.float64)) if values.size else None
