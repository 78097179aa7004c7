"""The per-client rate limit (429 with Retry-After) and Idempotency-Key on POST /api/v1/timeseries."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fis.config import Settings

URL = "/api/v1/timeseries"
POLYGON = {"type": "Polygon", "coordinates": [[[15.0, 45.0], [15.01, 45.0], [15.01, 45.01], [15.0, 45.01], [15.0, 45.0]]]}
BODY = {"geometry": POLYGON, "time_range": {"from": "2023-06-01", "to": "2023-06-30"}}


def make_app(settings: Settings, **overrides: Any) -> Any:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    app = create_app(dataclasses.replace(settings, **overrides))
    upgrade(app.extensions["fis"].db)
    return app


@pytest.fixture
def limited(settings: Settings) -> Iterator[Any]:
    app = make_app(settings, rate_limit="3/minute", auth="required")
    yield app
    app.extensions["fis"].close()


def token(app: Any, name: str) -> dict[str, str]:
    from fis.services.clients import create_client

    client_id, secret = create_client(app.extensions["fis"].sessions, name)
    body = app.test_client().post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).get_json()
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_rate_limit_is_per_client_with_retry_after(limited: Any) -> None:
    a, b = token(limited, "alice"), token(limited, "bob")
    client = limited.test_client()
    assert [client.get(URL, headers=a).status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get(URL, headers=a)
    assert refused.status_code == 429
    error = refused.get_json()["error"]
    assert error["code"] == "rate_limited" and "3 per 1 minute" in error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 61  # the window is 60 s (whole seconds, rounded up)
    assert error["details"]["retry_after"] == int(refused.headers["Retry-After"])
    assert client.get(URL, headers=b).status_code == 200  # bob has his own budget
    assert client.get("/healthz").status_code == 200  # not limited


def test_rate_limit_in_redis(settings: Settings) -> None:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis(socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = uuid.uuid4().hex  # a fresh remote address: counters of other runs do not count
    apps = [make_app(settings, rate_limit="2/minute", rate_limit_storage="redis://127.0.0.1:6379") for _ in range(2)]
    try:
        env = {"REMOTE_ADDR": f"10.{int(prefix[:2], 16)}.{int(prefix[2:4], 16)}.{int(prefix[4:6], 16)}"}
        statuses = [app.test_client().get(URL, environ_overrides=env).status_code for app in (*apps, apps[0])]
        assert statuses == [200, 200, 429]  # two processes share the counters
    finally:
        for app in apps:
            app.extensions["fis"].close()


def test_no_rate_limit_when_empty(settings: Settings) -> None:
    app = make_app(settings, rate_limit="")
    try:
        assert {app.test_client().get(URL).status_code for _ in range(5)} == {200}
    finally:
        app.extensions["fis"].close()


def test_idempotency_key_returns_the_series_already_made(app: Any) -> None:
    client = app.test_client()
    key = {"Idempotency-Key": "2f1c7c1e-retry-1"}
    first = client.post(URL, json=BODY, headers=key)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = client.post(URL, json=BODY, headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert client.get(URL).get_json()["total"] == 1
    other = client.post(URL, json=BODY, headers={"Idempotency-Key": "another"})
    assert other.status_code == 201 and other.get_json()["id"] != first.get_json()["id"]
    assert client.get(URL).get_json()["total"] == 2


def test_idempotency_keys_are_per_client(settings: Settings) -> None:
    app = make_app(settings, auth="required")
    try:
        a, b = token(app, "alice"), token(app, "bob")
        client = app.test_client()
        first = client.post(URL, json=BODY, headers={**a, "Idempotency-Key": "k"}).get_json()["id"]
        second = client.post(URL, json=BODY, headers={**b, "Idempotency-Key": "k"})
        assert second.status_code == 201 and second.get_json()["id"] != first
    finally:
        app.extensions["fis"].close()


def test_deleted_series_frees_its_key(app: Any) -> None:
    client = app.test_client()
    sid = client.post(URL, json=BODY, headers={"Idempotency-Key": "k"}).get_json()["id"]
    assert client.delete(f"{URL}/{sid}").status_code == 204
    again = client.post(URL, json=BODY, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201 and again.get_json()["id"] != sid


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_bad_idempotency_key_is_400(app: Any, key: str) -> None:
    response = app.test_client().post(URL, json=BODY, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "Idempotency-Key"
