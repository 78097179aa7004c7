"""Statistics options and pixel rules: values shared by the request model and the engine."""

from __future__ import annotations

from dataclasses import dataclass

from fis.core.expressions import IndexDefinition
from fis.core.stats import HistogramSpec

#: Pixel rules: which pixels belong to a polygon and with what weight.
PIXEL_RULES = ("center", "all_touched", "coverage")


@dataclass(frozen=True)
class StatisticsOptions:
    """What a reduction computes besides the defaults (validated by :mod:`fis.core.request`)."""

    #: statistics over the valid pixels the cloud mask calls clear (none is clear without a mask)
    mask_clouds: bool = False
    indices: tuple[IndexDefinition, ...] = ()
    #: quantiles 0..1 of NDVI and of every index
    percentiles: tuple[float, ...] = ()
    histogram: HistogramSpec | None = None

    @property
    def is_default(self) -> bool:
        return not (self.mask_clouds or self.indices or self.percentiles or self.histogram is not None)

    @property
    def variables(self) -> tuple[str, ...]:
        """NDVI and the requested indices: the quantities with a statistics block."""
        return ("ndvi", *(index.name for index in self.indices))
