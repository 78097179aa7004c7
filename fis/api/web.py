"""The web page at ``/`` (static files under ``/web/static/``), its settings and the field-file parser it uses.

The page is plain static files talking to the JSON API; every URL in it is relative, so it works behind a path
prefix. A strict Content-Security-Policy allows scripts, styles and requests to this origin only (images also from
``data:`` and the configured base-map host).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from fis.api.body import json_body
from fis.api.context import services
from fis.config import Settings
from fis.errors import InvalidInput
from fis.protocols.native.upload import parse_field_file, parse_field_geometry

STATIC = Path(str(files("fis.web") / "static"))

blueprint = Blueprint("web", __name__, static_folder=str(STATIC), static_url_path="/web/static")


def basemap_origin(settings: Settings) -> str | None:
    """The scheme and host of the configured base map (for the CSP), None without one; 400-style error if bad."""
    url = settings.basemap_url
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise InvalidInput(
            f"FIS_BASEMAP_URL={url!r} is not a tile URL template; set e.g. "
            "'https://tiles.example.org/{z}/{x}/{y}.png' (http or https, with {z}, {x} and {y}) or leave it empty",
            field="FIS_BASEMAP_URL",
        )
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(settings: Settings) -> str:
    """The page's policy: everything from this origin only; images also inline (``data:``) and from the base map."""
    images = " ".join(filter(None, ("'self'", "data:", basemap_origin(settings))))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        f"img-src {images}; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


@blueprint.get("/")
def index() -> Response:
    """The page (``/?series=<id>`` opens a stored series)."""
    response = Response((STATIC / "index.html").read_bytes(), mimetype="text/html")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = content_security_policy(services().settings)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.get("/api/v1/config")
def config() -> ResponseReturnValue:
    """What the page needs to know of the operator's settings: the base map (null when none)."""
    settings = services().settings
    basemap_origin(settings)
    basemap = (
        {"url": settings.basemap_url, "attribution": settings.basemap_attribution} if settings.basemap_url else None
    )
    return jsonify({"basemap": basemap})


@blueprint.post("/api/v1/geometry/parse")
def parse_field() -> ResponseReturnValue:
    """A field from an uploaded file (multipart, part ``file``) or a JSON body ``{"geometry": ..., "crs"?: ...}``:
    validated like a request's geometry, returned in EPSG:4326 with its area in hectares."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise InvalidInput(
                "multipart body: send the field's file in a part named 'file' (GeoJSON, zipped Shapefile or "
                "GeoPackage)",
                field="file",
            )
        return jsonify(parse_field_file(upload.read(), upload.filename).to_json())
    body = json_body(request)
    if not isinstance(body, dict) or "geometry" not in body or set(body) - {"geometry", "crs"}:
        keys = sorted(str(k) for k in body) if isinstance(body, dict) else []
        unknown = [k for k in keys if k not in ("geometry", "crs")]
        raise InvalidInput(
            'request body: send {"geometry": <GeoJSON or WKT>, "crs": <optional CRS>} or a multipart upload with a '
            f"part 'file'; got {f'keys {keys}' if isinstance(body, dict) else 'not an object'}",
            field=unknown[0] if unknown and "geometry" in keys else "geometry",
        )
    return jsonify(parse_field_geometry(body["geometry"], body.get("crs")).to_json())
