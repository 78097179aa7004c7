"""The worker process: runs evalscripts in V8 (mini-racer) for :mod:`fis.engine.evalscript.pool`.

Started with the multiprocessing ``spawn`` context, so V8 is initialised only here, never forked.
After V8 starts, the worker caps its private writable memory (``RLIMIT_DATA``) at what it uses then
plus ``data_mb``: ArrayBuffers live outside V8's heap limit, and ``RLIMIT_AS`` cannot be used because
V8 reserves about 1.4 TB of address space for its sandbox at start-up (a limit below that stops V8
from starting; one set afterwards never binds, as ArrayBuffers are placed inside that reservation).
A script that passes the limit gets a failed ArrayBuffer allocation (answered as a memory error, then
the worker exits) or makes V8 abort the process; the pool sees the pipe close either way.

Each script gets its own V8 context (isolate) with the hard heap limit, kept in a small LRU by the
SHA-256 of the caller's scope and the script, so evaluating the dates of one request compiles the
script once per worker. When the worker holds more than half of its data headroom, the contexts of
other scripts are dropped.

Protocol (pickled tuples over a ``multiprocessing`` pipe), answers ``("ok", ...)`` or
``("error", kind, message)`` with kind ``script`` | ``timeout`` | ``memory`` | ``internal``:

- ``("setup", script, timeout_s, scope)`` -> ``("ok", json_text)``: what ``setup()`` returned, as JSON;
- ``("run", script, mode, meta_json, nbytes, timeout_s, scope)`` followed by ``nbytes`` of float64
  inputs -> ``("ok", nbytes)`` followed by the float64 outputs; ``mode`` is ``simple`` or ``orbit``.

A context is kept per (scope, script): calls with the same scope share the script's globals. A call
for a script not compiled yet reads its inputs before the script's top level runs, so the pool is
never left blocked writing them.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import signal
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

from fis.engine.evalscript.js import ERROR_MARK, PRELUDE

_CONTEXTS = 8
_ALLOCATION_FAILED = "RangeError: Array buffer allocation failed"
_LOCATION = re.compile(r"^<anonymous>:(\d+): (.*)$")


def describe_js_error(text: str) -> str:
    """A one-line message from V8's error text: ``line N: SyntaxError: ... (at: <source line>)``."""
    if ERROR_MARK in text:
        return text.split(ERROR_MARK, 1)[1].strip().splitlines()[0]
    lines = text.strip().splitlines()
    if not lines:
        return "the evalscript failed without a message"
    match = _LOCATION.match(lines[0])
    if match is None:
        return lines[0]
    line, message = match.groups()
    source = lines[1].strip() if len(lines) > 1 else ""
    where = f" (at: {source[:120]})" if source else ""
    return f"line {line}: {message}{where}"


def _data_in_use() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for row in status:
            if row.startswith("VmData:"):
                return int(row.split()[1]) * 1024
    return 0


def _limit_data(data_mb: int) -> int:
    """Set the data limit; return the level past which cached contexts are dropped (half the headroom)."""
    base = _data_in_use()
    limit = base + data_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return base + data_mb * 1024 * 1024 // 2


def _key(script: str, scope: str) -> str:
    return hashlib.sha256(f"{scope}\0{script}".encode()).hexdigest()


class _Script:
    """One script's V8 context and the view of its input buffer (reused while the size stays)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._input: memoryview | None = None

    def input_view(self, nbytes: int) -> memoryview:
        if self._input is None or self._input.nbytes != nbytes:
            self._input = None
            self._input = memoryview(self.ctx.eval(f"__fis.inputBuffer({nbytes // 8})"))
        return self._input

    def close(self) -> None:
        self._input = None
        self.ctx.close()


class _Runtime:
    """The V8 contexts of this worker, one per script (LRU)."""

    def __init__(self, heap_mb: int) -> None:
        import py_mini_racer

        self._mr = py_mini_racer
        self.heap_mb = heap_mb
        self._heap = heap_mb * 1024 * 1024
        self._contexts: OrderedDict[str, _Script] = OrderedDict()
        self.trim_above: int | None = None

    def cached(self, script: str, scope: str = "") -> _Script | None:
        """The script's context if this worker has compiled it for ``scope``."""
        return self._contexts.get(_key(script, scope))

    def context(self, script: str, timeout_s: float | None = None, scope: str = "") -> _Script:
        key = _key(script, scope)
        if self.trim_above is not None and len(self._contexts) > 1 and _data_in_use() > self.trim_above:
            # cached contexts of other scripts hold memory the next calls may need: drop them
            for other in [k for k in self._contexts if k != key]:
                self._contexts.pop(other).close()
        known = self._contexts.get(key)
        if known is not None:
            self._contexts.move_to_end(key)
            return known
        ctx = self._mr.MiniRacer()
        ctx.set_hard_memory_limit(self._heap)
        ctx.eval(PRELUDE)
        try:
            _eval(ctx, script, timeout_s)
        except BaseException:
            ctx.close()
            raise
        self._contexts[key] = _Script(ctx)
        while len(self._contexts) > _CONTEXTS:
            self._contexts.popitem(last=False)[1].close()
        return self._contexts[key]

    def drop(self, script: str, scope: str = "") -> None:
        ctx = self._contexts.pop(_key(script, scope), None)
        if ctx is not None:
            ctx.close()


