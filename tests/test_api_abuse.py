"""What a hostile or broken client could do to the service: each answered with a specific 4xx/503, never a crash."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fis.config import Settings

URL = "/api/v1/timeseries"
POLYGON = {"type": "Polygon", "coordinates": [[[15.0, 45.0], [15.01, 45.0], [15.01, 45.01], [15.0, 45.01], [15.0, 45.0]]]}
TIME_RANGE = {"from": "2023-06-01", "to": "2023-06-30"}


def make_app(root: Path, **overrides: Any) -> Any:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    app = create_app(Settings(data_dir=root, database_url=f"sqlite:///{root / 'fis.sqlite'}", **overrides))
    upgrade(app.extensions["fis"].db)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    application = make_app(tmp_path)
    yield application
    application.extensions["fis"].close()


def error_of(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    error: dict[str, Any] = response.get_json()["error"]
    assert error["status"] == status
    if code is not None:
        assert error["code"] == code
    return error


def nested_collection(depth: int) -> str:
    return "GEOMETRYCOLLECTION(" * depth + "POINT(1 2)" + ")" * depth


# ------------------------------------------------------------------------------------ nesting


def test_deeply_nested_wkt_is_refused_before_geos(app: Any) -> None:
    wkt = nested_collection(25_000)
    assert len(wkt) > 500_000
    client = app.test_client()
    error = error_of(client.post(URL, json={"geometry": wkt, "time_range": TIME_RANGE}), 400, "invalid_geometry")
    assert error["field"] == "geometry"
    assert "nested 25001 parentheses deep; at most 8" in error["message"]
    ogc = client.post("/ogc/fis", json={"LAYER": "NDVI", "TIME": "2023-06-01/2023-06-30", "CRS": "EPSG:4326",
                                         "RESOLUTION": "10m", "GEOMETRY": wkt, "EXCEPTIONS": "JSON"})
    assert ogc.status_code == 400 and "nested 25001 parentheses deep" in ogc.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # still alive


def test_shallow_geometrycollection_keeps_its_message(app: Any) -> None:
    error = error_of(app.test_client().post(URL, json={"geometry": nested_collection(3), "time_range": TIME_RANGE}),
                     400, "invalid_geometry")
    assert "WKT GEOMETRYCOLLECTION is not accepted" in error["message"]


def test_deeply_nested_json_body_is_400(app: Any) -> None:
    raw = '{"geometry": ' + "[" * 1000 + "]" * 1000 + ', "time_range": {"from": "2023-06-01", "to": "2023-06-30"}}'
    error = error_of(app.test_client().post(URL, data=raw, content_type="application/json"), 400, "invalid_input")
    assert error["field"] == "body"
    assert "nested 1001 levels deep; at most 32" in error["message"]


def test_deeply_nested_geojson_text_is_400(app: Any) -> None:
    text = '{"type": "Polygon", "coordinates": ' + "[" * 100_000 + "]" * 100_000 + "}"
    error = error_of(app.test_client().post(URL, json={"geometry": text, "time_range": TIME_RANGE}), 400)
    assert error["field"] == "geometry" and "nested 100001 levels deep" in error["message"]


def test_brackets_inside_json_strings_do_not_count(app: Any) -> None:
    body = {"geometry": POLYGON, "time_range": TIME_RANGE, "name": "[" * 60 + "{" * 60}
    response = app.test_client().post(URL, json=body)
    assert response.status_code != 400 or "nested" not in response.get_data(as_text=True)


# ------------------------------------------------------------------------------ query strings


@pytest.mark.parametrize("path", ["/api/v1/timeseries", "/api/v1/scenes"])
def test_offset_beyond_64_bits_is_400(app: Any, path: str) -> None:
    error = error_of(app.test_client().get(f"{path}?offset={2**63}"), 400)
    assert error["field"] == "offset" and "2147483647" in error["message"]
    assert app.test_client().get(f"{path}?offset=2147483647").status_code == 200


# ----------------------------------------------------------------------------------- CRS files


@pytest.mark.parametrize("crs", [
    "+proj=longlat +datum=WGS84 +nadgrids=/etc/passwd",
    "+init=epsg:4326",
    "+proj=longlat +ellps=WGS84 +geoidgrids=@foo.gtx",
    "+proj=utm +zone=33 +grids=x.tif",
])
def test_crs_naming_a_file_is_refused(app: Any, crs: str) -> None:
    error = error_of(app.test_client().post(URL, json={"geometry": POLYGON, "crs": crs, "time_range": TIME_RANGE}),
                     400, "invalid_crs")
    assert error["field"] == "crs" and "names a file or grid" in error["message"]


def test_plain_proj_string_is_still_accepted() -> None:
    from fis.core.geometry import parse_crs

    assert parse_crs("+proj=utm +zone=33 +datum=WGS84 +units=m +no_defs").to_epsg() == 32633


def test_ogc_crs_naming_a_file_is_refused(app: Any) -> None:
    """FIS accepts only its list of CRS names."""
    response = app.test_client().get("/ogc/fis", query_string={
        "LAYER": "NDVI", "TIME": "2023-06-01/2023-06-30", "CRS": "+proj=longlat +nadgrids=/etc/passwd",
        "RESOLUTION": "10m", "BBOX": "15,45,15.01,45.01", "EXCEPTIONS": "JSON"})
    assert response.status_code == 400 and "is not a CRS" in response.get_data(as_text=True)


# ------------------------------------------------------------------------------------ vertices


def ring_wkt(vertices: int) -> str:
    """A closed square-ish ring with ``vertices`` coordinates (the closing one included)."""
    import math

    n = vertices - 1
    points = [(15 + 0.01 * math.cos(2 * math.pi * i / n), 45 + 0.01 * math.sin(2 * math.pi * i / n)) for i in range(n)]
    points.append(points[0])
    return "POLYGON((" + ", ".join(f"{x:.9f} {y:.9f}" for x, y in points) + "))"


def test_geometry_over_the_vertex_limit_is_413(tmp_path: Path) -> None:
    app = make_app(tmp_path, max_vertices=10)
    try:
        client = app.test_client()
        error = error_of(client.post(URL, json={"geometry": ring_wkt(11), "time_range": TIME_RANGE}),
                         413, "request_too_large")
        assert error["field"] == "geometry"
        assert error["details"] == {"vertices": 11, "max_vertices": 10}
        assert "FIS_MAX_VERTICES" in error["message"]
        assert client.post(URL, json={"geometry": ring_wkt(10), "time_range": TIME_RANGE}).status_code == 201
    finally:
        app.extensions["fis"].close()


def test_default_vertex_limit_is_100000(app: Any) -> None:
    error = error_of(app.test_client().post(URL, json={"geometry": ring_wkt(100_001), "time_range": TIME_RANGE}),
                     413, "request_too_large")
    assert error["details"] == {"vertices": 100_001, "max_vertices": 100_000}


# -------------------------------------------------------------------------------- bodies


class Unreadable(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = read1 = readline = read  # type: ignore[assignment]


def test_body_refused_by_declared_length_before_reading(app: Any) -> None:
    response = app.test_client().post(URL, input_stream=Unreadable(), content_type="application/json",
                                      environ_overrides={"CONTENT_LENGTH": str(10**9)})
    error = error_of(response, 413, "body_too_large")
    assert error["details"] == {"max_body_bytes": 5 * 1024 * 1024}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_post_without_json_content_type_is_415(app: Any, content_type: str) -> None:
    client = app.test_client()
    body = json.dumps({"geometry": POLYGON, "time_range": TIME_RANGE})
    error = error_of(client.post(URL, data=body, content_type=content_type), 415, "unsupported_media_type")
    assert error["field"] == "Content-Type" and "application/json" in error["message"]
    assert client.get(URL).get_json()["total"] == 0


def test_patch_with_form_body_is_415(app: Any) -> None:
    error_of(app.test_client().patch(f"{URL}/x", data={"name": "a"}), 415, "unsupported_media_type")


# -------------------------------------------------------------------------- the database down


@pytest.fixture
def unreachable_app(tmp_path: Path) -> Iterator[Any]:
    from fis.api.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    app = create_app(Settings(data_dir=tmp_path, database_url=f"postgresql+psycopg://fis:secret@127.0.0.1:{port}/db"))
    yield app
    app.extensions["fis"].close()


def test_database_down_is_503_with_retry_after(unreachable_app: Any) -> None:
    client = unreachable_app.test_client()
    for response in (client.get(URL), client.get(f"{URL}/abc"), client.get("/api/v1/scenes")):
        error = error_of(response, 503, "service_unavailable")
        assert response.headers["Retry-After"] == "5"
        assert "127.0.0.1" not in error["message"] and "secret" not in error["message"]


def test_healthz_does_not_print_the_database_url(unreachable_app: Any) -> None:
    response = unreachable_app.test_client().get("/healthz")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    text = response.get_data(as_text=True)
    assert "127.0.0.1" not in text and "fis:" not in text and "psycopg" not in text
    assert response.get_json()["database"] == "the database is unreachable; see the server log"


def test_healthz_does_not_print_the_sqlite_path(tmp_path: Path) -> None:
    from fis.api.app import create_app

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'none.sqlite'}"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert str(tmp_path) not in response.get_data(as_text=True)
    assert response.get_json()["database"] == "the database does not exist; run `fis db upgrade` to create it"


def test_unexpected_error_shows_no_trace_or_path(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fis.services.runtime import Services

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("/srv/secret/archive/file.tif exploded")

    monkeypatch.setattr(Services, "run_timeseries", boom)
    response = app.test_client().post(URL, json={"geometry": POLYGON, "time_range": TIME_RANGE})
    error = error_of(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    assert "/srv/secret" not in text and "Traceback" not in text and ".py" not in text
    assert error["message"] == "internal error (RuntimeError); see the server log"


# ------------------------------------------------------------------------------- the server


@pytest.fixture
def served(app: Any) -> Iterator[tuple[str, int]]:
    from fis.api.server import make_server

    server = make_server(app, host="127.0.0.1", port=0, threads=2, max_body_bytes=1000,
                         connection_limit=10, channel_timeout=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield "127.0.0.1", server.effective_port
    server.close()
    thread.join(5)


def raw_request(address: tuple[str, int], data: bytes) -> bytes:
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(data)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_server_refuses_a_large_declared_body_as_json_without_reading_it(served: tuple[str, int]) -> None:
    head = f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {10**8}\r\n\r\n"
    answer = raw_request(served, head.encode())  # no body is sent: waitress answers from the header
    status, _, body = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and b"Content-Type: application/json" in status
    assert json.loads(body)["error"]["code"] == "body_too_large"


def test_server_closes_a_half_sent_request(served: tuple[str, int]) -> None:
    import time

    start = time.monotonic()
    with socket.create_connection(served, timeout=30) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        assert conn.recv(100) == b""  # closed by the server
    assert time.monotonic() - start < 10


# ------------------------------------------------------------------------- what operators see


def test_request_id_is_echoed_or_made(app: Any) -> None:
    client = app.test_client()
    given = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"}).headers["X-Request-Id"]
    assert len(made) == 32 and made != "bad id\twith spaces"
    refused = client.post(URL, data="x", content_type="text/plain")  # refused before any view: still has an id
    assert refused.status_code == 415 and len(refused.headers["X-Request-Id"]) == 32


def test_json_log_line_per_request(app: Any, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from fis.api.observability import JsonFormatter

    with caplog.at_level(logging.INFO, logger="fis.api.observability"):
        app.test_client().get(f"{URL}?offset=-1", headers={"X-Request-Id": "req-1"})
        record = next(r for r in caplog.records if r.name == "fis.api.observability")
        with app.test_request_context():
            from flask import g

            g.request_id = "req-1"
            line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-1" and line["level"] == "info"
    assert {k: line[k] for k in ("method", "path", "route", "status", "client")} == {
        "method": "GET", "path": URL, "route": URL, "status": 400, "client": None}
    assert line["duration_ms"] >= 0


def test_metrics_histogram_by_route_and_status(app: Any) -> None:
    client = app.test_client()
    client.get(URL)
    client.get(f"{URL}/nope")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'fis_request_duration_seconds_count{method="GET",route="/api/v1/timeseries",status="200"} 1.0' in text
    assert ('fis_request_duration_seconds_count{method="GET",route="/api/v1/timeseries/<series_id>",status="404"} 1.0'
            in text)


def test_sigterm_lets_requests_in_flight_finish_and_refuses_new_ones(app: Any) -> None:
    import os
    import signal
    import time

    from fis.api.server import make_server

    @app.get("/api/v1/slow")
    def slow() -> str:
        time.sleep(1.5)
        return "finished"

    server = make_server(app, host="127.0.0.1", port=0, threads=2, max_body_bytes=1000,
                         connection_limit=10, channel_timeout=5, grace=10)
    address = ("127.0.0.1", server.effective_port)
    answers: list[bytes] = []
    before = signal.getsignal(signal.SIGTERM)
    request = b"GET /api/v1/slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    client = threading.Thread(target=lambda: answers.append(raw_request(address, request)))
    client.start()
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    server.run()  # returns after SIGTERM, once the slow request is answered
    assert 1.0 < time.monotonic() - started < 8
    client.join(5)
    assert answers and answers[0].startswith(b"HTTP/1.1 200") and answers[0].endswith(b"finished")
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2)
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_healthz_when_the_database_goes_away_mid_check(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    import fis.api.health

    def lost(session: Any) -> int:
        raise OperationalError("SELECT count(*)", {}, ConnectionResetError("server closed the connection"))

    monkeypatch.setattr(fis.api.health, "count_scenes", lost)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json()["database"] == "the database is unreachable; see the server log"
