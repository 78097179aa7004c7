"""The time-series request: its body model (pydantic, the wire format), the engine's value, stored parameters.

Every error is an :class:`~fis.errors.InvalidInput` (or a subclass) whose ``field`` is the JSON
key, dotted for nested keys (``time_range.from``), and whose message says what to send instead.
"""

from fis.core.options import StatisticsOptions
from fis.core.request.batch import FEATURE_KEYS, feature_request, parse_batch_options
from fis.core.request.body import (
    ACCEPTED_KEYS,
    REQUIRED_KEYS,
    TimeseriesBody,
    parse_timeseries_request,
)
from fis.core.request.checks import MAX_DISK_RADIUS, MAX_RESOLUTION
from fis.core.request.names import MAX_NAME_LENGTH, parse_series_name
from fis.core.request.options import MAX_INDICES, MAX_PERCENTILES
from fis.core.request.querystring import parse_bool, parse_threshold
from fis.core.request.stored import request_from_stored
from fis.core.request.value import CloudMaskSettings, TimeseriesRequest

__all__ = [
    "ACCEPTED_KEYS",
    "FEATURE_KEYS",
    "MAX_DISK_RADIUS",
    "MAX_INDICES",
    "MAX_NAME_LENGTH",
    "MAX_PERCENTILES",
    "MAX_RESOLUTION",
    "REQUIRED_KEYS",
    "CloudMaskSettings",
    "StatisticsOptions",
    "TimeseriesBody",
    "TimeseriesRequest",
    "feature_request",
    "parse_batch_options",
    "parse_bool",
    "parse_series_name",
    "parse_threshold",
    "parse_timeseries_request",
    "request_from_stored",
]
