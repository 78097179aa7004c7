"""The predefined FIS layers: how each one's channels are computed from one date's pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from fis.core.bands import BANDS
from fis.engine.reductions import DatePixels


@dataclass(frozen=True)
class FisLayer:
    """A predefined layer: how its channels are computed from one date's pixels."""

    name: str
    description: str
    #: one name per output channel (C0, C1, ...); the dataMask channel is appended after them
    channels: tuple[str, ...]
    #: the bands the channels are computed from (a pixel needs data in all of them)
    bands: tuple[str, ...]
    compute: Callable[[DatePixels], list[np.ndarray]] = field(repr=False)
    #: what the layer needs from the cloud mask: None, "mask" (CLM), "probability" (CLP), "clear"
    cloud: str | None = None


def _ndvi(pixels: DatePixels) -> np.ndarray:
    red = np.asarray(pixels.values["B04"], dtype=np.float64)
    nir = np.asarray(pixels.values["B08"], dtype=np.float64)
    total = nir + red
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total != 0, (nir - red) / total, np.nan)


def _bands(*names: str) -> Callable[[DatePixels], list[np.ndarray]]:
    return lambda pixels: [pixels.values[b] for b in names]


def _true_color(pixels: DatePixels) -> list[np.ndarray]:
    # Sentinel Hub's true-colour script: 2.5 x reflectance (0.4 reflectance -> 1.0); the real
    # responses show this gain (e.g. lowEdge 0.1035 = 2.5 x 0.0414).
    return [TRUE_COLOR_GAIN * np.asarray(pixels.values[b], dtype=np.float64) for b in ("B04", "B03", "B02")]


def _clp(pixels: DatePixels) -> list[np.ndarray]:
    assert pixels.probability is not None
    return [np.round(np.asarray(pixels.probability, dtype=np.float64) * 255.0)]


def _clm(pixels: DatePixels) -> list[np.ndarray]:
    assert pixels.cloudy is not None
    return [np.asarray(pixels.cloudy, dtype=bool).astype(np.float64)]


TRUE_COLOR_GAIN: Final = 2.5

LAYERS: Final[dict[str, FisLayer]] = {
    layer.name: layer
    for layer in (
        FisLayer("NDVI", "NDVI = (B08 - B04) / (B08 + B04)", ("NDVI",), ("B04", "B08"), lambda p: [_ndvi(p)]),
        FisLayer(
            "NDVI-CLEAR", "NDVI over the pixels the per-pixel cloud mask calls clear",
            ("NDVI",), ("B04", "B08"), lambda p: [_ndvi(p)], cloud="clear",
        ),
        FisLayer(
            "BANDS-S2-L1C", "the 13 L1C bands as TOA reflectance, B01..B12 with B8A after B08",
            BANDS, BANDS, _bands(*BANDS),
        ),
        FisLayer(
            "TRUE-COLOR-S2-L1C", "2.5 x TOA reflectance of B04, B03, B02 (red, green, blue)",
            ("R", "G", "B"), ("B04", "B03", "B02"), _true_color,
        ),
        FisLayer(
            "CLP", "cloud probability x 255 (0-255, rounded) of the cloud-mask cell holding each pixel",
            ("CLP",), (), _clp, cloud="probability",
        ),
        FisLayer("CLM", "per-pixel cloud mask: 0 clear, 1 cloud", ("CLM",), (), _clm, cloud="mask"),
    )
}
DATA_MASK: Final = "dataMask"


def data_mask(pixels: DatePixels) -> np.ndarray:
    """Pixels with data in every band that was read (FIS' ``dataMask``)."""
    valid = np.ones(pixels.total, dtype=bool)
    for values in pixels.values.values():
        valid &= np.isfinite(values)
    return valid


def cloud_fraction(pixels: DatePixels) -> float | None:
    """Cloudy pixels / pixels with data (None without a cloud mask or without data)."""
    if pixels.cloudy is None:
        return None
    has_data = data_mask(pixels)
    n = int(has_data.sum())
    if n == 0:
        return None
    return float((np.asarray(pixels.cloudy, dtype=bool) & has_data).sum()) / n


def layer_channels(layer: FisLayer, pixels: DatePixels) -> list[np.ndarray]:
    """The layer's channel values (float32) over its valid pixels, dataMask (all 1.0) last.

    Valid: data in every band the layer reads (every band read, for CLP/CLM), a finite value in
    every channel, and for NDVI-CLEAR a clear pixel. Every array has the same length (the number
    of valid pixels, possibly 0).
    """
    n_out = len(layer.channels) + 1
    if pixels.total == 0 or any(b not in pixels.values for b in layer.bands) or not pixels.values:
        return [np.empty(0, dtype=np.float32)] * n_out
    if layer.bands:
        valid = np.ones(pixels.total, dtype=bool)
        for band in layer.bands:
            valid &= np.isfinite(pixels.values[band])
    else:  # cloud layers: every pixel with data
        valid = data_mask(pixels)
    if layer.cloud in ("mask", "clear") and pixels.cloudy is None:
        return [np.empty(0, dtype=np.float32)] * n_out
    if layer.cloud == "probability" and pixels.probability is None:
        return [np.empty(0, dtype=np.float32)] * n_out
    if layer.cloud == "clear":
        valid &= ~np.asarray(pixels.cloudy, dtype=bool)
    channels = [np.asarray(c).astype(np.float32) for c in layer.compute(pixels)]
    for values in channels:
        valid &= np.isfinite(values)
    out = [values[valid] for values in channels]
    out.append(np.ones(int(valid.sum()), dtype=np.float32))
    return out

