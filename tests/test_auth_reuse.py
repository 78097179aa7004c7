"""With FIS_AUTH=required a client's request reuses only its own stored dates, never another client's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fis.config import Settings
from fis_archive import archive, ingested, request_body  # noqa: F401 - fixtures


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, auth="required")


def bearer(app: Any, name: str) -> dict[str, str]:
    from fis.services.clients import create_client

    client_id, secret = create_client(app.extensions["fis"].sessions, name)
    body = app.test_client().post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).get_json()
    return {"Authorization": f"Bearer {body['access_token']}"}


def post(app: Any, headers: dict[str, str], to: str) -> dict[str, Any]:
    body = request_body(include_cloudy=True, time_range={"from": "2023-06-01", "to": to})
    response = app.test_client().post("/api/v1/timeseries", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def test_reuse_stays_within_one_client(ingested: Any) -> None:
    alice, bob = bearer(ingested, "alice"), bearer(ingested, "bob")
    assert (post(ingested, alice, "2023-06-15")["reused"], post(ingested, bob, "2023-06-30")["reused"]) == (0, 0)
    longer = post(ingested, alice, "2023-06-30")
    assert (longer["reused"], longer["computed"]) == (2, 1)  # alice's own two dates
