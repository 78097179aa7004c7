"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

Generated: request and response bodies are the JSON Schemas of pydantic models (``$defs`` moved to
``#/components/schemas``), query parameters are the fields of the query models, and a table below says
which path and operation uses which. ``tests/test_openapi.py`` validates the document, and
``tests/test_openapi_responses.py`` validates real responses against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from fis import __version__
from fis.api.ogc import openapi_paths as ogc_fis_paths
from fis.api.openapi_examples import API, REQUEST_EXAMPLES, response_example
from fis.api.schemas import (
    Error,
    FieldGeometryBody,
    Health,
    ParsedField,
    SceneFeature,
    SceneFeatureCollection,
    WebConfig,
)
from fis.api.statistics import openapi_paths as statistical_paths
from fis.core.observation import CSV_COLUMNS
from fis.core.request import TimeseriesBody
from fis.protocols.native.batch_schemas import BatchBody, BatchJobList, BatchJobStatus
from fis.protocols.native.export import LONG_CSV_COLUMNS
from fis.protocols.native.query import PlotQuery, ScenesQuery, SeriesListQuery, SeriesQuery
from fis.protocols.native.schemas import RenameBody, SeriesFeature, TimeseriesList, TimeseriesResponse
from fis.protocols.sentinelhub_fis.schemas import FisResponse
from fis.protocols.sentinelhub_stats.body import StatisticalRequestBody
from fis.protocols.sentinelhub_stats.schemas import StatisticalError, StatisticalResponse

Schema = dict[str, Any]

#: Every model whose schema is published (with the models they use).
MODELS: tuple[type[BaseModel], ...] = (
    TimeseriesBody, RenameBody, TimeseriesResponse, SeriesFeature, TimeseriesList, SceneFeatureCollection,
    SceneFeature, Health, Error, FisResponse, WebConfig, FieldGeometryBody, ParsedField,
    StatisticalRequestBody, StatisticalResponse, StatisticalError, BatchBody, BatchJobStatus, BatchJobList,
)

# ------------------------------------------------------------------------------- generated parts


def model_schemas(*models: type[BaseModel]) -> dict[str, Schema]:
    """The JSON Schemas of pydantic models, their ``$defs`` moved to ``#/components/schemas``."""
    out: dict[str, Schema] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        named = {**schema.pop("$defs", {}), ref_name(model): schema}
        for name, part in named.items():
            if out.setdefault(name, part) != part:
                raise ValueError(f"two different schemas are named {name!r}")
    return out


def ref_name(model: type[BaseModel]) -> str:
    return str(model.model_config.get("title") or model.__name__)


def query_parameters(model: type[BaseModel], *names: str) -> list[Schema]:
    """One ``in: query`` parameter per field of ``model`` (or of the ``names`` given), from its JSON Schema."""
    properties = model.model_json_schema()["properties"]
    params = []
    for name, field in model.model_fields.items():
        if names and name not in names:
            continue
        schema = dict(properties[name])
        schema.pop("title", None)
        branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
        schema.update(branches[0] if len(branches) == 1 else {"anyOf": branches} if branches else {})
        if schema.get("default", 0) is None:
            del schema["default"]
        param: Schema = {"name": name, "in": "query", "required": field.is_required(),
                         "description": schema.pop("description", ""), "schema": schema}
        if "examples" in schema:
            param["example"] = schema.pop("examples")[0]
        params.append(param)
    return params


def ref(target: type[BaseModel] | str, kind: str = "schemas") -> Schema:
    name = target if isinstance(target, str) else ref_name(target)
    return {"$ref": f"#/components/{kind}/{name}"}


def header(description: str, **schema: Any) -> Schema:
    return {"description": description, "schema": {"type": "string", **schema}}


def json_content(model: type[BaseModel], example: Any = None, summary: str = "") -> Schema:
    media: Schema = {"schema": ref(model)}
    if example is not None and summary:
        media["examples"] = {"example": {"summary": summary, "value": example}}
    elif example is not None:
        media["example"] = example
    return {"application/json": media}


def series_content(example: Any = None, summary: str = "") -> Schema:
    """A series as JSON, CSV (wide or long) or GeoJSON."""
    return {**json_content(TimeseriesResponse, example, summary), **CSV_CONTENT,
            "application/geo+json": {"schema": ref(SeriesFeature)}}


CSV_CONTENT: Schema = {"text/csv": {
    "schema": {"type": "string", "description": (
        "`format=csv` (or Accept: text/csv): one header line, then one line per observation (dates ascending, "
        "CRLF line ends). A missing value is an empty cell; `cloudy` is `true`/`false`. Columns of a default "
        "request: " + ", ".join(f"`{c}`" for c in CSV_COLUMNS) + ". The statistics options append columns "
        "(only when used, in this order): `clear_pixels` (mask_clouds); `<index>_mean` ... `<index>_p90` per "
        "index; `<variable>_p<percent>` per requested percentile (e.g. `ndvi_p5`, `ndwi_p2.5`; one that is "
        "already a column is not repeated); `<variable>_hist_underflow`, `<variable>_hist_overflow` and "
        "`<variable>_hist_<i>_low|high|count` per histogram bin; `interval_from`, `interval_to`, "
        "`interval_observations` (aggregation; the dates used, space-separated). `format=long_csv`: one line per "
        "observation and statistic with the columns " + ", ".join(f"`{c}`" for c in LONG_CSV_COLUMNS)
        + " (variable: `ndvi`, an index, a band with statistic `mean`, `cloud` with `probability`/`fraction`, "
        "`pixels` with `total`/`valid`/`cloudy`/`nodata`/`clear`, or `interval`).")},
    "example": ",".join(CSV_COLUMNS) + "\r\n"
    + "2023-04-11,2023-04-11T10:05:21Z,0.5205,0.0076,0.7518,0.2599,0.7019,0.1527,0.2439,0.7200,0.7298,"
    "0.0152,0.0,1334,1334,0,0,false,0.1247,0.0994,0.0943,0.0844,0.1127,0.2016,0.2413,0.2540,0.2710,"
    "0.0800,0.0013,0.2026,0.1241\r\n",
}}


def error_response(description: str, **examples: dict[str, Any]) -> Schema:
    """A response whose body is the one error shape, with named examples."""
    media: Schema = {"schema": ref(Error)}
    if examples:
        media["examples"] = {name: {"value": {"error": body}} for name, body in examples.items()}
    return {"description": description, "content": {"application/json": media}}


ERRORS: Schema = {
    "BadRequest": error_response(
        "The body or a query parameter is invalid.",
        unknown_key={"status": 400, "code": "invalid_input",
                     "message": "unknown key(s) 'max_cloud' ('max_cloud' -> did you mean 'max_cloud_fraction'?); "
                                "accepted keys are geometry, crs, time_range, ...",
                     "field": "max_cloud",
                     "details": {"unknown": ["max_cloud"], "accepted": ["geometry", "time_range", "..."]}},
        bad_date={"status": 400, "code": "invalid_time_range",
                  "message": "time_range.from: '2023-13-01' is not an ISO 8601 date (month 13 is not 01-12); "
                             "use YYYY-MM-DD or a full date-time like 2015-07-01T00:00:00Z",
                  "field": "time_range.from"},
        bad_threshold={"status": 400, "code": "invalid_input",
                       "message": "max_cloud_fraction: '2' is out of range; use a number between 0 and 1, e.g. 0.3",
                       "field": "max_cloud_fraction"},
    ),
    "NotFound": error_response(
        "No time series with this id.",
        not_found={"status": 404, "code": "not_found",
                   "message": "time series 'nope' not found; list stored series with GET /api/v1/timeseries",
                   "field": "id"},
    ),
    "TooLarge": error_response(
        "The body exceeds FIS_MAX_BODY_BYTES, the geometry FIS_MAX_VERTICES, the request grid FIS_MAX_PIXELS, or the "
        "acquisition dates to compute FIS_MAX_DATES (field `time_range`, before anything is read).",
        body_too_large={"status": 413, "code": "body_too_large",
                        "message": "request body is larger than the limit of 5242880 bytes (FIS_MAX_BODY_BYTES); "
                                   "simplify the geometry or raise the limit"},
        request_too_large={"status": 413, "code": "request_too_large",
                           "message": "geometry needs a 3104 x 3339 = 10364256 pixel grid at 10 m; the limit for one "
                                      "synchronous request is 4000000 pixels (FIS_MAX_PIXELS). Use a coarser "
                                      "resolution or split the geometry.",
                           "field": "geometry",
                           "details": {"pixels": 10364256, "max_pixels": 4000000, "resolution": 10.0}},
        too_many_dates={"status": 413, "code": "request_too_large",
                        "message": "time_range: the archive has 1480 acquisition dates to compute in this range; one "
                                   "synchronous request computes at most 1000 (FIS_MAX_DATES); ask for a shorter "
                                   "time range (...)",
                        "field": "time_range", "details": {"dates": 1480, "max_dates": 1000}},
    ),
    "Timeout": error_response(
        "The computation ran past FIS_REQUEST_TIMEOUT_S and was stopped; nothing was stored. Ask for a shorter "
        "time range (a series POSTed again over a longer range reuses its stored dates), a coarser resolution or "
        "a smaller geometry.",
        request_timeout={"status": 504, "code": "request_timeout",
                         "message": "the request ran into the time limit of 120 s (FIS_REQUEST_TIMEOUT_S) and was "
                                    "stopped after 212 of 730 dates before date 2019-03-02; nothing was stored. "
                                    "Ask for a shorter time range (...)",
                         "details": {"timeout_s": 120.0, "stopped_before": "date 2019-03-02", "dates_done": 212,
                                     "dates": 730}},
    ),
    "InternalError": error_response(
        "An unexpected error, or the cloud model cannot be loaded (model_error).",
        internal={"status": 500, "code": "internal_error",
                  "message": "internal error (OperationalError); see the server log"},
    ),
    "Unauthorized": error_response(
        "FIS_AUTH=required: no bearer token, or an unknown, expired or revoked one (header WWW-Authenticate: Bearer).",
        missing={"status": 401, "code": "unauthorized",
                 "message": "this service needs a bearer token: get one with POST /oauth/token (client credentials) "
                            "and send 'Authorization: Bearer <token>'"},
    ),
    "UnsupportedMediaType": error_response(
        "A body that is not declared as JSON (Content-Type: application/json).",
        form={"status": 415, "code": "unsupported_media_type", "field": "Content-Type",
              "message": "Content-Type 'text/plain' is not accepted; send the body as JSON with "
                         "Content-Type: application/json"},
    ),
    "RateLimited": error_response(
        "Too many requests from this client (FIS_RATE_LIMIT); retry after the Retry-After seconds.",
    ),
    "Unavailable": error_response(
        "The database is unavailable for now; retry after the Retry-After seconds.",
        database={"status": 503, "code": "service_unavailable",
                  "message": "the database is unavailable; retry after the Retry-After seconds"},
    ),
    "BadGateway": error_response(
        "The reference raster chosen for the request grid could not be opened (raster_read_error). "
        "Per-date read failures do not fail the request: they are listed in `errors` (status PARTIAL).",
    ),
}

# ------------------------------------------------------------------------------- paths

SERIES_ID = ref("SeriesId", "parameters")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any 1 to 255 printable ASCII characters (e.g. a UUID). A POST repeated with a key this client "
                   "used before returns the series that key made (200, header Idempotent-Replayed: true) instead "
                   "of computing another.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
}
SCENE_ID = {"name": "scene_id", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "Scene id (STAC item id)."}
CSV_DISPOSITION = header('CSV only: attachment; filename="fis-timeseries-<id>.csv", or "<name>.csv" for a named '
                         "series (made safe for a file name; the exact name in filename*)")
