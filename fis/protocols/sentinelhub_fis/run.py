"""A parsed FIS request run on the engine's stream of dates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fis.core.observation import ObservationError
from fis.core.scenes import SceneRecord
from fis.engine.engine import Engine
from fis.engine.reductions import DatePixels
from fis.protocols.sentinelhub_fis.parameters import FisParameters, timeseries_request
from fis.protocols.sentinelhub_fis.response import FisDate, date_statistics


def run_fis(params: FisParameters, engine: Engine, scenes: Sequence[SceneRecord]) -> Iterator[FisDate]:
    """Stream the engine's dates through :func:`date_statistics` (read errors become omitted dates)."""
    for item in engine.iter_dates(timeseries_request(params), scenes):
        date = item.date.isoformat()
        if isinstance(item.outcome, ObservationError):
            yield FisDate(date, omitted=f"read error: {item.outcome.message}")
        else:
            assert isinstance(item.outcome, DatePixels)  # the stream has no reducer
            yield date_statistics(params, date, item.outcome)
