"""The waitress setup of ``fis serve``: bounded connections, idle timeouts, bodies refused by their declared size.

On SIGTERM (or Ctrl-C) :class:`FisServer` stops accepting connections, lets the requests in flight finish
(up to a grace period) and returns: a request is never cut off half-way by a normal stop.

waitress answers some requests itself, before the app sees them (a body larger than its limit, a malformed
request line); :class:`JsonErrorChannel` makes those answers the service's JSON error shape too.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, MultiSocketServer, create_server
from waitress.task import ErrorTask

log = logging.getLogger(__name__)

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


class Terminated(Exception):
    """Raised by the SIGTERM/SIGINT handler to leave waitress' loop (not SystemExit: waitress would cancel tasks)."""


class FisServer:
    """waitress serving the app until SIGTERM or SIGINT, then draining: see :meth:`run`."""

    def __init__(self, server: BaseWSGIServer | MultiSocketServer, sockets: dict[int, Any], grace: float) -> None:
        self.server = server
        self.sockets = sockets
        self.grace = grace

    @property
    def effective_port(self) -> int:
        listener: Any = self._listeners()[0]
        return int(listener.effective_port)

    def _listeners(self) -> list[BaseWSGIServer]:
        return [d for d in self.sockets.values() if isinstance(d, BaseWSGIServer)]

    def run(self) -> None:
        """Serve; on SIGTERM/SIGINT stop accepting, let in-flight requests finish (up to ``grace`` s), return."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def stop(signum: int, frame: Any) -> None:
            raise Terminated

        if threading.current_thread() is threading.main_thread():
            for sig in previous:
                signal.signal(sig, stop)
        try:
            self.server.run()
        except Terminated:
            log.info("terminating: no new connections; finishing the requests in flight (up to %s s)", self.grace)
            self.drain()
        finally:
            if threading.current_thread() is threading.main_thread():
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def drain(self) -> None:
        """Close the listening sockets and idle connections; serve the busy ones until done or ``grace`` s."""
        for listener in self._listeners():
            listener.accepting = False
            listener.del_channel()
            if listener.socket is not None:
                listener.socket.close()
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            busy = False
            for channel in list(self.sockets.values()):
                if not isinstance(channel, HTTPChannel):
                    continue
                if channel.requests or channel.total_outbufs_len:
                    busy = True
                else:
                    channel.close()  # idle keep-alive connection: the client reconnects and is refused
            if not busy:
                break
            wasyncore.loop(timeout=0.1, map=self.sockets, use_poll=True, count=1)
        dispatcher = self.server.task_dispatcher
        dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(self.sockets)
        log.info("terminated")

    def close(self) -> None:
        """Stop at once (tests): close every socket and the worker threads."""
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
        wasyncore.close_all(self.sockets)


def make_server(
    app: Any, *, host: str, port: int, threads: int, max_body_bytes: int, connection_limit: int, channel_timeout: int,
    grace: float = 30.0,
) -> FisServer:
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
    return FisServer(server, sockets, grace)