COUNTS = {"X-FIS-Reused": header("Dates taken from storage (also `reused` in JSON).", pattern="^[0-9]+$"),
          "X-FIS-Computed": header("Dates computed (also `computed` in JSON).", pattern="^[0-9]+$")}


def op(tag: str, operation_id: str, summary: str, description: str, responses: Schema, *,
       parameters: list[Schema] | None = None, body: Schema | None = None) -> Schema:
    """One operation; 4xx/5xx responses given as a name of ``ERRORS``."""
    out: Schema = {"tags": [tag], "summary": summary, "description": description, "operationId": operation_id,
                   "responses": {status: ref(r, "responses") if isinstance(r, str) else r
                                 for status, r in responses.items()}}
    if parameters:
        out["parameters"] = parameters
    if body:
        out["requestBody"] = body
    return out


def paths(server_url: str) -> Schema:
    """The path items of the native API."""
    fmt = query_parameters(SeriesQuery, "format")
    return {
        "/healthz": {"get": op(
            "meta", "healthz", "Service health",
            "Checks that the database is reachable and migrated to the code's schema revision.",
            {"200": {"description": "Healthy.", "content": json_content(Health, {
                "status": "ok", "version": __version__, "database": "sqlite", "scenes": 146,
                "cloud_model": "s2cloudless-v0.1"})},
             "503": {"description": "Database unreachable or not migrated. Note: this body is the Health shape "
                                    "(status `error`), not the Error shape.",
                     "content": json_content(Health, {
                         "status": "error", "version": __version__,
                         "database": "database schema is at revision None, the code needs '0001'; "
                                     "run `fis db upgrade`"})}},
        )},
        f"{API}/timeseries": {
            "post": op(
                "timeseries", "createTimeseries", "Compute and store a time series",
                "Finds the registered scenes intersecting the geometry within the time range, computes one "
                "observation per UTC acquisition date (tiles of one date mosaicked) and stores the series. The "
                "response applies the request's own cloud filter (max_cloud_fraction / max_cloud_probability / "
                "include_cloudy); every observation is stored regardless. Runs synchronously, within "
                "FIS_REQUEST_TIMEOUT_S (504) and FIS_MAX_DATES (413).",
                {"201": {"description": "Created. JSON by default; CSV with ?format=csv (or Accept: text/csv).",
                         "headers": {"Location": header("URL of the stored series.", format="uri"),
                                     "Content-Disposition": CSV_DISPOSITION},
                         "content": series_content(response_example(server_url),
                                                   "Abbreviated: one of the returned observations shown")},
                 "200": {"description": "A repeated Idempotency-Key: the series that key made (as GET shows it), with "
                                        "header Idempotent-Replayed: true.",
                         "headers": {"Idempotent-Replayed": header("`true`.")}, "content": series_content()},
                 "400": "BadRequest", "413": "TooLarge", "500": "InternalError", "502": "BadGateway",
                 "504": "Timeout"},
                parameters=[*fmt, IDEMPOTENCY_KEY],
                body={"required": True, "description": "A JSON object (Content-Type: application/json; other "
                                                       "content types are refused with 415).",
                      "content": {"application/json": {"schema": ref(TimeseriesBody), "examples": REQUEST_EXAMPLES}}},
            ),
            "get": op(
                "timeseries", "listTimeseries", "List stored time series", "A page of stored series, newest first.",
                {"200": {"description": "A page of series.", "content": json_content(TimeseriesList)},
                 "400": "BadRequest"},
                parameters=query_parameters(SeriesListQuery),
            ),
        },
        f"{API}/timeseries/{{series_id}}": {
            "parameters": [SERIES_ID],
            "get": op(
                "timeseries", "getTimeseries", "Show or export a stored time series",
                "The stored series filtered by the stored request's thresholds, or by the query parameters given "
                "here (each one given replaces the stored value). The filter never deletes: cloudy observations are "
                "left out of this response (or flagged with include_cloudy=true). The CSV applies the same filter.",
                {"200": {"description": "The series (JSON) or its observations (CSV).",
                         "headers": {"Content-Disposition": CSV_DISPOSITION,
                                     "Location": header("CSV only: URL of the series.", format="uri")},
                         "content": series_content()},
                 "400": "BadRequest", "404": "NotFound"},
                parameters=query_parameters(SeriesQuery),
            ),
            "patch": op(
                "timeseries", "renameTimeseries", "Rename a stored time series",
                'Body `{"name": "new name"}` sets the name (1 to 200 characters, no control characters); '
                '`{"name": null}` removes it. Nothing else of the series can change.',
                {"200": {"description": "The renamed series (stored filter).",
                         "content": json_content(TimeseriesResponse)},
                 "400": "BadRequest", "404": "NotFound"},
                body={"required": True, "content": json_content(RenameBody, {"name": "north field 2023"})},
            ),
            "delete": op(
                "timeseries", "deleteTimeseries", "Delete a stored time series",
                "Deletes the series and its observations.",
                {"204": {"description": "Deleted (empty body)."}, "404": "NotFound"},
            ),
        },
        f"{API}/timeseries/{{series_id}}/refresh": {
            "parameters": [SERIES_ID],
            "post": op(
                "timeseries", "refreshTimeseries", "Extend a stored time series to today's archive",
                "Extends the series' `to` to now (UTC) and adds an observation for every date of the archive in its "
                "range that the series does not have yet (later acquisitions, or earlier ones ingested since). "
                "Nothing stored is recomputed. Updates the series in one transaction and returns it with `reused` "
                "(stored dates) and `computed` (new dates). Series with `aggregation` cannot be refreshed (400, "
                "field `aggregation`).",
                {"200": {"description": "The extended series (same id).", "headers": COUNTS,
                         "content": series_content()},
                 "400": "BadRequest", "404": "NotFound", "413": "TooLarge", "504": "Timeout"},
                parameters=fmt,
            ),
        },
        f"{API}/scenes": {"get": op(
            "scenes", "listScenes", "List registered scenes",
            "Scenes of the archive (registered with `fis ingest`) as GeoJSON, oldest first.",
            {"200": {"description": "A page of scenes.", "content": json_content(SceneFeatureCollection)},
             "400": "BadRequest"},
            parameters=query_parameters(ScenesQuery),
        )},
        f"{API}/scenes/{{scene_id}}": {"parameters": [SCENE_ID], "get": op(
            "scenes", "getScene", "Show one scene",
            "One registered scene as a GeoJSON Feature (bands, radiometry, registered cloud layers).",
            {"200": {"description": "The scene.", "content": json_content(SceneFeature)}, "404": "NotFound"},
        )},
        f"{API}/scenes/{{scene_id}}/{{layer}}": {
            "parameters": [SCENE_ID, {"name": "layer", "in": "path", "required": True, "description": "Which layer.",
                                      "schema": {"type": "string", "enum": ["clp", "clm", "CLP", "CLM"]}}],
            "get": op(
                "scenes", "getSceneCloudLayer", "Download a precomputed cloud layer",
                "The scene's precomputed cloud layer as a Cloud-Optimized GeoTIFF (computed by `fis clouds`): "
                "`clp` = s2cloudless probability * 255 (uint8, with an internal validity mask), `clm` = 0 clear, "
                "1 cloud, 255 no data. Layer settings are in the scene's `cloud_layers` property. "
                "404 when the scene has no such layer.",
                {"200": {"description": "The layer (GeoTIFF download).",
                         "content": {"image/tiff; application=geotiff; profile=cloud-optimized": {
                             "schema": {"type": "string", "format": "binary"}}}},
                 "404": "NotFound"},
            ),
        },
        f"{API}/openapi.json": {"get": op(
            "meta", "openapi", "This document",
            "The OpenAPI 3.1 description of the API; `servers` is the URL the request came to.",
            {"200": {"description": "OpenAPI document.",
                     "content": {"application/json": {"schema": {"type": "object"}}}}},
        )},
    }