def _eval(ctx: Any, code: str, timeout_s: float | None) -> Any:
    """Evaluate user code, then let its pending Promise jobs finish, all within ``timeout_s``.

    V8 runs Promise jobs after ``eval`` has returned; a no-op ``eval`` waits for them, so that a script
    cannot leave work running once its call has answered.
    """
    started = time.monotonic()
    result = ctx.eval(code, timeout_sec=timeout_s)
    left = None if timeout_s is None else max(timeout_s - (time.monotonic() - started), 0.01)
    ctx.eval("0", timeout_sec=left)
    return result


def _answer_error(conn: Connection, runtime: _Runtime, script: str, exc: BaseException) -> bool:
    """Send the error answer for ``exc``; whether the worker must exit afterwards."""
    mr = runtime._mr  # the module, imported in the worker only
    if isinstance(exc, mr.JSTimeoutException):
        conn.send(("error", "timeout", "the evalscript ran longer than the time limit"))
        return True
    if isinstance(exc, mr.JSOOMException):
        conn.send(("error", "memory", f"the evalscript exceeded the V8 heap limit ({runtime.heap_mb} MB)"))
        return True
    if isinstance(exc, mr.JSEvalException) and _ALLOCATION_FAILED in str(exc):
        conn.send(
            ("error", "memory", "the evalscript exceeded the worker's memory limit (ArrayBuffer allocation failed)")
        )
        return True
    if isinstance(exc, mr.JSEvalException):
        conn.send(("error", "script", describe_js_error(str(exc))))
        return False
    if isinstance(exc, MemoryError):
        conn.send(("error", "memory", "the evalscript worker ran out of memory"))
        return True
    conn.send(("error", "internal", f"{type(exc).__name__}: {exc}"))
    return True


def _run(conn: Connection, runtime: _Runtime, message: tuple[Any, ...]) -> None:
    _, script, mode, meta_json, nbytes, timeout_s, scope = message
    compiled = runtime.cached(script, scope)
    if compiled is not None and nbytes:
        conn.recv_bytes_into(compiled.input_view(nbytes))
    else:
        # read the inputs before the script's top level runs: the pool is writing them and must not wait
        data = conn.recv_bytes()
        compiled = runtime.context(script, timeout_s, scope)
        if nbytes:
            compiled.input_view(nbytes)[:] = data
    result = _eval(compiled.ctx, f"__fis.{mode}({meta_json})", timeout_s)
    view = memoryview(result)
    conn.send(("ok", view.nbytes))
    conn.send_bytes(view)


def serve(conn: Connection, heap_mb: int, data_mb: int) -> None:
    """The worker's main loop (the target of the spawned process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the service; the pool stops its workers
    runtime = _Runtime(heap_mb)
    runtime.context("")  # starts V8 (and reserves its address space) before the data limit is set
    runtime.drop("")
    runtime.trim_above = _limit_data(data_mb)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the pool closed the pipe; skip interpreter shutdown (V8's threads)
        script = message[1]
        try:
            if message[0] == "setup":
                compiled = runtime.context(script, message[2], message[3])
                conn.send(("ok", _eval(compiled.ctx, "__fis.describe()", message[2])))
            else:
                _run(conn, runtime, message)
        except BaseException as exc:  # noqa: BLE001 - every failure is answered, then the worker may exit
            if _answer_error(conn, runtime, script, exc):
                os._exit(3)
