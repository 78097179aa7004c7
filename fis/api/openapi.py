"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 description of the HTTP API."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from fis.api.context import services
from fis.api.openapi_spec import build_spec

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/api/v1/openapi.json")
def openapi_document() -> ResponseReturnValue:
    auth_required = services().settings.auth == "required"
    return jsonify(build_spec(server_url=request.host_url.rstrip("/"), auth_required=auth_required))
