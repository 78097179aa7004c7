"""The running service shared by the HTTP API and the CLI: database, engine and settings, and the
use cases (:mod:`fis.services.series`, :mod:`fis.services.precompute`) bound to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Lock
from typing import TYPE_CHECKING

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session, sessionmaker

from fis.config import Settings
from fis.core.observation import SeriesResult
from fis.core.request import TimeseriesRequest
from fis.engine.cloudlayers import CloudLayerSettings, LayerReport
from fis.engine.clouds import load_model
from fis.engine.engine import Engine, Progress
from fis.engine.evalscript import EvalscriptSandbox
from fis.engine.phases import Observer
from fis.engine.raster import DatasetCache
from fis.engine.remote import RemotePolicy
from fis.services.precompute import precompute_cloud_layers
from fis.services.series import compute_and_store, refresh_series
from fis.store.db import make_engine, make_session_factory
from fis.store.orm import TimeSeries

if TYPE_CHECKING:
    from distributed import Client


@dataclass
class Services:
    """Database, engine and settings of one running service (built once per app / CLI call)."""

    settings: Settings
    db: DbEngine
    sessions: sessionmaker[Session]
    cache: DatasetCache
    #: receives the engine's seconds per phase (the API's ``/metrics``); set before the engine is first used
    phase_observer: Observer | None = None
    _engine: Engine | None = field(default=None, repr=False)
    _sandbox: EvalscriptSandbox | None = field(default=None, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        readers = settings.read_threads + 1  # the read pool, plus the request thread choosing the grid
        limit = _raise_open_file_limit(settings.dataset_cache_size * readers + 256)
        cache_size = max(16, min(settings.dataset_cache_size, (limit - 256) // readers))
        db = make_engine(settings.effective_database_url)
        return cls(settings=settings, db=db, sessions=make_session_factory(db), cache=DatasetCache(cache_size))

    @property
    def engine(self) -> Engine:
        """The computation engine; the cloud model is loaded and verified on first use."""
        with self._lock:
            if self._engine is None:
                self._engine = Engine(
                    load_model(self.settings.cloud_model),
                    cache=self.cache,
                    max_pixels=self.settings.max_pixels,
                    read_threads=self.settings.read_threads,
                    gdal_cachemax_mb=self.settings.gdal_cachemax_mb,
                    remote=RemotePolicy(
                        threads=self.settings.remote_read_threads,
                        timeout_s=self.settings.remote_timeout_s,
                        retries=self.settings.remote_retries,
                    ),
                    on_phase=self.phase_observer,
                )
            return self._engine

    @property
    def sandbox(self) -> EvalscriptSandbox:
        """The evalscript worker pool (started on first use; ``FIS_EVALSCRIPT_*`` settings)."""
        with self._lock:
            if self._sandbox is None:
                self._sandbox = EvalscriptSandbox(
                    processes=max(1, self.settings.evalscript_processes),
                    timeout_s=float(self.settings.evalscript_timeout_s),
                    heap_mb=self.settings.evalscript_heap_mb,
                    address_space_mb=self.settings.evalscript_address_space_mb,
                )
            return self._sandbox

    def run_timeseries(
        self, request: TimeseriesRequest, *, progress: Progress | None = None, owner: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[TimeSeries, SeriesResult]:
        """Compute the request and store the series (:func:`fis.services.series.compute_and_store`)."""
        return compute_and_store(
            self.sessions, self.engine, request, progress=progress, owner=owner, idempotency_key=idempotency_key
        )

    def refresh_series(
        self, series_id: str, *, now: dt.datetime | None = None, progress: Progress | None = None
    ) -> tuple[TimeSeries, SeriesResult]:
        """Extend a stored series to ``now`` (:func:`fis.services.series.refresh_series`)."""
        return refresh_series(self.sessions, self.engine, series_id, now=now, progress=progress)

    def compute_cloud_layers(
        self,
        settings: CloudLayerSettings,
        *,
        scene_ids: Sequence[str] = (),
        force: bool = False,
        progress: Callable[[str], None] | None = None,
        client: Client | None = None,
    ) -> LayerReport:
        """Precompute CLP/CLM for the given scenes (default: every scene) under ``<data_dir>/cloud-layers``,
        on the dask ``client``'s workers when given (:func:`fis.services.precompute.precompute_cloud_layers`)."""
        return precompute_cloud_layers(
            self.sessions, self.engine, settings, self.settings.data_dir / "cloud-layers",
            scene_ids=scene_ids, force=force, progress=progress, client=client,
        )

    def close(self) -> None:
        """Stop the evalscript workers and release the database connections."""
        with self._lock:
            sandbox, self._sandbox = self._sandbox, None
        if sandbox is not None:
            sandbox.close()
        self.db.dispose()


def _raise_open_file_limit(wanted: int) -> int:
    """Let the open-dataset caches keep files open: raise the soft fd limit (up to the hard one).

    Returns the soft limit now in force.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            return target
        except (ValueError, OSError):
            return soft
    return soft
