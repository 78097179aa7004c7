"""Batch jobs: submit (or recognise) a job, and run it on a dask cluster with one writer.

The client process plans chunks of spatially close features (:func:`plan_chunks`), keeps a bounded
number of chunks in flight on the cluster (memory follows the chunk size, not the job size), and is the
one writer: each finished chunk's series are stored as ordinary series with the feature rows in one
transaction (:func:`fis.store.batch.record_chunk`). A chunk lost with its worker is rescheduled by
dask; when dask gives up on it (``KilledWorker``) its features are run one at a time with nothing else
in flight, and a feature that still kills its worker alone is marked failed (``worker_killed``). Cancelling (from any
process) stops new chunks; stopping the runner (Ctrl-C, SIGTERM, the server) leaves the job RUNNING
without a runner: interrupted and resumable, and a resume skips the features already stored.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from sqlalchemy.orm import Session, sessionmaker

from fis.config import Settings
from fis.core.aggregation import covered_range
from fis.core.observation import SeriesResult
from fis.core.request import TimeseriesRequest, feature_request, parse_batch_options
from fis.core.scenes import SceneRecord
from fis.engine.chunk import plan_chunks
from fis.services.batch_input import BatchInput, read_batch_input
from fis.services.batch_worker import ChunkAnswer, ChunkItem, compute_chunk
from fis.services.cluster import open_client
from fis.services.hints import empty_series_hints
from fis.store.batch import (
    CANCELLED,
    FeatureOutcome,
    claim_job,
    create_job,
    find_same_job,
    finish_job,
    get_job,
    heartbeat,
    note_attempt,
    pending_features,
    record_chunk,
    release_job,
    this_runner,
)
from fis.store.db import transaction
from fis.store.orm import BatchJob
from fis.store.queries import find_scenes

#: most features in one chunk, and most polygon pixels (at the request's resolution) in one chunk
CHUNK_FEATURES = 32
CHUNK_PIXELS = 2_000_000
#: chunks in flight per worker (one computing, one queued)
IN_FLIGHT_PER_WORKER = 2
#: seconds between checks for a cancel or a stop while chunks run
POLL_S = 1.0

#: a progress callback: (done, failed, total features)
BatchProgress = Callable[[int, int, int], None]


#: times dask reschedules a chunk whose worker died before it gives up on it (``KilledWorker``): then the
#: chunk is split into single features, and a single feature is failed
ALLOWED_FAILURES = 1


def open_batch_client(workers: int | None = None, scheduler: str | None = None) -> Any:
    """A dask client for batch jobs (:func:`fis.services.cluster.open_client`): a LocalCluster of ``workers``
    processes, or the scheduler at ``scheduler`` / ``FIS_DASK_SCHEDULER``; a local scheduler gives up on a
    chunk after :data:`ALLOWED_FAILURES` lost workers."""
    import dask
    import distributed  # noqa: F401 - registers its config defaults before the override (else they'd be dropped)

    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        # ":0": the scheduler's HTTP server on a free port (None still takes 8787, which another cluster may hold)
        return open_client(workers, scheduler, dashboard_address=":0")


@dataclass(frozen=True)
class Submission:
    """The job a submission made, or the same earlier job it was recognised as (``recognised``)."""

    job: BatchJob
    recognised: bool


def fingerprint(content_sha256: str, *, layer: str | None, id_column: str | None,
                template: TimeseriesRequest) -> str:
    """sha256 of the input's content, layer, id column and the (normalised) options."""
    record = {"content": content_sha256, "layer": layer, "id_column": id_column, "options": template.parameters()}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def submit_batch(
    sessions: sessionmaker[Session], path: Path, options: dict[str, Any], *, layer: str | None = None,
    id_column: str | None = None, owner: str | None = None, source: str | None = None,
) -> Submission:
    """Read the input and create a CREATED job, or return the same submission's earlier job.

    ``options`` is a time-series body without geometry (validated first, so a bad option fails before
    the file is read); ``source`` names the input in messages and in the job (default: the file name).
    """
    template = parse_batch_options(options)
    data: BatchInput = read_batch_input(path, layer=layer, id_column=id_column, name=source)
    key = fingerprint(data.content_sha256, layer=layer, id_column=id_column, template=template)
    with transaction(sessions) as session:
        same = find_same_job(session, owner, key)
        if same is not None:
            return Submission(same, recognised=True)
        job = create_job(
            session, owner=owner, fingerprint=key, source=source or path.name, layer=layer, id_column=id_column,
            options=options, features=data.features, warnings=data.warnings,
        )
    return Submission(job, recognised=False)


