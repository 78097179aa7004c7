#!/usr/bin/env python
"""Benchmark batch statistics: fields per second of sequential single requests against batch jobs on
dask with 1 and 2 workers, over the demo-style two-tile archive, one year. One command, no network::

    python benchmarks/batch.py                 # 200 fields of 1-100 ha, 8 km archive, workers 1 and 2
    python benchmarks/batch.py --fields 50     # fewer fields (a quicker run)
    python benchmarks/batch.py --workers 1,2,4

The fields (irregular, non-overlapping polygons of 1-100 ha, log-uniform areas; EPSG:32633) are written
to a GeoPackage and submitted once as a batch job (``fis.services.batch``) to an SQLite database holding
the ingested archive; each path runs in its own process on its own copy of that database:

- ``sequential``: every field as a single request through the engine (``find_scenes`` + ``Engine.compute``
  per field, one warm engine), as a client looping over ``POST /api/v1/timeseries`` gets them computed;
- ``batch_wN``: the job run by the batch runner on a dask ``LocalCluster`` of N worker processes
  (``fis.services.cluster.open_client``): chunks of spatially close fields share their reads
  (``Engine.compute_many``), one writer stores every series.

Every value of every stored series is compared with the sequential one. Reported: seconds, fields per
second, speed-up, peak RSS of each process (the client and every worker). Results: a table on stdout and
``benchmarks/results/batch-<timestamp>.json``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CRS, DATA_DIR, ORIGIN, RESULTS_DIR, ensure_archive, peak_rss_mb

DEFAULT_SIZE_PX = 800  # 8 km x 8 km: room for 200 fields of 1-100 ha
OPTIONS = {"time_range": {"from": "2023-01-01", "to": "2023-12-31"}}
SEED = 7


# --------------------------------------------------------------------------- the fields


def make_fields(count: int, size_px: int, seed: int = SEED) -> list[Any]:
    """``count`` irregular convex polygons of 1-100 ha (log-uniform), not overlapping, inside the archive."""
    import numpy as np
    from shapely import affinity
    from shapely.geometry import Polygon
    from shapely.strtree import STRtree

    rng = np.random.default_rng(seed)
    x0, y0 = ORIGIN
    extent = size_px * 10.0
    placed: list[Any] = []
    for _ in range(count):
        hectares = math.exp(rng.uniform(0.0, math.log(100.0)))
        for _attempt in range(400):
            side = math.sqrt(hectares * 1e4)
            aspect = rng.uniform(0.6, 1.6)
            w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
            cx = rng.uniform(x0 + w / 2 + 20, x0 + extent - w / 2 - 20)
            cy = rng.uniform(y0 - extent + h / 2 + 20, y0 - h / 2 - 20)
            # a quadrilateral or pentagon with jittered corners, rotated a little
            corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
            if rng.random() < 0.5:
                corners.insert(2, (w / 2 + rng.uniform(0, 0.15) * w, 0.0))
            jitter = 0.08 * min(w, h)
            angle = rng.uniform(-0.3, 0.3)
            ring = []
            for px, py in corners:
                px, py = px + rng.uniform(-jitter, jitter), py + rng.uniform(-jitter, jitter)
                cos, sin = math.cos(angle), math.sin(angle)
                ring.append((cx + px * cos - py * sin, cy + px * sin + py * cos))
            polygon = Polygon(ring).convex_hull
            factor = math.sqrt(hectares * 1e4 / polygon.area)
            polygon = affinity.scale(polygon, factor, factor, origin="centroid")  # exactly ``hectares``
            if placed and STRtree(placed).query(polygon.buffer(10), predicate="intersects").size:
                hectares = max(1.0, hectares * 0.9)  # crowded: try a slightly smaller field elsewhere
                continue
            placed.append(polygon)
            break
    return placed


def write_fields(path: Path, fields: list[Any]) -> None:
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {"field_id": [f"field-{i:04d}" for i in range(len(fields))],
         "area_ha": [round(f.area / 1e4, 2) for f in fields]},
        geometry=fields, crs=CRS,
    )
    frame.to_file(path, layer="fields", driver="GPKG")


# --------------------------------------------------------------------------- the paths (each in its own process)


def _settings(database: Path, data_dir: Path) -> Any:
    from fis.config import Settings

    return Settings(data_dir=data_dir, database_url=f"sqlite:///{database}")


def run_sequential(database: Path, data_dir: Path, out: Path) -> dict[str, Any]:
    """Every pending feature of the job as a single request through the engine (one warm engine)."""
    from fis.core.aggregation import covered_range
    from fis.core.request.batch import feature_request, parse_batch_options
    from fis.errors import FisError
    from fis.services.runtime import Services
    from fis.store.batch import list_jobs, pending_features
    from fis.store.queries import find_scenes

    svc = Services.create(_settings(database, data_dir))
    template = parse_batch_options(OPTIONS)
    with svc.sessions() as session:
        job = list_jobs(session)[0]
        features = [(f.seq, f.feature_id, f.geometry) for f in pending_features(session, job.id)]
    engine = svc.engine
    results: dict[int, Any] = {}
    start = time.perf_counter()
    for seq, name, geometry in features:
        request = feature_request(template, geometry, name=name)
        with svc.sessions() as session:
            scenes = find_scenes(session, geometry, covered_range(request.time_range, request.aggregation))
        try:
            results[seq] = engine.compute(request, scenes)
        except FisError as exc:
            results[seq] = (exc.code, exc.message)
    seconds = time.perf_counter() - start
    out.write_bytes(pickle.dumps(results))
    svc.close()
    return {"seconds": seconds, "fields": len(features), "peak_rss_mb": round(peak_rss_mb(), 1)}


def run_batch_path(database: Path, data_dir: Path, workers: int, chunk: int) -> dict[str, Any]:
    """The job run by the batch runner on a LocalCluster of ``workers`` worker processes (``chunk``
    features per chunk; 0: the runner's default)."""
    import fis.services.batch as runner
    from fis.services.batch import CHUNK_FEATURES, open_batch_client, run_batch
    from fis.services.runtime import Services
    from fis.store.batch import list_jobs

    settings = _settings(database, data_dir)
    svc = Services.create(settings)
    with svc.sessions() as session:
        job = list_jobs(session)[0]
    # diagnostics: the one writer's time (storing each chunk's series) and the planning
    spent = {"store": 0.0, "plan": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - begin
        return wrapper

    runner._store = timed("store", runner._store)  # type: ignore[attr-defined]
    runner._plan = timed("plan", runner._plan)  # type: ignore[attr-defined]
    started = time.perf_counter()
    with open_batch_client(workers) as client:
        client.wait_for_workers(workers)
        cluster_seconds = time.perf_counter() - started
        start = time.perf_counter()
        final = run_batch(svc.sessions, settings, job.id, client, max_features=chunk or CHUNK_FEATURES)
        seconds = time.perf_counter() - start
        rusage = client.run(resource.getrusage, resource.RUSAGE_SELF)
    svc.close()
    workers_mb = sorted(round(r.ru_maxrss / 1024.0, 1) for r in rusage.values())  # Linux: KB
    return {
        "seconds": seconds, "cluster_start_seconds": round(cluster_seconds, 2), "state": final.state,
        "writer_store_seconds": round(spent["store"], 1), "plan_seconds": round(spent["plan"], 1),
        "fields": final.features, "done": final.done, "failed": final.failed,
        "peak_rss_mb": round(peak_rss_mb(), 1), "worker_peak_rss_mb": workers_mb,
    }


# --------------------------------------------------------------------------- comparing values


def compare(sequential: dict[int, Any], database: Path, data_dir: Path) -> dict[str, Any]:
    """Every stored value of the job's features against the sequential results."""
    from fis.core.observation import SeriesResult
    from fis.services.runtime import Services
    from fis.store.batch import job_features, list_jobs
    from fis.store.queries import get_series, observations_of

    svc = Services.create(_settings(database, data_dir))
    checked = values = 0
    differing: list[str] = []
    with svc.sessions() as session:
        job = list_jobs(session)[0]
        for feature in job_features(session, job.id):
            want = sequential.get(feature.seq)
            if not isinstance(want, SeriesResult):
                if feature.series_id is not None or want is None:
                    differing.append(f"{feature.feature_id}: batch {feature.status}, sequential {want}")
                continue
            if feature.series_id is None:
                differing.append(f"{feature.feature_id}: not stored ({feature.error_code}: {feature.error_message})")
                continue
            stored = observations_of(get_series(session, feature.series_id))
            checked += 1
            if len(stored) != len(want.observations):
                differing.append(
                    f"{feature.feature_id}: {len(stored)} observations, sequential {len(want.observations)}"
                )
                continue
            for a, b in zip(stored, want.observations, strict=True):
                pairs = {
                    "date": (a.date, b.date), "scenes": (tuple(a.scenes), tuple(b.scenes)),
                    "ndvi": (a.ndvi, b.ndvi), "bands": (a.bands, b.bands), "pixels": (a.pixels, b.pixels),
                    "cloud_fraction": (a.cloud_fraction, b.cloud_fraction),
                    "cloud_probability": (a.cloud_probability, b.cloud_probability),
                    "cloud_source": (a.cloud_source, b.cloud_source), "indices": (a.indices, b.indices),
                }
                for key, (x, y) in pairs.items():
                    values += len(x) if isinstance(x, dict) else 1
                    if x != y:
                        differing.append(f"{feature.feature_id} {b.date} {key}: {x} != {y}")
    svc.close()
    return {"features_compared": checked, "values_compared": values, "differing": len(differing),
            "examples": differing[:10]}


# --------------------------------------------------------------------------- orchestration


def _child(args: list[str], extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                          os.environ.get("PYTHONPATH", "")]), **(extra_env or {})}
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark step {args[0]} failed (exit {proc.returncode})")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fields", type=int, default=200)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE_PX, help="archive width in 10 m pixels")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts of the batch runs")
    parser.add_argument("--read-threads", type=int, default=None,
                        help="read threads of each batch worker's engine (FIS_READ_THREADS) [default: the setting, 2]")
    parser.add_argument("--chunk-features", type=int, default=None, help="features per chunk [default: the runner's]")
    parser.add_argument("--no-sequential", action="store_true",
                        help="skip the sequential path (quick scaling runs; no agreement check)")
    parser.add_argument("--_sequential", nargs=3, metavar=("DB", "DATA", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--_batch", nargs=4, metavar=("DB", "DATA", "WORKERS", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._sequential:
        db, data, out = args._sequential
        print(json.dumps(run_sequential(Path(db), Path(data), Path(out))))
        return
    if args._batch:
        db, data, workers, chunk = args._batch
        print(json.dumps(run_batch_path(Path(db), Path(data), int(workers), int(chunk))))
        return

    from fis.services.batch import submit_batch
    from fis.services.ingest import ingest
    from fis.services.runtime import Services
    from fis.store.db import upgrade

    archive = ensure_archive(args.size)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    work = DATA_DIR / f"batch-{stamp}"
    work.mkdir(parents=True)
    fields = make_fields(args.fields, args.size)
    areas = sorted(f.area / 1e4 for f in fields)
    print(f"{len(fields)} fields of {areas[0]:.1f}-{areas[-1]:.1f} ha (median {areas[len(areas) // 2]:.1f}), "
          f"archive {archive.describe()['extent_km']} km, {archive.describe()['dates']} dates, two tiles", flush=True)
    gpkg = work / "fields.gpkg"
    write_fields(gpkg, fields)
    base = work / "base.sqlite"
    svc = Services.create(_settings(base, work / "var"))
    upgrade(svc.db)
    report = ingest([str(archive.root)], svc.sessions)
    assert not report.failed, report.failed
    submission = submit_batch(svc.sessions, gpkg, OPTIONS, layer="fields", id_column="field_id")
    svc.close()
    print(f"job {submission.job.id}: {submission.job.features} features", flush=True)

    rows: dict[str, dict[str, Any]] = {}
    sequential: dict[int, Any] | None = None
    if not args.no_sequential:
        db = work / "sequential.sqlite"
        shutil.copy(base, db)
        print("sequential single requests ...", flush=True)
        rows["sequential"] = _child(["--_sequential", str(db), str(work / "var"), str(work / "sequential.pkl")])
        sequential = pickle.loads((work / "sequential.pkl").read_bytes())
    worker_env = {"FIS_READ_THREADS": str(args.read_threads)} if args.read_threads else {}
    for workers in [int(w) for w in args.workers.split(",")]:
        name = f"batch_w{workers}"
        db = work / f"{name}.sqlite"
        shutil.copy(base, db)
        print(f"batch, {workers} worker(s) ...", flush=True)
        rows[name] = _child(["--_batch", str(db), str(work / "var"), str(workers), str(args.chunk_features or 0)],
                            worker_env)
        if sequential is not None:
            rows[name]["agreement"] = compare(sequential, db, work / "var")

    for row in rows.values():
        row["fields_per_s"] = round(row["fields"] / row["seconds"], 3)
    base_rate = rows["sequential"]["fields_per_s"] if "sequential" in rows else None
    print(f"\n{'path':<12} {'fields':>6} {'seconds':>8} {'fields/s':>9} {'vs seq':>7} {'vs 1 w':>7} "
          f"{'client MB':>9} {'workers MB':>14}  agreement")
    for name, row in rows.items():
        one = rows.get("batch_w1", {}).get("fields_per_s")
        agreement = row.get("agreement")
        vs_one = f"{row['fields_per_s'] / one:.2f}x" if one and name != "sequential" else ""
        vs_seq = f"{row['fields_per_s'] / base_rate:.2f}x" if base_rate else ""
        workers_mb = ",".join(f"{m:.0f}" for m in row.get("worker_peak_rss_mb", []))
        if agreement:
            agreed = (f"{agreement['differing']} of {agreement['values_compared']} values differ "
                      f"({agreement['features_compared']} fields)")
        else:
            agreed = "(reference)" if name == "sequential" else "(not compared)"
        print(f"{name:<12} {row['fields']:>6} {row['seconds']:>8.1f} {row['fields_per_s']:>9.3f} {vs_seq:>7} "
              f"{vs_one:>7} {row['peak_rss_mb']:>9.0f} {workers_mb:>14}  {agreed}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"batch-{stamp}.json"
    out.write_text(json.dumps({
        "when": stamp, "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "archive": archive.describe(), "fields": len(fields), "options": OPTIONS,
        "areas_ha": {"min": areas[0], "median": areas[len(areas) // 2], "max": areas[-1]},
        "read_threads": args.read_threads, "chunk_features": args.chunk_features, "rows": rows,
    }, indent=1, default=str) + "\n")
    print(f"\nresults: {out}")
    shutil.rmtree(work / "var", ignore_errors=True)


if __name__ == "__main__":
    main()
