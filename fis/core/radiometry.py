"""The one radiometric rule: digital numbers -> reflectance.

``reflectance = DN * scale + offset``, with DN 0 (or the file's nodata) as no data.
Every source (STAC ``raster:bands``, processing-baseline defaults, float reflectance files)
is reduced to one :class:`Radiometry` per band asset at ingest; the reader applies it once.
Because the record holds the *final* scale and offset, an offset cannot be applied twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Baseline from which L1C/L2A products carry RADIO_ADD_OFFSET / BOA_ADD_OFFSET = -1000 DN.
OFFSET_BASELINE = (4, 0)
QUANTIFICATION_VALUE = 10000.0
BASELINE_04_OFFSET_DN = -1000.0


@dataclass(frozen=True)
class Radiometry:
    """How to turn stored values into reflectance: ``value * scale + offset``."""

    scale: float = 1.0 / QUANTIFICATION_VALUE
    offset: float = 0.0
    nodata: float | None = 0.0

    def to_reflectance(self, values: np.ndarray) -> np.ndarray:
        """Reflectance as float32 with NaN where the input is no data (or already NaN)."""
        data = np.asarray(values)
        divisor, offset_dn = self.integer_form()
        if divisor is not None and data.dtype.kind in "ui" and data.dtype.itemsize <= 2:
            # (DN + offset_dn) is exact in float32 and one IEEE division rounds once: the same
            # float32 as the float64 route below, at a third of the memory traffic
            out = data.astype(np.float32)
            if offset_dn:
                out += np.float32(offset_dn)
            out /= np.float32(divisor)
        else:
            # float64 arithmetic, one rounding to float32: in float32, DN * 1e-4 - 0.1 cancels
            # catastrophically (DN 1000 gave -7.5e-9 instead of 0; dark pixels lost ~1e-4 relative).
            out = (data.astype(np.float64) * self.scale + self.offset).astype(np.float32)
        if self.nodata is not None and not np.isnan(self.nodata):
            out[data == self.nodata] = np.nan
        return out

    def integer_form(self) -> tuple[float | None, float]:
        """(1/scale, offset/scale) when both are whole numbers (e.g. 10000 and -1000), else (None, 0)."""
        if self.scale <= 0:
            return None, 0.0
        divisor = 1.0 / self.scale
        offset_dn = self.offset / self.scale
        if abs(divisor - round(divisor)) > 1e-6 or abs(offset_dn - round(offset_dn)) > 1e-6 or round(divisor) > 2**24:
            return None, 0.0
        return float(round(divisor)), float(round(offset_dn))

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "offset": self.offset, "nodata": self.nodata}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Radiometry:
        return cls(scale=float(data["scale"]), offset=float(data["offset"]), nodata=data.get("nodata"))


def parse_baseline(text: str | None) -> tuple[int, int] | None:
    """``"04.00"`` -> ``(4, 0)``; ``None`` or unparseable -> ``None``."""
    if not text:
        return None
    parts = str(text).strip().lstrip("N").split(".")
    try:
        if len(parts) == 1 and len(parts[0]) == 4:
            return int(parts[0][:2]), int(parts[0][2:])
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return None


def baseline_has_offset(baseline: str | None) -> bool:
    """True when products of this processing baseline carry the -1000 DN offset."""
    parsed = parse_baseline(baseline)
    return parsed is not None and parsed >= OFFSET_BASELINE


def radiometry_for_asset(
    raster_band: dict[str, Any] | None,
    *,
    processing_baseline: str | None,
    file_nodata: float | None = None,
) -> Radiometry:
    """The radiometry of one band asset.

    ``raster:bands`` scale/offset win when present (they already include the baseline offset,
    e.g. Earth Search v1: ``scale 0.0001, offset -0.1``). Without them, integer DNs follow the
    product rule: ``(DN + offset_dn) / 10000`` with ``offset_dn = -1000`` from baseline 04.00.
    A float data type without scale means the file already holds reflectance.
    """
    rb = raster_band or {}
    nodata = rb.get("nodata", file_nodata if file_nodata is not None else 0)
    if isinstance(nodata, str):  # STAC allows "nan"
        nodata = float(nodata)
    data_type = str(rb.get("data_type", "uint16"))
    if "scale" in rb or "offset" in rb:
        return Radiometry(scale=float(rb.get("scale", 1.0)), offset=float(rb.get("offset", 0.0)), nodata=nodata)
    if data_type.startswith("float"):
        return Radiometry(scale=1.0, offset=0.0, nodata=nodata)
    offset_dn = BASELINE_04_OFFSET_DN if baseline_has_offset(processing_baseline) else 0.0
    return Radiometry(
        scale=1.0 / QUANTIFICATION_VALUE, offset=offset_dn / QUANTIFICATION_VALUE, nodata=nodata
    )
