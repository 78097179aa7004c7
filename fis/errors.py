"""One exception hierarchy for the whole service.

Every error the service raises on purpose derives from :class:`FisError`; subclasses also
inherit the builtin they resemble, so ``except ValueError`` still works for callers that do
not know about fis. ``status`` and ``code`` map an error to the HTTP response (see
``fis.api.errors``) and to the CLI's exit message.
"""

from __future__ import annotations

from typing import Any


class FisError(Exception):
    """Root of every fis error."""

    status: int = 500
    code: str = "internal_error"
    #: Extra HTTP response headers (e.g. ``Retry-After``, ``WWW-Authenticate``).
    headers: dict[str, str] = {}  # noqa: RUF012 - never mutated; instances assign their own

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.details:
            body["details"] = self.details
        return body


class InvalidInput(FisError, ValueError):
    """The request or command line is malformed or out of range (HTTP 400)."""

    status = 400
    code = "invalid_input"


class InvalidGeometry(InvalidInput):
    """The geometry cannot be parsed, is not a polygon, or is invalid beyond repair."""

    code = "invalid_geometry"


class InvalidCRS(InvalidInput):
    """The CRS is unknown to PROJ."""

    code = "invalid_crs"


class InvalidTimeRange(InvalidInput):
    """Dates that do not parse, or ``from`` after ``to``."""

    code = "invalid_time_range"


class NotFound(FisError, LookupError):
    """The requested object does not exist (HTTP 404)."""

    status = 404
    code = "not_found"


class Conflict(FisError, RuntimeError):
    """The resource is not in a state that allows this (a batch job without results yet, already finished)."""

    status = 409
    code = "conflict"


class RequestTooLarge(FisError, ValueError):
    """The request would read more pixels than the configured budget (HTTP 413)."""

    status = 413
    code = "request_too_large"


class RequestTimeout(FisError, TimeoutError):
    """A synchronous request ran past ``FIS_REQUEST_TIMEOUT_S`` and was stopped, storing nothing (HTTP 504)."""

    status = 504
    code = "request_timeout"


class IngestError(FisError, ValueError):
    """A source item cannot be registered (named, with the reason)."""

    status = 422
    code = "ingest_error"


class RasterReadError(FisError, OSError):
    """A raster asset could not be opened or read."""

    status = 502
    code = "raster_read_error"


class ModelError(FisError, RuntimeError):
    """The cloud classifier is missing, or its weights do not match the manifest."""

    status = 500
    code = "model_error"


class StorageError(FisError, RuntimeError):
    """The database is unreachable or not migrated."""

    status = 503
    code = "storage_error"


class ServiceUnavailable(FisError, RuntimeError):
    """A dependency (the database) is down for now: retry after ``retry_after`` seconds (HTTP 503)."""

    status = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.headers = {"Retry-After": str(retry_after)}


class BodyTooLarge(FisError, ValueError):
    """The request body (by its declared length) is larger than ``FIS_MAX_BODY_BYTES`` (HTTP 413)."""

    status = 413
    code = "body_too_large"


class UnsupportedMediaType(FisError, ValueError):
    """A request body that is not JSON where JSON is required (HTTP 415)."""

    status = 415
    code = "unsupported_media_type"


class Unauthorized(FisError, PermissionError):
    """No valid bearer token (HTTP 401 with ``WWW-Authenticate: Bearer``)."""

    status = 401
    code = "unauthorized"

    def __init__(self, message: str, *, error: str | None = "invalid_token"):
        super().__init__(message)
        challenge = 'Bearer realm="fis"' + (f', error="{error}"' if error else "")
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(FisError, PermissionError):
    """The client's role may not do this (HTTP 403)."""

    status = 403
    code = "forbidden"


class RateLimited(FisError, RuntimeError):
    """Too many requests from one client (HTTP 429 with ``Retry-After``)."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, details={"retry_after": retry_after})
        self.headers = {"Retry-After": str(retry_after)}
