"""Batch jobs in the database: create or recognise a job, claim and release it, record a chunk, finish.

A job's features are rows of ``batch_features`` (PENDING, DONE or FAILED). The one writer (the
process running the job) records each computed chunk in one transaction: one stored series per
feature (:func:`fis.store.queries.save_series`, owner = the job's owner) and the feature rows,
guarded so that a feature already DONE is never stored twice.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from fis.core.observation import SeriesResult
from fis.core.timerange import TimeRange
from fis.errors import Conflict, NotFound
from fis.store.orm import BatchFeature, BatchJob
from fis.store.queries import save_series

#: job states
CREATED, RUNNING, DONE, PARTIAL, FAILED, CANCELLED = "CREATED", "RUNNING", "DONE", "PARTIAL", "FAILED", "CANCELLED"
STATES: tuple[str, ...] = (CREATED, RUNNING, DONE, PARTIAL, FAILED, CANCELLED)
#: feature states
PENDING = "PENDING"
#: a RUNNING job whose runner has not written for this long is taken as interrupted (its runner is gone)
STALE_AFTER = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class NewFeature:
    """One input feature as read from the file: PENDING with a geometry, or FAILED with a reason."""

    seq: int
    feature_id: str
    attributes: dict[str, Any]
    geometry_4326: BaseGeometry | None
    error_code: str | None = None
    error_message: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        return FAILED if self.error_code else PENDING


@dataclass(frozen=True)
class FeatureOutcome:
    """What the computation made of one feature: its series (with request record), or an error."""

    seq: int
    result: SeriesResult | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    time_range: TimeRange | None = None
    warnings: tuple[str, ...] = ()
    name: str | None = None
    error_code: str | None = None
    error_message: str | None = None


def this_runner() -> str:
    """``host:pid`` of this process (stored in ``batch_jobs.runner`` while it runs a job)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def runner_alive(job: BatchJob, *, now: dt.datetime | None = None) -> bool:
    """Whether a process is (still) running the job: its runner is set, alive on this host, and not stale."""
    if job.runner is None:
        return False
    now = now or dt.datetime.now(dt.UTC)
    beat = job.heartbeat_at
    if beat is not None and now - _utc(beat) > STALE_AFTER:
        return False
    host, _, pid = job.runner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - another user's live process
            return True
    return True


def interrupted(job: BatchJob) -> bool:
    """A RUNNING job that no process runs any more: resumable with ``fis batch resume``."""
    return job.state == RUNNING and not runner_alive(job)


def resumable(job: BatchJob) -> bool:
    return job.state == CREATED or interrupted(job)


def create_job(
    session: Session,
    *,
    owner: str | None,
    fingerprint: str,
    source: str,
    layer: str | None,
    id_column: str | None,
    options: dict[str, Any],
    features: Sequence[NewFeature],
    warnings: Sequence[str] = (),
) -> BatchJob:
    """A new CREATED job with its feature rows (the caller's transaction commits)."""
    failed = sum(1 for f in features if f.status == FAILED)
    job = BatchJob(
        owner=owner, state=CREATED, fingerprint=fingerprint, source=source, layer=layer, id_column=id_column,
        options=options, features=len(features), done=0, failed=failed, warnings=list(warnings),
    )
    session.add(job)
    session.flush()
    session.add_all(
        BatchFeature(
            job_id=job.id, seq=f.seq, feature_id=f.feature_id, attributes=f.attributes, geometry=f.geometry_4326,
            status=f.status, attempts=0, error_code=f.error_code, error_message=f.error_message,
            warnings=list(f.warnings),
        )
        for f in features
    )
    session.flush()
    return job


def find_same_job(session: Session, owner: str | None, fingerprint: str) -> BatchJob | None:
    """The newest job of ``owner`` with this fingerprint that is not CANCELLED or FAILED (None: none)."""
    query = select(BatchJob).where(
        BatchJob.fingerprint == fingerprint, BatchJob.state.not_in((CANCELLED, FAILED))
    )
    query = query.where(BatchJob.owner.is_(None) if owner is None else BatchJob.owner == owner)
    return session.scalars(query.order_by(BatchJob.created_at.desc()).limit(1)).first()


def get_job(session: Session, job_id: str, *, owner: str | None = None) -> BatchJob:
    """A job (of ``owner``, when given: another client's job is not found)."""
    query = select(BatchJob).where(BatchJob.id == job_id)
    if owner is not None:
        query = query.where(BatchJob.owner == owner)
    job = session.scalars(query).first()
    if job is None:
        raise NotFound(f"batch job {job_id!r} not found; list jobs with `fis batch list` or GET /api/v1/batch",
                       field="id")
    return job


def list_jobs(session: Session, *, owner: str | None = None, limit: int = 100, offset: int = 0) -> list[BatchJob]:
    """Jobs (of ``owner``, when given), newest first."""
    query = select(BatchJob)
    if owner is not None:
        query = query.where(BatchJob.owner == owner)
    return list(session.scalars(query.order_by(BatchJob.created_at.desc(), BatchJob.id).limit(limit).offset(offset)))


def pending_features(session: Session, job_id: str) -> list[BatchFeature]:
    """The job's features still to compute, in input order."""
    return list(session.scalars(
        select(BatchFeature).where(BatchFeature.job_id == job_id, BatchFeature.status == PENDING)
        .order_by(BatchFeature.seq)
    ))


def job_features(session: Session, job_id: str) -> list[BatchFeature]:
    """Every feature of the job, in input order."""
    return list(session.scalars(select(BatchFeature).where(BatchFeature.job_id == job_id).order_by(BatchFeature.seq)))


