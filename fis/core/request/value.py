"""The engine-facing values of a validated request: :class:`TimeseriesRequest`, :class:`CloudMaskSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

from fis.core.aggregation import Aggregation
from fis.core.expressions import IndexDefinition
from fis.core.geometry import AOI
from fis.core.observation import OUTPUTS
from fis.core.options import StatisticsOptions
from fis.core.request.checks import fraction, positive, radius
from fis.core.stats import HistogramSpec
from fis.core.timerange import TimeRange


@dataclass(frozen=True)
class CloudMaskSettings:
    """How the per-pixel s2cloudless cloud mask is computed (values checked on construction)."""

    threshold: float = 0.4
    resolution: float = 160.0
    average_over: int = 1
    dilation_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "threshold", fraction(self.threshold, "cloud_threshold"))
        object.__setattr__(self, "resolution", positive(self.resolution, "cloud_mask_resolution"))
        object.__setattr__(self, "average_over", radius(self.average_over, "cloud_mask_average_over"))
        object.__setattr__(self, "dilation_size", radius(self.dilation_size, "cloud_mask_dilation"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: ``threshold``, ``resolution``, ``average_over``, ``dilation_size``."""
        return {
            "threshold": self.threshold,
            "resolution": self.resolution,
            "average_over": self.average_over,
            "dilation_size": self.dilation_size,
        }


@dataclass(frozen=True)
class TimeseriesRequest:
    """A validated request for a field's per-acquisition statistics."""

    aoi: AOI
    time_range: TimeRange
    resolution: float = 10.0
    cloud_mask: CloudMaskSettings = dc_field(default_factory=CloudMaskSettings)
    max_cloud_fraction: float | None = None
    max_cloud_probability: float | None = None
    include_cloudy: bool = False
    #: statistics over the valid pixels the cloud mask calls clear only
    mask_clouds: bool = False
    #: indices besides NDVI (built-in or custom band math), in request order
    indices: tuple[IndexDefinition, ...] = ()
    #: extra percentiles (0..1) of NDVI and of every index
    percentiles: tuple[float, ...] = ()
    #: a histogram of NDVI and of every index
    histogram: HistogramSpec | None = None
    #: one row per time interval instead of one per date
    aggregation: Aggregation | None = None
    #: which pixels belong to the polygon: "center" (default), "all_touched" or "coverage" (weighted)
    pixel_rule: str = "center"
    #: with "coverage": pixels covered less than this fraction are left out
    min_coverage: float = 0.0
    #: the measures to compute (a subset of :data:`fis.core.observation.OUTPUTS`, in that order); the
    #: requested indices are computed whatever it says
    outputs: tuple[str, ...] = OUTPUTS
    #: the series' display name (``name``, else the GeoJSON Feature's ``properties.name``)
    name: str | None = None
    #: the GeoJSON Feature's ``properties`` (kept, not interpreted)
    properties: dict[str, Any] | None = None
    #: bands read on the grid besides those the outputs need (a protocol's script inputs; ``SCL`` for L2A);
    #: not part of the stored parameters
    extra_bands: frozenset[str] = frozenset()

    @property
    def statistics(self) -> StatisticsOptions:
        """The options of the per-date reduction (:func:`fis.engine.reductions.reduce_date`)."""
        return StatisticsOptions(
            mask_clouds=self.mask_clouds, indices=self.indices, percentiles=self.percentiles, histogram=self.histogram
        )

    def parameters(self) -> dict[str, Any]:
        """JSON-serialisable record of every option (stored with the series); excludes the geometry.

        The body's keys, except that the cloud-mask keys nest under ``cloud_mask`` and the histogram
        is normalised; options appear only when they are used, so a default request's record is
        what it always was (read back by :func:`fis.core.request.stored.request_from_stored`).
        """
        out: dict[str, Any] = {
            "crs": self.aoi.crs.to_string(),
            "time_range": self.time_range.to_dict(),
            "resolution": float(self.resolution),
            "cloud_mask": self.cloud_mask.to_dict(),
            "max_cloud_fraction": self.max_cloud_fraction,
            "max_cloud_probability": self.max_cloud_probability,
            "include_cloudy": self.include_cloudy,
        }
        if self.mask_clouds:
            out["mask_clouds"] = True
        if self.indices:
            out["indices"] = {index.name: index.expression for index in self.indices}
        statistics: dict[str, Any] = {}
        if self.percentiles:
            statistics["percentiles"] = list(self.percentiles)
        if self.histogram is not None:
            statistics["histogram"] = self.histogram.to_dict()
        if statistics:
            out["statistics"] = statistics
        if self.aggregation is not None:
            out["aggregation"] = self.aggregation.to_dict()
        if self.pixel_rule != "center":
            out["pixel_rule"] = self.pixel_rule
        if self.min_coverage:
            out["min_coverage"] = self.min_coverage
        if self.outputs != OUTPUTS:
            out["outputs"] = list(self.outputs)
        return out
