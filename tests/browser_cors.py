"""CORS for browser clients of the Statistical API, in a real browser (Debian's headless Chromium via Playwright).

A page served from another origin does what sentinelhub-js does with a full URL: it gets a token from
``/oauth/token`` (a form POST) and sends the Statistical API request with ``Authorization`` and a JSON body, which
makes the browser send a preflight first. fis (FIS_AUTH=required, FIS_CORS_ORIGINS naming the page's origin) must
let the page read both answers; a page from an origin not listed must not be able to read them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from fis.config import Settings
from fis_archive import DATE_MOSAIC, NDVI_EAST, NDVI_WEST, archive, ingest_into  # noqa: F401 - fixtures
from test_statistical_api import body
from test_web_browser import browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser

PAGE = b"<!doctype html><title>notebook</title><p>a page of another origin</p>"


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args: Any) -> None:
        pass


def _page_server() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[str, str]]:
    allowed, other = _page_server(), _page_server()
    yield f"http://127.0.0.1:{allowed.server_address[1]}", f"http://127.0.0.1:{other.server_address[1]}"
    for server in (allowed, other):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def fis_server(tmp_path_factory: pytest.TempPathFactory, archive: Path, pages: tuple[str, str]) -> Iterator[dict[str, str]]:
    from waitress import create_server

    from fis.api.app import create_app
    from fis.services.clients import create_client
    from fis.store.db import upgrade

    tmp = tmp_path_factory.mktemp("cors")
    app = create_app(Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'fis.sqlite'}", auth="required",
                              cors_origins=pages[0], evalscript_processes=1))
    upgrade(app.extensions["fis"].db)
    ingest_into(app, archive)
    client_id, secret = create_client(app.extensions["fis"].sessions, "browser", "user")
    wsgi = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=wsgi.run, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{wsgi.effective_port}", "id": client_id, "secret": secret}
    wsgi.close()
    app.extensions["fis"].close()


SCRIPT = """async ([fis, id, secret, request]) => {
  try {
    const form = new URLSearchParams({grant_type: "client_credentials", client_id: id, client_secret: secret});
    const token = await (await fetch(fis + "/oauth/token", {method: "POST", body: form})).json();
    const answer = await fetch(fis + "/api/v1/statistics", {
      method: "POST",
      headers: {"Authorization": "Bearer " + token.access_token, "Content-Type": "application/json"},
      body: JSON.stringify(request),
    });
    return {status: answer.status, body: await answer.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def test_a_page_of_an_allowed_origin_reads_token_and_statistics(browser: Any, fis_server: dict[str, str],
                                                                 pages: tuple[str, str]) -> None:
    page = browser.new_page()
    try:
        page.goto(pages[0])
        result = page.evaluate(SCRIPT, [fis_server["url"], fis_server["id"], fis_server["secret"], body()])
    finally:
        page.close()
    assert "error" not in result, result
    assert result["status"] == 200
    days = {e["interval"]["from"][:10]: e for e in result["body"]["data"]}
    mean = days[DATE_MOSAIC]["outputs"]["ndvi"]["bands"]["B0"]["stats"]["mean"]
    assert mean == pytest.approx((NDVI_WEST + NDVI_EAST) / 2, abs=1e-6)


def test_a_page_of_another_origin_cannot_read_them(browser: Any, fis_server: dict[str, str],
                                                   pages: tuple[str, str]) -> None:
    page = browser.new_page()
    try:
        page.goto(pages[1])
        result = page.evaluate(SCRIPT, [fis_server["url"], fis_server["id"], fis_server["secret"], body()])
    finally:
        page.close()
    assert "Failed to fetch" in json.dumps(result), result
