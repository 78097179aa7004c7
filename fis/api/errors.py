"""One JSON error shape for every failure: ``{"error": {"status", "code", "message"}}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from fis.errors import FisError, InvalidInput, ServiceUnavailable

log = logging.getLogger(__name__)

#: HTTP status of werkzeug's own errors -> our error code.
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_response(status: int, code: str, message: str, **extra: object) -> Response:
    body = {"status": status, "code": code, "message": message, **{k: v for k, v in extra.items() if v}}
    response = jsonify({"error": body})
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(FisError)
    def _fis_error(exc: FisError) -> Response:
        if exc.status >= 500:
            log.error("request failed: %s", exc.message)
        response = error_response(exc.status, exc.code, exc.message, field=exc.field, details=exc.details)
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        if not isinstance(exc, (OperationalError, InterfaceError)) and not exc.connection_invalidated:
            return _unexpected(exc)
        log.warning("database unavailable: %s", exc.orig)
        return _fis_error(ServiceUnavailable("the database is unavailable; retry after the Retry-After seconds"))

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError) -> Response:
        return _fis_error(InvalidInput("the request is nested too deeply; send a flatter body", field="body"))

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(
            413, "body_too_large",
            f"request body is larger than the limit of {limit} bytes (FIS_MAX_BODY_BYTES); "
            "simplify the geometry or raise the limit",
        )

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        return error_response(status, HTTP_CODES.get(status, "http_error"), exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")
