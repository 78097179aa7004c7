"""Reading a stored ``parameters`` record (:meth:`TimeseriesRequest.parameters`) back through the request model.

The record keeps the body's keys except that the four cloud-mask keys are nested under
``cloud_mask`` (``cloud_threshold`` -> ``cloud_mask.threshold`` ...), ``time_range`` is the
normalised UTC range, and the histogram is its normalised form. Options appear only when they are
used, so a default request's record is what it always was. The service adds ``grid`` and ``model``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from fis.core.expressions import BUILTIN_INDICES
from fis.core.geometry import AOI, WGS84
from fis.core.request.body import TimeseriesBody
from fis.core.request.errors import translate
from fis.core.request.value import TimeseriesRequest
from fis.core.timerange import TimeRange
from fis.errors import InvalidInput

#: body key -> key inside the stored ``cloud_mask`` object
CLOUD_MASK_KEYS: dict[str, str] = {
    "cloud_threshold": "threshold",
    "cloud_mask_resolution": "resolution",
    "cloud_mask_average_over": "average_over",
    "cloud_mask_dilation": "dilation_size",
}
#: stored keys that are no request options (``name``/``properties`` have columns of their own; records
#: written before that may hold them)
SERVICE_KEYS: tuple[str, ...] = ("grid", "model", "name", "properties")


def stored_body(parameters: dict[str, Any]) -> dict[str, Any]:
    """The request body (without geometry and time range) that a stored record describes."""
    body = {k: v for k, v in parameters.items() if k not in ("cloud_mask", "time_range", *SERVICE_KEYS)}
    cloud = parameters.get("cloud_mask") or {}
    body.update({key: cloud[inner] for key, inner in CLOUD_MASK_KEYS.items() if inner in cloud})
    indices = body.get("indices")
    if isinstance(indices, dict):  # built-ins are stored with their formula; the body names them with null
        body["indices"] = {n: None if BUILTIN_INDICES.get(n) == e else e for n, e in indices.items()}
    histogram = (body.get("statistics") or {}).get("histogram")
    if isinstance(histogram, dict) and (histogram.get("edges") is not None or histogram.get("bin_width") is not None):
        # the normalised form also records the bin count
        body["statistics"] = {**body["statistics"], "histogram": {k: v for k, v in histogram.items() if k != "bins"}}
    return body


def request_from_stored(
    parameters: dict[str, Any], geometry_4326: AOI | BaseGeometry, time_range: TimeRange
) -> TimeseriesRequest:
    """The request of a stored series over ``time_range``, validated through :class:`TimeseriesBody`.

    ``geometry_4326`` is the stored geometry (lon/lat) or an :class:`AOI`; the stored ``crs`` only
    described the original coordinates.
    """
    if isinstance(geometry_4326, AOI):
        aoi = geometry_4326
    elif isinstance(geometry_4326, (Polygon, MultiPolygon)):
        aoi = AOI(geometry=geometry_4326, crs=WGS84, geometry_4326=geometry_4326)
    else:
        raise InvalidInput(f"stored geometry: a {geometry_4326.geom_type} is not a polygon", field="geometry")
    body = {**stored_body(parameters), "geometry": aoi, "time_range": time_range}
    body.pop("crs", None)
    try:
        return TimeseriesBody.model_validate(body).request
    except ValidationError as exc:
        raise translate(exc, TimeseriesBody, what="stored parameters") from None
