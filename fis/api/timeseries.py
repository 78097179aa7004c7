"""``/api/v1/timeseries``: compute, store, list, show, export and delete time series."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, make_response, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from fis.api.auth import current_owner
from fis.api.body import json_body, response_format
from fis.api.context import services
from fis.core.observation import Observation, SeriesResult
from fis.core.request import parse_series_name, parse_timeseries_request
from fis.errors import InvalidInput
from fis.protocols.native.plot import DEFAULT_DPI, DEFAULT_HEIGHT, DEFAULT_WIDTH, Thresholds, profile_png
from fis.protocols.native.query import PlotQuery, SeriesListQuery
from fis.protocols.native.views import CloudFilter, csv_response, geojson_response, series_json, series_summary
from fis.store.db import transaction
from fis.store.queries import (
    delete_series,
    errors_of,
    get_series,
    list_series,
    observation_counts,
    observations_of,
    rename_series,
    scene_details,
    series_for_key,
)

blueprint = Blueprint("timeseries", __name__, url_prefix="/api/v1/timeseries")


@blueprint.post("")
def create_timeseries() -> ResponseReturnValue:
    fmt = response_format(request)
    key = idempotency_key()
    if key is not None:
        with services().sessions() as session:
            made = series_for_key(session, current_owner(), key)
        if made is not None:
            return _stored_response(made, fmt, replayed=True)
    ts_request = parse_timeseries_request(json_body(request))
    try:
        series, result = services().run_timeseries(ts_request, owner=current_owner(), idempotency_key=key)
    except IntegrityError:
        if key is None:
            raise
        with services().sessions() as session:  # a concurrent request with the same key stored its series first
            made = series_for_key(session, current_owner(), key)
        if made is None:
            raise
        return _stored_response(made, fmt, replayed=True)
    return _computed_response(series, result, fmt, status=201)


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` header: 1 to 255 printable ASCII characters."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key {key[:40]!r}: send 1 to 255 printable ASCII characters (e.g. a UUID)",
            field="Idempotency-Key",
        )
    return key


@blueprint.post("/<series_id>/refresh")
def refresh_timeseries(series_id: str) -> ResponseReturnValue:
    """Extend a stored series to today's archive: only dates after its range are computed."""
    fmt = response_format(request)
    with services().sessions() as session:
        get_series(session, series_id, owner=current_owner())  # another client's series is not found
    series, result = services().refresh_series(series_id)
    return _computed_response(series, result, fmt, status=200)


def _computed_response(series: Any, result: SeriesResult, fmt: str, *, status: int) -> ResponseReturnValue:
    """A just computed (or extended) series, with how many dates were reused and computed."""
    view = CloudFilter.from_parameters(series.parameters)
    observations = list(result.observations)
    counts = {"X-FIS-Reused": str(result.reused), "X-FIS-Computed": str(result.computed)}
    if fmt in ("csv", "long_csv"):
        response = csv_response(series, observations, view, status=status, long=fmt == "long_csv")
        response.headers.update(counts)
        return response
    body = series_json(series, observations, list(result.errors), view, _details(observations))
    body["reused"] = result.reused
    body["computed"] = result.computed
    if fmt == "geojson":
        response = geojson_response(body, status=status)
        response.headers.update(counts)
        return response
    return jsonify(body), status, {"Location": body["links"]["self"], **counts}


@blueprint.get("")
def list_timeseries() -> ResponseReturnValue:
    svc = services()
    query = SeriesListQuery.from_args(request.args)
    limit = svc.settings.page_size if query.limit is None else query.limit
    offset = query.offset or 0
    with svc.sessions() as session:
        rows, total = list_series(session, limit=limit, offset=offset, owner=current_owner())
        counts = observation_counts(session, [r.id for r in rows])
    links = {}
    base = request.base_url
    if offset + limit < total:
        links["next"] = f"{base}?limit={limit}&offset={offset + limit}"
    if offset > 0:
        links["prev"] = f"{base}?limit={limit}&offset={max(0, offset - limit)}"
    return jsonify({
        "items": [series_summary(r, counts.get(r.id, 0)) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
        "links": links,
    })


@blueprint.get("/<series_id>")
def get_timeseries(series_id: str) -> ResponseReturnValue:
    return _stored_response(series_id, response_format(request))


def _stored_response(series_id: str, fmt: str, *, replayed: bool = False) -> ResponseReturnValue:
    """A stored series in ``fmt``; ``replayed``: the answer to a repeated ``Idempotency-Key``."""
    if replayed:
        response = make_response(_stored_response(series_id, fmt))
        response.headers["Idempotent-Replayed"] = "true"
        return response
    with services().sessions() as session:
        series = get_series(session, series_id, owner=current_owner())
        observations = observations_of(series)
        errors = errors_of(series)
    view = CloudFilter.from_parameters(series.parameters).override(request)
    if fmt in ("csv", "long_csv"):
        return csv_response(series, observations, view, long=fmt == "long_csv")
    body = series_json(series, observations, errors, view, _details(observations))
    if fmt == "geojson":
        return geojson_response(body)
    return jsonify(body)


@blueprint.get("/<series_id>/plot.png")
def plot_timeseries(series_id: str) -> ResponseReturnValue:
    """The NDVI profile as a PNG: all dates, and the cloudy dates masked (thresholds and size from the query)."""
    query = PlotQuery.from_args(request.args)
    with services().sessions() as session:
        series = get_series(session, series_id)
        observations = observations_of(series)
    view = CloudFilter.from_parameters(series.parameters).with_thresholds(query)
    png = profile_png(
        CloudFilter(view.max_cloud_fraction, view.max_cloud_probability, include_cloudy=True).apply(observations),
        Thresholds(view.max_cloud_fraction, view.max_cloud_probability),
        title=f"NDVI profile: {series.name or series.id}",
        width=query.width or DEFAULT_WIDTH,
        height=query.height or DEFAULT_HEIGHT,
        dpi=query.dpi or DEFAULT_DPI,
    )
    return Response(png, mimetype="image/png")


def _details(observations: list[Observation]) -> dict[str, dict[str, Any]]:
    """Catalog facts (tile, baseline, level, radiometry) of the scenes behind the observations."""
    with services().sessions() as session:
        return scene_details(session, [i for o in observations for i in o.scenes])


@blueprint.patch("/<series_id>")
def update_timeseries(series_id: str) -> ResponseReturnValue:
    """Rename a stored series: ``{"name": "..."}`` (``null`` removes the name)."""
    body = json_body(request) if request.get_data(cache=True) else None
    if not isinstance(body, dict) or set(body) != {"name"}:
        keys = sorted(str(k) for k in body) if isinstance(body, dict) else None
        got = f"keys {keys}" if keys is not None else "not an object"
        raise InvalidInput(
            f'request body: send {{"name": "new name"}} (or {{"name": null}} to remove the name); got {got}',
            field=next((k for k in keys or () if k != "name"), "name"),
        )
    name = parse_series_name(body["name"])
    with transaction(services().sessions) as session:
        rename_series(session, series_id, name, owner=current_owner())
    with services().sessions() as session:
        series = get_series(session, series_id, owner=current_owner())
        observations = observations_of(series)
        errors = errors_of(series)
    view = CloudFilter.from_parameters(series.parameters)
    return jsonify(series_json(series, observations, errors, view, _details(observations)))


@blueprint.delete("/<series_id>")
def remove_timeseries(series_id: str) -> ResponseReturnValue:
    with transaction(services().sessions) as session:
        delete_series(session, series_id, owner=current_owner())
    return "", 204
