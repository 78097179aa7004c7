"""The dask cluster that batch jobs and ``fis clouds`` run on (shared by both).

:func:`open_client` connects to an existing scheduler (``scheduler``, else ``FIS_DASK_SCHEDULER``)
or starts a ``LocalCluster`` of worker processes (one thread each: the engine has its own read
threads, and GDAL/numpy release the GIL) that is shut down with the client. Workers import fis
themselves; on other machines start ``dask worker tcp://HOST:8786`` in an environment with fis
installed, the same ``FIS_*`` settings and the archive's files at the same paths.
"""

from __future__ import annotations

import os
from typing import Any

from distributed import Client

from fis.config import ENV_PREFIX, Settings
from fis.errors import InvalidInput

#: seconds to wait for a remote scheduler to answer
CONNECT_TIMEOUT_S = 30


def scheduler_address(scheduler: str | None = None) -> str | None:
    """The scheduler to connect to: ``scheduler``, else ``FIS_DASK_SCHEDULER``; None = start a local cluster."""
    address = scheduler or os.environ.get(ENV_PREFIX + "DASK_SCHEDULER", "")
    return address.strip() or None


def default_workers() -> int:
    """Worker processes of a local cluster when none are asked for (``FIS_DASK_WORKERS``, default 2)."""
    return Settings.from_env().dask_workers


def open_client(workers: int | None = None, scheduler: str | None = None, **local: Any) -> Client:
    """A dask client: on the scheduler at ``scheduler`` / ``FIS_DASK_SCHEDULER``, or on a new
    ``LocalCluster(processes=True, n_workers=workers, threads_per_worker=1)`` (``workers`` default:
    :func:`default_workers`) that closes with the client. Use it as a context manager::

        with open_client(2) as client:
            futures = client.map(...)

    ``local`` goes to the ``LocalCluster`` (e.g. ``memory_limit``).
    """
    address = scheduler_address(scheduler)
    if address is not None:
        try:
            return Client(address, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except OSError as exc:
            raise InvalidInput(
                f"cannot reach the dask scheduler at {address!r}: {exc}; start one with `dask scheduler` "
                "or unset FIS_DASK_SCHEDULER / --scheduler to use a local cluster",
                field="scheduler",
            ) from None
    count = default_workers() if workers is None else workers
    if count < 1:
        raise InvalidInput(f"workers must be at least 1, got {count}", field="workers")
    # ":0": the scheduler's HTTP server on a free port (with None it still takes 8787, which another
    # cluster on the machine may hold)
    options: dict[str, Any] = {"dashboard_address": ":0", **local}
    # the client starts the LocalCluster and shuts it down when it closes
    return Client(n_workers=count, threads_per_worker=1, processes=True, **options)  # type: ignore[no-untyped-call]
