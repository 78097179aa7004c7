"""Frozen result records: one observation per date, mapping 1:1 to ORM rows and CSV columns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fis.core.bands import BANDS
from fis.core.stats import NDVI_STATISTICS, percentile_key

#: the measures a request can choose (``outputs``); a request without ``outputs`` gets all of them
OUTPUTS: tuple[str, ...] = ("ndvi", "bands", "cloud_probability", "cloud_fraction")

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
    #: valid pixels the cloud mask calls clear (only with the ``mask_clouds`` option)
    clear: int | None = None

    def to_dict(self) -> dict[str, int]:
        counts = {"total": self.total, "valid": self.valid, "cloudy": self.cloudy, "nodata": self.nodata}
        if self.shadow is not None:
            counts["shadow"] = self.shadow
        if self.clear is not None:
            counts["clear"] = self.clear
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
    #: statistics blocks of the requested indices, by name (None: no index requested)
    indices: dict[str, dict[str, float | None]] | None = None
    #: requested percentiles of NDVI and of each index: {"ndvi": {"p5": ...}} (None: not requested)
    percentiles: dict[str, dict[str, float | None]] | None = None
    #: histogram of NDVI and of each index: {"ndvi": {"bins": [...], "underflow", "overflow"} | None}
    histograms: dict[str, dict[str, Any] | None] | None = None
    #: temporal aggregation: the interval of this row, {"from", "to", "observations": [dates used]}
    interval: dict[str, Any] | None = None
    #: the measures the request asked for (:data:`OUTPUTS`): the others are absent from JSON and empty in CSV
    outputs: tuple[str, ...] = OUTPUTS

    def is_cloudy(self, *, max_cloud_fraction: float | None, max_cloud_probability: float | None) -> bool:
        """True when a given threshold is exceeded (a missing measure never exceeds it)."""
        if (
            max_cloud_fraction is not None
            and self.cloud_fraction is not None
            and self.cloud_fraction > max_cloud_fraction
        ):
            return True
        return (
            max_cloud_probability is not None
            and self.cloud_probability is not None
            and self.cloud_probability > max_cloud_probability
        )

    def to_json(self, *, cloudy: bool) -> dict[str, Any]:
        measures: dict[str, Any] = {
            "ndvi": dict(self.ndvi),
            "bands": {band: self.bands.get(band) for band in BANDS},
            "cloud_probability": self.cloud_probability,
            "cloud_fraction": self.cloud_fraction,
        }
        return {
            "date": self.date.isoformat(),
            "datetime": _iso(self.datetime),
            "scenes": list(self.scenes),
            **{key: value for key, value in measures.items() if key in self.outputs},
            "pixels": self.pixels.to_dict(),
            "cloud_source": self.cloud_source,
            "cloudy": cloudy,
            **{key: value for key, value in self.extra().items() if key != "clear"},
        }

    def extra(self) -> dict[str, Any]:
        """The optional results (what the ``extra`` JSON column stores); empty for a default request."""
        out: dict[str, Any] = {}
        for key in ("indices", "percentiles", "histograms", "interval"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.pixels.clear is not None:
            out["clear"] = self.pixels.clear
        return out

    def csv_row(self, *, cloudy: bool) -> dict[str, Any]:
        row: dict[str, Any] = {"date": self.date.isoformat(), "datetime": _iso(self.datetime)}
        ndvi = self.ndvi if "ndvi" in self.outputs else {}
        bands = self.bands if "bands" in self.outputs else {}
        row.update({f"ndvi_{name}": ndvi.get(name) for name in NDVI_STATISTICS})
        row.update(
            cloud_probability=self.cloud_probability if "cloud_probability" in self.outputs else None,
            cloud_fraction=self.cloud_fraction if "cloud_fraction" in self.outputs else None,
            total_pixels=self.pixels.total,
            valid_pixels=self.pixels.valid,
            cloudy_pixels=self.pixels.cloudy,
            nodata_pixels=self.pixels.nodata,
            cloudy="true" if cloudy else "false",
        )
        row.update({band: bands.get(band) for band in BANDS})
        if self.pixels.clear is not None:
            row["clear_pixels"] = self.pixels.clear
        for name, stats in (self.indices or {}).items():
            row.update({f"{name}_{stat}": value for stat, value in stats.items()})
        for name, values in (self.percentiles or {}).items():
            for key, value in values.items():
                row.setdefault(f"{name}_{key}", value)
        for name, hist in (self.histograms or {}).items():
            if hist is None:
                continue
            row[f"{name}_hist_underflow"] = hist["underflow"]
            row[f"{name}_hist_overflow"] = hist["overflow"]
            for i, bin_ in enumerate(hist["bins"]):
                row.update({f"{name}_hist_{i}_{key}": bin_[key] for key in ("low", "high", "count")})
        if self.interval is not None:
            row["interval_from"] = self.interval["from"]
            row["interval_to"] = self.interval["to"]
            row["interval_observations"] = " ".join(self.interval["observations"])
        return row


@dataclass(frozen=True)
class Column:
    """One CSV column: its wide-CSV name and, for the long CSV, what it measures."""

    name: str
    variable: str
    statistic: str


def csv_columns(parameters: dict[str, Any]) -> tuple[Column, ...]:
    """The CSV columns of a series, from its stored parameters.

    The default request has exactly :data:`CSV_COLUMNS`; each statistics option appends its
    own columns (in this order): ``clear_pixels``; ``<index>_<stat>`` per index;
    ``<variable>_p<percent>`` per requested percentile not already a column;
    ``<variable>_hist_underflow``, ``..._overflow`` and ``<variable>_hist_<i>_low/high/count``
    per histogram bin; ``interval_from``, ``interval_to``, ``interval_observations``.
    """
    columns: list[Column] = [Column(c, *_base_column_meaning(c)) for c in CSV_COLUMNS]
    statistics = parameters.get("statistics") or {}
    indices = list((parameters.get("indices") or {}).keys())
    variables = ["ndvi", *indices]
    if parameters.get("mask_clouds"):
        columns.append(Column("clear_pixels", "pixels", "clear"))
    for name in indices:
        columns.extend(Column(f"{name}_{stat}", name, stat) for stat in NDVI_STATISTICS)
    for name in variables:
        for q in statistics.get("percentiles") or ():
            columns.append(Column(f"{name}_{percentile_key(q)}", name, percentile_key(q)))
    histogram = statistics.get("histogram")
    if histogram:
        for name in variables:
            columns.append(Column(f"{name}_hist_underflow", name, "hist_underflow"))
            columns.append(Column(f"{name}_hist_overflow", name, "hist_overflow"))
            for i in range(int(histogram["bins"])):
                columns.extend(
                    Column(f"{name}_hist_{i}_{key}", name, f"hist_{i}_{key}") for key in ("low", "high", "count")
                )
    if parameters.get("aggregation"):
        columns.extend(Column(f"interval_{key}", "interval", key) for key in ("from", "to", "observations"))
    seen: set[str] = set()
    unique = []
    for column in columns:
        if column.name not in seen:
            seen.add(column.name)
            unique.append(column)
    return tuple(unique)


def _base_column_meaning(name: str) -> tuple[str, str]:
    if name.startswith("ndvi_"):
        return "ndvi", name.removeprefix("ndvi_")
    if name.startswith("cloud_"):
        return "cloud", name.removeprefix("cloud_")
    if name.endswith("_pixels"):
        return "pixels", name.removesuffix("_pixels")
    if name in BANDS:
        return name, "mean"
    return name, ""


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
    #: dates (observations and errors) taken from a stored series instead of computed
    reused: int = 0

    @property
    def computed(self) -> int:
        """Dates (observations and errors) computed for this result."""
        return len(self.observations) + len(self.errors) - self.reused

    @property
    def status(self) -> str:
        return "PARTIAL" if self.errors else "OK"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