def web_paths() -> Schema:
    """The path items of the web page's helpers and of the profile figure."""
    return {
        f"{API}/timeseries/{{series_id}}/plot.png": {
            "parameters": [SERIES_ID],
            "get": op(
                "timeseries", "plotTimeseries", "The series' NDVI profile as a PNG figure",
                "Two panels sharing the date axis: the NDVI mean with its p10-p90 band over all dates, and over the "
                "clear dates only (cloudy dates masked); cloudy dates are crosses, and the caption states the cloud "
                "rule. Thresholds default to the stored ones (an empty value clears one); any other parameter is a "
                "400.",
                {"200": {"description": "The figure, exactly width x height pixels.",
                         "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
                 "400": "BadRequest", "404": "NotFound"},
                parameters=query_parameters(PlotQuery),
            ),
        },
        f"{API}/config": {"get": op(
            "web", "webConfig", "Settings of the web page",
            "The base map (FIS_BASEMAP_URL, FIS_BASEMAP_ATTRIBUTION), null when none is set.",
            {"200": {"description": "The page's settings.", "content": json_content(WebConfig)}},
        )},
        f"{API}/geometry/parse": {"post": op(
            "web", "parseGeometry", "Read and validate a field",
            "A field file uploaded as multipart/form-data (part `file`: GeoJSON `.geojson`/`.json`, zipped "
            "Shapefile `.zip`, GeoPackage `.gpkg`, with exactly one polygon feature), or a JSON body. Validated and "
            "repaired exactly like the geometry of a time-series request (same messages; `field` is `file` for "
            "uploads), returned in EPSG:4326 with its area.",
            {"200": {"description": "The field.", "content": json_content(ParsedField)}, "400": "BadRequest"},
            body={"required": True, "content": {
                "multipart/form-data": {"schema": {
                    "type": "object", "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"]}},
                **json_content(FieldGeometryBody),
            }},
        )},
    }


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "Batch job id from POST or the list."}
BATCH_NOT_FOUND = error_response(
    "No batch job with this id (of this client).",
    not_found={"status": 404, "code": "not_found", "field": "id",
               "message": "batch job 'nope' not found; list jobs with `fis batch list` or GET /api/v1/batch"},
)
BATCH_CONFLICT = error_response(
    "The job has no stored results yet, or is already finished (DELETE).",
    not_yet={"status": 409, "code": "conflict", "field": "id", "details": {"state": "RUNNING"},
             "message": "batch job 3f0c... has no stored results yet (state RUNNING); try again later"},
)


