"""A date's pixels (inside the polygon) as evalscript inputs, and the SIMPLE mosaic of an interval.

Inputs, one float64 value per pixel of the polygon:

* ``B01`` .. ``B12``, ``B8A``: reflectance as fis reads it (the processing-baseline offset applied once);
  ``DN`` units are reflectance x 10000 (Sentinel Hub's harmonized digital numbers). No data is 0.
* ``dataMask``: 1 where every band read for the request has data, else 0.
* ``CLM``: the per-pixel cloud mask, 0 clear, 1 cloud, 255 no data (no mask or no band data).
* ``CLP``: cloud probability x 255 rounded (0..255), 255 without a probability or without data.
* ``SCL``: the L2A scene classification (0 no data).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import numpy as np

from fis.core.bands import BANDS
from fis.engine.reductions import DatePixels

SCL: Final = "SCL"
CLOUD_INPUTS: Final = frozenset({"CLM", "CLP"})
#: Every input name a script may ask for (SCL only on sentinel-2-l2a).
INPUTS: Final[tuple[str, ...]] = (*BANDS, "CLM", "CLP", SCL, "dataMask")
NO_DATA_CLOUD: Final = 255.0
DN_SCALE: Final = 10_000.0


def data_mask(pixels: DatePixels) -> np.ndarray:
    """True where every band read has data."""
    valid = np.ones(pixels.total, dtype=bool)
    for values in pixels.values.values():
        valid &= np.isfinite(values)
    return valid


def script_inputs(pixels: DatePixels, names: Iterable[str], units: str) -> dict[str, np.ndarray]:
    """The inputs ``names`` of one date's pixels as float64 arrays (see the module docstring)."""
    valid = data_mask(pixels)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "dataMask":
            out[name] = valid.astype(np.float64)
        elif name == "CLM":
            if pixels.cloudy is None:
                out[name] = np.full(pixels.total, NO_DATA_CLOUD)
            else:
                out[name] = np.where(valid, np.asarray(pixels.cloudy, dtype=np.float64), NO_DATA_CLOUD)
        elif name == "CLP":
            if pixels.probability is None:
                out[name] = np.full(pixels.total, NO_DATA_CLOUD)
            else:
                p = np.round(np.asarray(pixels.probability, dtype=np.float64) * 255.0)
                out[name] = np.where(valid & np.isfinite(p), p, NO_DATA_CLOUD)
        else:
            raw = pixels.values.get(name)
            if raw is None:
                out[name] = np.zeros(pixels.total)
                continue
            values = np.asarray(raw, dtype=np.float64)
            if name != SCL and units == "DN":
                values = values * DN_SCALE
            out[name] = np.where(np.isfinite(values), values, 0.0)
    return out


def mosaic(samples: Sequence[dict[str, np.ndarray]], masks: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """SIMPLE mosaicking: per pixel the first sample (in mosaicking order) whose ``masks`` entry is True.

    Pixels no sample has data for take the last sample's values (whose dataMask, if asked for, is 0).
    """
    if len(samples) == 1:
        return dict(samples[0])
    n = masks[0].size
    chosen = np.full(n, len(samples) - 1, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    for i, mask in enumerate(masks):
        new = mask & ~taken
        chosen[new] = i
        taken |= new
    rows = np.arange(n)
    return {name: np.stack([s[name] for s in samples])[chosen, rows] for name in samples[0]}
