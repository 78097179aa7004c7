"""``EvalscriptSandbox``: a pool of V8 worker processes that run evalscripts under time and memory limits.

The workers (:mod:`fis.engine.evalscript.worker`) are started with the ``spawn`` context on first use
(or :meth:`EvalscriptSandbox.start`). A call takes an idle worker, ships the date's inputs as raw
float64 bytes (written straight into a V8 ``Float64Array``), and gets the outputs back the same way.
A worker that passes the time limit is killed and replaced (:class:`EvalscriptTimeout`); one that
runs out of memory exits and is replaced (:class:`EvalscriptResourceError`); other calls go on.
Safe to use from many threads: calls beyond ``processes`` wait for a free worker.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import time
import weakref
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

import numpy as np

from fis.engine.evalscript.errors import EvalscriptError, EvalscriptResourceError, EvalscriptTimeout
from fis.engine.evalscript.spec import EvaluatedPixels, ScriptSetup, apply_sample_type, parse_setup, validity_masks
from fis.errors import FisError

#: Seconds a worker may take to start (import numpy and V8), not counted in a script's time limit.
START_TIMEOUT_S = 120.0
#: Extra seconds the pool waits past the time limit for V8's own termination before killing the worker.
KILL_GRACE_S = 1.0
_MAX_SCRIPT = 200_000


def _check_script(script: str) -> str:
    if not isinstance(script, str) or not script.strip():
        raise EvalscriptError("the evalscript is empty: send a //VERSION=3 script", field="evalscript")
    if len(script) > _MAX_SCRIPT:
        raise EvalscriptError(f"the evalscript is longer than {_MAX_SCRIPT} characters", field="evalscript")
    first = script.lstrip()[:200].splitlines()[0].replace(" ", "")
    if not first.startswith("//VERSION=3"):
        raise EvalscriptError(
            "only evalscript V3 is supported: start the script with the line //VERSION=3", field="evalscript"
        )
    return script


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, heap_mb: int, data_mb: int) -> None:
        from fis.engine.evalscript.worker import serve

        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.process: BaseProcess = ctx.Process(
            target=serve, args=(child, heap_mb, data_mb), name="fis-evalscript", daemon=True
        )
        self.process.start()
        child.close()
        self.ready = False

    def _recv(self, timeout_s: float) -> Any:
        if not self.conn.poll(timeout_s):
            raise TimeoutError
        return self.conn.recv()

    def wait_ready(self) -> None:
        if self.ready:
            return
        try:
            answer = self._recv(START_TIMEOUT_S)
        except (EOFError, OSError, TimeoutError) as exc:
            raise EvalscriptResourceError("the evalscript worker failed to start") from exc
        if answer[0] != "ready":
            raise EvalscriptResourceError(f"the evalscript worker failed to start: {answer!r}")
        self.ready = True

    def send(self, message: tuple[Any, ...], payload: np.ndarray | None) -> None:
        """Send ``message`` and ``payload`` (as raw bytes; EOFError/OSError when the worker died)."""
        self.conn.send(message)
        if payload is not None:
            self.conn.send_bytes(payload.tobytes() if not payload.flags.c_contiguous else payload.data.cast("B"))

    def answer(self, message: tuple[Any, ...], wait_s: float) -> tuple[Any, bytes | None]:
        """The answer to ``message`` and its raw bytes if any.

        Raises TimeoutError when no answer comes within ``wait_s``; EOFError/OSError when the worker died.
        """
        answer = self._recv(wait_s)
        data = self.conn.recv_bytes() if answer[0] == "ok" and message[0] == "run" else None
        return answer, data

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(5)
        finally:
            self.conn.close()


class EvalscriptSandbox:
    """Runs evalscripts in ``processes`` V8 worker processes.

    ``timeout_s`` is the default time limit of one call; ``heap_mb`` V8's hard heap limit per script;
    ``address_space_mb`` the memory a worker may add beyond what it holds after V8 starts (applied as
    ``RLIMIT_DATA``, see :mod:`fis.engine.evalscript.worker` for why not ``RLIMIT_AS``).
    """

    def __init__(
        self,
        *,
        processes: int = 2,
        timeout_s: float = 60.0,
        heap_mb: int = 256,
        address_space_mb: int = 1024,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self.processes = processes
        self.timeout_s = timeout_s
        self.heap_mb = heap_mb
        self.address_space_mb = address_space_mb
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        # stops the workers if the sandbox is dropped without close()
        self._finalizer = weakref.finalize(self, _stop_all, self._workers)

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker processes now (otherwise on first use)."""
        with self._lock:
            if self._closed:
                raise FisError("the evalscript sandbox is closed")
            if self._started:
                return
            self._started = True
            self._top_up()

    def _top_up(self) -> None:
        """Start workers up to ``processes`` (under the lock); an error only when none runs at all."""
        while len(self._workers) < self.processes:
            try:
                worker = _Worker(self._ctx, self.heap_mb, self.address_space_mb)
            except OSError as exc:
                if not self._workers:
                    raise EvalscriptResourceError(f"cannot start an evalscript worker: {exc}") from exc
                return
            self._workers.add(worker)
            self._idle.put(worker)

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._workers.discard(worker)
            if not self._closed:
                self._top_up()

    def close(self) -> None:
        """Stop every worker; calls after this fail."""
        with self._lock:
            self._closed = True
        self._finalizer()

    def __enter__(self) -> EvalscriptSandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------------------
    def _acquire(self) -> _Worker:
        self.start()
        while True:
            if self._closed:
                raise FisError("the evalscript sandbox is closed")
            try:
                return self._idle.get(timeout=0.5)
            except queue.Empty:
                with self._lock:
                    if not self._closed:
                        self._top_up()  # workers that could not be replaced earlier

    def _sent(self, message: tuple[Any, ...], payload: np.ndarray | None) -> _Worker:
        """A ready worker that has been sent the call; a worker found dead first is replaced and one more tried
        (it died before this call's script could run: the worker reads all inputs before running a script)."""
        for attempt in (1, 2):
            worker = self._acquire()
            try:
                worker.wait_ready()
                worker.send(message, payload)
            except (EvalscriptResourceError, EOFError, OSError):
                self._replace(worker)
                if attempt == 2:
                    raise EvalscriptResourceError("the evalscript workers fail to start or to take calls") from None
                continue
            return worker
        raise AssertionError("unreachable")

    def _call(self, message: tuple[Any, ...], payload: np.ndarray | None, timeout_s: float) -> tuple[Any, bytes | None]:
        worker = self._sent(message, payload)
        started = time.monotonic()
        try:
            answer, data = worker.answer(message, timeout_s + KILL_GRACE_S)
        except TimeoutError:
            self._replace(worker)
            raise EvalscriptTimeout(
                f"the evalscript ran longer than the time limit of {timeout_s:g} s", field="evalscript"
            ) from None
        except (EOFError, OSError, BrokenPipeError):
            self._replace(worker)
            raise EvalscriptResourceError(
                "the evalscript worker stopped: the script exceeded the memory limit", field="evalscript"
            ) from None
        if answer[0] == "error" and answer[1] in ("timeout", "memory", "internal"):
            self._replace(worker)
        elif self._closed:
            worker.kill()
        else:
            self._idle.put(worker)
        if answer[0] == "ok":
            return answer, data
        kind, text = answer[1], answer[2]
        if kind == "script":
            raise EvalscriptError(f"evalscript error: {text}", field="evalscript")
        if kind == "timeout":
            elapsed = time.monotonic() - started
            raise EvalscriptTimeout(
                f"the evalscript ran longer than the time limit of {timeout_s:g} s ({elapsed:.1f} s)",
                field="evalscript",
            )
        if kind == "memory":
            raise EvalscriptResourceError(text, field="evalscript")
        raise FisError(f"the evalscript worker failed: {text}")

    def setup(self, script: str, *, timeout_s: float | None = None, scope: str = "") -> ScriptSetup:
        """Run the script's ``setup()`` and check what it declares."""
        limit = timeout_s or self.timeout_s
        answer, _ = self._call(("setup", _check_script(script), limit, scope), None, limit)
        try:
            raw = json.loads(answer[1])
        except (TypeError, ValueError) as exc:
            raise EvalscriptError("setup() must return a JSON-like object", field="evalscript") from exc
        return parse_setup(raw)

    def evaluate(
        self,
        script: str,
        setup: ScriptSetup,
        pixels: dict[str, np.ndarray],
        *,
        timeout_s: float | None = None,
        scope: str = "",
    ) -> EvaluatedPixels:
        """``evaluatePixel(sample)`` for each of n pixels (SIMPLE mosaicking).

        ``pixels`` holds one 1-D array of length n per input of ``setup`` (in the units it asked for;
        ``dataMask`` as 0/1). Calls with the same ``scope`` (and script) may reuse the compiled script
        and so share its globals: pass a request's id so that no state passes between requests.
        """
        stacked, n = _stack([pixels], setup)
        return self._evaluate(script, setup, "simple", {"n": n}, stacked, n, timeout_s, scope)

    def evaluate_orbit(
        self,
        script: str,
        setup: ScriptSetup,
        samples: list[dict[str, np.ndarray]],
        scenes: list[dict[str, Any]],
        *,
        time_from: str | None = None,
        time_to: str | None = None,
        timeout_s: float | None = None,
        scope: str = "",
    ) -> EvaluatedPixels:
        """``evaluatePixel(samples, scenes)`` for each of n pixels (ORBIT mosaicking).

        ``samples`` holds one dict per acquisition (arrays as for :meth:`evaluate`), ``scenes`` one
        JSON-able dict per acquisition in the same order (e.g. ``{"date": "2024-05-01T10:12:00Z"}``;
        ``date`` becomes a JS ``Date``; ``dateFrom``/``dateTo`` default to ``date``). ``scenes`` is an
        array and also has ``scenes.orbits``; a script's ``preProcessScenes(collections)`` may drop
        acquisitions (``time_from``/``time_to`` are ``collections.from``/``to``).
        """
        if len(samples) != len(scenes):
            raise ValueError("evaluate_orbit needs one scene per acquisition")
        stacked, n = _stack(samples, setup)
        meta = {
            "n": n,
            "scenes": [_scene(s) for s in scenes],
            "from": time_from or (scenes[0].get("date") if scenes else None),
            "to": time_to or (scenes[-1].get("date") if scenes else None),
        }
        return self._evaluate(script, setup, "orbit", meta, stacked, n, timeout_s, scope)

    def _evaluate(
        self,
        script: str,
        setup: ScriptSetup,
        mode: str,
        meta: dict[str, Any],
        stacked: np.ndarray,
        n: int,
        timeout_s: float | None,
        scope: str,
    ) -> EvaluatedPixels:
        _check_script(script)
        if n == 0:
            empty = {o.id: np.zeros((0, o.bands)) for o in setup.outputs}
            return EvaluatedPixels(values=empty, valid={o.id: np.zeros(0, dtype=bool) for o in setup.outputs})
        meta = {**meta, "inputs": list(setup.inputs), "outputs": [[o.id, o.bands] for o in setup.outputs]}
        limit = timeout_s or self.timeout_s
        message = ("run", script, mode, json.dumps(meta), stacked.nbytes, limit, scope)
        _, data = self._call(message, stacked, limit)
        flat = np.frombuffer(data or b"", dtype=np.float64)
        expected = sum(o.bands for o in setup.outputs) * n
        if flat.size != expected:
            raise FisError(f"the evalscript worker returned {flat.size} values, expected {expected}")
        values: dict[str, np.ndarray] = {}
        offset = 0
        for output in setup.outputs:
            block = flat[offset : offset + n * output.bands].reshape(n, output.bands)
            values[output.id] = apply_sample_type(block, output.sample_type)
            offset += n * output.bands
        return EvaluatedPixels(values=values, valid=validity_masks(setup, values, n))


