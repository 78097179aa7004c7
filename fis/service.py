"""Application services shared by the HTTP API and the CLI: one place that runs a request."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Lock

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session, sessionmaker

from fis.aggregation import covered_range
from fis.cloudlayers import CloudLayerSettings, LayerReport, compute_cloud_layers
from fis.clouds import load_model
from fis.compute import compute_series
from fis.config import Settings
from fis.db import make_engine, make_session_factory, transaction
from fis.observation import SeriesResult
from fis.orm import TimeSeries
from fis.raster import DatasetCache
from fis.request import TimeseriesRequest
from fis.store import find_scenes, get_scene, register_cloud_layers, save_series
from fis.timeseries import Engine, Progress


@dataclass
class Services:
    """Database, engine and settings of one running service (built once per app / CLI call)."""

    settings: Settings
    db: DbEngine
    sessions: sessionmaker[Session]
    cache: DatasetCache
    _engine: Engine | None = field(default=None, repr=False)
    _lock: Lock = field(default_factory=Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> "Services":
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
                )
            return self._engine

    def run_timeseries(self, request: TimeseriesRequest, *, progress: Progress | None = None) -> tuple[TimeSeries, SeriesResult]:
        """Find the scenes, compute every observation, then store the series in one transaction."""
        with self.sessions() as session:
            # an aggregation whose last interval is extended also reads that interval's extra time
            scenes = find_scenes(session, request.aoi.geometry_4326, covered_range(request.time_range, request.aggregation))
        result = compute_series(self.engine, request, scenes, progress=progress)
        parameters = {**request.parameters(), "grid": result.grid, "model": result.model}
        with transaction(self.sessions) as session:
            series = save_series(
                session,
                geometry_4326=request.aoi.geometry_4326,
                time_range=request.time_range,
                parameters=parameters,
                result=result,
                warnings=[*request.aoi.warnings, *result.warnings],
            )
        return series, result

    def compute_cloud_layers(
        self,
        settings: CloudLayerSettings,
        *,
        scene_ids: Sequence[str] = (),
        force: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> LayerReport:
        """Precompute CLP/CLM for the given scenes (default: every scene), one transaction per scene."""
        with self.sessions() as session:
            if scene_ids:
                scenes = [get_scene(session, scene_id) for scene_id in scene_ids]
            else:
                scenes = find_scenes(session, None, None)

        def register(scene_id: str, assets: dict, properties: dict) -> None:  # type: ignore[type-arg]
            with transaction(self.sessions) as session:
                register_cloud_layers(session, scene_id, assets, properties)

        return compute_cloud_layers(
            scenes, self.engine.model, settings, self.settings.data_dir / "cloud-layers", self.cache, register,
            force=force, progress=progress,
        )

    def close(self) -> None:
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
