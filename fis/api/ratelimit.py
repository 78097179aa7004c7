"""A per-client request rate limit (flask-limiter): 429 ``rate_limited`` with ``Retry-After`` when exceeded.

The key is the authenticated client (``FIS_AUTH=required``), else the remote address. Counters live in
memory (one process) unless ``FIS_RATE_LIMIT_STORAGE`` names a shared store such as
``redis://127.0.0.1:6379``. ``/healthz`` and the OpenAPI document are not limited. On ``/api/v1/statistics``
the answer is in Sentinel Hub's error shape and ``Retry-After`` is in milliseconds, as its clients read it.
"""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded

from fis.api.auth import PUBLIC_PATHS, current_principal
from fis.api.errors import error_response
from fis.api.statistics import STATISTICS_PATH, sh_error
from fis.config import Settings


def client_key() -> str:
    """Whose budget a request spends: ``client:<id>`` or ``addr:<remote address>``."""
    principal = current_principal()
    if principal is not None:
        return f"client:{principal.client_id}"
    return f"addr:{request.remote_addr or 'unknown'}"


def _exempt() -> bool:
    return request.path in PUBLIC_PATHS and request.path != "/oauth/token"


def _breached(limiter: Limiter, exc: RateLimitExceeded) -> Response:
    current = limiter.current_limit
    reset_at = current.reset_at if current is not None else time.time() + 1
    retry_after = max(1, math.ceil(reset_at - time.time()))
    if request.path == STATISTICS_PATH:
        # Sentinel Hub's clients read Retry-After of this API in milliseconds (sentinelhub-py's rate_limit.py)
        response = sh_error(
            429, f"too many requests: the limit is {exc.limit.limit}; retry after {retry_after} s (FIS_RATE_LIMIT)"
        )
        response.headers["Retry-After"] = str(retry_after * 1000)
        return response
    response = error_response(
        429, "rate_limited",
        f"too many requests: the limit is {exc.limit.limit}; retry after {retry_after} s (FIS_RATE_LIMIT)",
        details={"retry_after": retry_after},
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


def register_rate_limit(app: Flask, settings: Settings) -> Limiter | None:
    """Install the limit (after authentication, so the key is the client); None when FIS_RATE_LIMIT is empty."""
    if not settings.rate_limit.strip():
        return None
    limiter = Limiter(
        client_key,
        app=app,
        default_limits=[settings.rate_limit],
        default_limits_exempt_when=_exempt,
        storage_uri=settings.rate_limit_storage or "memory://",
        strategy="moving-window",
        key_prefix="fis",
    )
    app.register_error_handler(RateLimitExceeded, lambda exc: _breached(limiter, exc))
    return limiter
