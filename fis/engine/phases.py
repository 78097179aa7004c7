"""Engine time per phase: a small timing hook the service's ``/metrics`` observes.

The engine times its phases with ``with engine.phases("read"): ...``; each phase reports its own seconds
to the observer (``fis_engine_phase_seconds`` of :mod:`fis.api.observability`). A phase inside another
on the same thread (the cloud model while a date is read) is subtracted from the outer one, so the
phases' sums add up to the engine's thread-seconds (reads run on several threads at once). Without an
observer nothing is measured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: The phases: the request's grid and polygon pixels, the reads of a date (tiles, cloud layers), the cloud
#: model (per-pixel masks and the rows' probability), a date's statistics, and storing the series.
PHASES = ("layout", "read", "cloud_model", "reduce", "store")

Observer = Callable[[str, float], None]


class PhaseClock:
    """Times phases (exclusive of nested ones on the same thread) and reports them to ``observer``."""

    def __init__(self, observer: Observer | None = None):
        self.observer = observer
        self._local = threading.local()

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        observer = self.observer
        if observer is None:
            yield
            return
        stack: list[list[float]] = self._local.__dict__.setdefault("stack", [])
        nested = [0.0]  # seconds of the phases run inside this one
        stack.append(nested)
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            stack.pop()
            if stack:
                stack[-1][0] += elapsed
            observer(phase, max(0.0, elapsed - nested[0]))
