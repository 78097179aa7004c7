"""A batch job's results as files: CSV, GeoParquet or GeoPackage by the output's extension, and its errors.

One row per feature and date: the job's id column, then the columns of a single series' CSV
(:func:`fis.protocols.native.export.csv_lines`, same order, same cloud filter from the series'
stored thresholds); GeoParquet and GeoPackage add the feature's geometry (EPSG:4326). Features are
read a page at a time, so writing a large job holds one page of series in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from fis.core.observation import csv_columns
from fis.core.request import parse_batch_options
from fis.errors import InvalidInput
from fis.protocols.native.export import csv_cell
from fis.protocols.native.views import CloudFilter
from fis.store.batch import DONE, FAILED, get_job
from fis.store.orm import BatchFeature, BatchJob, TimeSeries
from fis.store.queries import observations_of

#: output formats by file extension
OUTPUT_FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".gpkg": "gpkg"}
#: columns of ``<OUTPUT>.errors.csv``
ERROR_COLUMNS: tuple[str, ...] = ("seq", "id", "error_code", "error_message", "attempts")
#: columns that stay text in GeoParquet / GeoPackage (every other measure is a number)
_TEXT_COLUMNS = frozenset({"date", "datetime", "interval_from", "interval_to"})
_PAGE = 200


def output_format(path: str | Path, *, field: str = "output") -> str:
    """``csv``, ``parquet`` or ``gpkg`` from the file name's extension."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{field}: {str(path)!r} must end in .csv (one row per feature and date), .parquet (GeoParquet) or "
            ".gpkg (GeoPackage)",
            field=field,
        )
    return fmt


def id_column_name(job: BatchJob) -> str:
    """The first column: the job's id column, ``fid`` for the file's feature ids."""
    return job.id_column or "fid"


def result_columns(job: BatchJob) -> list[str]:
    """The header: the id column, then the series CSV's columns for the job's options."""
    parameters = parse_batch_options(job.options).parameters()
    return [id_column_name(job), *(c.name for c in csv_columns(parameters))]


def iter_result_rows(sessions: sessionmaker[Session], job_id: str) -> Iterator[tuple[dict[str, Any], Any]]:
    """(row, geometry) per stored feature and shown date, features in input order."""
    with sessions() as session:
        job = get_job(session, job_id)
        id_name = id_column_name(job)
        last = -1
        while True:
            page = list(session.execute(
                select(BatchFeature.seq, BatchFeature.feature_id, BatchFeature.geometry, TimeSeries)
                .join(TimeSeries, TimeSeries.id == BatchFeature.series_id)
                .where(BatchFeature.job_id == job_id, BatchFeature.status == DONE, BatchFeature.seq > last)
                .options(selectinload(TimeSeries.observations))
                .order_by(BatchFeature.seq).limit(_PAGE)
            ))
            if not page:
                return
            for seq, feature_id, geometry, series in page:
                last = seq
                shown = CloudFilter.from_parameters(series.parameters).apply(observations_of(series))
                for observation, cloudy in shown:
                    yield {id_name: feature_id, **observation.csv_row(cloudy=cloudy)}, geometry
            session.expunge_all()


def stored_count(sessions: sessionmaker[Session], job_id: str) -> int:
    with sessions() as session:
        return get_job(session, job_id).done


def write_results(sessions: sessionmaker[Session], job_id: str, path: Path) -> int:
    """Write the job's stored results to ``path`` (format by extension); returns the number of rows."""
    fmt = output_format(path)
    with sessions() as session:
        columns = result_columns(get_job(session, job_id))
    if fmt == "csv":
        return _write_csv(sessions, job_id, path, columns)
    return _write_geo(sessions, job_id, path, columns, fmt)


