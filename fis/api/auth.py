"""Authentication (``FIS_AUTH=required``): ``POST /oauth/token`` and a bearer token on every other route.

The token endpoint speaks OAuth2's client-credentials grant (RFC 6749 section 4.4): a form body with
``grant_type=client_credentials``, ``client_id`` and ``client_secret`` (or the credentials as HTTP
Basic auth); its errors are in OAuth2's shape ``{"error", "error_description"}`` that OAuth2 clients
read. Without authentication (``FIS_AUTH=off``) no token is needed and none is checked.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, g, jsonify, request
from flask.typing import ResponseReturnValue

from fis.api.context import services
from fis.config import Settings
from fis.errors import Forbidden, InvalidInput, Unauthorized
from fis.services.clients import Principal, issue_token, principal_of

log = logging.getLogger(__name__)
blueprint = Blueprint("auth", __name__)

AUTH_MODES = ("off", "required")
TOKEN_PATH = "/oauth/token"
#: Routes answered without a token: the health check, the OpenAPI document, the token endpoint itself and the
#: web page (``/`` and its static files hold no data; the page asks for credentials when the API answers 401).
PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/openapi.json", TOKEN_PATH, "/"})
PUBLIC_PREFIXES = ("/web/static/",)


def register_auth(app: Flask, settings: Settings) -> None:
    """Check ``FIS_AUTH`` and install the token check (after the guards) and ``/oauth/token``."""
    mode = settings.auth
    if mode not in AUTH_MODES:
        raise InvalidInput(f"FIS_AUTH={mode!r} is not known; use off or required", field="FIS_AUTH")
    log.info("authentication: FIS_AUTH=%s", mode)
    app.register_blueprint(blueprint)
    app.before_request(_authenticate)


def current_principal() -> Principal | None:
    """The authenticated client of this request (None without authentication)."""
    principal: Principal | None = g.get("principal")
    return principal


def current_owner() -> str | None:
    """The owner whose series this request sees: the client's id, or None (every series) without authentication."""
    principal = current_principal()
    return principal.client_id if principal is not None else None


def require_role(role: str) -> None:
    """Raise 403 unless the client has ``role`` (admins may do everything; without authentication anyone may)."""
    principal = current_principal()
    if principal is not None and principal.role != role and not principal.is_admin:
        raise Forbidden(f"client {principal.client_id!r} has role {principal.role!r}; this needs role {role!r}")


def _authenticate() -> None:
    path = request.path
    if services().settings.auth != "required" or path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return
    if request.method == "OPTIONS":
        return  # CORS preflights carry no credentials; OPTIONS answers hold no data
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            f"this service needs a bearer token: get one with POST {TOKEN_PATH} (client credentials) and send "
            "'Authorization: Bearer <token>'",
            error=None if not header else "invalid_request",
        )
    with services().sessions() as session:
        principal = principal_of(session, token.strip())
    if principal is None:
        raise Unauthorized("the bearer token is unknown, expired or revoked; get a new one with POST " + TOKEN_PATH)
    g.principal = principal


def _oauth_error(status: int, error: str, description: str, *, basic: bool = False) -> ResponseReturnValue:
    """An OAuth2 error; ``basic``: the client sent Basic credentials, so a 401 challenges them (RFC 6749 5.2;
    without them there is no challenge, which would make a browser show its own login prompt)."""
    headers = {"Cache-Control": "no-store"}
    if status == 401 and basic:
        headers["WWW-Authenticate"] = 'Basic realm="fis"'
    return jsonify({"error": error, "error_description": description}), status, headers


@blueprint.post(TOKEN_PATH)
def token() -> ResponseReturnValue:
    """OAuth2 client credentials -> ``{"access_token", "token_type": "Bearer", "expires_in"}``."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "send a form body (application/x-www-form-urlencoded)")
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "grant_type must be client_credentials")
    basic = request.authorization
    if basic is not None and basic.type == "basic":
        client_id, client_secret = basic.username or "", basic.password or ""
    else:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not client_secret:
        return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
    settings = services().settings
    issued = issue_token(services().sessions, client_id, client_secret, settings.token_ttl)
    if issued is None:
        return _oauth_error(401, "invalid_client", "unknown client, wrong secret, or the client was revoked",
                            basic=basic is not None and basic.type == "basic")
    body = {"access_token": issued.access_token, "token_type": "Bearer", "expires_in": issued.expires_in}
    return jsonify(body), 200, {"Cache-Control": "no-store"}
