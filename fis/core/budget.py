"""What one synchronous request may spend: a deadline and a number of acquisition dates.

The HTTP API opens a :class:`RequestBudget` for every request (``FIS_REQUEST_TIMEOUT_S``,
``FIS_MAX_DATES``); the engine checks it between dates (:func:`current_budget`), so a request that
would run for minutes stops with :class:`~fis.errors.RequestTimeout` and a request over too many
dates is refused before anything is read. Outside a budget (the CLI, batch jobs) nothing is limited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from fis.errors import RequestTimeout, RequestTooLarge

Clock = Callable[[], float]

#: What a refused request may do instead (the errors' messages end with it).
ALTERNATIVES = (
    "ask for a shorter time range (a series POSTed again over a longer range reuses the dates it has), "
    "a coarser resolution or a smaller geometry, or compute it outside a request (fis stats on the server)"
)


@dataclass
class RequestBudget:
    """A deadline (``timeout_s`` after the start; None: none) and the most dates one request may compute."""

    timeout_s: float | None = None
    max_dates: int | None = None
    clock: Clock = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 when past it); None without a deadline."""
        if self.timeout_s is None:
            return None
        return max(0.0, self.timeout_s - self.elapsed())

    def check_time(self, where: str, *, done: int | None = None, total: int | None = None) -> None:
        """Raise :class:`RequestTimeout` when the deadline has passed (``where``: what was about to start)."""
        if self.timeout_s is None or self.elapsed() < self.timeout_s:
            return
        raise self.timeout(where, done=done, total=total)

    def timeout(self, where: str, *, done: int | None = None, total: int | None = None) -> RequestTimeout:
        """The error of a request stopped at its deadline before ``where``."""
        progress = f" after {done} of {total} dates" if total is not None else ""
        details: dict[str, object] = {"timeout_s": self.timeout_s, "stopped_before": where}
        if total is not None:
            details.update(dates_done=done, dates=total)
        return RequestTimeout(
            f"the request ran into the time limit of {self.timeout_s:g} s (FIS_REQUEST_TIMEOUT_S) and was stopped"
            f"{progress} before {where}; nothing was stored. {ALTERNATIVES[0].upper()}{ALTERNATIVES[1:]}",
            details=details,
        )

    def check_dates(self, count: int, *, field: str = "time_range") -> None:
        """Raise :class:`RequestTooLarge` (413) when ``count`` dates are more than the request may compute."""
        if self.max_dates is None or count <= self.max_dates:
            return
        raise RequestTooLarge(
            f"{field}: the archive has {count} acquisition dates to compute in this range; one synchronous request "
            f"computes at most {self.max_dates} (FIS_MAX_DATES); {ALTERNATIVES}",
            field=field,
            details={"dates": count, "max_dates": self.max_dates},
        )


_current: ContextVar[RequestBudget | None] = ContextVar("fis_request_budget", default=None)


def current_budget() -> RequestBudget:
    """The budget of the request running in this context (an unlimited one outside a request)."""
    return _current.get() or _UNLIMITED


def open_budget(budget: RequestBudget | None) -> None:
    """Make ``budget`` the current one in this context (None: unlimited); the API calls it per request."""
    _current.set(budget)


@contextmanager
def budget_scope(budget: RequestBudget) -> Iterator[RequestBudget]:
    """``budget`` in force within the ``with`` block."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


_UNLIMITED = RequestBudget()
