"""Shared pieces of the response models (:mod:`fis.protocols.native.schemas`, :mod:`fis.api.schemas`, ...).

Response models are descriptive: they generate the published OpenAPI schemas, and tests validate real responses
against those schemas. They describe the bodies the code builds; they do not build them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ResponseModel(BaseModel):
    """A JSON object of a response: no keys but the declared ones."""

    model_config = ConfigDict(extra="forbid")


def only_when(description: str, **schema: Any) -> Any:
    """A key present only in some responses (not required; never null when present)."""

    def finish(generated: dict[str, Any]) -> None:
        generated.pop("default", None)  # absent, not null
        generated.update(schema)

    return Field(None, description=description, json_schema_extra=finish)


def url(description: str, *, optional: bool = False) -> Any:
    """An absolute URL (``format: uri``); with ``optional`` a key present only in some responses."""
    if optional:
        return only_when(description, format="uri")
    return Field(description=description, json_schema_extra={"format": "uri"})


Position = Annotated[list[float], Field(min_length=2, description="[x, y]: [lon, lat] in EPSG:4326.")]
Ring = Annotated[list[Position], Field(min_length=4, description="A closed linear ring.")]
BBox = Annotated[list[float], Field(min_length=4, max_length=4, description="[min lon, min lat, max lon, max lat].")]


class GeoJSONPolygon(ResponseModel):
    """A GeoJSON Polygon in EPSG:4326 (lon/lat)."""

    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(min_length=1)


class GeoJSONMultiPolygon(ResponseModel):
    """A GeoJSON MultiPolygon in EPSG:4326 (lon/lat)."""

    type: Literal["MultiPolygon"]
    coordinates: list[Annotated[list[Ring], Field(min_length=1)]]


#: A polygonal geometry in EPSG:4326 (lon/lat), as responses give it.
GeoJSONArea = Annotated[GeoJSONPolygon | GeoJSONMultiPolygon, Field(discriminator="type")]
