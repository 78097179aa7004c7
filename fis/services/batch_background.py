"""Batch jobs run in the background of the server process: one thread drives the dask client, a job at a time.

The client (a LocalCluster of ``FIS_DASK_WORKERS`` processes, or the scheduler at ``FIS_DASK_SCHEDULER``) is
opened when the first job has something to compute and kept for the next ones. Stopping the server stops
the thread between chunks; its running job stays resumable (``fis batch resume ID``).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from fis.config import Settings
from fis.errors import FisError
from fis.services.batch import open_batch_client, run_batch

log = logging.getLogger(__name__)


class BatchBackground:
    """A queue of jobs and the thread that runs them (start with :meth:`submit`, stop with :meth:`close`)."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings
        self._queue: queue.Queue[tuple[str, str | None]] = queue.Queue()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._client: Any = None
        atexit.register(self.close)  # a job running when the server stops stays resumable

    def submit(self, job_id: str, owner: str | None) -> None:
        """Run the job (after the ones queued before it)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="fis-batch", daemon=True)
                self._thread.start()
        self._queue.put((job_id, owner))

    def idle(self) -> bool:
        """No job queued or running."""
        return self._queue.unfinished_tasks == 0

    def wait(self, timeout_s: float) -> bool:
        """Wait until every queued job has run (True) or ``timeout_s`` passed (False)."""
        done = threading.Event()

        def join() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout_s)

    def close(self) -> None:
        """Stop after the current chunk; the running job stays resumable."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        if self._client is not None:
            cluster = getattr(self._client, "cluster", None)
            self._client.close()
            if cluster is not None:
                cluster.close()
            self._client = None

    def _connect(self) -> Any:
        if self._client is None:
            self._client = open_batch_client(self.settings.dask_workers, self.settings.dask_scheduler or None)
        return self._client

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id, owner = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                run_batch(self.sessions, self.settings, job_id, self._connect, owner=owner, stop=self._stop)
            except FisError as exc:
                log.warning("batch job %s: %s", job_id, exc.message)
            except Exception:
                log.exception("batch job %s stopped; it is resumable with `fis batch resume %s`", job_id, job_id)
            finally:
                self._queue.task_done()
