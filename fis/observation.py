"""Frozen result records: one observation per date, mapping 1:1 to ORM rows and CSV columns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fis.bands import BANDS
from fis.stats import NDVI_STATISTICS

CSV_COLUMNS: tuple[str, ...] = (
    "date", "datetime",
    *(f"ndvi_{name}" for name in NDVI_STATISTICS),
    "cloud_probability", "cloud_fraction",
    "total_pixels", "valid_pixels", "cloudy_pixels", "nodata_pixels", "cloudy",
    *BANDS,
)


@dataclass(frozen=True)
class PixelCounts:
    """``total`` pixels in the polygon; ``valid = total - nodata``; ``cloudy`` among valid."""

    total: int
    valid: int
    cloudy: int
    nodata: int
    #: cloud-shadow pixels among valid (only known with an L2A scene classification)
    shadow: int | None = None

    def to_dict(self) -> dict[str, int]:
        counts = {"total": self.total, "valid": self.valid, "cloudy": self.cloudy, "nodata": self.nodata}
        if self.shadow is not None:
            counts["shadow"] = self.shadow
        return counts


@dataclass(frozen=True)
class Observation:
    """The statistics of one acquisition date over the polygon."""

    date: dt.date
    datetime: dt.datetime
    scenes: tuple[str, ...]
    ndvi: dict[str, float | None]
    bands: dict[str, float | None]
    cloud_probability: float | None
    cloud_fraction: float | None
    pixels: PixelCounts
    #: where cloud_fraction came from: "s2cloudless" (mask computed now), "precomputed" (CLM
    #: layer), "scl" (L2A scene classification) or None (no cloud information)
    cloud_source: str | None = None

    def is_cloudy(self, *, max_cloud_fraction: float | None, max_cloud_probability: float | None) -> bool:
        """True when a given threshold is exceeded (a missing measure never exceeds it)."""
        if max_cloud_fraction is not None and self.cloud_fraction is not None and self.cloud_fraction > max_cloud_fraction:
            return True
        if (
            max_cloud_probability is not None
            and self.cloud_probability is not None
            and self.cloud_probability > max_cloud_probability
        ):
            return True
        return False

    def to_json(self, *, cloudy: bool) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "datetime": _iso(self.datetime),
            "scenes": list(self.scenes),
            "ndvi": dict(self.ndvi),
            "bands": {band: self.bands.get(band) for band in BANDS},
            "cloud_probability": self.cloud_probability,
            "cloud_fraction": self.cloud_fraction,
            "pixels": self.pixels.to_dict(),
            "cloud_source": self.cloud_source,
            "cloudy": cloudy,
        }

    def csv_row(self, *, cloudy: bool) -> dict[str, Any]:
        row: dict[str, Any] = {"date": self.date.isoformat(), "datetime": _iso(self.datetime)}
        row.update({f"ndvi_{name}": self.ndvi.get(name) for name in NDVI_STATISTICS})
        row.update(
            cloud_probability=self.cloud_probability,
            cloud_fraction=self.cloud_fraction,
            total_pixels=self.pixels.total,
            valid_pixels=self.pixels.valid,
            cloudy_pixels=self.pixels.cloudy,
            nodata_pixels=self.pixels.nodata,
            cloudy="true" if cloudy else "false",
        )
        row.update({band: self.bands.get(band) for band in BANDS})
        return row


@dataclass(frozen=True)
class ObservationError:
    """A date that could not be computed (e.g. an unreadable raster)."""

    date: dt.date
    scenes: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "scenes": list(self.scenes), "message": self.message}


@dataclass(frozen=True)
class SeriesResult:
    """What the engine returns for one request."""

    observations: tuple[Observation, ...]
    errors: tuple[ObservationError, ...] = ()
    model: str = ""
    grid: dict[str, Any] = field(default_factory=dict)
    #: per-date notes, e.g. why cloud_probability is missing ("2023-05-01: ...")
    warnings: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return "PARTIAL" if self.errors else "OK"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
