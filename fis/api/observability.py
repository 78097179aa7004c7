"""What operators see: a request id on every response, one JSON log line per request, Prometheus ``/metrics``.

The request id is the client's ``X-Request-Id`` when it is a short printable token, else a new one; it is
echoed in the response header and is in every log line written while the request runs
(:class:`JsonFormatter`). ``GET /metrics`` serves the request latency histogram by route and status
and the engine's seconds per phase (``fis_engine_phase_seconds``) in Prometheus' text format (with
``FIS_AUTH=required`` it needs a token like every other route).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from fis.api.context import EXTENSION_KEY
from fis.engine.phases import PHASES

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_METRICS_KEY = "fis.metrics"

log = logging.getLogger(__name__)
blueprint = Blueprint("metrics", __name__)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id (in a request) and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(fmt: str, level: int = logging.INFO) -> None:
    """Log to stderr as ``json`` lines (one object each) or ``text``."""
    handler = logging.StreamHandler()
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def register_observability(app: Flask) -> None:
    """Request ids, the per-request log line and ``/metrics`` (one registry per app) with the engine's phases."""
    registry = CollectorRegistry()
    app.extensions[_METRICS_KEY] = (registry, Histogram(
        "fis_request_duration_seconds", "HTTP request latency by route and status.",
        ["method", "route", "status"], registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    ))
    phases = Histogram(
        "fis_engine_phase_seconds",
        "Engine time per phase: layout and store per request, read and reduce per date, cloud_model per model call.",
        ["phase"], registry=registry,
        buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    )
    for phase in PHASES:
        phases.labels(phase)  # every phase is listed (count 0) before its first observation
    app.extensions[EXTENSION_KEY].phase_observer = lambda phase, seconds: phases.labels(phase).observe(seconds)
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(blueprint)


def _start() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _VALID_ID.match(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    from flask import current_app

    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = request_id
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
    _, histogram = current_app.extensions[_METRICS_KEY]
    histogram.labels(request.method, route, str(response.status_code)).observe(seconds)
    principal = g.get("principal")
    log.info("%s %s %s", request.method, request.path, response.status_code, extra={"fields": {
        "method": request.method, "path": request.path, "route": route, "status": response.status_code,
        "duration_ms": round(seconds * 1000, 1), "client": principal.client_id if principal else None,
    }})
    return response


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format."""
    from flask import current_app

    registry, _ = current_app.extensions[_METRICS_KEY]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
