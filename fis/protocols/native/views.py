"""How a stored series is shown: threshold filtering and the JSON / CSV / GeoJSON bodies."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from flask import Request, Response, jsonify, url_for
from werkzeug.utils import secure_filename

from fis.core.observation import Observation, ObservationError, csv_columns
from fis.protocols.native.export import csv_lines, geojson_feature, long_csv_lines
from fis.protocols.native.query import PlotQuery, SeriesQuery
from fis.store.orm import TimeSeries


@dataclass(frozen=True)
class CloudFilter:
    """Which observations count as cloudy and whether they are shown."""

    max_cloud_fraction: float | None = None
    max_cloud_probability: float | None = None
    include_cloudy: bool = False

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> CloudFilter:
        return cls(
            max_cloud_fraction=parameters.get("max_cloud_fraction"),
            max_cloud_probability=parameters.get("max_cloud_probability"),
            include_cloudy=bool(parameters.get("include_cloudy", False)),
        )

    def override(self, request: Request) -> CloudFilter:
        """Query parameters ``max_cloud_fraction``, ``max_cloud_probability``, ``include_cloudy`` win (an empty or
        ``null`` threshold clears the stored one); any other parameter than those and ``format`` is a 400."""
        query = SeriesQuery.from_args(request.args)
        return replace(
            self.with_thresholds(query),
            include_cloudy=query.include_cloudy if query.include_cloudy is not None else self.include_cloudy,
        )

    def with_thresholds(self, query: SeriesQuery | PlotQuery) -> CloudFilter:
        """This filter with the thresholds given in ``query`` (a given empty threshold clears the stored one)."""
        given = query.model_fields_set
        return replace(
            self,
            max_cloud_fraction=query.max_cloud_fraction if "max_cloud_fraction" in given else self.max_cloud_fraction,
            max_cloud_probability=(
                query.max_cloud_probability if "max_cloud_probability" in given else self.max_cloud_probability
            ),
        )

    def apply(self, observations: list[Observation]) -> list[tuple[Observation, bool]]:
        """(observation, cloudy) pairs to show, dates ascending."""
        pairs = [
            (
                o,
                o.is_cloudy(
                    max_cloud_fraction=self.max_cloud_fraction, max_cloud_probability=self.max_cloud_probability
                ),
            )
            for o in sorted(observations, key=lambda o: o.date)
        ]
        return pairs if self.include_cloudy else [(o, c) for o, c in pairs if not c]

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_cloud_fraction": self.max_cloud_fraction,
            "max_cloud_probability": self.max_cloud_probability,
            "include_cloudy": self.include_cloudy,
        }


def series_links(series_id: str, base_url: str | None = None) -> dict[str, str]:
    """Links of a series: from the current request, or below ``base_url`` (outside a request, e.g. the CLI)."""
    if base_url is not None:
        collection = f"{base_url.rstrip('/')}/api/v1/timeseries"
        self_url = f"{collection}/{series_id}"
        return {"self": self_url, "csv": f"{self_url}?format=csv", "collection": collection}
    return {
        "self": url_for("timeseries.get_timeseries", series_id=series_id, _external=True),
        "csv": url_for("timeseries.get_timeseries", series_id=series_id, format="csv", _external=True),
        "collection": url_for("timeseries.list_timeseries", _external=True),
    }


def series_json(
    series: TimeSeries,
    observations: list[Observation],
    errors: list[ObservationError],
    view: CloudFilter,
    scene_details: dict[str, dict[str, Any]] | None = None,
    *,
    base_url: str | None = None,
) -> dict[str, Any]:
    """The series document; with ``scene_details`` each observation also lists its scenes'
    tile, processing baseline, product level and radiometry (``scene_details``).

    ``name`` and ``properties`` appear only when set; links are made below ``base_url`` when given.
    """
    shown = view.apply(observations)
    cloudy_total = sum(
        o.is_cloudy(max_cloud_fraction=view.max_cloud_fraction, max_cloud_probability=view.max_cloud_probability)
        for o in observations
    )
    parameters = dict(series.parameters)
    return {
        "id": series.id,
        **_named(series),
        "status": series.status,
        "created_at": _utc_iso(series.created_at),
        "time_range": parameters.get("time_range"),
        "geometry": _geojson(series),
        "parameters": parameters,
        "model": series.model,
        "filter": view.to_dict(),
        "summary": {"observations": len(observations), "returned": len(shown), "cloudy": int(cloudy_total)},
        "observations": [_with_details(o.to_json(cloudy=c), scene_details) for o, c in shown],
        "errors": [e.to_json() for e in errors],
        "warnings": list(series.warnings or []),
        "links": series_links(series.id, base_url),
    }


def _named(series: TimeSeries) -> dict[str, Any]:
    """``name`` and ``properties`` of a series that has them (absent otherwise: unnamed series look as before)."""
    out: dict[str, Any] = {}
    if series.name is not None:
        out["name"] = series.name
    if series.properties is not None:
        out["properties"] = dict(series.properties)
    return out


def _with_details(document: dict[str, Any], details: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    if details is not None:
        document["scene_details"] = [details[i] for i in document["scenes"] if i in details]
    return document


def series_summary(series: TimeSeries, count: int, *, base_url: str | None = None) -> dict[str, Any]:
    """One entry of the list of series (``name`` only when set)."""
    return {
        "id": series.id,
        **({"name": series.name} if series.name is not None else {}),
        "status": series.status,
        "created_at": _utc_iso(series.created_at),
        "time_range": series.parameters.get("time_range"),
        "bbox": [series.min_lon, series.min_lat, series.max_lon, series.max_lat],
        "observations": count,
        "model": series.model,
        "links": series_links(series.id, base_url),
    }


def csv_filename(series: TimeSeries, *, long: bool = False) -> str:
    """``<name>.csv`` for a named series (made safe for a file name), else ``fis-timeseries-<id>.csv``."""
    suffix = "-long" if long else ""
    stem = secure_filename(series.name) if series.name is not None else ""
    return f"{stem or f'fis-timeseries-{series.id}'}{suffix}.csv"


def csv_response(
    series: TimeSeries, observations: list[Observation], view: CloudFilter, *, status: int = 200, long: bool = False
) -> Response:
    """The wide CSV (columns from the series' options), or with ``long`` one line per date x statistic."""
    shown = view.apply(observations)
    columns = csv_columns(dict(series.parameters or {}))
    make = long_csv_lines if long else csv_lines
    lines = make([o for o, _ in shown], cloudy=[c for _, c in shown], columns=columns)
    response = Response(lines, status=status, mimetype="text/csv")
    filename = csv_filename(series, long=long)
    disposition = f'attachment; filename="{filename}"'
    exact = f"{series.name}{'-long' if long else ''}.csv"
    if series.name is not None and exact != filename:
        disposition += f"; filename*=UTF-8''{quote(exact)}"  # RFC 6266: the exact name for clients that read it
    response.headers["Content-Disposition"] = disposition
    response.headers["Location"] = url_for("timeseries.get_timeseries", series_id=series.id, _external=True)
    return response


def geojson_response(body: dict[str, Any], *, status: int = 200) -> Response:
    """The series as a GeoJSON Feature (``application/geo+json``)."""
    response = jsonify(geojson_feature(body))
    response.status_code = status
    response.mimetype = "application/geo+json"
    response.headers["Location"] = body["links"]["self"]
    return response


def _utc_iso(value: datetime.datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; SQLite hands back naive datetimes, which are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def _geojson(series: TimeSeries) -> dict[str, Any]:
    from shapely.geometry import mapping

    return mapping(series.geometry)
