"""The JSON bodies of ``/api/v1/batch`` as models (the request body, a job, a list of jobs). Descriptive:
they generate the published schemas; the body is read by :func:`fis.services.batch.submit_batch` and the
options by the one request model (:func:`fis.core.request.parse_batch_options`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import ConfigDict, Field

from fis.protocols.schemas import ResponseModel

JobState = Literal["CREATED", "RUNNING", "DONE", "PARTIAL", "FAILED", "CANCELLED"]


class BatchBody(ResponseModel):
    """``POST /api/v1/batch`` as JSON: a GeoJSON FeatureCollection (lon/lat) with the job's options as members."""

    model_config = ConfigDict(extra="forbid", title="BatchRequest")

    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(
        min_length=1, description="GeoJSON Features with Polygon or MultiPolygon geometries; properties are kept."
    )
    options: dict[str, Any] = Field(
        description="The time-series options for every feature: the body of POST /api/v1/timeseries without "
                    "`geometry`, `crs` and `name` (at least `time_range`).",
        examples=[{"time_range": {"from": "2023-06-01", "to": "2023-06-30"}, "indices": ["ndwi"]}],
    )
    id_column: str | None = Field(
        None, description="The property holding each feature's id [default: the feature's position, from 0]."
    )


class BatchFailure(ResponseModel):
    """A feature that failed."""

    seq: int = Field(description="Position in the input, from 0.")
    id: str
    error_code: str | None
    error_message: str | None
    attempts: int


class BatchJobStatus(ResponseModel):
    """A batch job: its state and progress."""

    id: str
    state: JobState
    interrupted: bool = Field(description="RUNNING, but no process runs it any more (resume it).")
    resumable: bool
    recognised: bool | None = Field(
        None, description="POST only: the same input and options were submitted before; this is that job."
    )
    features: int
    done: int
    failed: int
    pending: int
    source: str
    layer: str | None
    id_column: str | None
    options: dict[str, Any]
    error: str | None
    warnings: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime | None
    finished_at: dt.datetime | None
    failures: list[BatchFailure] = Field(description="The first 100 failed features.")
    results: str = Field(description="URL of the results (CSV; format=parquet|gpkg for the others).",
                         json_schema_extra={"format": "uri"})


class BatchJobList(ResponseModel):
    """Batch jobs, newest first."""

    items: list[BatchJobStatus]