def _write_csv(sessions: sessionmaker[Session], job_id: str, path: Path, columns: list[str]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n", restval="", extrasaction="ignore")
        writer.writeheader()
        for row, _ in iter_result_rows(sessions, job_id):
            writer.writerow({key: csv_cell(value) for key, value in row.items()})
            count += 1
    return count


def _write_geo(sessions: sessionmaker[Session], job_id: str, path: Path, columns: list[str], fmt: str) -> int:
    """GeoParquet or GeoPackage, written a page of rows at a time (memory: one page, not the job)."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from geopandas.io.arrow import _geopandas_to_arrow

    if path.exists():
        path.unlink()
    count = 0
    writer: Any = None
    try:
        for page in _frames(sessions, job_id, columns, text_type="string" if fmt == "parquet" else object):
            if fmt == "gpkg":
                page.to_file(path, layer="timeseries", driver="GPKG", engine="pyogrio", append=count > 0)
            else:
                table = _geopandas_to_arrow(page, index=False)
                if writer is None:
                    metadata = dict(table.schema.metadata or {})
                    geo = json.loads(metadata[b"geo"])
                    for column in geo.get("columns", {}).values():
                        column.pop("bbox", None)  # the first page's extent is not the file's
                    metadata[b"geo"] = json.dumps(geo).encode()
                    schema = table.schema.with_metadata(metadata)
                    writer = pq.ParquetWriter(path, schema)
                writer.write_table(pa.Table.from_batches(table.to_batches(), schema=writer.schema))
            count += len(page)
    finally:
        if writer is not None:
            writer.close()
    return count


#: rows of one page of the GeoParquet / GeoPackage writers
ROWS_PER_PAGE = 20_000


def results_frame(sessions: sessionmaker[Session], job_id: str, *, columns: list[str] | None = None,
                  text_type: Any = "string") -> Any:
    """The job's stored results as one ``geopandas.GeoDataFrame`` (EPSG:4326): the CSV's rows and columns,
    numbers as floats, ``cloudy`` as booleans, the feature's geometry."""
    import pandas as pd

    pages = list(_frames(sessions, job_id, columns, text_type=text_type, rows=None))
    return pages[0] if len(pages) == 1 else pd.concat(pages)


def _frames(sessions: sessionmaker[Session], job_id: str, columns: list[str] | None, *, text_type: Any,
            rows: int | None = ROWS_PER_PAGE) -> Iterator[Any]:
    """The results as GeoDataFrames of at most ``rows`` rows (None: one frame); always at least one (maybe empty)."""
    if columns is None:
        with sessions() as session:
            columns = result_columns(get_job(session, job_id))
    page: list[tuple[dict[str, Any], Any]] = []
    made = False
    for item in iter_result_rows(sessions, job_id):
        page.append(item)
        if rows is not None and len(page) >= rows:
            yield _frame(page, columns, text_type)
            page, made = [], True
    if page or not made:
        yield _frame(page, columns, text_type)


def _frame(page: list[tuple[dict[str, Any], Any]], columns: list[str], text_type: Any) -> Any:
    import geopandas as gpd
    import pandas as pd

    frame = pd.DataFrame([row for row, _ in page], columns=columns)
    for column in columns:
        if column == columns[0] or column in _TEXT_COLUMNS:
            frame[column] = frame[column].astype(text_type)
        elif column == "cloudy":
            frame[column] = frame[column].map({"true": True, "false": False}).astype(bool)
        else:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    geometry = gpd.GeoSeries([g for _, g in page], crs="EPSG:4326")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def failed_features(sessions: sessionmaker[Session], job_id: str) -> list[dict[str, Any]]:
    """The job's failed features (``ERROR_COLUMNS``), in input order."""
    with sessions() as session:
        rows = session.scalars(
            select(BatchFeature).where(BatchFeature.job_id == job_id, BatchFeature.status == FAILED)
            .order_by(BatchFeature.seq)
        )
        return [
            {"seq": r.seq, "id": r.feature_id, "error_code": r.error_code, "error_message": r.error_message,
             "attempts": r.attempts}
            for r in rows
        ]


def write_errors(sessions: sessionmaker[Session], job_id: str, path: Path) -> int:
    """``<OUTPUT>.errors.csv``: one row per failed feature; returns how many."""
    failed = failed_features(sessions, job_id)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=ERROR_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(failed)
    return len(failed)


__all__ = [
    "ERROR_COLUMNS", "OUTPUT_FORMATS", "failed_features", "iter_result_rows", "output_format",
    "result_columns", "results_frame", "stored_count", "write_errors", "write_results",
]
