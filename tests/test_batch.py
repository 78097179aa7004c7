"""Batch jobs on a real dask LocalCluster (worker processes): results, exactly-once storage, killed workers,
interrupt and resume, cancel, bad inputs, recognised resubmissions."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
import shapely
from distributed.diagnostics.plugin import WorkerPlugin
from sqlalchemy import func, select

from batch_fixtures import batch_options, dask_client, write_fields
from fis_archive import archive, ingested

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.usefixtures("dask_client")
__all__ = ["archive", "dask_client", "ingested"]
#: tests whose subject is the cluster, not the database: the SQLite default only (worker restarts are slow)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _svc(app: Any) -> Any:
    return app.extensions["fis"]


def _submit(app: Any, path: Path, **kwargs: Any) -> Any:
    from fis.services.batch import submit_batch

    options = kwargs.pop("options", batch_options())
    return submit_batch(_svc(app).sessions, path, options, **kwargs)


def _run(app: Any, job_id: str, client: Any, **kwargs: Any) -> Any:
    from fis.services.batch import run_batch

    svc = _svc(app)
    return run_batch(svc.sessions, svc.settings, job_id, client, **kwargs)


def _features(app: Any, job_id: str) -> list[Any]:
    from fis.store.batch import job_features

    with _svc(app).sessions() as session:
        rows = job_features(session, job_id)
        session.expunge_all()
    return rows


def _series_count(app: Any) -> int:
    from fis.store.orm import TimeSeries

    with _svc(app).sessions() as session:
        return int(session.scalar(select(func.count()).select_from(TimeSeries)) or 0)


def _single(app: Any, geometry_4326: Any, **options: Any) -> Any:
    from fis.core.request import parse_timeseries_request

    request = parse_timeseries_request({"geometry": json.loads(shapely.to_geojson(geometry_4326)), **batch_options(**options)})
    return _svc(app).engine.compute(request, _scenes(app, geometry_4326, request))


def _scenes(app: Any, geometry: Any, request: Any) -> Any:
    from fis.store.queries import find_scenes

    with _svc(app).sessions() as session:
        return find_scenes(session, geometry, request.time_range)


def _stored(app: Any, series_id: str) -> Any:
    from fis.store.queries import get_series, observations_of

    with _svc(app).sessions() as session:
        return observations_of(get_series(session, series_id))


def test_batch_results_equal_single_requests_and_are_stored_once(
    ingested: Any, dask_client: Any, tmp_path: Path
) -> None:
    path = write_fields(tmp_path / "fields.gpkg", layer="fields")
    submission = _submit(ingested, path, id_column="field", options=batch_options(indices=["ndwi"]))
    assert not submission.recognised
    job = _run(ingested, submission.job.id, dask_client, max_features=4)
    assert (job.state, job.features, job.done, job.failed) == ("DONE", 9, 9, 0)
    rows = _features(ingested, job.id)
    assert [r.feature_id for r in rows] == [f"f{i}" for i in range(9)]
    assert all(r.status == "DONE" and r.attempts == 1 and r.series_id for r in rows)
    assert len({r.series_id for r in rows}) == 9 == _series_count(ingested)
    assert rows[1].attributes == {"field": "f1", "crop": "wheat", "area_ha": 0.36}
    for row in rows:
        single = _single(ingested, row.geometry, indices=["ndwi"])
        stored = _stored(ingested, row.series_id)
        assert [o.date for o in stored] == [o.date for o in single.observations]
        assert len(stored) == 3
        for a, b in zip(stored, single.observations):
            assert a.ndvi == b.ndvi and a.bands == b.bands and a.pixels == b.pixels
            assert a.cloud_fraction == b.cloud_fraction and a.cloud_probability == b.cloud_probability
            assert a.indices == b.indices
    # the same file and options again: the same job, nothing computed
    again = _submit(ingested, path, id_column="field", options=batch_options(indices=["ndwi"]))
    assert again.recognised and again.job.id == job.id
    # other options are another job
    other = _submit(ingested, path, id_column="field", options=batch_options(indices=["ndmi"]))
    assert not other.recognised and other.job.id != job.id


class KillOn(WorkerPlugin):
    """In every worker (also those the nanny restarts): a chunk holding the feature ``name`` kills its worker
    process (``os._exit``): always, or only the first time when ``marker`` (a file made on the first kill) is given.
    ``delay_s`` slows every chunk down (for tests that act while a job runs)."""

    def __init__(self, name: str | None, marker: str | None = None, delay_s: float = 0.0) -> None:
        self.feature, self.marker, self.delay_s = name, marker, delay_s

    def setup(self, worker: Any) -> None:
        import time

        from fis.engine.engine import Engine

        self.original = Engine.__dict__.get("compute_many")
        original, feature, marker, delay_s = self.original, self.feature, self.marker, self.delay_s

        def compute_many(engine: Any, items: Any) -> Any:
            time.sleep(delay_s)
            if any(request.name == feature for request, _ in items) and (marker is None or not os.path.exists(marker)):
                if marker is not None:
                    Path(marker).touch()
                os._exit(1)
            if original is not None:
                return original(engine, items)
            return [engine.compute(request, scenes) for request, scenes in items]

        Engine.compute_many = compute_many  # type: ignore[attr-defined]

    def teardown(self, worker: Any) -> None:
        from fis.engine.engine import Engine

        if self.original is None:
            del Engine.compute_many  # type: ignore[attr-defined]
        else:
            Engine.compute_many = self.original  # type: ignore[attr-defined]


@pytest.fixture
def own_cluster() -> Any:
    """A LocalCluster of two worker processes for one test that kills workers (the module's stays intact)."""
    from fis.services.batch import open_batch_client

    client = open_batch_client(workers=2)
    yield client
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _plugins(client: Any) -> Any:
    names: list[str] = []

    def install(feature: str | None, marker: Path | None = None, delay_s: float = 0.0) -> None:
        name = f"kill-{len(names)}"
        client.register_plugin(KillOn(feature, None if marker is None else str(marker), delay_s), name=name)
        names.append(name)

    return install, names


@pytest.fixture
def kill_on(own_cluster: Any) -> Any:
    """Install :class:`KillOn` in the workers of a cluster of the test's own."""
    install, _ = _plugins(own_cluster)
    return install


@pytest.fixture
def slow_chunks(dask_client: Any) -> Any:
    """Every chunk on the module's cluster takes ``delay_s`` longer (until the test ends)."""
    install, names = _plugins(dask_client)
    yield lambda delay_s: install(None, delay_s=delay_s)
    for name in names:
        dask_client.unregister_worker_plugin(name)


@sqlite_only
def test_a_worker_killed_mid_job_loses_nothing(ingested: Any, own_cluster: Any, kill_on: Any, tmp_path: Path) -> None:
    kill_on("f4", marker=tmp_path / "killed-once")
    path = write_fields(tmp_path / "fields.fgb")
    job = _run(ingested, _submit(ingested, path, id_column="field").job.id, own_cluster, max_features=3)
    assert (tmp_path / "killed-once").exists()  # a worker process did die mid-chunk
    assert (job.state, job.done, job.failed) == ("DONE", 9, 0)
    rows = _features(ingested, job.id)
    assert all(r.status == "DONE" for r in rows)
    assert len({r.series_id for r in rows}) == 9 == _series_count(ingested)  # each feature stored exactly once


@sqlite_only
def test_a_feature_that_keeps_killing_workers_is_failed_and_the_rest_completes(
    ingested: Any, own_cluster: Any, kill_on: Any, tmp_path: Path
) -> None:
    kill_on("f4")
    path = write_fields(tmp_path / "fields.parquet")
    job = _run(ingested, _submit(ingested, path, id_column="field").job.id, own_cluster, max_features=3)
    assert (job.state, job.done, job.failed) == ("PARTIAL", 8, 1)
    rows = {r.feature_id: r for r in _features(ingested, job.id)}
    bad = rows["f4"]
    assert (bad.status, bad.error_code, bad.series_id, bad.attempts) == ("FAILED", "worker_killed", None, 2)
    assert "worker process died" in bad.error_message
    assert all(r.status == "DONE" for k, r in rows.items() if k != "f4")
    assert _series_count(ingested) == 8


def test_a_stopped_job_is_resumable_and_resuming_skips_stored_features(
    ingested: Any, dask_client: Any, tmp_path: Path
) -> None:
    from fis.store.batch import get_job, interrupted, job_summary

    path = write_fields(tmp_path / "fields.geojson")
    job_id = _submit(ingested, path).job.id
    stop = threading.Event()

    def progress(done: int, failed: int, total: int) -> None:
        if done >= 1:
            stop.set()

    stopped = _run(ingested, job_id, dask_client, max_features=1, progress=progress, stop=stop)
    assert stopped.state == "RUNNING" and stopped.runner is None
    with _svc(ingested).sessions() as session:
        job = get_job(session, job_id)
        assert interrupted(job) and job_summary(job)["resumable"]
        first = job.done
    assert 1 <= first < 9
    stored = {r.seq: r.series_id for r in _features(ingested, job_id) if r.status == "DONE"}
    final = _run(ingested, job_id, dask_client, max_features=2)
    assert (final.state, final.done, final.failed) == ("DONE", 9, 0)
    rows = _features(ingested, job_id)
    assert {r.seq: r.series_id for r in rows if r.seq in stored} == stored  # not recomputed
    assert all(r.attempts == 1 for r in rows)
    assert _series_count(ingested) == 9


@sqlite_only
def test_cancel_stops_new_chunks_and_keeps_what_is_stored(
    ingested: Any, dask_client: Any, slow_chunks: Any, tmp_path: Path
) -> None:
    from fis.errors import Conflict
    from fis.store.batch import cancel_job, claim_job
    from fis.store.db import transaction

    slow_chunks(0.5)
    path = write_fields(tmp_path / "fields.gpkg")
    job_id = _submit(ingested, path).job.id
    cancelled = threading.Event()

    def progress(done: int, failed: int, total: int) -> None:
        if done >= 1 and not cancelled.is_set():
            with transaction(_svc(ingested).sessions) as session:  # as `fis batch cancel` in another process
                cancel_job(session, job_id)
            cancelled.set()

    job = _run(ingested, job_id, dask_client, max_features=1, progress=progress)
    assert job.state == "CANCELLED" and job.runner is None
    assert 1 <= job.done < 9
    rows = _features(ingested, job_id)
    assert sum(r.status == "DONE" for r in rows) == job.done == _series_count(ingested)
    assert {r.status for r in rows} == {"DONE", "PENDING"}
    with transaction(_svc(ingested).sessions) as session, pytest.raises(Conflict, match="CANCELLED"):
        claim_job(session, job_id, "elsewhere:1")


def test_bad_features_get_their_own_answers(app: Any, archive: Path, dask_client: Any, tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import Point, Polygon, box

    from fis_archive import ingest_into

    ingest_into(app, archive)
    frame = gpd.GeoDataFrame(
        {"field": ["ok", "bowtie", "point", "empty", "far", "dup", "dup"]},
        geometry=[
            box(500100, 5000100, 500160, 5000160),
            Polygon([(500300, 5000300), (500360, 5000360), (500360, 5000300), (500300, 5000360), (500300, 5000300)]),
            Point(500200, 5000200),
            Polygon(),
            box(700000, 5000100, 700060, 5000160),
            box(500400, 5000400, 500460, 5000460),
            box(500400, 5000100, 500460, 5000160),
        ],
        crs="EPSG:32633",
    )
    path = write_fields(tmp_path / "mixed.gpkg", frame)
    job = _run(app, _submit(app, path, id_column="field").job.id, dask_client)
    assert (job.state, job.done, job.failed) == ("PARTIAL", 2, 5)
    rows = {r.seq: r for r in _features(app, job.id)}
    answers = [(r.feature_id, r.status, r.error_code) for r in rows.values()]
    assert answers == [
        ("ok", "DONE", None), ("bowtie", "DONE", None), ("point", "FAILED", "not_polygon"),
        ("empty", "FAILED", "empty_geometry"), ("far", "FAILED", "outside_archive"),
        ("dup", "FAILED", "duplicate_id"), ("dup", "FAILED", "duplicate_id"),
    ]
    assert any("repaired with make_valid" in w for w in rows[1].warnings)
    assert "no scene of the archive covers it" in rows[4].error_message
    assert "appears 2 times" in rows[5].error_message


def test_unreadable_inputs_and_bad_options_are_clear_errors(app: Any, tmp_path: Path) -> None:
    from fis.errors import InvalidInput

    broken = tmp_path / "broken.gpkg"
    broken.write_bytes(b"this is not a GeoPackage")
    with pytest.raises(InvalidInput, match=r"broken.gpkg cannot be read as a GeoPackage"):
        _submit(app, broken)
    with pytest.raises(InvalidInput, match=r"'fields.txt' is not a supported vector file"):
        _submit(app, tmp_path / "fields.txt")
    path = write_fields(tmp_path / "fields.gpkg", layer="fields")
    write_fields(path, layer="other")
    with pytest.raises(InvalidInput, match=r"has 2 layers \(fields, other\); choose one with --layer"):
        _submit(app, path)
    with pytest.raises(InvalidInput, match=r"no column 'nope'; its columns: field, crop, area_ha"):
        _submit(app, path, layer="fields", id_column="nope")
    with pytest.raises(InvalidInput, match=r"^geometry: a batch takes each feature's geometry"):
        _submit(app, path, layer="fields", options={**batch_options(), "geometry": "POLYGON((0 0,1 0,1 1,0 0))"})
    with pytest.raises(InvalidInput, match=r"cloud_threshold"):
        _submit(app, path, layer="fields", options=batch_options(cloud_threshold=2))
