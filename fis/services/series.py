"""Use cases on stored series: compute a request and store it, extend a stored series.

Both run the engine's one series orchestrator (:meth:`fis.engine.engine.Engine.compute`) and write
in one transaction. A request whose geometry and parameters match a stored series reuses that
series' dates (:mod:`fis.store.incremental`); a refresh computes only the dates the series lacks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Sequence

from sqlalchemy.orm import Session, sessionmaker

from fis.core.aggregation import covered_range
from fis.core.observation import SeriesResult
from fis.core.request import TimeseriesRequest, request_from_stored
from fis.core.scenes import SceneRecord
from fis.core.timerange import TimeRange
from fis.engine.engine import Engine, Progress
from fis.errors import InvalidInput
from fis.services.hints import empty_series_hints
from fis.store.db import transaction
from fis.store.incremental import StoredPart, find_reusable, merge, scenes_to_compute, stored_part
from fis.store.orm import TimeSeries
from fis.store.queries import (
    errors_of,
    find_scenes,
    get_series,
    observation_row,
    observations_of,
    remember_key,
    save_series,
)


def compute_and_store(
    sessions: sessionmaker[Session], engine: Engine, request: TimeseriesRequest, *, progress: Progress | None = None,
    owner: str | None = None, idempotency_key: str | None = None,
) -> tuple[TimeSeries, SeriesResult]:
    """Find the scenes, compute every observation, then store the series (of ``owner``) in one transaction.

    With ``idempotency_key`` the key is stored in the same transaction (see :func:`remember_key`).

    When a stored series has the same geometry and parameters and the request's range extends
    its range, the dates that series covers are taken from it and only the others are computed
    (:mod:`fis.store.incremental`; ``result.reused`` / ``result.computed`` count them).
    """
    part: StoredPart | None = None
    with sessions() as session:
        # an aggregation whose last interval is extended also reads that interval's extra time
        scenes = find_scenes(session, request.aoi.geometry_4326, covered_range(request.time_range, request.aggregation))
        if request.aggregation is None:
            wanted = {**request.parameters(), "model": engine.model.name}
            stored = find_reusable(session, request.aoi.geometry_4326, wanted, request.time_range, owner=owner)
            if stored is not None:
                part = stored_part(stored, request.time_range)
    result = _compute_reusing(engine, request, scenes, part, progress)
    parameters = {**request.parameters(), "grid": result.grid, "model": result.model}
    with engine.phases("store"), transaction(sessions) as session:
        series = save_series(
            session,
            geometry_4326=request.aoi.geometry_4326,
            time_range=request.time_range,
            parameters=parameters,
            result=result,
            warnings=[
                *request.aoi.warnings,
                *result.warnings,
                *empty_series_hints(session, request.aoi.geometry_4326, request.time_range, result),
            ],
            name=request.name,
            properties=request.properties,
            owner=owner,
        )
        if idempotency_key is not None:
            remember_key(session, owner, idempotency_key, series.id)
    return series, result


def _compute_reusing(
    engine: Engine, request: TimeseriesRequest, scenes: Sequence[SceneRecord], part: StoredPart | None,
    progress: Progress | None,
) -> SeriesResult:
    fresh = engine.compute(request, scenes_to_compute(scenes, part), progress=progress)
    if part is not None and fresh.grid and part.grid and json.loads(json.dumps(fresh.grid)) != part.grid:
        # the new dates chose another grid (e.g. another CRS): nothing stored is comparable
        part = None
        fresh = engine.compute(request, scenes, progress=progress)
    merged = merge(part, fresh)
    return dataclasses.replace(merged, reused=part.reused if part is not None else 0)


def refresh_series(
    sessions: sessionmaker[Session], engine: Engine, series_id: str, *, now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> tuple[TimeSeries, SeriesResult]:
    """Extend a stored series to ``now`` (UTC) and add the archive's new dates, in one transaction.

    New dates are the UTC dates with scenes in the extended range that the series has no
    observation (or error) for: later acquisitions, and earlier ones ingested since. Nothing
    stored is recomputed, even if another scene of a stored date was ingested since.
    """
    now = now or dt.datetime.now(dt.UTC)
    with sessions() as session:
        series = get_series(session, series_id)
        parameters = dict(series.parameters or {})
        if parameters.get("aggregation") is not None:
            raise InvalidInput(
                "refresh: a series with aggregation cannot be extended in place (its last interval would change); "
                "POST the request again with a longer time_range",
                field="aggregation",
            )
        stored_range = TimeRange(series.time_from, series.time_to)
        new_range = TimeRange(stored_range.start, max(now, stored_range.end))
        geometry = series.geometry
        stored_obs = observations_of(series)
        stored_errors = errors_of(series)
        stored_dates = {o.date for o in stored_obs} | {e.date for e in stored_errors}
        scenes = [
            s for s in find_scenes(session, geometry, new_range)
            if s.date not in stored_dates
        ]
    request = request_from_stored(parameters, geometry, new_range)
    fresh = engine.compute(request, scenes, progress=progress)
    with engine.phases("store"), transaction(sessions) as session:
        series = get_series(session, series_id)
        series.observations.extend(observation_row(obs) for obs in fresh.observations)
        series.errors = [*(series.errors or []), *(e.to_json() for e in fresh.errors)]
        series.warnings = [*(series.warnings or []), *fresh.warnings]
        series.time_to = new_range.end
        series.parameters = {
            **parameters, "time_range": new_range.to_dict(), "grid": parameters.get("grid") or fresh.grid,
        }
        if series.errors:
            series.status = "PARTIAL"
        session.flush()
    result = SeriesResult(
        observations=tuple(sorted((*stored_obs, *fresh.observations), key=lambda o: o.date)),
        errors=tuple(sorted((*stored_errors, *fresh.errors), key=lambda e: e.date)),
        model=fresh.model or str(parameters.get("model", "")),
        grid=parameters.get("grid") or fresh.grid,
        warnings=fresh.warnings,
        reused=len(stored_obs) + len(stored_errors),
    )
    with sessions() as session:
        series = get_series(session, series_id)
        session.expunge_all()
    return series, result
