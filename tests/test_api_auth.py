"""FIS_AUTH=required: clients, tokens from POST /oauth/token, and each client seeing only its own series."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from fis.config import Settings

URL = "/api/v1/timeseries"
POLYGON = {"type": "Polygon", "coordinates": [[[15.0, 45.0], [15.01, 45.0], [15.01, 45.01], [15.0, 45.01], [15.0, 45.0]]]}
BODY = {"geometry": POLYGON, "time_range": {"from": "2023-06-01", "to": "2023-06-30"}}


@pytest.fixture
def auth_app(settings: Settings) -> Iterator[Any]:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    app = create_app(dataclasses.replace(settings, auth="required"))
    upgrade(app.extensions["fis"].db)
    yield app
    app.extensions["fis"].close()


def new_client(app: Any, name: str, role: str = "user") -> tuple[str, str]:
    from fis.services.clients import create_client

    return create_client(app.extensions["fis"].sessions, name, role)


def token_for(app: Any, client_id: str, secret: str) -> str:
    response = app.test_client().post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert response.headers["Cache-Control"] == "no-store"
    token: str = body["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_a_token_every_api_route_is_401(auth_app: Any) -> None:
    client = auth_app.test_client()
    for response in (client.get(URL), client.post(URL, json=BODY), client.get(f"{URL}/x"), client.delete(f"{URL}/x"),
                     client.get("/api/v1/scenes"), client.get("/ogc/fis?LAYER=NDVI")):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="fis"'
        if response.mimetype == "application/json":  # /ogc/fis answers in its own (XML) exception format
            assert response.get_json()["error"]["code"] == "unauthorized"
    wrong = client.get(URL, headers=bearer("not-a-token"))
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


def test_health_and_openapi_need_no_token(auth_app: Any) -> None:
    client = auth_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_web_page_needs_no_token_but_its_api_calls_do(auth_app: Any) -> None:
    client = auth_app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b'id="sign-in"' in page.data  # the page asks for credentials itself
    script = client.get("/web/static/fis.js")
    assert script.status_code == 200
    script.close()
    assert client.get("/api/v1/config").status_code == 401
    assert client.get("/web/static/../../api/v1/config").status_code in (401, 404)  # no way around the check


def test_invalid_client_challenges_basic_auth_only_when_it_was_used(auth_app: Any) -> None:
    client_id, _ = new_client(auth_app, "alice")
    by_form = auth_app.test_client().post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": "wrong"})
    assert by_form.status_code == 401 and "WWW-Authenticate" not in by_form.headers  # no browser login prompt
    basic = base64.b64encode(f"{client_id}:wrong".encode()).decode()
    by_basic = auth_app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                           headers={"Authorization": f"Basic {basic}"})
    assert by_basic.status_code == 401 and by_basic.headers["WWW-Authenticate"] == 'Basic realm="fis"'


def test_token_by_form_and_by_basic_auth(auth_app: Any) -> None:
    client_id, secret = new_client(auth_app, "alice")
    token = token_for(auth_app, client_id, secret)
    assert auth_app.test_client().get(URL, headers=bearer(token)).status_code == 200
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = auth_app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    assert auth_app.test_client().get(URL, headers=bearer(response.get_json()["access_token"])).status_code == 200


@pytest.mark.parametrize(("data", "status", "error"), [
    ({"grant_type": "client_credentials", "client_id": "{id}", "client_secret": "wrong"}, 401, "invalid_client"),
    ({"grant_type": "client_credentials", "client_id": "fis-nobody", "client_secret": "x"}, 401, "invalid_client"),
    ({"grant_type": "password", "client_id": "{id}", "client_secret": "{secret}"}, 400, "unsupported_grant_type"),
    ({"grant_type": "client_credentials", "client_id": "{id}"}, 400, "invalid_request"),
])
def test_token_errors_are_oauth2_errors(auth_app: Any, data: dict[str, str], status: int, error: str) -> None:
    client_id, secret = new_client(auth_app, "alice")
    form = {k: v.replace("{id}", client_id).replace("{secret}", secret) for k, v in data.items()}
    response = auth_app.test_client().post("/oauth/token", data=form)
    assert response.status_code == status
    assert response.get_json()["error"] == error and response.get_json()["error_description"]


def test_token_request_must_be_a_form(auth_app: Any) -> None:
    client_id, secret = new_client(auth_app, "alice")
    response = auth_app.test_client().post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_two_clients_cannot_see_or_touch_each_others_series(auth_app: Any) -> None:
    a = bearer(token_for(auth_app, *new_client(auth_app, "alice")))
    b = bearer(token_for(auth_app, *new_client(auth_app, "bob")))
    client = auth_app.test_client()
    made = client.post(URL, json=BODY, headers=a)
    assert made.status_code == 201
    sid = made.get_json()["id"]
    assert [s["id"] for s in client.get(URL, headers=a).get_json()["items"]] == [sid]
    listed = client.get(URL, headers=b).get_json()
    assert listed["items"] == [] and listed["total"] == 0
    for response in (client.get(f"{URL}/{sid}", headers=b), client.patch(f"{URL}/{sid}", json={"name": "x"}, headers=b),
                     client.post(f"{URL}/{sid}/refresh", headers=b), client.delete(f"{URL}/{sid}", headers=b),
                     client.get(f"{URL}/{sid}?format=csv", headers=b)):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    assert client.get(f"{URL}/{sid}", headers=a).get_json().get("name") is None  # bob did not rename it
    assert client.patch(f"{URL}/{sid}", json={"name": "mine"}, headers=a).get_json()["name"] == "mine"
    assert client.delete(f"{URL}/{sid}", headers=a).status_code == 204
    assert client.get(f"{URL}/{sid}", headers=a).status_code == 404


def test_revoking_a_client_stops_its_tokens(auth_app: Any) -> None:
    from fis.services.clients import revoke_client

    client_id, secret = new_client(auth_app, "alice")
    token = token_for(auth_app, client_id, secret)
    revoke_client(auth_app.extensions["fis"].sessions, client_id)
    client = auth_app.test_client()
    assert client.get(URL, headers=bearer(token)).status_code == 401
    again = client.post("/oauth/token", data={"grant_type": "client_credentials", "client_id": client_id,
                                              "client_secret": secret})
    assert again.status_code == 401 and again.get_json()["error"] == "invalid_client"


def test_expired_token_is_401(settings: Settings) -> None:
    from fis.api.app import create_app
    from fis.store.db import upgrade

    app = create_app(dataclasses.replace(settings, auth="required", token_ttl=0))
    try:
        upgrade(app.extensions["fis"].db)
        client_id, secret = new_client(app, "alice")
        token = app.test_client().post("/oauth/token", data={
            "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}).get_json()
        assert token["expires_in"] == 0
        assert app.test_client().get(URL, headers=bearer(token["access_token"])).status_code == 401
    finally:
        app.extensions["fis"].close()


def test_a_role_that_may_not_is_403(auth_app: Any) -> None:
    from fis.api.auth import require_role

    @auth_app.get("/api/v1/admin-only")
    def admin_only() -> str:
        require_role("admin")
        return "ok"

    user = bearer(token_for(auth_app, *new_client(auth_app, "alice")))
    admin = bearer(token_for(auth_app, *new_client(auth_app, "root", role="admin")))
    client = auth_app.test_client()
    denied = client.get("/api/v1/admin-only", headers=user)
    assert denied.status_code == 403 and denied.get_json()["error"]["code"] == "forbidden"
    assert "role 'user'" in denied.get_json()["error"]["message"]
    assert client.get("/api/v1/admin-only", headers=admin).status_code == 200


def test_secrets_are_stored_hashed(auth_app: Any) -> None:
    from fis.store.orm import Client

    client_id, secret = new_client(auth_app, "alice")
    with auth_app.extensions["fis"].sessions() as session:
        stored = session.get(Client, client_id).secret_hash
    assert secret not in stored and stored.startswith("scrypt$")


def test_without_authentication_series_have_no_owner_and_no_token_is_needed(app: Any) -> None:
    from fis.store.orm import TimeSeries

    client = app.test_client()
    sid = client.post(URL, json=BODY).get_json()["id"]
    assert client.get(URL).get_json()["total"] == 1
    with app.extensions["fis"].sessions() as session:
        assert session.get(TimeSeries, sid).owner is None


def test_unknown_auth_mode_is_refused(settings: Settings) -> None:
    from fis.api.app import create_app
    from fis.errors import InvalidInput

    with pytest.raises(InvalidInput, match="FIS_AUTH='maybe' is not known"):
        create_app(dataclasses.replace(settings, auth="maybe"))


def test_cli_create_list_revoke(auth_app: Any, settings: Settings) -> None:
    from fis.cli import main

    env = {"FIS_DATA_DIR": str(settings.data_dir), "FIS_DATABASE_URL": settings.database_url}
    runner = CliRunner()
    made = runner.invoke(main, ["clients", "create", "team laptop", "--role", "admin", "--json"], env=env)
    assert made.exit_code == 0, made.output
    created = json.loads(made.output)
    assert created["client_id"].startswith("fis-") and created["role"] == "admin" and created["name"] == "team laptop"
    token = token_for(auth_app, created["client_id"], created["client_secret"])
    listed = json.loads(runner.invoke(main, ["clients", "list", "--json"], env=env).output)
    assert [(c["client_id"], c["role"], c["revoked_at"]) for c in listed] == [(created["client_id"], "admin", None)]
    assert "client_secret" not in listed[0]
    revoked = runner.invoke(main, ["clients", "revoke", created["client_id"]], env=env)
    assert revoked.exit_code == 0 and revoked.output == f"revoked {created['client_id']}\n"
    assert auth_app.test_client().get(URL, headers=bearer(token)).status_code == 401
    missing = runner.invoke(main, ["clients", "revoke", "fis-nobody"], env=env)
    assert missing.exit_code == 1 and "client 'fis-nobody' not found" in missing.output


def test_openapi_declares_the_security_scheme(auth_app: Any, app: Any) -> None:
    doc = auth_app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["oauth2"]["flows"] == {
        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}}
    assert doc["security"] == [{"oauth2": []}]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/oauth/token"]["post"]["security"] == []
    create = doc["paths"]["/api/v1/timeseries"]["post"]
    assert {"401", "415", "429", "503"} <= set(create["responses"])
    assert "Idempotency-Key" in [p.get("name") for p in create["parameters"]]
    off = app.test_client().get("/api/v1/openapi.json").get_json()
    assert off["security"] == [{}, {"oauth2": []}]  # a token is optional with FIS_AUTH=off
