"""Plain records of what the catalog knows about a scene (independent of storage)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry

from fis.core.radiometry import Radiometry


@dataclass(frozen=True)
class BandAsset:
    """One band file of a scene and how to turn its values into reflectance."""

    band: str
    href: str
    radiometry: Radiometry
    resolution: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"href": self.href, "resolution": self.resolution, **self.radiometry.to_dict()}

    @classmethod
    def from_dict(cls, band: str, data: dict[str, Any]) -> BandAsset:
        return cls(
            band=band, href=data["href"], radiometry=Radiometry.from_dict(data), resolution=data.get("resolution")
        )


@dataclass(frozen=True)
class SceneRecord:
    """A Sentinel-2 acquisition on one tile, as registered in the catalog."""

    id: str
    datetime: dt.datetime
    footprint: BaseGeometry  # EPSG:4326, lon/lat
    assets: dict[str, BandAsset]
    collection: str | None = None
    platform: str | None = None
    tile: str | None = None
    processing_baseline: str | None = None
    product_level: str = "L1C"
    crs: str | None = None
    source: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def date(self) -> dt.date:
        return self.datetime.astimezone(dt.UTC).date()
