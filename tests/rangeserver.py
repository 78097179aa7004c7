"""A local HTTP server for a directory, with Range requests, injected latency and injected failures.

Used by the remote-archive tests and by ``benchmarks/run.py --remote``: ``serve(root, latency=0.02)``
starts it on a free port in a daemon thread. Per path (relative to ``root``) the server can answer the
first N requests with 503, send a truncated body, or hang for longer than the client waits.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Faults:
    """Injected failures, keyed by path relative to the served directory."""

    #: path -> how many of its first requests get a 503
    unavailable: dict[str, int] = field(default_factory=dict)
    #: paths whose bodies stop halfway (Content-Length promises the whole range)
    truncated: set[str] = field(default_factory=set)
    #: paths whose responses wait this many seconds before anything is sent
    hang: dict[str, float] = field(default_factory=dict)


class RangeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, latency: float, faults: Faults):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self.latency = latency
        self.faults = faults
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients (GDAL) close connections mid-answer when they have what they need: not an error here."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def total_requests(self) -> int:
        with self.lock:
            return sum(self.requests.values())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as object storage
    server: RangeServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        server = self.server
        relative = unquote(urlparse(self.path).path).lstrip("/")
        with server.lock:
            server.requests[relative] += 1
            seen = server.requests[relative]
        if server.latency:
            time.sleep(server.latency)
        faults = server.faults
        if relative in faults.hang:
            time.sleep(faults.hang[relative])
        if seen <= faults.unavailable.get(relative, 0):
            self._status(503)
            return
        path = (server.root / relative).resolve()
        if server.root not in path.parents or not path.is_file():
            self._status(404)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        status = 200
        match = RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else end, size - 1)
            if start > end:
                self._status(416)
                return
            status = 206
        with path.open("rb") as fh:
            fh.seek(start)
            chunk = fh.read(end - start + 1)
        self.send_response(status)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        if relative in faults.truncated:
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)

    def _status(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(root: Path, *, latency: float = 0.0, faults: Faults | None = None) -> RangeServer:
    """Serve ``root`` on 127.0.0.1 (a free port) from a daemon thread; ``server.shutdown()`` stops it."""
    server = RangeServer(root, latency, faults or Faults())
    threading.Thread(target=server.serve_forever, daemon=True, name="rangeserver").start()
    return server


def rewrite_items(items: list[Path], root: Path, base_url: str, out_dir: Path) -> list[Path]:
    """Copies of STAC item files whose asset hrefs point at ``base_url`` (the files below ``root``)."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for item_path in items:
        item = json.loads(item_path.read_text())
        for asset in item.get("assets", {}).values():
            href = Path(asset["href"])
            if not href.is_absolute():
                href = (item_path.parent / href).resolve()
            asset["href"] = f"{base_url}/{href.relative_to(root.resolve()).as_posix()}"
        item["links"] = [link for link in item.get("links", []) if link.get("rel") != "self"]
        target = out_dir / item_path.name
        target.write_text(json.dumps(item))
        written.append(target)
    return written