def claim_job(session: Session, job_id: str, runner: str, *, owner: str | None = None) -> BatchJob:
    """Mark the job RUNNING by ``runner`` (the caller's transaction commits).

    Refused (:class:`Conflict`) when it is finished or cancelled, or when another live process runs it.
    """
    job = get_job(session, job_id, owner=owner)
    if job.state in (DONE, PARTIAL, FAILED, CANCELLED):
        raise Conflict(f"batch job {job_id} is {job.state}; nothing to resume", field="id")
    if job.state == RUNNING and runner_alive(job) and job.runner != runner:
        raise Conflict(
            f"batch job {job_id} is running in process {job.runner}; wait for it or cancel it with "
            f"`fis batch cancel {job_id}`",
            field="id",
        )
    job.state, job.runner, job.heartbeat_at, job.error = RUNNING, runner, dt.datetime.now(dt.UTC), None
    session.flush()
    return job


def release_job(session: Session, job_id: str, runner: str) -> None:
    """The runner stops without finishing: the job stays RUNNING without a runner (interrupted, resumable)."""
    session.execute(
        update(BatchJob).where(BatchJob.id == job_id, BatchJob.runner == runner)
        .values(runner=None, updated_at=dt.datetime.now(dt.UTC))
    )


def heartbeat(session: Session, job_id: str, runner: str) -> str:
    """Note that ``runner`` is alive; returns the job's state (CANCELLED: stop submitting)."""
    session.execute(
        update(BatchJob).where(BatchJob.id == job_id, BatchJob.runner == runner)
        .values(heartbeat_at=dt.datetime.now(dt.UTC))
    )
    state: str = session.scalar(select(BatchJob.state).where(BatchJob.id == job_id)) or CANCELLED
    return state


def record_chunk(session: Session, job_id: str, outcomes: Sequence[FeatureOutcome], *, attempts: int = 1) -> int:
    """Store the chunk's series and update its feature rows and the job's counts (the caller's transaction).

    A feature that is no longer PENDING (stored by an earlier attempt) is skipped: every feature is
    stored exactly once. Returns the number of features recorded.
    """
    job = session.get(BatchJob, job_id, with_for_update=session.get_bind().dialect.name == "postgresql")
    if job is None:
        raise NotFound(f"batch job {job_id!r} not found", field="id")
    rows = {
        row.seq: row for row in session.scalars(
            select(BatchFeature).where(
                BatchFeature.job_id == job_id, BatchFeature.seq.in_([o.seq for o in outcomes]),
                BatchFeature.status == PENDING,
            )
        )
    }
    recorded = 0
    for outcome in outcomes:
        row = rows.get(outcome.seq)
        if row is None:
            continue
        row.attempts = (row.attempts or 0) + attempts
        if outcome.result is None:
            row.status, row.error_code, row.error_message = FAILED, outcome.error_code, outcome.error_message
            job.failed += 1
        else:
            assert row.geometry is not None and outcome.time_range is not None
            series = save_series(
                session, geometry_4326=row.geometry, time_range=outcome.time_range, parameters=outcome.parameters,
                result=outcome.result, warnings=[*row.warnings, *outcome.warnings], name=outcome.name,
                properties=row.attributes, owner=job.owner,
            )
            row.status, row.series_id = DONE, series.id
            job.done += 1
        recorded += 1
    job.heartbeat_at = dt.datetime.now(dt.UTC)
    session.flush()
    return recorded


def note_attempt(session: Session, job_id: str, seqs: Sequence[int]) -> None:
    """Count one more attempt of these features (a chunk that was lost with its worker)."""
    session.execute(
        update(BatchFeature).where(BatchFeature.job_id == job_id, BatchFeature.seq.in_(list(seqs)))
        .values(attempts=BatchFeature.attempts + 1)
    )


def finish_job(session: Session, job_id: str, runner: str) -> BatchJob:
    """Every feature is DONE or FAILED: the job is DONE, PARTIAL (some failed) or FAILED (all failed)."""
    job = get_job(session, job_id)
    counts: dict[str, int] = {
        status: int(n) for status, n in session.execute(
            select(BatchFeature.status, func.count()).where(BatchFeature.job_id == job_id)
            .group_by(BatchFeature.status)
        )
    }
    job.done, job.failed = int(counts.get(DONE, 0)), int(counts.get(FAILED, 0))
    if job.state != CANCELLED and not counts.get(PENDING):
        job.state = DONE if job.failed == 0 else FAILED if job.done == 0 else PARTIAL
        job.finished_at = dt.datetime.now(dt.UTC)
    if job.runner == runner:
        job.runner = None
    session.flush()
    return job


def cancel_job(session: Session, job_id: str, *, owner: str | None = None) -> BatchJob:
    """Cancel a job: its runner submits no new chunk; features already stored stay (caller commits)."""
    job = get_job(session, job_id, owner=owner)
    if job.state in (DONE, PARTIAL, FAILED):
        raise Conflict(f"batch job {job_id} is already {job.state}; nothing to cancel", field="id")
    if job.state != CANCELLED:
        job.state, job.finished_at = CANCELLED, dt.datetime.now(dt.UTC)
    session.flush()
    return job


def job_summary(job: BatchJob) -> dict[str, Any]:
    """The job as JSON: id, state, counts, whether it is interrupted / resumable, its input and options."""
    return {
        "id": job.id,
        "state": job.state,
        "interrupted": interrupted(job),
        "resumable": resumable(job),
        "features": job.features,
        "done": job.done,
        "failed": job.failed,
        "pending": max(0, job.features - job.done - job.failed),
        "source": job.source,
        "layer": job.layer,
        "id_column": job.id_column,
        "options": job.options,
        "error": job.error,
        "warnings": list(job.warnings or []),
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "finished_at": _iso(job.finished_at),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat().replace("+00:00", "Z")


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
