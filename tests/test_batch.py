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
import shapely
import pytest
from distributed.diagnostics.plugin import WorkerPlugin
from sqlalchemy import func, select

from batch_fixtures import batch_options, dask_client, fields_frame, write_fields
from fis_archive import archive, ingested

cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.usefixtures("dask_client")
__all__ = ["archive", "dask_client", "ingested"]


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
