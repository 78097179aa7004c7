"""Application services shared by the HTTP API and the CLI: one place that runs a request."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from threading import Lock

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session, sessionmaker

from fis.core.aggregation import covered_range
from fis.engine.cloudlayers import CloudLayerSettings, LayerReport, compute_cloud_layers
from fis.engine.clouds import load_model
from fis.engine.compute import compute_series
from fis.config import Settings
from fis.store.db import make_engine, make_session_factory, transaction
from fis.errors import InvalidInput
from fis.services.hints import empty_series_hints
from fis.store.incremental import StoredPart, find_reusable, merge, scenes_to_compute, stored_part
from fis.core.observation import SeriesResult
from fis.store.orm import TimeSeries
from fis.engine.raster import DatasetCache
from fis.core.request import TimeseriesRequest, request_from_stored
from fis.store.queries import observation_row, errors_of, find_scenes, get_scene, get_series, observations_of, register_cloud_layers, save_series
from fis.core.timerange import TimeRange
from fis.core.scenes import SceneRecord
from fis.engine.engine import Engine, Progress


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
                    gdal_cachemax_mb=self.settings.gdal_cachemax_mb,
                )
            return self._engine

    def run_timeseries(self, request: TimeseriesRequest, *, progress: Progress | None = None) -> tuple[TimeSeries, SeriesResult]:
        """Find the scenes, compute every observation, then store the series in one transaction.

        When a stored series has the same geometry and parameters and the request's range extends
        its range, the dates that series covers are taken from it and only the others are computed
        (:mod:`fis.store.incremental`; ``result.reused`` / ``result.computed`` count them).
        """
        part: StoredPart | None = None
        with self.sessions() as session:
            # an aggregation whose last interval is extended also reads that interval's extra time
            scenes = find_scenes(session, request.aoi.geometry_4326, covered_range(request.time_range, request.aggregation))
            if request.aggregation is None:
                wanted = {**request.parameters(), "model": self.engine.model.name}
                stored = find_reusable(session, request.aoi.geometry_4326, wanted, request.time_range)
                if stored is not None:
                    part = stored_part(stored, request.time_range)
        result = self._compute_reusing(request, scenes, part, progress)
        parameters = {**request.parameters(), "grid": result.grid, "model": result.model}
        with transaction(self.sessions) as session:
            series = save_series(
                session,
                geometry_4326=request.aoi.geometry_4326,
                time_range=request.time_range,
                parameters=parameters,
                result=result,
                warnings=[*request.aoi.warnings, *result.warnings,
                          *empty_series_hints(session, request.aoi.geometry_4326, request.time_range, result)],
                name=request.name,
                properties=request.properties,
            )
        return series, result

    def _compute_reusing(
        self, request: TimeseriesRequest, scenes: Sequence[SceneRecord], part: StoredPart | None, progress: Progress | None
    ) -> SeriesResult:
        fresh = compute_series(self.engine, request, scenes_to_compute(scenes, part), progress=progress)
        if part is not None and fresh.grid and part.grid and json.loads(json.dumps(fresh.grid)) != part.grid:
            # the new dates chose another grid (e.g. another CRS): nothing stored is comparable
            part = None
            fresh = compute_series(self.engine, request, scenes, progress=progress)
        merged = merge(part, fresh)
        return dataclasses.replace(merged, reused=part.reused if part is not None else 0)

    def refresh_series(
        self, series_id: str, *, now: dt.datetime | None = None, progress: Progress | None = None
    ) -> tuple[TimeSeries, SeriesResult]:
        """Extend a stored series to ``now`` (UTC) and add the archive's new dates, in one transaction.

        New dates are the UTC dates with scenes in the extended range that the series has no
        observation (or error) for: later acquisitions, and earlier ones ingested since. Nothing
        stored is recomputed, even if another scene of a stored date was ingested since.
        """
        now = now or dt.datetime.now(dt.timezone.utc)
        with self.sessions() as session:
            series = get_series(session, series_id)
            parameters = dict(series.parameters or {})
            if parameters.get("aggregation") is not None:
                raise InvalidInput(
                    "refresh: a series with aggregation cannot be extended in place (its last interval would change); "
                    "POST the request again with a longer time_range",
                    field="aggregation",
                )
            stored_range = TimeRange(series.time_from, series.time_to)
            new_range = TimeRange(stored_range.start, max(now, stored_range.end))
            geometry = series.geometry
            stored_obs = observations_of(series)
            stored_errors = errors_of(series)
            stored_dates = {o.date for o in stored_obs} | {e.date for e in stored_errors}
            scenes = [
                s for s in find_scenes(session, geometry, new_range)
                if s.date not in stored_dates
            ]
        request = request_from_stored(parameters, geometry, new_range)
        fresh = compute_series(self.engine, request, scenes, progress=progress)
        with transaction(self.sessions) as session:
            series = get_series(session, series_id)
            series.observations.extend(observation_row(obs) for obs in fresh.observations)
            series.errors = [*(series.errors or []), *(e.to_json() for e in fresh.errors)]
            series.warnings = [*(series.warnings or []), *fresh.warnings]
            series.time_to = new_range.end
            series.parameters = {**parameters, "time_range": new_range.to_dict(), "grid": parameters.get("grid") or fresh.grid}
            if series.errors:
                series.status = "PARTIAL"
            session.flush()
        result = SeriesResult(
            observations=tuple(sorted((*stored_obs, *fresh.observations), key=lambda o: o.date)),
            errors=tuple(sorted((*stored_errors, *fresh.errors), key=lambda e: e.date)),
            model=fresh.model or str(parameters.get("model", "")),
            grid=parameters.get("grid") or fresh.grid,
            warnings=fresh.warnings,
            reused=len(stored_obs) + len(stored_errors),
        )
        with self.sessions() as session:
            series = get_series(session, series_id)
            session.expunge_all()
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
