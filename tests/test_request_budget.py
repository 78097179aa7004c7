"""What one synchronous request may spend: the time limit (FIS_REQUEST_TIMEOUT_S), the dates per request
(FIS_MAX_DATES), the band-math limits, and the engine's time per phase in /metrics.

On the hand-checkable archive of ``fis_archive`` (three dates in June 2023), SQLite and PostGIS.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box

from fis.config import Settings
from fis.core.budget import RequestBudget, budget_scope, current_budget
from fis.errors import RequestTimeout, RequestTooLarge
from fis_archive import (  # noqa: F401 - fixtures
    DATES,
    FIELD_BOUNDS_UTM,
    archive,
    ingest_into,
    request_body,
)

URL = "/api/v1/timeseries"


@pytest.fixture
def make_app(settings: Settings, archive: Path) -> Iterator[Callable[..., Any]]:
    """Apps on one database with the archive ingested once, each with its own settings."""
    from fis.api.app import create_app
    from fis.store.db import upgrade

    apps: list[Any] = []

    def build(**overrides: Any) -> Any:
        app = create_app(dataclasses.replace(settings, **overrides))
        if not apps:
            upgrade(app.extensions["fis"].db)
            ingest_into(app, archive)
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["fis"].close()


def stored(app: Any) -> tuple[int, int]:
    """(series, observations) in the database."""
    from sqlalchemy import func, select

    from fis.store.orm import ObservationRow, TimeSeries

    with app.extensions["fis"].sessions() as session:
        return (session.scalar(select(func.count()).select_from(TimeSeries)) or 0,
                session.scalar(select(func.count()).select_from(ObservationRow)) or 0)


def json_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    error: dict[str, Any] = response.get_json()["error"]
    assert (error["status"], error["code"]) == (status, code)
    return error


# ------------------------------------------------------------------------------ time limit (HTTP)


def test_post_past_the_time_limit_is_504_and_stores_nothing(make_app: Callable[..., Any]) -> None:
    app = make_app(request_timeout_s=1e-6)
    error = json_error(app.test_client().post(URL, json=request_body()), 504, "request_timeout")
    message = error["message"]
    assert "time limit of 1e-06 s (FIS_REQUEST_TIMEOUT_S)" in message and "nothing was stored" in message
    assert "shorter time range" in message and "coarser resolution" in message
    assert error["details"]["timeout_s"] == 1e-6 and error["details"]["dates"] == 3
    assert stored(app) == (0, 0)
    # the same request within the default limit (120 s) computes the three dates
    ok = make_app().test_client().post(URL, json=request_body())
    assert ok.status_code == 201 and len(ok.get_json()["observations"]) == 3
    assert stored(app) == (1, 3)


def test_refresh_past_the_time_limit_is_504_and_keeps_the_series(make_app: Callable[..., Any]) -> None:
    body = request_body(time_range={"from": "2023-06-01", "to": "2023-06-15"})
    made = make_app().test_client().post(URL, json=body).get_json()
    assert [o["date"] for o in made["observations"]] == list(DATES[:2])
    slow = make_app(request_timeout_s=1e-6).test_client()
    json_error(slow.post(f"{URL}/{made['id']}/refresh"), 504, "request_timeout")
    after = slow.get(f"{URL}/{made['id']}").get_json()
    assert [o["date"] for o in after["observations"]] == list(DATES[:2])
    assert after["time_range"] == made["time_range"]


def test_ogc_fis_past_the_time_limit_is_504(make_app: Callable[..., Any]) -> None:
    import xml.etree.ElementTree as ET

    client = make_app(request_timeout_s=1e-6).test_client()
    params = {"LAYER": "NDVI", "CRS": "EPSG:32633", "TIME": "2023-06-01/2023-06-30",
              "GEOMETRY": box(*FIELD_BOUNDS_UTM).wkt, "RESOLUTION": "10m"}
    response = client.get("/ogc/fis", query_string=params)
    assert response.status_code == 504 and response.mimetype == "text/xml"
    exception = ET.fromstring(response.get_data())[0]
    assert exception.get("code") == "Timeout" and "FIS_REQUEST_TIMEOUT_S" in (exception.text or "")
    as_json = client.get("/ogc/fis", query_string={**params, "EXCEPTIONS": "application/json"})
    json_error(as_json, 504, "request_timeout")


def test_requests_without_compute_are_not_timed(make_app: Callable[..., Any]) -> None:
    client = make_app(request_timeout_s=1e-6).test_client()
    assert client.get(URL).status_code == 200
    assert client.get("/healthz").status_code == 200


# ---------------------------------------------------------------------- time limit (in the engine)


class SteppedClock:
    """A clock the test moves: the engine reads it, the progress callback advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_engine_stops_between_dates_at_the_deadline(make_app: Callable[..., Any]) -> None:
    from fis.core.request import parse_timeseries_request
    from fis.store.queries import find_scenes

    app = make_app()
    services = app.extensions["fis"]
    request = parse_timeseries_request(json.loads(json.dumps(request_body())))  # as a JSON body arrives

    with services.sessions() as session:
        scenes = find_scenes(session, request.aoi.geometry_4326, request.time_range)
    clock = SteppedClock()
    done: list[int] = []

    def progress(n: int, total: int) -> None:
        done.append(n)
        clock.now += 10.0  # each date "takes" 10 s

    with budget_scope(RequestBudget(timeout_s=15.0, clock=clock)), pytest.raises(RequestTimeout) as caught:
        services.engine.compute(request, scenes, progress=progress)
    assert done == [1, 2]  # the third date was never handed over
    assert caught.value.status == 504
    assert caught.value.details == {"timeout_s": 15.0, "stopped_before": f"date {DATES[2]}", "dates_done": 2,
                                    "dates": 3}
    assert "stopped after 2 of 3 dates before date 2023-06-21" in caught.value.message
    # within the limit (and outside any budget) the same call computes the three dates
    with budget_scope(RequestBudget(timeout_s=25.0, clock=SteppedClock())):
        assert len(services.engine.compute(request, scenes).observations) == 3
    assert current_budget().timeout_s is None
    assert len(services.engine.compute(request, scenes).observations) == 3


