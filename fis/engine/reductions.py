"""From the pixels of one date inside the polygon to the numbers of one observation.

Pure numpy: :mod:`fis.engine.dates` reads and masks a date, this module reduces it. New
statistics (other indices, histograms, clear-pixel statistics, weights) belong here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fis.core.bands import BANDS
from fis.core.observation import PixelCounts
from fis.core.options import StatisticsOptions
from fis.core.stats import histogram, mean_or_none, ndvi, percentiles, summarise


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
    #: "s2cloudless", "precomputed", "scl" or None; see :class:`fis.core.observation.Observation`
    cloud_source: str | None = None
    #: per-pixel cloud shadow (L2A SCL class 3), None when unknown
    shadow: np.ndarray | None = None
    #: product level of the date's scenes; the cloud model only runs on its own level
    product_level: str = "L1C"
    #: per-pixel weight (pixel rule ``coverage``: the covered fraction, > 0); None = every pixel counts 1
    weights: np.ndarray | None = None

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
    #: statistics blocks of the requested indices (None when none was requested)
    indices: dict[str, dict[str, float | None]] | None = None
    #: requested percentiles per variable ("ndvi" and each index), None when not requested
    percentiles: dict[str, dict[str, float | None]] | None = None
    #: histogram per variable, None when not requested
    histograms: dict[str, dict[str, Any] | None] | None = None


#: Mean reflectance above this means the input is digital numbers, not reflectance.
DN_LIKE_REFLECTANCE = 2.0


def valid_pixels(values: dict[str, np.ndarray], total: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels with data in every band read and a defined NDVI; and the NDVI itself."""
    valid = np.ones(total, dtype=bool)
    finite = np.empty(total, dtype=bool)
    for band_values in values.values():
        valid &= np.isfinite(band_values, out=finite)
    index = None
    if "B04" in values and "B08" in values:
        index = ndvi(values["B04"], values["B08"])
        valid &= np.isfinite(index, out=finite)
    return valid, index


def reduce_date(
    pixels: DatePixels,
    *,
    model_bands: tuple[str, ...],
    model_level: str = "L1C",
    options: StatisticsOptions | None = None,
) -> DateReduction:
    """Counts, band means, NDVI statistics, the model's mean vector and the cloud fraction.

    The mean vector (input of the object-level cloud probability) is only given when the
    scenes are of the model's product level and look like reflectance; otherwise a warning
    says why the probability is missing. ``options`` adds clear-pixel statistics, indices,
    percentiles and histograms (:class:`StatisticsOptions`; ``None`` = the defaults).
    """
    options = options or StatisticsOptions()
    sample = date_sample(pixels, model_bands=model_bands, model_level=model_level, options=options)
    return reduce_sample(sample, options)


@dataclass(frozen=True)
class Sample:
    """The pixels one date (or several dates pooled, or a composite) contributes to statistics.

    ``band_values`` and ``variables`` hold the selected pixels only (the valid ones, or the
    clear ones with ``mask_clouds``); a variable is ``None`` when a band it needs is missing.
    ``model_sum``/``model_count`` are the model bands summed over the valid pixels (the input
    of ``cloud_probability``), ``None`` when the model cannot be used on these scenes.
    """

    total: int
    valid: int
    cloudy: int
    shadow: int | None
    clear: int | None
    #: valid pixels of the dates that had a cloud mask (the denominator of cloud_fraction)
    masked_valid: int
    band_values: dict[str, np.ndarray]
    variables: dict[str, np.ndarray | None]
    model_sum: np.ndarray | None
    #: valid pixels (or their weight) summed into ``model_sum``
    model_count: float
    cloud_source: str | None
    warnings: tuple[str, ...] = ()
    #: weights of the selected pixels (aligned with ``band_values``); None = unweighted
    band_weights: np.ndarray | None = None
    #: weights aligned with each variable's values; None = unweighted
    variable_weights: dict[str, np.ndarray | None] | None = None
    #: weighted ``cloudy`` and ``masked_valid`` (the cloud fraction's terms); None = use the counts
    cloudy_weight: float | None = None
    masked_valid_weight: float | None = None
    #: per band, the float64 sum of ``band_values`` as ``np.mean`` adds them (unweighted); None = not computed
    band_sums: dict[str, np.float64] | None = None


def _sum64(values: np.ndarray) -> np.float64:
    """The float64 sum of ``values`` exactly as ``np.mean(values, dtype=np.float64)`` adds them."""
    total: np.float64 = np.add.reduce(values, axis=None, dtype=np.float64)
    return total