def batch_paths() -> Schema:
    """The path items of batch jobs."""
    job = {"description": "The job.", "content": json_content(BatchJobStatus)}
    return {
        f"{API}/batch": {
            "post": op(
                "batch", "createBatch", "Submit a batch job",
                "Every feature of a GeoJSON FeatureCollection (JSON body, lon/lat, the job's options as the member "
                "`options`), or of an uploaded vector file (multipart: part `file` a GeoPackage `.gpkg`, zipped "
                "Shapefile `.zip`, GeoJSON, FlatGeobuf `.fgb` or GeoParquet `.parquet` in any CRS; part `options` "
                "the options as JSON; optional parts `layer` and `id_column`). The options are the body of POST "
                "/api/v1/timeseries without geometry, crs and name. Each feature is answered on its own (invalid "
                "geometries repaired with a warning or failed with the reason, non-polygons, empty geometries, "
                "duplicate ids, features outside the archive). The job runs in the background on the dask cluster "
                "(FIS_DASK_SCHEDULER or a local one); each feature becomes a stored series. The same input and "
                "options submitted again give the same job (`recognised`).",
                {"202": {"description": "Accepted: the job (running in the background).",
                         "headers": {"Location": header("URL of the job.", format="uri-reference")},
                         "content": json_content(BatchJobStatus)},
                 "400": "BadRequest", "413": "TooLarge"},
                body={"required": True, "content": {
                    **json_content(BatchBody),
                    "multipart/form-data": {"schema": {
                        "type": "object", "required": ["file", "options"],
                        "properties": {"file": {"type": "string", "format": "binary"},
                                       "options": {"type": "string", "description": "JSON object."},
                                       "layer": {"type": "string"}, "id_column": {"type": "string"}}}},
                }},
            ),
            "get": op(
                "batch", "listBatches", "List batch jobs", "This client's batch jobs, newest first.",
                {"200": {"description": "The jobs.", "content": json_content(BatchJobList)}},
            ),
        },
        f"{API}/batch/{{job_id}}": {
            "parameters": [JOB_ID],
            "get": op(
                "batch", "getBatch", "State and progress of a batch job",
                "CREATED, RUNNING (with `interrupted` when no process runs it any more: resume it with `fis batch "
                "resume ID`), DONE, PARTIAL (some features failed: `failures`), FAILED (all failed) or CANCELLED.",
                {"200": job, "404": BATCH_NOT_FOUND},
            ),
            "delete": op(
                "batch", "cancelBatch", "Cancel a batch job",
                "No new chunk starts; the series already stored stay.",
                {"200": job, "404": BATCH_NOT_FOUND, "409": BATCH_CONFLICT},
            ),
        },
        f"{API}/batch/{{job_id}}/results": {
            "parameters": [JOB_ID],
            "get": op(
                "batch", "getBatchResults", "The results of a batch job",
                "One row per stored feature and date: the id column (`fid` by default), then the columns of a "
                "series' CSV; GeoParquet and GeoPackage (layer `timeseries`) add the feature's geometry (EPSG:4326). "
                "What is stored so far (header X-FIS-Batch-State says the job's state).",
                {"200": {"description": "The results file.",
                         "headers": {"X-FIS-Batch-State": header("The job's state.")},
                         "content": {"text/csv": {"schema": {"type": "string"}},
                                     "application/vnd.apache.parquet": {"schema": {"type": "string",
                                                                                   "format": "binary"}},
                                     "application/geopackage+sqlite3": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}},
                 "400": "BadRequest", "404": BATCH_NOT_FOUND, "409": BATCH_CONFLICT},
                parameters=[{"name": "format", "in": "query", "required": False,
                             "schema": {"enum": ["csv", "parquet", "gpkg"], "default": "csv"}}],
            ),
        },
    }


