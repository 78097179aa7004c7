"""The values of a validated Statistical API request: :class:`StatisticalQuery` and its calculations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from fis.core.aggregation import Interval
from fis.core.request import TimeseriesRequest
from fis.core.stats import HistogramSpec
from fis.core.timerange import TimeRange

#: Sentinel Hub's default percentile interpolation.
DEFAULT_INTERPOLATION: Final = "higher"


@dataclass(frozen=True)
class Percentiles:
    """Requested percentiles (in percent) and how values between ranks are taken."""

    k: tuple[float, ...]
    interpolation: str = DEFAULT_INTERPOLATION


@dataclass(frozen=True)
class BandCalculation:
    """What one output band gets besides min/max/mean/stDev/counts."""

    percentiles: Percentiles | None = None
    histogram: HistogramSpec | None = None
    #: histogram with binWidth but without lowEdge/highEdge: the range is the data's min..max
    bin_width: float | None = None


@dataclass(frozen=True)
class OutputCalculation:
    """One output's ``statistics`` and ``histograms``, each per band name (or ``default``)."""

    percentiles: dict[str, Percentiles] = field(default_factory=dict)
    histograms: dict[str, tuple[HistogramSpec, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Calculations:
    """``calculations`` resolved: per output id (or ``default``), per band name (or ``default``)."""

    by_output: dict[str, OutputCalculation] = field(default_factory=dict)

    def for_band(self, output: str, band: str) -> BandCalculation:
        """What ``band`` of ``output`` gets: its output's entry (else ``default``), its band's (else ``default``)."""
        calc = self.by_output.get(output, self.by_output.get("default", OutputCalculation()))
        percentiles = calc.percentiles.get(band, calc.percentiles.get("default"))
        histogram = calc.histograms.get(band, calc.histograms.get("default"))
        if histogram is None:
            return BandCalculation(percentiles=percentiles)
        return BandCalculation(percentiles=percentiles, histogram=histogram[0], bin_width=histogram[1])


@dataclass(frozen=True)
class StatisticalQuery:
    """A validated Statistical API request."""

    #: the engine's request: area, time range the scenes are read in, resolution (m), cloud-mask recipe
    request: TimeseriesRequest
    evalscript: str
    collection: str
    product_level: str
    intervals: tuple[Interval, ...]
    calculations: Calculations
    mosaicking_order: str = "mostRecent"
    #: percent; scenes whose eo:cloud_cover is above it are not read
    max_cloud_coverage: float | None = None
    #: scenes acquired within this range only (``dataFilter.timeRange``); None = the whole aggregation range
    scene_range: TimeRange | None = None
