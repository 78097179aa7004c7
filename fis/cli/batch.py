"""``fis batch``: statistics for every feature of a vector file, on a dask cluster; resumable jobs."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from fis.cli.common import close_on_exit, load_settings
from fis.cli.request_options import job_options, options_body

F = TypeVar("F", bound=Callable[..., Any])

#: exit status of a PARTIAL job (output written, failed features listed); DONE is 0, FAILED 1
EXIT_PARTIAL = 3
#: exit status when the run was interrupted (the job stays resumable)
EXIT_INTERRUPTED = 130

_cluster_options = [
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help="Worker processes of the local dask cluster [default: FIS_DASK_WORKERS, 2]."),
    click.option("--scheduler", default=None, metavar="ADDR",
                 help="Address of a running dask scheduler (tcp://host:8786) instead of a local cluster "
                      "[default: FIS_DASK_SCHEDULER]."),
    click.option("--chunk-size", type=click.IntRange(min=1), default=None,
                 help="Most features computed together (their reads are shared) [default: 32]."),
]


def cluster_options(function: F) -> F:
    for decorator in reversed(_cluster_options):
        function = decorator(function)
    return function


def _output_option(required: bool) -> Callable[[F], F]:
    return click.option(
        "-o", "--output", type=click.Path(dir_okay=False), required=required, default=None,
        help="Results file: .csv (one row per feature and date), .parquet (GeoParquet) or .gpkg (GeoPackage); "
             "failed features go to <OUTPUT>.errors.csv.",
    )


@click.group()
def batch() -> None:
    """Batch jobs: every feature of a vector file (GeoPackage, zipped Shapefile, GeoJSON, FlatGeobuf,
    GeoParquet), computed on a dask cluster, stored as series, resumable."""


@batch.command("run")
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False))
@click.option("--from", "date_from", required=True, help="First date (ISO 8601, inclusive).")
@click.option("--to", "date_to", required=True, help="Last date (ISO 8601, inclusive; a date means the whole day).")
@click.option("--layer", default=None, help="Layer of a GeoPackage with several layers.")
@click.option("--id-column", default=None, help="Column holding each feature's id [default: the file's FID].")
@cluster_options
@job_options
@_output_option(required=True)
def run(input_path: str, date_from: str, date_to: str, layer: str | None, id_column: str | None,
        workers: int | None, scheduler: str | None, chunk_size: int | None, output: str, **options: Any) -> None:
    """Compute the series of every feature of INPUT and write them to OUTPUT.

    The job's id comes first on stderr; an interrupted job (Ctrl-C, SIGTERM) is resumed with
    `fis batch resume ID`. Submitting the same file with the same options again finds the same job.
    Exit status: 0 DONE, 3 PARTIAL (failed features on stderr and in <OUTPUT>.errors.csv), 1 FAILED.
    """
    from fis.protocols.native.batch_export import output_format
    from fis.services.batch import submit_batch

    output_format(output, field="--output")
    _check_output(output)
    body = options_body(date_from, date_to, options)
    svc = _services()
    submission = submit_batch(svc.sessions, Path(input_path), body, layer=layer, id_column=id_column,
                              source=input_path)
    job = submission.job
    if submission.recognised:
        click.echo(f"batch job {job.id}: the same input and options were submitted before (state {job.state})",
                   err=True)
    else:
        click.echo(f"batch job {job.id}: {job.features} features from {input_path}", err=True)
    click.echo(f"  (if interrupted, resume it with: fis batch resume {job.id} -o {output})", err=True)
    _run_and_write(svc, job.id, job.state, output, workers, scheduler, chunk_size)


@batch.command("resume")
@click.argument("job_id", metavar="ID")
@cluster_options
@_output_option(required=False)
def resume(job_id: str, workers: int | None, scheduler: str | None, chunk_size: int | None,
           output: str | None) -> None:
    """Resume an interrupted job (features already stored are skipped); with -o write its results."""
    from fis.protocols.native.batch_export import output_format
    from fis.store.batch import get_job

    if output is not None:
        output_format(output, field="--output")
        _check_output(output)
    svc = _services()
    with svc.sessions() as session:
        state = get_job(session, job_id).state
    click.echo(f"batch job {job_id}: resuming ({state})", err=True)
    _run_and_write(svc, job_id, state, output, workers, scheduler, chunk_size)


@batch.command("status")
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
def status(job_id: str, as_json: bool) -> None:
    """State and progress of a job."""
    from fis.store.batch import get_job, job_summary

    svc = _services()
    with svc.sessions() as session:
        summary = job_summary(get_job(session, job_id))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(_line(summary))
    if summary["error"]:
        click.echo(f"error: {summary['error']}")
    if summary["interrupted"]:
        click.echo(f"interrupted: resume it with `fis batch resume {job_id}`")


@batch.command("cancel")
@click.argument("job_id", metavar="ID")
def cancel(job_id: str) -> None:
    """Cancel a job: no new chunk starts; series already stored stay."""
    from fis.store.batch import cancel_job
    from fis.store.db import transaction

    svc = _services()
    with transaction(svc.sessions) as session:
        job = cancel_job(session, job_id)
        done, features = job.done, job.features
    click.echo(f"batch job {job_id}: CANCELLED ({done} of {features} features stored)")


@batch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of jobs.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
def list_jobs_command(as_json: bool, limit: int) -> None:
    """Batch jobs, newest first."""
    from fis.store.batch import job_summary, list_jobs

    svc = _services()
    with svc.sessions() as session:
        summaries = [job_summary(job) for job in list_jobs(session, limit=limit)]
    if as_json:
        click.echo(json.dumps(summaries, indent=2))
        return
    for summary in summaries:
        click.echo(_line(summary))


def _line(summary: dict[str, Any]) -> str:
    state = summary["state"] + (" (interrupted, resumable)" if summary["interrupted"] else "")
    return (f"{summary['id']}  {state}  {summary['done']}/{summary['features']} done, {summary['failed']} failed  "
            f"{summary['source']}  {summary['created_at']}")


def _services() -> Any:
    from fis.services.runtime import Services
    from fis.store.db import ensure_migrated

    svc = Services.create(load_settings())
    close_on_exit(svc.close)
    ensure_migrated(svc.db)
    return svc


def _check_output(output: str) -> None:
    from fis.cli.common import check_output

    check_output(output)


def _run_and_write(svc: Any, job_id: str, state: str, output: str | None, workers: int | None,
                   scheduler: str | None, chunk_size: int | None) -> None:
    from fis.services.batch import CHUNK_FEATURES, open_batch_client, run_batch
    from fis.store.batch import CANCELLED, DONE, FAILED, PARTIAL, get_job, resumable

    with svc.sessions() as session:
        job = get_job(session, job_id)
        runnable = resumable(job)
    if runnable:
        started = time.monotonic()
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            client = open_batch_client(workers, scheduler)
            try:
                with _ProgressBar(job.features) as bar:
                    job = run_batch(svc.sessions, svc.settings, job_id, client, progress=bar.update,
                                    max_features=chunk_size or CHUNK_FEATURES)
            finally:
                _close_client(client)
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted: batch job {job_id} is resumable with `fis batch resume {job_id}"
                       f"{f' -o {output}' if output else ''}`", err=True)
            sys.exit(EXIT_INTERRUPTED)
        finally:
            signal.signal(signal.SIGTERM, previous)
        elapsed = time.monotonic() - started
        click.echo(f"batch job {job_id}: {job.state}, {job.done} done, {job.failed} failed of {job.features} "
                   f"in {elapsed:.1f} s", err=True)
    elif job.state == CANCELLED:
        click.echo(f"batch job {job_id} is CANCELLED; nothing to run", err=True)
    elif job.state not in (DONE, PARTIAL, FAILED):
        raise click.ClickException(
            f"batch job {job_id} is {job.state} in process {job.runner}; follow it with `fis batch status {job_id}` "
            f"and write its results with `fis batch resume {job_id} -o OUTPUT` when it is finished"
        )
    _write_outputs(svc, job_id, output)
    with svc.sessions() as session:
        final = get_job(session, job_id).state
    if final == PARTIAL:
        sys.exit(EXIT_PARTIAL)
    if final != DONE:
        sys.exit(1)


def _write_outputs(svc: Any, job_id: str, output: str | None) -> None:
    from fis.protocols.native.batch_export import failed_features, write_errors, write_results

    if output is None:
        return
    rows = write_results(svc.sessions, job_id, Path(output))
    click.echo(f"wrote {output} ({rows} rows)", err=True)
    failed = failed_features(svc.sessions, job_id)
    errors = Path(f"{output}.errors.csv")
    if failed:
        write_errors(svc.sessions, job_id, errors)
        click.echo(f"{len(failed)} features failed (listed in {errors}):", err=True)
        for row in failed[:50]:
            click.echo(f"  {row['id']}: {row['error_code']}: {row['error_message']}", err=True)
        if len(failed) > 50:
            click.echo(f"  ... and {len(failed) - 50} more", err=True)
    elif errors.exists():
        errors.unlink()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _close_client(client: Any) -> None:
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


class _ProgressBar:
    """A tqdm bar on stderr (only on a terminal): features done (and failed), rate, ETA."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="feature", file=sys.stderr, disable=None, dynamic_ncols=True)

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()

    def update(self, done: int, failed: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done + failed
        self.bar.set_postfix(done=done, failed=failed, refresh=False)
        self.bar.refresh()
