"""fis from Python (a notebook, a script): run a batch and get a ``geopandas.GeoDataFrame``; a stored series as
a ``pandas.DataFrame``.

The same use cases as ``fis batch`` and ``fis series``, on the database and archive of the ``FIS_*``
settings (or the :class:`~fis.config.Settings` given)::

    import fis.notebook as fn

    fields = fn.batch_frame("farm.gpkg", date_from="2023-04-01", date_to="2023-09-30", layer="fields",
                            id_column="field_id", indices=["ndwi"], workers=2)
    fields.groupby("field_id")["ndvi_mean"].max()

    again = fn.batch_frame(job="3f0c...")       # the results of a job run before (e.g. with `fis batch run`)
    one = fn.series_frame("9d2e...")            # one stored series, one row per date
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fis.config import Settings
from fis.core.observation import csv_columns
from fis.errors import InvalidInput
from fis.protocols.native.batch_export import results_frame
from fis.protocols.native.views import CloudFilter
from fis.services.batch import CHUNK_FEATURES, open_batch_client, run_batch, submit_batch
from fis.services.runtime import Services
from fis.store.batch import get_job, resumable
from fis.store.db import ensure_migrated
from fis.store.queries import get_series, observations_of

__all__ = ["batch_frame", "series_frame"]


def batch_frame(
    path: str | Path | None = None,
    *,
    job: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    layer: str | None = None,
    id_column: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int = CHUNK_FEATURES,
    settings: Settings | None = None,
    **options: Any,
) -> Any:
    """Run a batch over every feature of ``path`` (or, with ``job``, resume / fetch that job) and return its
    results: one row per feature and date, the id column then a series' CSV columns, the field geometry.

    ``options`` are the time-series body's keys (``indices=["ndwi"]``, ``max_cloud_fraction=0.3``,
    ``aggregation="P1M"``, ...); the same file with the same options again gives the same job.
    Failed features are in the job (``fis batch status ID``), not in the frame.
    """
    with _services(settings) as svc:
        if job is None:
            if path is None or date_from is None or date_to is None:
                raise InvalidInput("batch_frame: give a file and date_from/date_to, or job=ID", field="path")
            body = {"time_range": {"from": date_from, "to": date_to}, **options}
            job = submit_batch(svc.sessions, Path(path), body, layer=layer, id_column=id_column,
                               source=str(path)).job.id
        elif path is not None or options:
            raise InvalidInput("batch_frame: job=ID takes no file and no options (they are the job's)", field="job")
        with svc.sessions() as session:
            runnable = resumable(get_job(session, job))
        if runnable:
            client = open_batch_client(workers, scheduler)
            try:
                run_batch(svc.sessions, svc.settings, job, client, max_features=chunk_size)
            finally:
                cluster = getattr(client, "cluster", None)
                client.close()
                if cluster is not None:
                    cluster.close()
        frame = results_frame(svc.sessions, job)
        frame.attrs["job"] = job
        return frame


def series_frame(series_id: str, *, settings: Settings | None = None, include_cloudy: bool | None = None) -> Any:
    """A stored series as a ``pandas.DataFrame``: the rows and columns of its CSV (the stored cloud filter,
    or all dates flagged with ``include_cloudy=True``), ``date`` as the index."""
    import pandas as pd

    with _services(settings) as svc, svc.sessions() as session:
        series = get_series(session, series_id)
        view = CloudFilter.from_parameters(series.parameters)
        if include_cloudy is not None:
            view = dataclasses.replace(view, include_cloudy=include_cloudy)
        columns = [c.name for c in csv_columns(series.parameters)]
        rows = [o.csv_row(cloudy=cloudy) for o, cloudy in view.apply(observations_of(series))]
    frame = pd.DataFrame(rows, columns=columns)
    frame["cloudy"] = frame["cloudy"] == "true"
    frame["date"] = pd.to_datetime(frame["date"])
    frame["datetime"] = pd.to_datetime(frame["datetime"])
    return frame.set_index("date")


@contextmanager
def _services(settings: Settings | None) -> Iterator[Services]:
    svc = Services.create(settings or Settings.from_env())
    try:
        ensure_migrated(svc.db)
        yield svc
    finally:
        svc.close()
