"""Sentinel-2 MSI band facts: names, order, native resolution, STAC common names."""

from __future__ import annotations

from typing import Final

#: The 13 bands in their canonical order (DESIGN.md section 2).
BANDS: Final[tuple[str, ...]] = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)

#: Native ground sampling distance in metres.
NATIVE_RESOLUTION: Final[dict[str, int]] = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20,
    "B08": 10, "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}

#: Earth Search v1 asset keys / STAC ``eo:bands`` common names.
COMMON_NAMES: Final[dict[str, str]] = {
    "coastal": "B01", "blue": "B02", "green": "B03", "red": "B04",
    "rededge1": "B05", "rededge2": "B06", "rededge3": "B07", "nir": "B08",
    "nir08": "B8A", "nir09": "B09", "cirrus": "B10", "swir16": "B11", "swir22": "B12",
}

NDVI_BANDS: Final[tuple[str, str]] = ("B04", "B08")


def normalise_band_name(name: str) -> str | None:
    """Return the canonical band id (``B01``..``B12``, ``B8A``) for an asset key or band name.

    Accepts ``B1``/``B01``/``b01``, ``B8A``/``B08A`` and the STAC common names. Returns ``None``
    when the name is not a Sentinel-2 spectral band.
    """
    key = name.strip()
    lower = key.lower()
    if lower in COMMON_NAMES:
        return COMMON_NAMES[lower]
    upper = key.upper()
    if upper in ("B8A", "B08A"):
        return "B8A"
    if upper.startswith("B") and upper[1:].isdigit():
        canonical = f"B{int(upper[1:]):02d}"
        return canonical if canonical in NATIVE_RESOLUTION else None
    return None
