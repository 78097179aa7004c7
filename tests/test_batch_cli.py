"""``fis batch`` end to end: run, outputs read back with geopandas, PARTIAL exit status and errors file,
status / list / cancel, and a run stopped with SIGTERM then resumed (separate processes, real LocalCluster)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from click.testing import CliRunner, Result
from shapely.geometry import Point, box

from batch_fixtures import dask_client, fields_frame, write_fields
from fis.cli import main
from fis_archive import CSV_HEADER, archive

__all__ = ["archive", "dask_client"]


@pytest.fixture
def env(tmp_path: Path, archive: Path) -> dict[str, str]:
    environment = {"FIS_DATABASE_URL": f"sqlite:///{tmp_path / 'fis.sqlite'}", "FIS_DATA_DIR": str(tmp_path / "data")}
    assert run(environment, "db", "upgrade").exit_code == 0
    assert run(environment, "ingest", str(archive)).exit_code == 0
    return environment


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def batch_run(env: dict[str, str], client: Any, *args: str) -> Result:
    return run(env, "batch", "run", *args, "--from", "2023-06-01", "--to", "2023-06-30",
               "--scheduler", client.scheduler.address)


def _job_id(result: Result) -> str:
    first = result.stderr.splitlines()[0]
    assert first.startswith("batch job ")
    return first.split()[2].rstrip(":")


def test_run_writes_csv_with_the_id_column_then_the_series_columns(
    env: dict[str, str], dask_client: Any, tmp_path: Path
) -> None:
    path = write_fields(tmp_path / "fields.gpkg", layer="fields")
    out = tmp_path / "out.csv"
    result = batch_run(env, dask_client, str(path), "--id-column", "field", "--chunk-size", "4", "-o", str(out))
    assert result.exit_code == 0, result.output
    job_id = _job_id(result)
    assert f"fis batch resume {job_id}" in result.stderr.splitlines()[1]
    with out.open(newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["field", *CSV_HEADER.split(",")]
    assert len(rows) == 1 + 9 * 3
    assert [r[0] for r in rows[1::3]] == [f"f{i}" for i in range(9)]
    assert [r[1] for r in rows[1:4]] == ["2023-06-01", "2023-06-11", "2023-06-21"]
    assert not (tmp_path / "out.csv.errors.csv").exists()

    listed = json.loads(run(env, "batch", "list", "--json").stdout)
    assert [(j["id"], j["state"], j["features"], j["done"], j["failed"]) for j in listed] == [(job_id, "DONE", 9, 9, 0)]
    status = json.loads(run(env, "batch", "status", job_id, "--json").stdout)
    assert status["state"] == "DONE" and not status["resumable"]

    # the same file and options again: recognised, nothing computed, the output written again
    again = tmp_path / "again.csv"
    second = batch_run(env, dask_client, str(path), "--id-column", "field", "-o", str(again))
    assert second.exit_code == 0 and _job_id(second) == job_id
    assert "submitted before (state DONE)" in second.stderr
    assert again.read_text() == out.read_text()


@pytest.mark.parametrize("suffix", [".parquet", ".gpkg"])
def test_geo_outputs_read_back_with_geopandas(
    env: dict[str, str], dask_client: Any, tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fis.protocols.native.batch_export.ROWS_PER_PAGE", 10)  # written in three pages
    path = write_fields(tmp_path / "fields.fgb")
    out = tmp_path / f"out{suffix}"
    result = batch_run(env, dask_client, str(path), "--id-column", "field", "--outputs", "ndvi,cloud_fraction", "-o", str(out))
    assert result.exit_code == 0, result.output
    frame = gpd.read_parquet(out) if suffix == ".parquet" else gpd.read_file(out, layer="timeseries")
    assert frame.crs.to_epsg() == 4326
    assert len(frame) == 27 and frame["cloudy"].dtype == bool
    assert list(frame.columns[:3]) == ["field", "date", "datetime"]
    assert set(frame["field"]) == {f"f{i}" for i in range(9)}
    first = frame[frame["date"] == "2023-06-01"].iloc[0]
    assert first["ndvi_mean"] == pytest.approx((0.3 - 0.04) / (0.3 + 0.04), abs=1e-6)
    assert first["total_pixels"] == 36
    assert first["cloud_fraction"] == 0.0
    assert frame["B04"].isna().all()  # not among the outputs
    expected = fields_frame().to_crs(4326).set_index("field").geometry
    for _, row in frame.iterrows():
        assert row.geometry.equals_exact(expected[row["field"]], 1e-9)


def test_partial_job_exits_3_and_lists_failed_features(env: dict[str, str], dask_client: Any, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["ok", "pt", "far"]},
        geometry=[box(500100, 5000100, 500160, 5000160), Point(500200, 5000200), box(900000, 5000100, 900060, 5000160)],
        crs="EPSG:32633",
    )
    path = write_fields(tmp_path / "mixed.geojson", frame)
    out = tmp_path / "out.csv"
    result = batch_run(env, dask_client, str(path), "--id-column", "name", "-o", str(out))
    assert result.exit_code == 3, result.output
    assert "2 features failed" in result.stderr
    assert "pt: not_polygon" in result.stderr and "far: outside_archive" in result.stderr
    with (tmp_path / "out.csv.errors.csv").open(newline="") as stream:
        errors = list(csv.DictReader(stream))
    assert [(e["id"], e["error_code"]) for e in errors] == [("pt", "not_polygon"), ("far", "outside_archive")]
    assert len(out.read_text().splitlines()) == 1 + 3


def test_all_failed_exits_1_and_bad_files_are_named(env: dict[str, str], dask_client: Any, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["pt"]}, geometry=[Point(500200, 5000200)], crs="EPSG:32633")
    path = write_fields(tmp_path / "points.geojson", frame)
    result = batch_run(env, dask_client, str(path), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 1
    broken = tmp_path / "broken.fgb"
    broken.write_bytes(b"nonsense")
    bad = batch_run(env, dask_client, str(broken), "-o", str(tmp_path / "out.csv"))
    assert bad.exit_code == 1 and "broken.fgb cannot be read as a FlatGeobuf" in bad.output
    wrong = batch_run(env, dask_client, str(path), "-o", str(tmp_path / "out.txt"))
    assert wrong.exit_code == 1 and "must end in .csv" in wrong.output


def test_cancel_and_status(env: dict[str, str], dask_client: Any, tmp_path: Path) -> None:
    from fis.config import Settings
    from fis.services.batch import submit_batch
    from fis.services.runtime import Services

    svc = Services.create(Settings.from_env(env))
    try:
        job = submit_batch(svc.sessions, write_fields(tmp_path / "f.gpkg"), {"time_range": {"from": "2023-06-01", "to": "2023-06-30"}}).job
    finally:
        svc.close()
    assert "CREATED  0/9 done" in run(env, "batch", "status", job.id).stdout
    result = run(env, "batch", "cancel", job.id)
    assert result.exit_code == 0 and "CANCELLED (0 of 9 features stored)" in result.stdout
    resumed = run(env, "batch", "resume", job.id, "--scheduler", dask_client.scheduler.address)
    assert resumed.exit_code == 1 and "is CANCELLED" in resumed.stderr
    assert run(env, "batch", "cancel", "nope").exit_code == 1


def test_sigterm_leaves_the_job_resumable_and_resume_completes_it(
    env: dict[str, str], dask_client: Any, tmp_path: Path
) -> None:
    """`fis batch run` in its own process, stopped with SIGTERM mid-job; `fis batch resume` finishes it."""
    from fis.config import Settings
    from fis.services.runtime import Services
    from fis.store.batch import get_job, job_features, job_summary

    boxes = [box(500010 + 45 * i, 5000010 + 45 * j, 500040 + 45 * i, 5000040 + 45 * j) for j in range(12) for i in range(12)]
    frame = gpd.GeoDataFrame({"n": range(len(boxes))}, geometry=boxes, crs="EPSG:32633")
    path = write_fields(tmp_path / "many.gpkg", frame)
    out = tmp_path / "out.csv"
    process_env = {**os.environ, **env}
    command = [sys.executable, "-m", "fis", "batch", "run", str(path), "--from", "2023-06-01", "--to", "2023-06-30",
               "--scheduler", dask_client.scheduler.address, "--chunk-size", "1", "-o", str(out)]
    process = subprocess.Popen(command, env=process_env, stderr=subprocess.PIPE, text=True)
    svc = Services.create(Settings.from_env(env))
    try:
        job_id = process.stderr.readline().split()[2].rstrip(":") if process.stderr else ""
        deadline = time.monotonic() + 120
        done = 0
        while time.monotonic() < deadline and done < 3:
            time.sleep(0.2)
            with svc.sessions() as session:
                done = get_job(session, job_id).done
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert f"fis batch resume {job_id}" in stderr
        with svc.sessions() as session:
            summary = job_summary(get_job(session, job_id))
        assert summary["state"] == "RUNNING" and summary["interrupted"] and summary["resumable"]
        assert 3 <= summary["done"] < 144
        stopped_at = summary["done"]

        result = run(env, "batch", "resume", job_id, "--scheduler", dask_client.scheduler.address,
                     "--chunk-size", "16", "-o", str(out))
        assert result.exit_code == 0, result.output
        with svc.sessions() as session:
            job = get_job(session, job_id)
            rows = job_features(session, job_id)
            assert (job.state, job.done, job.failed) == ("DONE", 144, 0)
            assert len({r.series_id for r in rows}) == 144
            from sqlalchemy import func, select

            from fis.store.orm import TimeSeries

            assert session.scalar(select(func.count()).select_from(TimeSeries)) == 144  # each stored exactly once
        assert stopped_at < 144
        assert len(out.read_text().splitlines()) == 1 + 144 * 3
    finally:
        if process.poll() is None:
            process.kill()
        svc.close()


def test_batch_run_has_an_option_for_every_body_key_but_the_feature_ones() -> None:
    from fis.cli.batch import run as batch_run_command
    from fis.cli.request_options import COMPOSITE_OPTIONS, option_name
    from fis.core.request import ACCEPTED_KEYS, FEATURE_KEYS

    names = {opt for param in batch_run_command.params for opt in param.opts}
    for key in ACCEPTED_KEYS:
        wanted = set(COMPOSITE_OPTIONS.get(key, (option_name(key),)))
        if key in FEATURE_KEYS:
            assert not wanted & names, key
        else:
            assert wanted <= names, key
    assert {"--layer", "--id-column", "--workers", "--scheduler", "-o"} <= names
