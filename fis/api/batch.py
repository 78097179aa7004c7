"""``/api/v1/batch``: submit a batch job (a FeatureCollection or an uploaded vector file), follow it, fetch its
results, cancel it. Jobs run in the background of the server process (:mod:`fis.services.batch_background`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from fis.api.auth import current_owner
from fis.api.body import json_body
from fis.api.context import services
from fis.core.request.errors import translate
from fis.errors import Conflict, InvalidInput
from fis.protocols.native.batch_export import failed_features, output_format, write_results
from fis.protocols.native.batch_schemas import BatchBody
from fis.services.batch import submit_batch
from fis.services.batch_background import BatchBackground
from fis.services.batch_input import KINDS
from fis.store.batch import cancel_job, get_job, job_summary, list_jobs, resumable
from fis.store.db import transaction

blueprint = Blueprint("batch", __name__, url_prefix="/api/v1/batch")
#: media types of the results by format
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "gpkg": "application/geopackage+sqlite3"}
_BACKGROUND = "fis.batch"


def background() -> BatchBackground:
    """The app's background job runner (made on first use)."""
    runner: BatchBackground | None = current_app.extensions.get(_BACKGROUND)
    if runner is None:
        svc = services()
        runner = current_app.extensions.setdefault(_BACKGROUND, BatchBackground(svc.sessions, svc.settings))
    return runner


@blueprint.post("")
def create_batch() -> ResponseReturnValue:
    owner = current_owner()
    with tempfile.TemporaryDirectory(prefix="fis-batch-") as folder:
        if request.mimetype == "multipart/form-data":
            path, options, layer, id_column, source = _upload(Path(folder))
        else:
            path, options, layer, id_column, source = _feature_collection(Path(folder))
        submission = submit_batch(services().sessions, path, options, layer=layer, id_column=id_column,
                                  owner=owner, source=source)
    job_id = submission.job.id
    if resumable(submission.job):  # new, or the same submission's interrupted job: (re)start it
        background().submit(job_id, owner)
    body = _status(job_id, owner)
    body["recognised"] = submission.recognised
    response = jsonify(body)
    response.status_code = 202
    response.headers["Location"] = url_for("batch.show_batch", job_id=job_id)
    return response


def _feature_collection(folder: Path) -> tuple[Path, Any, None, str | None, str]:
    data = json_body(request)
    try:
        body = BatchBody.model_validate(data)
    except ValidationError as exc:
        raise translate(exc, BatchBody) from None
    path = folder / "features.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": body.features}), encoding="utf-8")
    return path, body.options, None, body.id_column, "request body"


def _upload(folder: Path) -> tuple[Path, Any, str | None, str | None, str]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise InvalidInput("multipart body: send the vector file in a part named 'file' and the options as JSON in a "
                           "part named 'options'", field="file")
    name = PurePosixPath(upload.filename).name
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in KINDS:
        raise InvalidInput(f"file: {name!r} is not a supported vector file; send one of "
                           f"{', '.join(sorted(KINDS))}", field="file")
    raw = request.form.get("options")
    if raw is None:
        raise InvalidInput("options: send the time-series options as JSON in a part named 'options' "
                           '(e.g. {"time_range": {"from": "2023-06-01", "to": "2023-06-30"}})', field="options")
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"options: not valid JSON ({exc.msg})", field="options") from None
    path = folder / f"upload{suffix}"
    upload.save(path)
    return path, options, request.form.get("layer") or None, request.form.get("id_column") or None, name


@blueprint.get("")
def list_batches() -> ResponseReturnValue:
    owner = current_owner()
    with services().sessions() as session:
        ids = [job.id for job in list_jobs(session, owner=owner)]
    return jsonify({"items": [_status(job_id, owner) for job_id in ids]})


@blueprint.get("/<job_id>")
def show_batch(job_id: str) -> ResponseReturnValue:
    return jsonify(_status(job_id, current_owner()))


@blueprint.delete("/<job_id>")
def cancel_batch(job_id: str) -> ResponseReturnValue:
    owner = current_owner()
    with transaction(services().sessions) as session:
        cancel_job(session, job_id, owner=owner)
    return jsonify(_status(job_id, owner))


@blueprint.get("/<job_id>/results")
def batch_results(job_id: str) -> ResponseReturnValue:
    fmt = request.args.get("format", "csv")
    extension = {"csv": ".csv", "parquet": ".parquet", "gpkg": ".gpkg"}.get(fmt)
    if extension is None:
        raise InvalidInput(f"format={fmt!r} is not supported; use format=csv, parquet or gpkg", field="format")
    output_format(f"results{extension}")
    owner = current_owner()
    with services().sessions() as session:
        job = get_job(session, job_id, owner=owner)
        done, state = job.done, job.state
    if done == 0:
        raise Conflict(f"batch job {job_id} has no stored results yet (state {state}); try again later",
                       field="id", details={"state": state})
    handle, name = tempfile.mkstemp(suffix=extension, prefix="fis-batch-")
    os.close(handle)
    path = Path(name)
    try:
        write_results(services().sessions, job_id, path)
        stream = path.open("rb")
    finally:
        path.unlink(missing_ok=True)  # the open stream keeps the data until it is sent
    response: Response = send_file(stream, mimetype=MEDIA_TYPES[fmt], as_attachment=True,
                                   download_name=f"fis-batch-{job_id}{extension}")
    response.headers["X-FIS-Batch-State"] = state
    return response


def _status(job_id: str, owner: str | None) -> dict[str, Any]:
    with services().sessions() as session:
        body = job_summary(get_job(session, job_id, owner=owner))
    body["failures"] = failed_features(services().sessions, job_id)[:100]
    body["results"] = url_for("batch.batch_results", job_id=job_id, _external=True)
    return body
