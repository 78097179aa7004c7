"""From the pixels of one date inside the polygon to the numbers of one observation.

Pure numpy: the engine (:mod:`fis.timeseries`) reads and masks, this module reduces. New
statistics (other indices, histograms, clear-pixel statistics, weights) belong here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fis.bands import BANDS
from fis.observation import PixelCounts
from fis.stats import mean_or_none, ndvi, summarise


@dataclass(frozen=True)
class DatePixels:
    """One date's pixels inside the polygon, as 1-D arrays in the layout's pixel order.

    ``values`` holds reflectance per band (NaN = no data); ``cloudy`` is the per-pixel cloud
    mask sampled at each pixel (``None`` when the model's bands are missing).
    """

    values: dict[str, np.ndarray]
    cloudy: np.ndarray | None
    #: s2cloudless probability of the cloud-grid cell holding each pixel (None without model bands)
    probability: np.ndarray | None = None

    @property
    def total(self) -> int:
        return int(next(iter(self.values.values())).size) if self.values else 0


@dataclass(frozen=True)
class DateReduction:
    """The statistics of one date (cloud probability is added later, batched over dates)."""

    ndvi: dict[str, float | None]
    bands: dict[str, float | None]
    model_vector: np.ndarray | None
    pixels: PixelCounts
    cloud_fraction: float | None


def valid_pixels(values: dict[str, np.ndarray], total: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels with data in every band read and a defined NDVI; and the NDVI itself."""
    valid = np.ones(total, dtype=bool)
    for band_values in values.values():
        valid &= np.isfinite(band_values)
    index = None
    if "B04" in values and "B08" in values:
        index = ndvi(values["B04"], values["B08"])
        valid &= np.isfinite(index)
    return valid, index


def reduce_date(pixels: DatePixels, *, model_bands: tuple[str, ...]) -> DateReduction:
    """Counts, band means, NDVI statistics, the model's mean vector and the cloud fraction."""
    total = pixels.total
    valid, index = valid_pixels(pixels.values, total)
    n_valid = int(valid.sum())
    band_means = {band: mean_or_none(pixels.values[band][valid]) if band in pixels.values else None for band in BANDS}
    ndvi_stats = summarise(index[valid] if index is not None else np.empty(0))
    vector = None
    if n_valid and all(band_means.get(b) is not None for b in model_bands):
        vector = np.array([band_means[b] for b in model_bands], dtype=np.float64)
    cloudy = int((pixels.cloudy & valid).sum()) if pixels.cloudy is not None else 0
    cloud_fraction = cloudy / n_valid if (n_valid and pixels.cloudy is not None) else None
    return DateReduction(
        ndvi=ndvi_stats,
        bands=band_means,
        model_vector=vector,
        pixels=PixelCounts(total=total, valid=n_valid, cloudy=cloudy, nodata=total - n_valid),
        cloud_fraction=cloud_fraction,
    )
