"""The options of a batch job: one :class:`TimeseriesBody` without a geometry, applied to every feature.

A job's options are validated once, through the same model as a single request's body, into a
template :class:`TimeseriesRequest`; each feature's request is that template with the feature's
area (:func:`feature_request`), so a feature's series is exactly the single request of its polygon.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import ValidationError
from shapely.geometry import MultiPolygon, Polygon, box

from fis.core.geometry import AOI, WGS84
from fis.core.request.body import TimeseriesBody
from fis.core.request.errors import translate
from fis.core.request.names import parse_series_name
from fis.core.request.value import TimeseriesRequest
from fis.errors import InvalidInput

#: body keys that belong to each feature, not to the job (the geometry and its CRS come from the file)
FEATURE_KEYS: tuple[str, ...] = ("geometry", "crs", "name")
#: stands in for the features' areas while the options are validated
_PLACEHOLDER = box(0.0, 0.0, 0.001, 0.001)


def parse_batch_options(options: Any) -> TimeseriesRequest:
    """The job's template request: ``options`` is a time-series body without geometry, crs and name.

    Errors are :class:`InvalidInput` naming the key, as for ``POST /api/v1/timeseries``.
    """
    if not isinstance(options, dict):
        raise InvalidInput(f"options: must be an object of time-series options, got {type(options).__name__}",
                           field="options")
    given = [key for key in FEATURE_KEYS if key in options]
    if given:
        raise InvalidInput(
            f"{given[0]}: a batch takes each feature's geometry (and its CRS) from the input and names each "
            "series after the feature's id; leave out " + ", ".join(FEATURE_KEYS),
            field=given[0],
        )
    aoi = AOI(geometry=_PLACEHOLDER, crs=WGS84, geometry_4326=_PLACEHOLDER)
    try:
        return TimeseriesBody.model_validate({**options, "geometry": aoi}).request
    except ValidationError as exc:
        raise translate(exc, TimeseriesBody) from None


def feature_request(
    template: TimeseriesRequest, geometry_4326: Polygon | MultiPolygon, *, name: str | None = None,
    properties: dict[str, Any] | None = None,
) -> TimeseriesRequest:
    """The template's request over one feature's (valid, lon/lat) polygon, named ``name`` when that is a valid name."""
    aoi = AOI(geometry=geometry_4326, crs=WGS84, geometry_4326=geometry_4326)
    try:
        label = parse_series_name(name)
    except InvalidInput:
        label = None
    return dataclasses.replace(template, aoi=aoi, name=label, properties=properties)