@dataclass
class _Plan:
    """The pending features of a job with their requests' scenes, and the chunks to run."""

    geometries: dict[int, Polygon | MultiPolygon]
    names: dict[int, str]
    scenes: dict[int, list[SceneRecord]]
    chunks: deque[list[int]]
    #: features of chunks lost with their workers, to run one at a time with nothing else in flight
    suspects: deque[int] = field(default_factory=deque)


def run_batch(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    client: Any,
    *,
    owner: str | None = None,
    progress: BatchProgress | None = None,
    stop: threading.Event | None = None,
    max_features: int = CHUNK_FEATURES,
    max_pixels: int = CHUNK_PIXELS,
) -> BatchJob:
    """Run (or resume) a job on the dask ``client`` until every feature is stored or failed.

    ``client`` may also be a function returning one, called only when there is something to compute.

    Returns the job in its final state (DONE, PARTIAL, FAILED, or CANCELLED when cancelled meanwhile).
    When ``stop`` is set, or the runner is interrupted (KeyboardInterrupt, an error), the job is left
    RUNNING without a runner (resumable) and the exception, if any, propagates; a stopped job is returned.
    """
    runner = this_runner()
    with transaction(sessions) as session:
        job = claim_job(session, job_id, runner, owner=owner)
        options, total = dict(job.options), job.features
    template = parse_batch_options(options)
    finished = False
    try:
        plan = _plan(sessions, job_id, template, max_features=max_features, max_pixels=max_pixels)
        _report(sessions, job_id, progress, total)
        finished = _drive(sessions, settings, job_id, runner, template, plan, client, progress, stop, total)
    finally:
        with transaction(sessions) as session:
            if finished:
                final = finish_job(session, job_id, runner)
            else:
                release_job(session, job_id, runner)
                final = get_job(session, job_id)
            session.expunge(final)
    return final


def _plan(sessions: sessionmaker[Session], job_id: str, template: TimeseriesRequest, *, max_features: int,
          max_pixels: int) -> _Plan:
    """The pending features' scenes (one catalogue query for the job's extent), outside-archive failures, chunks."""
    with sessions() as session:
        rows = [(f.seq, f.feature_id, f.geometry) for f in pending_features(session, job_id)]
        geometries = {seq: g for seq, _, g in rows if isinstance(g, (Polygon, MultiPolygon))}
        names = {seq: fid for seq, fid, _ in rows}
        scenes: dict[int, list[SceneRecord]] = {seq: [] for seq in geometries}
        if geometries:
            bounds = shapely.total_bounds(list(geometries.values()))
            found = find_scenes(session, box(*bounds), covered_range(template.time_range, template.aggregation))
            tree = shapely.STRtree([s.footprint for s in found])
            for seq, geometry in geometries.items():
                hits = sorted(int(i) for i in tree.query(geometry, predicate="intersects"))
                scenes[seq] = [found[i] for i in hits]
        outside = [
            seq for seq, hit in scenes.items()
            if not hit and not find_scenes(session, geometries[seq], None, limit=1)
        ]
    if outside:
        with transaction(sessions) as session:
            record_chunk(session, job_id, [
                FeatureOutcome(seq, error_code="outside_archive", error_message=(
                    f"feature {names[seq]}: no scene of the archive covers it (at any time); check its position "
                    "and CRS, or ingest scenes that cover it"
                )) for seq in outside
            ], attempts=0)
    for seq in outside:
        del geometries[seq], scenes[seq]
    features = [(seq, geometries[seq], frozenset(s.id for s in scenes[seq])) for seq in geometries]
    chunks = plan_chunks(features, max_features=max_features, max_pixels=max_pixels, resolution=template.resolution)
    return _Plan(geometries, names, scenes, deque(list(c) for c in chunks))


