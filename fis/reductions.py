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
    #: "s2cloudless", "precomputed", "scl" or None; see :class:`fis.observation.Observation`
    cloud_source: str | None = None
    #: per-pixel cloud shadow (L2A SCL class 3), None when unknown
    shadow: np.ndarray | None = None
    #: product level of the date's scenes; the cloud model only runs on its own level
    product_level: str = "L1C"

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
    cloud_source: str | None = None
    warnings: tuple[str, ...] = ()


#: Mean reflectance above this means the input is digital numbers, not reflectance.
DN_LIKE_REFLECTANCE = 2.0


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


def reduce_date(pixels: DatePixels, *, model_bands: tuple[str, ...], model_level: str = "L1C") -> DateReduction:
    """Counts, band means, NDVI statistics, the model's mean vector and the cloud fraction.

    The mean vector (input of the object-level cloud probability) is only given when the
    scenes are of the model's product level and look like reflectance; otherwise a warning
    says why the probability is missing.
    """
    total = pixels.total
    valid, index = valid_pixels(pixels.values, total)
    n_valid = int(valid.sum())
    band_means = {band: mean_or_none(pixels.values[band][valid]) if band in pixels.values else None for band in BANDS}
    ndvi_stats = summarise(index[valid] if index is not None else np.empty(0))
    vector = None
    warnings: list[str] = []
    dn_like = False
    if n_valid and all(band_means.get(b) is not None for b in model_bands):
        vector = np.array([band_means[b] for b in model_bands], dtype=np.float64)
        if pixels.product_level != model_level:
            warnings.append(
                f"scenes are {pixels.product_level}; the cloud model is trained on {model_level} only, "
                "so cloud_probability is not computed"
            )
            vector = None
        elif float(np.max(vector)) > DN_LIKE_REFLECTANCE:
            warnings.append(
                f"band means up to {float(np.max(vector)):.1f} look like digital numbers, not reflectance; "
                "check the scene's scale/offset (raster:bands); cloud_probability and cloud_fraction are not computed"
            )
            vector = None
            dn_like = True
    cloud_mask = None if dn_like else pixels.cloudy
    cloudy = int((cloud_mask & valid).sum()) if cloud_mask is not None else 0
    shadow = int((pixels.shadow & valid).sum()) if pixels.shadow is not None else None
    cloud_fraction = cloudy / n_valid if (n_valid and cloud_mask is not None) else None
    return DateReduction(
        ndvi=ndvi_stats,
        bands=band_means,
        model_vector=vector,
        pixels=PixelCounts(total=total, valid=n_valid, cloudy=cloudy, nodata=total - n_valid, shadow=shadow),
        cloud_fraction=cloud_fraction,
        cloud_source=pixels.cloud_source if cloud_mask is not None else None,
        warnings=tuple(warnings),
    )
