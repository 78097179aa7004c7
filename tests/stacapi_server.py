"""A tiny STAC API served by the test itself (Flask app on 127.0.0.1, free port, background thread).

Endpoints: ``/`` landing page (conformance classes incl. item-search, ``search`` links for GET
and POST), ``/conformance``, ``/collections``, ``/collections/<id>``, ``/search`` (GET and POST:
``collections``, ``bbox``, ``datetime``, ``limit``, ``token`` paging with ``next`` links; the
server caps pages at ``max_page`` items like real APIs do) and ``/files/<path>``, which serves
the raster files with HTTP range support (what GDAL's /vsicurl/ needs). ``/private/...`` always
answers 401 (an unauthorised href / API). Every request path is recorded in ``requests``.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

from flask import Flask, abort, jsonify, request, send_file
from werkzeug.serving import make_server

CONFORMS_TO = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _in_interval(item_time: str, interval: str | None) -> bool:
    if not interval:
        return True
    when = _parse_time(item_time)
    parts = interval.split("/")
    if len(parts) == 1:
        return when == _parse_time(parts[0])
    start, end = parts
    if start not in ("", "..") and when < _parse_time(start):
        return False
    return end in ("", "..") or when <= _parse_time(end)


def _intersects(item_bbox: list[float], bbox: list[float] | None) -> bool:
    if not bbox:
        return True
    return not (item_bbox[2] < bbox[0] or item_bbox[0] > bbox[2] or item_bbox[3] < bbox[1] or item_bbox[1] > bbox[3])


class StacApiServer:
    """``with StacApiServer(items, files_root) as api: api.url ...``; items get absolute hrefs to /files/."""

    def __init__(self, items: list[dict[str, Any]], files_root: Path, *, collection: str = "sentinel-2-l1c", max_page: int = 2):
        self.files_root = Path(files_root)
        self.collection = collection
        self.max_page = max_page
        self.requests: list[str] = []
        self._raw_items = items
        self.app = self._make_app()
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.items = [self._publish(item) for item in items]
        self._thread = threading.Thread(target=self._server.serve_forever, name="stac-api", daemon=True)

    def __enter__(self) -> StacApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _publish(self, item: dict[str, Any]) -> dict[str, Any]:
        """The item as the API serves it: collection, self link and absolute http hrefs."""
        item = json.loads(json.dumps(item))
        item["collection"] = self.collection
        item["links"] = [
            {"rel": "self", "href": f"{self.url}/collections/{self.collection}/items/{item['id']}", "type": "application/geo+json"},
            {"rel": "collection", "href": f"{self.url}/collections/{self.collection}"},
        ]
        for asset in item["assets"].values():
            href = asset["href"]
            if not href.startswith(("http://", "https://")):
                asset["href"] = f"{self.url}/files/{item['id']}/{href.removeprefix('./')}"
        return item

    def _collection(self) -> dict[str, Any]:
        return {
            "type": "Collection", "stac_version": "1.0.0", "id": self.collection, "description": "test collection",
            "license": "proprietary",
            "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
            "links": [{"rel": "self", "href": f"{self.url}/collections/{self.collection}"},
                      {"rel": "root", "href": f"{self.url}/"}],
        }

    def _make_app(self) -> Flask:
        app = Flask("stac-api-test")
        server = self

        @app.before_request
        def record() -> None:
            server.requests.append(f"{request.method} {request.full_path.rstrip('?')}")

        @app.get("/")
        def landing() -> Any:
            return jsonify({
                "type": "Catalog", "stac_version": "1.0.0", "id": "test-api", "description": "A test STAC API",
                "conformsTo": CONFORMS_TO,
                "links": [
                    {"rel": "self", "href": f"{server.url}/", "type": "application/json"},
                    {"rel": "root", "href": f"{server.url}/", "type": "application/json"},
                    {"rel": "conformance", "href": f"{server.url}/conformance"},
                    {"rel": "data", "href": f"{server.url}/collections", "type": "application/json"},
                    {"rel": "child", "href": f"{server.url}/collections/{server.collection}", "type": "application/json"},
                    {"rel": "search", "href": f"{server.url}/search", "type": "application/geo+json", "method": "GET"},
                    {"rel": "search", "href": f"{server.url}/search", "type": "application/geo+json", "method": "POST"},
                ],
            })

        @app.get("/conformance")
        def conformance() -> Any:
            return jsonify({"conformsTo": CONFORMS_TO})

        @app.get("/collections")
        def collections() -> Any:
            return jsonify({"collections": [server._collection()], "links": []})

        @app.get("/collections/<cid>")
        def collection(cid: str) -> Any:
            if cid != server.collection:
                abort(404)
            return jsonify(server._collection())

        @app.route("/search", methods=["GET", "POST"])
        def search() -> Any:
            if request.method == "POST":
                body = request.get_json(force=True) or {}
                collections_ = body.get("collections")
                bbox = body.get("bbox")
                interval = body.get("datetime")
                limit = body.get("limit")
                token = body.get("token")
            else:
                args = request.args
                collections_ = args["collections"].split(",") if args.get("collections") else None
                bbox = [float(v) for v in args["bbox"].split(",")] if args.get("bbox") else None
                interval = args.get("datetime")
                limit = args.get("limit")
                token = args.get("token")
            limit = min(int(limit or server.max_page), server.max_page)
            start = int(token or 0)
            matched = [
                item for item in server.items
                if (not collections_ or item["collection"] in collections_)
                and _intersects(item["bbox"], bbox)
                and _in_interval(item["properties"]["datetime"], interval)
            ]
            page = matched[start : start + limit]
            links = [{"rel": "root", "href": f"{server.url}/"}]
            if start + limit < len(matched):
                if request.method == "POST":
                    links.append({"rel": "next", "href": f"{server.url}/search", "method": "POST",
                                  "body": {**body, "token": str(start + limit)}, "merge": False})
                else:
                    query = {k: v for k, v in request.args.items() if k != "token"}
                    query["token"] = str(start + limit)
                    from urllib.parse import urlencode

                    links.append({"rel": "next", "href": f"{server.url}/search?{urlencode(query)}", "method": "GET"})
            return jsonify({"type": "FeatureCollection", "features": page, "links": links,
                            "numberMatched": len(matched), "numberReturned": len(page)})

        @app.route("/files/<path:relative>", methods=["GET", "HEAD"])
        def files(relative: str) -> Any:
            path = (server.files_root / relative).resolve()
            if not path.is_file() or server.files_root.resolve() not in path.parents:
                abort(404)
            return send_file(path, conditional=True, mimetype="image/tiff")

        @app.route("/private/<path:relative>", methods=["GET", "HEAD", "POST"])
        def private(relative: str) -> Any:
            return jsonify({"code": "Unauthorized", "description": "credentials required"}), 401

        return app