#: Operations answered without a token (``security: []``).
PUBLIC_PATHS = ("/healthz", f"{API}/openapi.json", "/oauth/token")
_METHODS = ("get", "post", "patch", "put", "delete")


def secured(items: Schema) -> Schema:
    """Every operation but the public ones may answer 401, 429 and 503; those with a JSON body 415."""
    for path, item in items.items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if path in PUBLIC_PATHS:
                operation["security"] = []
                continue
            extra = {"401": "Unauthorized", "429": "RateLimited", "503": "Unavailable"}
            if path.startswith(API) and method in ("post", "patch"):
                extra["415"] = "UnsupportedMediaType"
            for status, name in extra.items():
                operation["responses"].setdefault(status, ref(name, "responses"))
    return items


def token_path() -> Schema:
    """``POST /oauth/token``: OAuth2 client credentials (its errors are OAuth2's shape, RFC 6749 5.2)."""
    oauth_error = {"description": "", "content": {"application/json": {"schema": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}}}}}}
    return {"/oauth/token": {"post": op(
        "auth", "token", "Get an access token (OAuth2 client credentials)",
        "A form body `grant_type=client_credentials&client_id=...&client_secret=...` (or the credentials as HTTP "
        "Basic auth) gives a bearer token for `Authorization: Bearer <token>`. Errors are OAuth2's "
        "`{\"error\", \"error_description\"}`: `invalid_request`, `unsupported_grant_type` (400), "
        "`invalid_client` (401).",
        {"200": {"description": "A bearer token.", "content": {"application/json": {"schema": {
            "type": "object", "required": ["access_token", "token_type", "expires_in"],
            "properties": {"access_token": {"type": "string"}, "token_type": {"const": "Bearer"},
                           "expires_in": {"type": "integer", "minimum": 0}}}}}},
         "400": {**oauth_error, "description": "Not a client-credentials form request."},
         "401": {**oauth_error, "description": "Unknown client, wrong secret, or a revoked client."}},
        body={"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["grant_type"],
            "properties": {"grant_type": {"const": "client_credentials"}, "client_id": {"type": "string"},
                           "client_secret": {"type": "string", "format": "password"}}}}}},
    )}}