def _stop_all(workers: set[_Worker]) -> None:
    for worker in list(workers):
        worker.kill()
    workers.clear()


def _scene(raw: dict[str, Any]) -> dict[str, Any]:
    scene = dict(raw)
    if "date" in scene:
        scene.setdefault("dateFrom", scene["date"])
        scene.setdefault("dateTo", scene["date"])
    return scene


def _stack(acquisitions: list[dict[str, np.ndarray]], setup: ScriptSetup) -> tuple[np.ndarray, int]:
    """One C-contiguous float64 array (acquisitions x inputs x n) of every input the setup asks for."""
    n = -1
    stacked: np.ndarray | None = None
    for a, pixels in enumerate(acquisitions):
        for j, band in enumerate(setup.inputs):
            if band not in pixels:
                raise ValueError(f"the pixels lack the input {band!r} the evalscript asks for")
            column = np.asarray(pixels[band], dtype=np.float64).reshape(-1)
            if stacked is None:
                n = column.size
                stacked = np.empty((len(acquisitions), len(setup.inputs), n), dtype=np.float64)
            if column.size != n:
                raise ValueError(f"input {band!r} has {column.size} pixels, expected {n}")
            stacked[a, j] = column
    if stacked is None:
        return np.zeros((0,), dtype=np.float64), max(n, 0)
    return stacked, n