def _drive(
    sessions: sessionmaker[Session], settings: Settings, job_id: str, runner: str, template: TimeseriesRequest,
    plan: _Plan, client: Any, progress: BatchProgress | None, stop: threading.Event | None, total: int,
) -> bool:
    """Submit chunks (a bounded number in flight), store each as it finishes; False when stopped.

    A chunk that dask gives up on (``KilledWorker``: its workers died) may have been the victim of
    another task on the same worker, so its features become *suspects*: each is then run alone (nothing
    else in flight), and only a feature that kills its worker when alone is failed (``worker_killed``).
    """
    from distributed import KilledWorker, wait

    if not (plan.chunks or plan.suspects):
        return True
    client = client if hasattr(client, "submit") else client()
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    limit = IN_FLIGHT_PER_WORKER * workers
    in_flight: dict[Any, list[int]] = {}
    alone: set[Any] = set()
    cancelled = False
    last_beat = 0.0
    try:
        while plan.chunks or plan.suspects or in_flight:
            if stop is not None and stop.is_set():
                for future in in_flight:
                    future.cancel()
                return False
            if time.monotonic() - last_beat > POLL_S:
                with transaction(sessions) as session:
                    cancelled = cancelled or heartbeat(session, job_id, runner) == CANCELLED
                last_beat = time.monotonic()
            if not cancelled and plan.suspects and not in_flight:
                chunk = [plan.suspects.popleft()]
                future = client.submit(compute_chunk, settings, [_item(template, plan, chunk[0])], pure=False)
                in_flight[future] = chunk
                alone.add(future)
            while plan.chunks and not plan.suspects and not cancelled and len(in_flight) < limit:
                chunk = plan.chunks.popleft()
                items = [_item(template, plan, seq) for seq in chunk]
                in_flight[client.submit(compute_chunk, settings, items, pure=False)] = chunk
            if not in_flight:
                break
            try:
                done, _ = wait(list(in_flight), timeout=POLL_S, return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]
            except TimeoutError:
                continue  # nothing finished yet: look for a cancel or a stop
            for future in done:
                chunk = in_flight.pop(future)
                was_alone = future in alone
                alone.discard(future)
                try:
                    answers: list[ChunkAnswer] = future.result()
                except KilledWorker:
                    _lost(sessions, job_id, plan, chunk, "worker_killed", (
                        "its worker process died every time it was computed, also alone (out of memory, or a "
                        "crash in a library); it was set aside so that the rest of the job could complete"
                    ), final=was_alone)
                    continue
                except Exception as exc:  # noqa: BLE001 - any failure of a task's code is this chunk's failure
                    _lost(sessions, job_id, plan, chunk, "compute_error", f"the computation failed: {exc!r}",
                          final=len(chunk) == 1)
                    continue
                finally:
                    future.release()
                _store(sessions, job_id, template, plan, answers)
                _report(sessions, job_id, progress, total)
    except BaseException:
        for future in in_flight:
            future.cancel()
        raise
    return cancelled or not (plan.chunks or plan.suspects)


def _item(template: TimeseriesRequest, plan: _Plan, seq: int) -> ChunkItem:
    request = feature_request(template, plan.geometries[seq], name=plan.names[seq])
    return seq, request, plan.scenes[seq]


def _lost(sessions: sessionmaker[Session], job_id: str, plan: _Plan, chunk: list[int], code: str,
          reason: str, *, final: bool) -> None:
    """A chunk that failed as a whole: its features become suspects (run alone), or with ``final`` fail."""
    with transaction(sessions) as session:
        note_attempt(session, job_id, chunk)
        if final:
            record_chunk(session, job_id, [
                FeatureOutcome(seq, error_code=code, error_message=f"feature {plan.names[seq]}: {reason}")
                for seq in chunk
            ], attempts=0)
            return
    plan.suspects.extend(chunk)


def _store(sessions: sessionmaker[Session], job_id: str, template: TimeseriesRequest, plan: _Plan,
           answers: list[ChunkAnswer]) -> None:
    """The one writer: a chunk's series and feature rows in one transaction."""
    with transaction(sessions) as session:
        outcomes: list[FeatureOutcome] = []
        for seq, answer in answers:
            if not isinstance(answer, SeriesResult):
                code, message = answer
                outcomes.append(FeatureOutcome(seq, error_code=code, error_message=f"feature {plan.names[seq]}: "
                                                                                    f"{message}"))
                continue
            request = feature_request(template, plan.geometries[seq], name=plan.names[seq])
            outcomes.append(FeatureOutcome(
                seq, result=answer, parameters={**request.parameters(), "grid": answer.grid, "model": answer.model},
                time_range=request.time_range, name=request.name,
                warnings=(*answer.warnings, *empty_series_hints(session, plan.geometries[seq], request.time_range,
                                                                 answer)),
            ))
        record_chunk(session, job_id, outcomes)
    for seq, _ in answers:  # nothing of a stored chunk stays in memory
        plan.scenes.pop(seq, None)


def _report(sessions: sessionmaker[Session], job_id: str, progress: BatchProgress | None, total: int) -> None:
    if progress is None:
        return
    with sessions() as session:
        job = get_job(session, job_id)
        progress(job.done, job.failed, total)
