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


class RequestTooLarge(FisError, ValueError):
    """The request would read more pixels than the configured budget (HTTP 413)."""

    status = 413
    code = "request_too_large"


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
