"""``GET /healthz``: is the database reachable and migrated?"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import InterfaceError, OperationalError

from fis import __version__
from fis.api.context import services
from fis.errors import StorageError
from fis.store.db import ensure_migrated
from fis.store.queries import count_scenes

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)

#: What /healthz says about the database: never its URL or file path (those go to the server log).
_PUBLIC_REASONS = {
    "missing": "the database does not exist; run `fis db upgrade` to create it",
    "unreachable": "the database is unreachable; see the server log",
}


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    svc = services()
    try:
        ensure_migrated(svc.db)
        with svc.sessions() as session:
            scenes = count_scenes(session)
    except (OperationalError, InterfaceError) as exc:  # lost between the two queries
        log.warning("health check failed: %s", exc.orig)
        return _unhealthy(_PUBLIC_REASONS["unreachable"])
    except StorageError as exc:
        log.warning("health check failed: %s", exc.message)
        reason = str(exc.details.get("reason"))
        return _unhealthy(
            _PUBLIC_REASONS.get(reason, exc.message if reason == "not_migrated" else "the database failed")
        )
    return jsonify({
        "status": "ok",
        "version": __version__,
        "database": svc.db.dialect.name,
        "scenes": scenes,
        "cloud_model": svc.settings.cloud_model,
    })


def _unhealthy(message: str) -> ResponseReturnValue:
    return jsonify({"status": "error", "database": message, "version": __version__}), 503, {"Retry-After": "5"}