def _band_mean(sample: Sample, band: str) -> float | None:
    """The mean of one band's selected values (weighted by the pixels' weights under ``coverage``)."""
    values = sample.band_values[band]
    if sample.band_sums is not None and sample.band_weights is None and band in sample.band_sums:
        # np.mean's value: its sum, divided by the count as np.mean divides it
        return float(sample.band_sums[band] / np.intp(values.size)) if values.size else None
    return mean_or_none(values, _aligned(sample.band_weights, values))


def date_sample(
    pixels: DatePixels, *, model_bands: tuple[str, ...], model_level: str, options: StatisticsOptions
) -> Sample:
    """The pixels of one date that the statistics are computed on, and its counts."""
    total = pixels.total
    valid, index = valid_pixels(pixels.values, total)
    n_valid = int(valid.sum())
    weights = pixels.weights
    #: the model's mean vector is weighted like the band means
    model_count: float = n_valid if weights is None else float(weights[valid].sum())
    model_sum = None
    warnings: list[str] = []
    dn_like = False
    valid_values: dict[str, np.ndarray] | None = None
    valid_sums: dict[str, np.float64] = {}
    if n_valid and pixels.product_level != model_level:  # with or without the model's bands (L2A has no B10)
        warnings.append(
            f"scenes are {pixels.product_level}; the cloud model is trained on {model_level} only, "
            "so cloud_probability is not computed"
        )
    elif n_valid and all(b in pixels.values for b in model_bands):
        all_valid = n_valid == total  # then no band needs masking (a copy per band)
        if weights is None and not options.mask_clouds:
            # the valid pixels of each band, selected once: the band means reuse them and their sums
            valid_values = {b: v if all_valid else v[valid] for b, v in pixels.values.items()}
            valid_sums = {b: _sum64(v) for b, v in valid_values.items()}
            model_sum = np.array([valid_sums[b] for b in model_bands])
        elif weights is None:
            model_sum = np.array(
                [_sum64(pixels.values[b] if all_valid else pixels.values[b][valid]) for b in model_bands]
            )
        else:
            model_sum = np.array(
                [np.sum(weights[valid] * pixels.values[b][valid], dtype=np.float64) for b in model_bands]
            )
        vector = model_sum / model_count
        if float(np.max(vector)) > DN_LIKE_REFLECTANCE:
            warnings.append(
                f"band means up to {float(np.max(vector)):.1f} look like digital numbers, not reflectance; "
                "check the scene's scale/offset (raster:bands); cloud_probability and cloud_fraction are not computed"
            )
            model_sum = None
            dn_like = True
    cloud_mask = None if dn_like else pixels.cloudy
    if valid_values is None and weights is None and not options.mask_clouds:
        everything_valid = n_valid == total
        valid_values = {b: v if everything_valid else v[valid] for b, v in pixels.values.items()}
        valid_sums = {b: _sum64(v) for b, v in valid_values.items()}
    cloudy = int((cloud_mask & valid).sum()) if cloud_mask is not None else 0
    shadow = int((pixels.shadow & valid).sum()) if pixels.shadow is not None else None
    clear = None
    selected = valid
    if options.mask_clouds:
        selected = valid & ~cloud_mask if cloud_mask is not None else np.zeros(total, dtype=bool)
        clear = int(selected.sum())
    everything = bool(selected.all())
    variables: dict[str, np.ndarray | None] = {
        "ndvi": _selected(index, selected, everything) if index is not None else None
    }
    variable_weights: dict[str, np.ndarray | None] | None = None
    if weights is not None:
        variable_weights = {"ndvi": weights[selected] if index is not None else None}
    for definition in options.indices:
        values = definition.compute(pixels.values, total)
        variables[definition.name] = None if values is None else _finite_values(values[selected])
        if variable_weights is not None:
            variable_weights[definition.name] = (
                None if values is None else weights[selected][np.isfinite(values[selected])]  # type: ignore[index]
            )
    weighted = weights is not None
    # the selected pixels are the valid ones (no mask_clouds): reuse the valid pixels and their sums
    reuse = valid_values is not None and not options.mask_clouds and not weighted
    if reuse:
        assert valid_values is not None
        band_values = {band: valid_values[band] for band in BANDS if band in valid_values}
    else:
        band_values = {
            band: _selected(pixels.values[band], selected, everything) for band in BANDS if band in pixels.values
        }
    return Sample(
        total=total,
        valid=n_valid,
        cloudy=cloudy,
        shadow=shadow,
        clear=clear,
        masked_valid=n_valid if cloud_mask is not None else 0,
        band_values=band_values,
        band_sums={band: valid_sums[band] for band in band_values} if reuse else None,
        variables=variables,
        model_sum=model_sum,
        model_count=model_count if model_sum is not None else 0,
        cloud_source=pixels.cloud_source if cloud_mask is not None else None,
        warnings=tuple(warnings),
        band_weights=weights[selected] if weighted else None,  # type: ignore[index]
        variable_weights=variable_weights,
        cloudy_weight=(
            (float(weights[cloud_mask & valid].sum()) if cloud_mask is not None else 0.0)  # type: ignore[index]
            if weighted
            else None
        ),
        masked_valid_weight=(float(weights[valid].sum()) if cloud_mask is not None else 0.0) if weighted else None,  # type: ignore[index]
    )


