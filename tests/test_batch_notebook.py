"""The Python API (fis.notebook): a batch as a GeoDataFrame, a stored series as a DataFrame."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batch_fixtures import dask_client, write_fields
from fis.config import Settings
from fis_archive import NDVI_WEST, archive, ingest_into

__all__ = ["archive", "dask_client"]


def test_batch_frame_runs_fetches_and_series_frame(
    app: Any, archive: Path, dask_client: Any, settings: Settings, tmp_path: Path
) -> None:
    import fis.notebook as fn

    ingest_into(app, archive)
    path = write_fields(tmp_path / "fields.parquet")
    frame = fn.batch_frame(path, date_from="2023-06-01", date_to="2023-06-30", id_column="field",
                           scheduler=dask_client.scheduler.address, settings=settings, indices=["ndwi"])
    assert type(frame).__name__ == "GeoDataFrame" and frame.crs.to_epsg() == 4326
    assert len(frame) == 27 and list(frame.columns[:2]) == ["field", "date"]
    assert "ndwi_mean" in frame.columns and frame["cloudy"].dtype == bool
    clear = frame[(frame["field"] == "f0") & (frame["date"] == "2023-06-01")].iloc[0]
    assert clear["ndvi_mean"] == pytest.approx(NDVI_WEST, abs=1e-6)

    job = frame.attrs["job"]
    again = fn.batch_frame(job=job, settings=settings)
    assert again.drop(columns="geometry").equals(frame.drop(columns="geometry"))

    from fis.store.batch import job_features

    with app.extensions["fis"].sessions() as session:
        series_id = job_features(session, job)[0].series_id
    one = fn.series_frame(series_id, settings=settings)
    assert [d.isoformat()[:10] for d in one.index] == ["2023-06-01", "2023-06-11", "2023-06-21"]
    assert one.loc["2023-06-01", "ndvi_mean"] == pytest.approx(NDVI_WEST, abs=1e-6)
    assert one["cloudy"].dtype == bool