def test_bounded_map_cancels_what_was_not_started_and_frees_the_caller() -> None:
    from fis.engine.engine import _bounded_map

    started: list[int] = []
    release = threading.Event()

    def work(item: int) -> int:
        started.append(item)
        if item == 2:
            release.wait(5)  # a date that takes long
        return item

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        budget = RequestBudget(timeout_s=0.3)
        results: list[int] = []
        begun = time.monotonic()
        with pytest.raises(RequestTimeout) as caught:
            results.extend(_bounded_map(pool, work, list(range(20)), window=3, budget=budget))
        waited = time.monotonic() - begun
        assert results == [0, 1] and caught.value.details["dates_done"] == 2
        assert 0.25 <= waited < 2.0  # the caller left at the deadline, not when item 2 finished
        release.set()
    finally:
        pool.shutdown(wait=True)
    # items 3 and 4 were queued in the window behind the long one: cancelled, never run
    assert started == [0, 1, 2]


# --------------------------------------------------------------------------------- dates per request


def test_more_dates_than_the_limit_are_refused_before_reading(
    make_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fis.engine.dates import DateReader

    reads: list[int] = []
    original = DateReader.read
    monkeypatch.setattr(DateReader, "read", lambda self, *a, **k: reads.append(1) or original(self, *a, **k))
    client = make_app(max_dates=2).test_client()
    error = json_error(client.post(URL, json=request_body()), 413, "request_too_large")
    assert error["field"] == "time_range" and error["details"] == {"dates": 3, "max_dates": 2}
    assert "at most 2 (FIS_MAX_DATES)" in error["message"] and error["message"].startswith("time_range: ")
    assert reads == [] and stored(client.application) == (0, 0)
    # two dates pass; a longer range then only computes the date the stored series lacks
    first = client.post(URL, json=request_body(time_range={"from": "2023-06-01", "to": "2023-06-15"}))
    assert first.status_code == 201
    longer = client.post(URL, json=request_body())
    assert longer.status_code == 201, longer.get_data(as_text=True)
    assert (longer.headers["X-FIS-Reused"], longer.headers["X-FIS-Computed"]) == ("2", "1")


def test_ogc_fis_names_time_for_too_many_dates(make_app: Callable[..., Any]) -> None:
    import xml.etree.ElementTree as ET

    client = make_app(max_dates=2).test_client()
    params = {"LAYER": "NDVI", "CRS": "EPSG:32633", "TIME": "2023-06-01/2023-06-30",
              "GEOMETRY": box(*FIELD_BOUNDS_UTM).wkt, "RESOLUTION": "10m"}
    response = client.get("/ogc/fis", query_string=params)
    assert response.status_code == 413
    exception = ET.fromstring(response.get_data())[0]
    assert exception.get("locator") == "TIME"
    assert (exception.text or "").strip().startswith("TIME: the archive has 3 acquisition dates")
    short = client.get("/ogc/fis", query_string={**params, "TIME": "2023-06-01/2023-06-15"})
    assert short.status_code == 200


def test_budget_without_limits_limits_nothing() -> None:
    budget = RequestBudget()
    budget.check_dates(10**6)
    budget.check_time("anything")
    assert budget.remaining() is None
    with pytest.raises(RequestTooLarge):
        RequestBudget(max_dates=1).check_dates(2)


# ----------------------------------------------------------------------------------- band math limits


def test_expression_limits_are_settings_naming_the_index(make_app: Callable[..., Any]) -> None:
    client = make_app(max_expression_nodes=5, max_expression_length=30).test_client()
    ok = client.post(URL, json=request_body(indices={"ratio": "B08 / B04"}))  # 3 nodes
    assert ok.status_code == 201
    ratio = ok.get_json()["observations"][0]["indices"]["ratio"]["mean"]
    assert ratio == pytest.approx(0.3 / 0.04)
    error = json_error(client.post(URL, json=request_body(indices={"nd": "(B08 - B04) / (B08 + B04)"})),
                       400, "invalid_input")
    assert error["field"] == "indices.nd"
    assert "7 operations" in error["message"] and "limit is 5 (FIS_MAX_EXPRESSION_NODES)" in error["message"]
    long = "B08 / B04 + B08 / B04 + B08 / B04"  # 33 characters
    error = json_error(client.post(URL, json=request_body(indices={"long": long})), 400, "invalid_input")
    assert error["field"] == "indices.long" and "33 characters" in error["message"]
    assert "FIS_MAX_EXPRESSION_LENGTH" in error["message"]
    # the built-ins are not subject to the limits
    assert client.post(URL, json=request_body(indices=["evi"])).status_code == 201


def test_default_expression_node_limit_is_100(make_app: Callable[..., Any]) -> None:
    client = make_app().test_client()
    at_limit = " + ".join(["B08"] * 50) + " - 1"  # 50 bands, 1 number, 50 operators: 101 nodes
    error = json_error(client.post(URL, json=request_body(indices={"sum": at_limit})), 400, "invalid_input")
    assert "101 operations" in error["message"] and error["field"] == "indices.sum"
    under = " + ".join(["B08"] * 50)  # 99 nodes
    response = client.post(URL, json=request_body(indices={"sum": under}))
    assert response.status_code == 201
    assert response.get_json()["observations"][0]["indices"]["sum"]["mean"] == pytest.approx(50 * 0.3)


# ------------------------------------------------------------------------------ phases in /metrics


def metric(text: str, name: str, **labels: str) -> float:
    """One sample of the scraped text (read with prometheus-client's own parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    found = [s.value for family in text_string_to_metric_families(text) for s in family.samples
             if s.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels} not in /metrics"
    return float(found[0])


def test_engine_phases_in_metrics_after_a_request(make_app: Callable[..., Any]) -> None:
    client = make_app().test_client()
    before = client.get("/metrics").get_data(as_text=True)
    for phase in ("layout", "read", "cloud_model", "reduce", "store"):
        assert metric(before, "fis_engine_phase_seconds_count", phase=phase) == 0
    assert client.post(URL, json=request_body()).status_code == 201
    text = client.get("/metrics").get_data(as_text=True)
    count = {phase: metric(text, "fis_engine_phase_seconds_count", phase=phase)
             for phase in ("layout", "read", "cloud_model", "reduce", "store")}
    # one layout and one store per request, a read and a reduction per date; the cloud model runs on
    # each date's cloud grid (no precomputed layers here) and once on the rows' averaged bands
    assert count == {"layout": 1, "read": 3, "cloud_model": 4, "reduce": 3, "store": 1}
    for phase in count:
        assert metric(text, "fis_engine_phase_seconds_sum", phase=phase) > 0
    assert metric(text, "fis_engine_phase_seconds_bucket", phase="read", le="60.0") == 3


def test_timeout_and_date_limit_answers_are_documented(make_app: Callable[..., Any]) -> None:
    from test_openapi_responses import check, documented

    slow = make_app(request_timeout_s=1e-6, max_dates=2).test_client()
    too_many = slow.post(URL, json=request_body())
    assert too_many.status_code == 413
    check(too_many.get_json(), documented(URL, "post", "413"))
    timed_out = slow.post(URL, json=request_body(time_range={"from": "2023-06-01", "to": "2023-06-15"}))
    assert timed_out.status_code == 504
    check(timed_out.get_json(), documented(URL, "post", "504"))
    assert documented(f"{URL}/{{series_id}}/refresh", "post", "504") == "Error"
    assert documented("/ogc/fis", "get", "504") == "Error"


def test_limit_settings_from_the_environment() -> None:
    from fis.errors import InvalidInput

    settings = Settings.from_env({"FIS_REQUEST_TIMEOUT_S": "2.5", "FIS_MAX_DATES": "40",
                                  "FIS_MAX_EXPRESSION_LENGTH": "80", "FIS_MAX_EXPRESSION_NODES": "12"})
    assert (settings.request_timeout_s, settings.max_dates) == (2.5, 40)
    assert (settings.max_expression_length, settings.max_expression_nodes) == (80, 12)
    assert Settings.from_env({}).request_timeout_s == 120.0 and Settings.from_env({}).max_dates == 1000
    with pytest.raises(InvalidInput) as caught:
        Settings.from_env({"FIS_REQUEST_TIMEOUT_S": "two minutes"})
    assert caught.value.field == "FIS_REQUEST_TIMEOUT_S"


def test_phase_clock_counts_nested_phases_once() -> None:
    from fis.engine.phases import PhaseClock

    seen: list[tuple[str, float]] = []
    clock = PhaseClock(lambda phase, seconds: seen.append((phase, seconds)))
    begun = time.perf_counter()
    with clock("read"):
        time.sleep(0.05)
        with clock("cloud_model"):
            time.sleep(0.1)
    total = time.perf_counter() - begun
    (inner, inner_s), (outer, outer_s) = seen
    assert (inner, outer) == ("cloud_model", "read")
    assert inner_s >= 0.1 and outer_s >= 0.05
    assert inner_s + outer_s == pytest.approx(total, abs=0.005)  # the model's time is not counted in read too
    silent = PhaseClock()
    with silent("read"):
        pass  # no observer: nothing measured, nothing raised
