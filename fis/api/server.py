"""The waitress setup of ``fis serve``: bounded connections, idle timeouts, bodies refused by their declared size.

waitress answers some requests itself, before the app sees them (a body larger than its limit, a malformed
request line); :class:`JsonErrorChannel` makes those answers the service's JSON error shape too.
"""

from __future__ import annotations

import json
from typing import Any

from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server
from waitress.task import ErrorTask

#: waitress error reason -> the service's error code.
_CODES = {400: "bad_request", 413: "body_too_large", 431: "headers_too_large", 501: "not_implemented"}


class JsonErrorTask(ErrorTask):
    """waitress' own error responses as ``{"error": {"status", "code", "message"}}``."""

    def execute(self) -> None:
        error: Any = getattr(self.request, "error")  # noqa: B009 - waitress types the request as its Error
        status = int(error.code)
        body = json.dumps({"error": {
            "status": status, "code": _CODES.get(status, "http_error"), "message": f"{error.reason}: {error.body}",
        }}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers = [*self.response_headers, ("Content-Type", "application/json")]
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def make_server(
    app: Any, *, host: str, port: int, threads: int, max_body_bytes: int, connection_limit: int, channel_timeout: int
) -> BaseWSGIServer | MultiSocketServer:
    """A waitress server for ``app`` (call ``.run()``); see docs/team.md for the choice of each limit."""
    sockets: dict[int, Any] = {}
    server = create_server(
        app,
        map=sockets,
        host=host,
        port=port,
        threads=threads,
        ident="fis",
        # a body is refused from its Content-Length before it is read (waitress refuses length >= the value)
        max_request_body_size=max_body_bytes + 1,
        connection_limit=connection_limit,
        channel_timeout=channel_timeout,
        cleanup_interval=max(1, min(30, channel_timeout // 2)),
        # poll() instead of select(): the open-dataset pool holds far more than 1024 descriptors
        asyncore_use_poll=True,
    )
    for listener in sockets.values():  # one per listening socket (a host name may resolve to several)
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = JsonErrorChannel
    return server