def build_spec(*, server_url: str, auth_required: bool = False) -> dict[str, Any]:
    """The complete OpenAPI 3.1 document, with ``server_url`` as the one server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fis: Sentinel-2 statistical time series",
            "version": __version__,
            "summary": "Cloud-aware NDVI statistics per field polygon from your own Sentinel-2 L1C archive.",
            "description": (
                "POST a field polygon and a date range; for every Sentinel-2 acquisition date that covers it you get "
                "NDVI statistics, band means, the s2cloudless probability of the field's averaged band vector "
                "(`cloud_probability`) and the share of valid pixels flagged by a per-pixel s2cloudless mask "
                "(`cloud_fraction`). Series are stored and can be re-read with other cloud thresholds or as CSV. "
                "Every error has the body `{\"error\": {\"status\", \"code\", \"message\", \"field\"?, \"details\"?}}`."
            ),
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": server_url}],
        "tags": [
            {"name": "timeseries", "description": "Compute, store, show, export and delete time series."},
            {"name": "batch", "description": "Batch jobs: every feature of a vector file, on a dask cluster."},
            {"name": "scenes", "description": "The registered archive."},
            {"name": "meta", "description": "Health and this document."},
            {"name": "web", "description": "Helpers of the web page at /: its settings and reading a field file."},
            {"name": "auth", "description": "Access tokens (FIS_AUTH=required)."},
            {"name": "fis", "description": "Sentinel Hub FIS-compatible statistics (errors as OGC exception reports)."},
            {"name": "statistical", "description": "Sentinel Hub Statistical API-compatible statistics (evalscripts)."},
        ],
        "paths": secured(
            {
                **paths(server_url), **batch_paths(), **web_paths(), **ogc_fis_paths(), **statistical_paths(),
                **token_path(),
            }
        ),
        "security": [{"oauth2": []}] if auth_required else [{}, {"oauth2": []}],
        "components": {
            "securitySchemes": {"oauth2": {
                "type": "oauth2",
                "description": "With FIS_AUTH=required: client credentials from `fis clients create`, exchanged at "
                               "POST /oauth/token for a bearer token. With FIS_AUTH=off no token is needed.",
                "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
            }},
            "schemas": model_schemas(*MODELS),
            "parameters": {"SeriesId": {"name": "series_id", "in": "path", "required": True,
                                        "description": "Series id from POST or the list.",
                                        "schema": {"type": "string", "format": "uuid"}}},
            "responses": ERRORS,
        },
    }