def _finite_values(values: np.ndarray) -> np.ndarray:
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _finite(stats: dict[str, float | None]) -> dict[str, float | None]:
    """Statistics of extreme custom indices can overflow (std of 1e300s): null, never inf/NaN in JSON."""
    return {k: v if v is None or np.isfinite(v) else None for k, v in stats.items()}


def reduce_sample(sample: Sample, options: StatisticsOptions) -> DateReduction:
    """Every statistic of a :class:`Sample` (one date's, pooled or composite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return _reduce_sample(sample, options)


def _reduce_sample(sample: Sample, options: StatisticsOptions) -> DateReduction:
    empty = np.empty(0)
    variables = {name: sample.variables.get(name) for name in options.variables}
    vw = sample.variable_weights or {}
    weights = {name: vw.get(name) if values is not None else None for name, values in variables.items()}
    stats = {
        name: _finite(summarise(values if values is not None else empty, weights=weights[name]))
        for name, values in variables.items()
    }
    vector = sample.model_sum / sample.model_count if sample.model_sum is not None and sample.model_count else None
    if sample.masked_valid_weight is not None and sample.cloudy_weight is not None:
        fraction = (
            sample.cloudy_weight / sample.masked_valid_weight
            if sample.masked_valid and sample.masked_valid_weight
            else None
        )
    else:
        fraction = sample.cloudy / sample.masked_valid if sample.masked_valid else None
    return DateReduction(
        ndvi=stats["ndvi"],
        bands={band: _band_mean(sample, band) if band in sample.band_values else None for band in BANDS},
        model_vector=vector,
        pixels=PixelCounts(
            total=sample.total, valid=sample.valid, cloudy=sample.cloudy, nodata=sample.total - sample.valid,
            shadow=sample.shadow, clear=sample.clear,
        ),
        cloud_fraction=fraction,
        cloud_source=sample.cloud_source,
        warnings=sample.warnings,
        indices={index.name: stats[index.name] for index in options.indices} if options.indices else None,
        percentiles=(
            {
                name: _finite(percentiles(v if v is not None else empty, options.percentiles, weights[name]))
                for name, v in variables.items()
            }
            if options.percentiles else None
        ),
        histograms=(
            {
                name: histogram(v, options.histogram, weights[name]) if v is not None else None
                for name, v in variables.items()
            }
            if options.histogram is not None else None
        ),
    )


def _aligned(weights: np.ndarray | None, values: np.ndarray) -> np.ndarray | None:
    """``weights`` when they belong to ``values`` (a band missing on some pooled dates has fewer values)."""
    return weights if weights is not None and weights.size == values.size else None


# --------------------------------------------------------------------- several dates at once


def pool(samples: list[Sample]) -> Sample:
    """The pixels of several dates as one sample (statistics over every pixel of every date)."""
    if not samples:
        raise ValueError("pool() needs at least one sample")
    bands = {
        band: np.concatenate([s.band_values[band] for s in samples if band in s.band_values])
        for band in BANDS if any(band in s.band_values for s in samples)
    }
    names = list(samples[0].variables)
    variables: dict[str, np.ndarray | None] = {}
    for name in names:
        parts = [s.variables[name] for s in samples if s.variables.get(name) is not None]
        variables[name] = np.concatenate(parts) if parts else None  # type: ignore[arg-type]
    sums = [s.model_sum for s in samples if s.model_sum is not None]
    weighted = all(s.band_weights is not None or not s.band_values for s in samples) and any(
        s.band_weights is not None for s in samples
    )
    weighted_counts = any(s.masked_valid_weight is not None for s in samples)
    band_weights: np.ndarray | None = None
    variable_weights: dict[str, np.ndarray | None] | None = None
    if weighted:
        band_weights = np.concatenate([s.band_weights for s in samples if s.band_weights is not None])
        variable_weights = {}
        for name in names:
            wparts = [(s.variable_weights or {}).get(name) for s in samples if s.variables.get(name) is not None]
            variable_weights[name] = np.concatenate(wparts) if wparts and all(p is not None for p in wparts) else None  # type: ignore[arg-type]
    return Sample(
        total=sum(s.total for s in samples),
        valid=sum(s.valid for s in samples),
        cloudy=sum(s.cloudy for s in samples),
        shadow=_sum_or_none([s.shadow for s in samples]),
        clear=_sum_or_none([s.clear for s in samples]),
        masked_valid=sum(s.masked_valid for s in samples),
        band_values=bands,
        variables=variables,
        model_sum=np.sum(sums, axis=0) if sums else None,
        model_count=sum(s.model_count for s in samples if s.model_sum is not None),
        cloud_source=_one_source([s.cloud_source for s in samples]),
        warnings=tuple(w for s in samples for w in s.warnings),
        band_weights=band_weights,
        variable_weights=variable_weights,
        cloudy_weight=sum(s.cloudy_weight or 0.0 for s in samples) if weighted_counts else None,
        masked_valid_weight=sum(s.masked_valid_weight or 0.0 for s in samples) if weighted_counts else None,
    )


def _sum_or_none(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _one_source(sources: list[str | None]) -> str | None:
    known = sorted({s for s in sources if s is not None})
    if not known:
        return None
    return known[0] if len(known) == 1 else "mixed"


class ClearComposite:
    """A per-pixel mean of the pixels the cloud mask calls clear, over several dates.

    Every polygon pixel keeps, per band and per variable (NDVI and each index), the sum and
    the number of dates where it was valid and clear; the composite value is their mean. The
    composite's sample holds the pixels that were clear at least once; its counts add up the
    dates that contributed at least one clear pixel.
    """

    def __init__(self, *, model_bands: tuple[str, ...], model_level: str, options: StatisticsOptions):
        self.model_bands = model_bands
        self.model_level = model_level
        self.options = options
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, np.ndarray] = {}
        self._used: list[Sample] = []
        self._weights: np.ndarray | None = None

    def add(self, pixels: DatePixels) -> Sample:
        """Add one date's clear pixels; returns its counts (``clear == 0``: the date adds nothing)."""
        counting = StatisticsOptions(mask_clouds=True)
        sample = date_sample(pixels, model_bands=self.model_bands, model_level=self.model_level, options=counting)
        # the counts are kept, not the pixels
        sample = replace(sample, band_values={}, variables={}, band_weights=None, variable_weights=None)
        if not sample.clear:
            return sample
        total = pixels.total
        self._weights = pixels.weights
        valid, index = valid_pixels(pixels.values, total)
        assert pixels.cloudy is not None  # a sample with clear pixels had a mask
        clear = valid & ~pixels.cloudy
        layers: dict[str, np.ndarray | None] = {f"band:{b}": pixels.values[b] for b in BANDS if b in pixels.values}
        layers["ndvi"] = index
        for definition in self.options.indices:
            layers[definition.name] = definition.compute(pixels.values, total)
        for name, values in layers.items():
            if values is None:
                continue
            use = clear & np.isfinite(values)
            if name not in self._sums:
                self._sums[name] = np.zeros(total, dtype=np.float64)
                self._counts[name] = np.zeros(total, dtype=np.int64)
            self._sums[name][use] += values[use]
            self._counts[name][use] += 1
        self._used.append(sample)
        return sample

    def sample(self) -> Sample | None:
        """The composite as a sample, or ``None`` when no date contributed a clear pixel."""
        if not self._used:
            return None
        counted = pool(self._used)

        def mean_of(name: str) -> np.ndarray | None:
            if name not in self._sums:
                return None
            seen = self._counts[name] > 0
            mean: np.ndarray = self._sums[name][seen] / self._counts[name][seen]
            return mean

        bands = {b: v for b in BANDS if (v := mean_of(f"band:{b}")) is not None}
        variables = {name: mean_of(name) for name in self.options.variables}
        w = self._weights
        band_weights = variable_weights = None
        if w is not None:
            seen_bands = [self._counts[f"band:{b}"] > 0 for b in BANDS if f"band:{b}" in self._counts]
            band_weights = w[seen_bands[0]] if seen_bands else np.empty(0)
            variable_weights = {
                name: w[self._counts[name] > 0] if name in self._counts else None for name in self.options.variables
            }
        return Sample(
            total=counted.total, valid=counted.valid, cloudy=counted.cloudy, shadow=counted.shadow,
            clear=counted.clear if self.options.mask_clouds else None, masked_valid=counted.masked_valid,
            band_values=bands, variables=variables, model_sum=counted.model_sum, model_count=counted.model_count,
            cloud_source=counted.cloud_source, warnings=counted.warnings,
            band_weights=band_weights, variable_weights=variable_weights,
            cloudy_weight=counted.cloudy_weight, masked_valid_weight=counted.masked_valid_weight,
        )


def _selected(values: np.ndarray, selected: np.ndarray, everything: bool) -> np.ndarray:
    """``values[selected]``, without the copy when every pixel is selected."""
    return values if everything else values[selected]
