"""``GET /healthz``: is the database reachable and migrated?"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from fis import __version__
from fis.api.context import services
from fis.errors import StorageError
from fis.store.db import ensure_migrated
from fis.store.queries import count_scenes

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    svc = services()
    try:
        ensure_migrated(svc.db)
        with svc.sessions() as session:
            scenes = count_scenes(session)
    except StorageError as exc:
        return jsonify({"status": "error", "database": exc.message, "version": __version__}), 503
    return jsonify({
        "status": "ok",
        "version": __version__,
        "database": svc.db.dialect.name,
        "scenes": scenes,
        "cloud_model": svc.settings.cloud_model,
    })
