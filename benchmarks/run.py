#!/usr/bin/env python
"""Benchmark fis against a rasterstats + s2cloudless script (peer A) and exactextract + s2cloudless
(peer B) on a generated one-year archive. One command, no network::

    python benchmarks/run.py                  # sizes 1,100,10000 ha, 3 repeats
    python benchmarks/run.py --quick          # sizes 1,100 ha on a small archive, 1 repeat
    python benchmarks/run.py --sizes 100 --repeats 5 --paths ours,peer_a
    python benchmarks/run.py --profile        # also cProfile ours (cold and warm) per size
    python benchmarks/run.py --remote         # the archive served over HTTP (20 ms per request), 100 ha

Every (path, size) runs in ``--repeats`` fresh subprocesses, the paths taking turns (round-robin, so a busy
machine slows them alike); each process times one *cold* request
(fresh process, empty open-dataset cache) and one *warm* one (same process: for ours the same
Engine, datasets kept open, the service's case), and reports its peak RSS. Results: a table on
stdout and ``benchmarks/results/<timestamp>.json`` + ``.csv``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, archive_size_for, benchmark_polygon, ensure_archive, peak_rss_mb  # noqa: E402

DEFAULT_PATHS = ("ours", "ours_precomputed", "ours_recipe", "peer_a", "peer_b", "peer_a_10m", "read_floor",
                 "peer_a_numpy_cells")
#: diagnostic rows run once (they explain a difference; their timing is not a target)
DIAGNOSTIC = ("peer_a_centre", "read_floor", "peer_a_numpy_cells")
QUICK_PATHS = ("ours", "ours_precomputed", "ours_recipe", "peer_a", "peer_b")
#: --remote: the archive served by a local HTTP server; every path reads the same URLs
REMOTE_PATHS = ("ours", "read_floor", "ours_local", "peer_a", "peer_b")
#: the 10 m-mask variant runs s2cloudless on every pixel (~12 us each): 10,000 ha x 73 dates ~ 15 min
MAX_HA = {"peer_a_10m": 100.0}
#: agreement rules per peer against ours: (fields, kind, tolerance)
#:   kind "exact": equal; "abs": |a - b| <= tol; "rel": |a - b| <= tol * |b|
COUNTS = ("total", "valid", "cloudy", "nodata")
NDVI = ("ndvi_mean", "ndvi_min", "ndvi_max", "ndvi_std", "ndvi_median", "ndvi_p10", "ndvi_p25", "ndvi_p75", "ndvi_p90")
BAND_FIELDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
SAME_PIXELS = [
    ("counts (total, valid, nodata)", ("total", "valid", "nodata"), "exact", 0),
    ("NDVI stats", NDVI, "abs", 1e-6),
    ("band means", BAND_FIELDS, "abs", 1e-6),
    ("cloud_probability", ("cloud_probability",), "abs", 1e-6),
]
#: below this, peer B's coverage-weighted means at native 20/60 m resolution (a 1 ha field holds
#: ~3 pixels of 60 m) are a different estimate, not an approximation: shown, not checked
PEER_B_MIN_HA = 100.0
RULES: dict[str, list[tuple[str, tuple[str, ...], str, float]]] = {
    # peer A's 160 m cells come from GDAL's warper, which averages a cell on a raster's edge in its
    # own way (docs/benchmarks.md): its mask is reported; the exact mask check is against
    # peer_a_numpy_cells, the same script with the cells averaged in numpy
    "peer_a": SAME_PIXELS + [("cloudy count + cloud_fraction (GDAL edge cells: reported)", ("cloudy", "cloud_fraction"), "info", 0)],
    "peer_a_numpy_cells": SAME_PIXELS + [("cloudy count + cloud_fraction", ("cloudy", "cloud_fraction"), "exact", 0)],
    "peer_a_centre": SAME_PIXELS + [("cloudy count + cloud_fraction (centre rule: informational)", ("cloudy", "cloud_fraction"), "info", 0)],
    "peer_a_10m": SAME_PIXELS + [("cloud_fraction (10 m mask: informational)", ("cloud_fraction",), "info", 0)],
    # coverage-weighted at native resolution: the tolerances are the stated, measured ones (docs/benchmarks.md)
    "peer_b": [
        ("valid (coverage sum), rel", ("valid",), "rel", 0.02),
        ("NDVI mean", ("ndvi_mean",), "abs", 2e-3),
        ("band means, rel", BAND_FIELDS, "rel", 0.01),
        # object-level probability of slightly different mean vectors; steep near 0.3-0.6
        ("cloud_probability", ("cloud_probability",), "abs", 0.1),
        # includes the 160 m averaging-rule difference that peer A shows (up to 0.11 at 100 ha)
        ("cloud_fraction", ("cloud_fraction",), "abs", 0.15),
    ],
    "ours_precomputed": [
        ("counts (total, valid, nodata)", ("total", "valid", "nodata"), "exact", 0),
        ("NDVI stats", NDVI, "abs", 1e-12),
        ("band means", BAND_FIELDS, "abs", 1e-12),
        ("cloud_probability", ("cloud_probability",), "abs", 1e-12),
        ("cloudy count + cloud_fraction (per-scene 160 m layers)", ("cloudy", "cloud_fraction"), "exact", 0),
    ],
    # the seed's recipe: only NDVI and cloud_fraction are computed (bands and cloud_probability are absent)
    "ours_recipe": [
        ("counts (total, valid, nodata)", ("total", "valid", "nodata"), "exact", 0),
        ("NDVI stats", NDVI, "abs", 1e-12),
        ("cloudy count + cloud_fraction (per-scene 160 m layers)", ("cloudy", "cloud_fraction"), "exact", 0),
    ],
    # --remote: ours over HTTP against ours on the local files: the same numbers, exactly
    "ours_local": [
        ("counts", COUNTS, "exact", 0),
        ("NDVI stats", NDVI, "exact", 0),
        ("band means", BAND_FIELDS, "exact", 0),
        ("cloud_probability + cloud_fraction", ("cloud_probability", "cloud_fraction"), "exact", 0),
    ],
}


# ------------------------------------------------------------------------------------ worker


def worker(args: argparse.Namespace) -> None:
    """One fresh process: set up one path, time a cold and ``--warm`` warm requests, print JSON."""
    import gc

    from paths import PATHS, Context, NotAvailable

    archive = ensure_archive(args.archive_size, log=lambda *a: print(*a, file=sys.stderr))
    polygon = benchmark_polygon(archive, args.hectares)
    if args.remote_items:  # --remote: items with http hrefs (the served archive); the local ones beside
        context = Context(archive.root, sorted(Path(args.remote_items).glob("*.json")), local_items=archive.items)
    else:
        context = Context(archive.root, archive.items)
    path = PATHS[args.path](context)
    report: dict[str, Any] = {"path": args.path, "hectares": args.hectares, "label": path.label}
    try:
        path.setup()
    except NotAvailable as exc:
        report["not_available"] = str(exc)
        print(json.dumps(report))
        return
    gc.collect()
    report["rss_before_mb"] = peak_rss_mb()
    profiler = None
    if args.profile_to:
        import cProfile

        profiler = cProfile.Profile()
        threads = profile_pool_threads()
    path.new_request_state()
    start, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    records = path.run(polygon)
    if profiler:
        profiler.disable()
        profiler.dump_stats(f"{args.profile_to}.cold.prof")
        threads.dump(f"{args.profile_to}.cold.threads.prof")
    report["cold_s"] = time.perf_counter() - start
    # CPU seconds of the whole process (every thread): on a machine shared with other work, CPU time
    # ratios are steadier than wall-clock ratios (which other processes' load distorts)
    report["cold_cpu_s"] = time.process_time() - cpu
    report["rss_peak_cold_mb"] = peak_rss_mb()
    warm, warm_cpu = [], []
    for i in range(args.warm):
        if profiler and i == 0:
            profiler = __import__("cProfile").Profile()
            profiler.enable()
        start, cpu = time.perf_counter(), time.process_time()
        path.run(polygon)
        warm.append(time.perf_counter() - start)
        warm_cpu.append(time.process_time() - cpu)
        if profiler and i == 0:
            profiler.disable()
            profiler.dump_stats(f"{args.profile_to}.warm.prof")
            threads.dump(f"{args.profile_to}.warm.threads.prof")
    report["warm_s"] = warm
    report["warm_cpu_s"] = warm_cpu
    report["rss_peak_mb"] = peak_rss_mb()
    report["loadavg_1min"] = os.getloadavg()[0]  # other work on the machine makes timings noisy
    if args.records:
        report["records"] = records
    print(json.dumps(report))


#: a fis source tree to benchmark instead of the installed one (--fis-src)
FIS_SRC: str | None = None
#: environment for the workers (--gdal-cachemax; --remote)
EXTRA_ENV: dict[str, str] = {}
#: --remote: the directory of the item files with http hrefs, and the server (its request counts)
REMOTE_ITEMS: str | None = None
SERVER: Any = None


class _ThreadProfiles:
    """cProfile of the work run on thread pools (the engine reads dates on its own threads, which a
    main-thread profiler does not see): one profiler per thread, merged on dump."""

    def __init__(self) -> None:
        import threading

        self.local = threading.local()
        self.all: list[Any] = []
        self.lock = threading.Lock()

    def wrap(self, fn: Any) -> Any:
        import cProfile
        import functools

        @functools.wraps(fn)
        def run(*a: Any, **k: Any) -> Any:
            prof = getattr(self.local, "prof", None)
            if prof is None:
                prof = self.local.prof = cProfile.Profile()
                with self.lock:
                    self.all.append(prof)
            prof.enable()
            try:
                return fn(*a, **k)
            finally:
                prof.disable()

        return run

    def dump(self, path: str) -> None:
        import pstats

        with self.lock:
            profs, self.all = self.all, []
        for prof in profs:
            prof.create_stats()
        self.local = __import__("threading").local()
        if profs:
            stats = pstats.Stats(profs[0])
            for prof in profs[1:]:
                stats.add(prof)
            stats.dump_stats(path)


def profile_pool_threads() -> _ThreadProfiles:
    """Profile every callable submitted to a ThreadPoolExecutor from now on."""
    from concurrent.futures import ThreadPoolExecutor

    profiles = _ThreadProfiles()
    submit = ThreadPoolExecutor.submit

    def profiled_submit(self: Any, fn: Any, /, *a: Any, **k: Any) -> Any:
        return submit(self, profiles.wrap(fn), *a, **k)

    ThreadPoolExecutor.submit = profiled_submit  # type: ignore[method-assign]
    return profiles


def run_worker(path: str, hectares: float, archive_size: int, *, warm: int, records: bool, profile: str | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", "--path", path, "--hectares", repr(hectares),
           "--archive-size", str(archive_size), "--warm", str(warm)]
    if records:
        cmd.append("--records")
    if profile:
        cmd += ["--profile-to", profile]
    if REMOTE_ITEMS:
        cmd += ["--remote-items", REMOTE_ITEMS]
    env = dict(os.environ, **EXTRA_ENV)
    if FIS_SRC:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [FIS_SRC, env.get("PYTHONPATH", "")]))
    before = SERVER.total_requests() if SERVER else 0
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{path} {hectares} ha failed:\n{proc.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if SERVER:
        report["http_requests"] = SERVER.total_requests() - before  # setup + cold + warm
    return report


# --------------------------------------------------------------------------------- agreement


def compare(ours: dict[str, dict], peer: dict[str, dict], rules: list[tuple[str, tuple[str, ...], str, float]]) -> dict[str, Any]:
    """Per rule: PASS/FAIL, the largest difference, how many dates differ and the first of them."""
    out: dict[str, Any] = {"dates_ours": len(ours), "dates_peer": len(peer), "checks": []}
    ok = set(ours) == set(peer)
    for name, fields, kind, tol in rules:
        worst, worst_at, bad_dates = 0.0, None, []
        for date in sorted(set(ours) & set(peer)):
            for f in fields:
                a, b = peer[date].get(f), ours[date].get(f)
                if a is None or b is None:
                    diff = 0.0 if a is None and b is None else float("inf")
                else:
                    diff = abs(float(a) - float(b))
                    if kind == "rel":
                        diff = diff / max(abs(float(b)), 1e-12)
                if diff > worst:
                    worst, worst_at = diff, f"{date} {f} (peer {a}, ours {b})"
                if diff > tol and date not in bad_dates:  # info rows count them too, without failing
                    bad_dates.append(date)
        passed = not bad_dates or kind == "info"
        ok &= passed
        out["checks"].append({"check": name, "kind": kind, "tolerance": tol, "max_diff": worst, "worst": worst_at,
                              "dates_differing": len(bad_dates), "first_dates": bad_dates[:5],
                              "result": "INFO" if kind == "info" else ("PASS" if passed else "FAIL")})
    out["result"] = "PASS" if ok else "FAIL"
    return out


# --------------------------------------------------------------------------------------- main


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="polygon sizes in hectares, comma-separated [1,100,10000; --quick: 1,100]")
    parser.add_argument("--repeats", type=int, default=None, help="fresh processes per path and size [3; --quick: 1]")
    parser.add_argument("--paths", default=None, help=f"paths to run [{','.join(DEFAULT_PATHS)}; --quick: {','.join(QUICK_PATHS)}]")
    parser.add_argument("--big-repeats", type=int, default=None, help="repeats for sizes above 100 ha [1]: a 10,000 ha "
                        "peer run takes ~40 s")
    parser.add_argument("--quick", action="store_true", help="1 and 100 ha on a 2 km archive, four paths, one repeat (~1.5-2 minutes)")
    parser.add_argument("--profile", action="store_true", help="cProfile ours per size (results/<stamp>-profile-*.txt)")
    parser.add_argument("--all-sizes", action="store_true", help="run peer_a_10m at every size (10,000 ha takes ~15 min)")
    parser.add_argument("--fis-src", default=None, help="benchmark the fis package in this source tree (e.g. an unpacked "
                        "`git archive <commit>`) instead of the installed one")
    parser.add_argument("--gdal-cachemax", default=None, help="GDAL_CACHEMAX for every path, in MB (GDAL's default is 5 %% "
                        "of RAM: ours keeps datasets open, so their decompressed blocks stay cached and count in its RSS)")
    parser.add_argument("--remote", action="store_true", help="serve the archive over HTTP from a local server (Range "
                        f"requests, --latency-ms per request); rows {','.join(REMOTE_PATHS)}; 100 ha, 1 repeat")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="--remote: latency per HTTP request [20]")
    parser.add_argument("--remote-items", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--hectares", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--archive-size", type=int, default=None, help="archive width in 10 m pixels [enough for the "
                        "largest size: 1100 for 10,000 ha, 200 for 100 ha]")
    parser.add_argument("--warm", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--records", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    global FIS_SRC
    FIS_SRC = str(Path(args.fis_src).resolve()) if args.fis_src else None
    if args.gdal_cachemax:
        EXTRA_ENV["GDAL_CACHEMAX"] = str(args.gdal_cachemax)
        EXTRA_ENV["FIS_GDAL_CACHEMAX_MB"] = str(args.gdal_cachemax)  # ours sets its own per read thread
    default_sizes = "100" if args.remote else ("1,100" if args.quick else "1,100,10000")
    sizes = [float(s) for s in (args.sizes or default_sizes).split(",")]
    repeats = args.repeats or (1 if args.quick or args.remote else 3)
    big_repeats = args.big_repeats or (args.repeats or 1)
    default_paths = REMOTE_PATHS if args.remote else (QUICK_PATHS if args.quick else DEFAULT_PATHS)
    paths = [p.strip() for p in (args.paths or ",".join(default_paths)).split(",") if p.strip()]
    from paths import PATHS

    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"unknown path(s) {unknown}; known: {', '.join(PATHS)}")
    if "ours" not in paths:
        paths.insert(0, "ours")
    archive = ensure_archive(args.archive_size or archive_size_for(max(sizes)))
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    print(f"archive: {archive.describe()}", flush=True)
    if args.remote:
        start_remote(archive, args.latency_ms / 1000.0)
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"WARNING: load average {load:.1f} on {os.cpu_count()} CPUs: other processes are running; timings will be noisy", flush=True)
    if "ours_precomputed" in paths:  # make the cloud layers once, outside any timed or RSS-measured process
        prep = run_worker("ours_precomputed", min(sizes), archive.size_px, warm=0, records=False)
        print(f"precomputed cloud layers: {prep.get('not_available') or 'ready'}", flush=True)

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for hectares in sizes:
        ours_records = None
        active = []
        for path in paths:
            if hectares > MAX_HA.get(path, float("inf")) and not args.all_sizes:
                rows.append({"path": path, "hectares": hectares, "skipped": f"only up to {MAX_HA[path]:g} ha (--all-sizes)"})
            else:
                active.append(path)
        # round-robin over the paths (ours, peer A, peer B, ours, ...) so that every path sees the same
        # background load: the ratios stay meaningful on a busy machine
        reports: dict[str, list[dict[str, Any]]] = {path: [] for path in active}
        n_of = {path: 1 if path in DIAGNOSTIC else (repeats if hectares <= 100 else big_repeats) for path in active}
        for r in range(max(n_of.values(), default=0)):
            for path in active:
                done = reports[path]
                if r >= n_of[path] or (done and "not_available" in done[0]):
                    continue
                rep = run_worker(path, hectares, archive.size_px, warm=1, records=(r == 0))
                done.append(rep)
                if "not_available" in rep:
                    print(f"  {path:<17} {hectares:>7g} ha  NOT AVAILABLE YET: {rep['not_available']}", flush=True)
                    continue
                print(f"  {path:<17} {hectares:>7g} ha  run {r + 1}/{n_of[path]}: cold {rep['cold_s']:.3f} s, "
                      f"warm {rep['warm_s'][0]:.3f} s, peak RSS {rep['rss_peak_mb']:.0f} MB", flush=True)
        for path in active:
            first = reports[path][0]
            if args.profile and path in ("ours", "ours_precomputed") and "not_available" not in first:
                profile = str(RESULTS_DIR / f"{stamp}-profile-{path}-{hectares:g}ha")
                run_worker(path, hectares, archive.size_px, warm=1, records=False, profile=profile)  # not in the timings
                write_profile_text(profile)
                print(f"  {path:<17} {hectares:>7g} ha  profile: {profile}.cold.txt / .warm.txt", flush=True)
            row: dict[str, Any] = {"path": path, "label": first["label"], "hectares": hectares}
            if "not_available" in first:
                row["not_available"] = first["not_available"]
                rows.append(row)
                continue
            runs = reports[path]
            records = first.pop("records")
            row.update(
                cold_s=median([r["cold_s"] for r in runs]),
                warm_s=median([w for r in runs for w in r["warm_s"]]),
                cold_all=[round(r["cold_s"], 4) for r in runs],
                warm_all=[round(w, 4) for r in runs for w in r["warm_s"]],
                rss_peak_cold_mb=median([r["rss_peak_cold_mb"] for r in runs]),
                rss_before_mb=median([r["rss_before_mb"] for r in runs]),
                http_requests=median([r["http_requests"] for r in runs]) if SERVER else None,
                loadavg_max=max(r.get("loadavg_1min", 0.0) for r in runs),
                dates=len(records),
                pixels=(int(round(next(iter(records.values()))["total"])) if records else None),
            )
            if path == "ours":
                ours_records = records
            elif ours_records is not None and path in RULES:
                rules = RULES[path]
                if path == "peer_b" and hectares < PEER_B_MIN_HA:  # reported, not checked
                    rules = [(name + " (info below 100 ha)", fields, "info", tol) for name, fields, _, tol in rules]
                row["agreement"] = compare(ours_records, records, rules)
            rows.append(row)
    add_ratios(rows)
    elapsed = time.perf_counter() - started
    meta = {
        "timestamp": stamp,
        "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                 "platform": platform.platform()},
        "archive": archive.describe(),
        "repeats": repeats,
        "big_repeats": big_repeats,
        "seconds": round(elapsed, 1),
        "versions": versions(),
        "fis_source": fis_source(),
        "env": EXTRA_ENV,
        "remote": {"latency_ms": args.latency_ms, "server": SERVER.url} if SERVER else None,
    }
    table = format_table(rows)
    print()
    print(table)
    print_agreement(rows)
    out_json = RESULTS_DIR / f"{stamp}.json"
    out_json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=str) + "\n")
    write_csv(RESULTS_DIR / f"{stamp}.csv", rows)
    print(f"\nwritten {out_json} and {out_json.with_suffix('.csv')} ({elapsed:.0f} s)")


def start_remote(archive: Any, latency_s: float) -> None:
    """Serve the archive over HTTP (tests/rangeserver.py: Range requests, ``latency_s`` per request) and
    write its items with http hrefs for the workers; every worker of this run reads through it."""
    global REMOTE_ITEMS, SERVER
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from rangeserver import rewrite_items, serve

    from common import DATA_DIR

    SERVER = serve(archive.root, latency=latency_s)
    out = DATA_DIR / f"{archive.root.name}-remote-items"
    for old in out.glob("*.json"):
        old.unlink()
    rewrite_items(archive.items, archive.root, SERVER.url, out)
    REMOTE_ITEMS = str(out)
    # what a script author reading COGs over HTTP sets (the usual advice); ours sets its own per read thread
    EXTRA_ENV.update(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR")
    print(f"remote: {SERVER.url} serving {archive.root}, {latency_s * 1000:g} ms per request", flush=True)


def write_profile_text(base: str) -> None:
    import io
    import pstats

    for kind in ("cold", "warm"):
        buf = io.StringIO()
        for part, title in ((".prof", "request thread"), (".threads.prof", "read-pool threads (summed over threads)")):
            prof = Path(f"{base}.{kind}{part}")
            if not prof.is_file():
                continue
            buf.write(f"===== {kind} request, {title}\n")
            stats = pstats.Stats(str(prof), stream=buf)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(25)
        Path(f"{base}.{kind}.txt").write_text(buf.getvalue())


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """ratio = peer time / ours time (how many times faster ours is); for ours' variants ours / variant."""
    ours = {r["hectares"]: r for r in rows if r["path"] == "ours" and "cold_s" in r}
    for row in rows:
        base = ours.get(row["hectares"])
        if base is None or "cold_s" not in row or row["path"] == "ours":
            continue
        for kind in ("cold", "warm"):
            row[f"ratio_{kind}"] = row[f"{kind}_s"] / base[f"{kind}_s"] if base[f"{kind}_s"] else None


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: list[dict[str, Any]]) -> str:
    header = f"{'path':<18} {'ha':>7} {'pixels':>8} {'dates':>5} {'cold s':>8} {'warm s':>8} {'peer/ours cold':>14} {'peer/ours warm':>14} {'peak RSS MB':>11} {'agreement':<40}"
    lines = [header, "-" * len(header)]
    for row in rows:
        if "skipped" in row or "not_available" in row:
            why = row.get("skipped") or ("not available yet: " + row["not_available"])
            lines.append(f"{row['path']:<18} {row['hectares']:>7g} {why}")
            continue
        agreement = row.get("agreement")
        if agreement is None:
            verdict = {"ours": "(reference)", "read_floor": "(diagnostic: reads only; ours/floor = 1/ratio)"}.get(row["path"], "")
        elif row["path"] in DIAGNOSTIC:
            verdict = agreement["result"] + {"peer_a_centre": " (diagnostic: the centre rule for 160 m cells)",
                                             "peer_a_numpy_cells": " (diagnostic: 160 m cells without GDAL's warper)"}.get(row["path"], "")
        if agreement is not None and row["path"] not in DIAGNOSTIC:
            fails = [c for c in agreement["checks"] if c["result"] == "FAIL"]
            verdict = agreement["result"] + (": " + "; ".join(f"{c['check']} max {c['max_diff']:.2g} on {c['dates_differing']} dates" for c in fails) if fails else "")
        lines.append(
            f"{row['path']:<18} {row['hectares']:>7g} {fmt(row.get('pixels'), 'd'):>8} {row['dates']:>5} {row['cold_s']:>8.3f} {row['warm_s']:>8.3f} "
            f"{fmt(row.get('ratio_cold'), '.1f'):>14} {fmt(row.get('ratio_warm'), '.1f'):>14} {row['rss_peak_cold_mb']:>11.0f} {verdict:<40}"
        )
    return "\n".join(lines)


def print_agreement(rows: list[dict[str, Any]]) -> None:
    print("\nagreement with ours (max difference over all dates):")
    for row in rows:
        agreement = row.get("agreement")
        if not agreement:
            continue
        print(f"  {row['path']} {row['hectares']:g} ha: {agreement['result']} ({agreement['dates_peer']} dates vs {agreement['dates_ours']})")
        for c in agreement["checks"]:
            extra = f", e.g. {c['worst']}" if c["max_diff"] else ""
            print(f"    {c['result']:<4} {c['check']:<42} {c['kind']} tol {c['tolerance']:g}: max {c['max_diff']:.3g}, "
                  f"{c['dates_differing']} dates over{extra}")


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = ["path", "label", "hectares", "pixels", "dates", "cold_s", "warm_s", "ratio_cold", "ratio_warm",
               "rss_peak_cold_mb", "rss_before_mb", "loadavg_max", "agreement", "note"]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            out = dict(row)
            out["agreement"] = row["agreement"]["result"] if row.get("agreement") else ""
            out["note"] = row.get("skipped") or (("not available yet: " + row["not_available"]) if "not_available" in row else "")
            writer.writerow(out)


def fis_source() -> dict[str, Any]:
    """Which fis was measured: the source tree, and its git commit / uncommitted changes when known."""
    env = dict(os.environ)
    if FIS_SRC:
        env["PYTHONPATH"] = FIS_SRC
    code = "import fis, os; print(os.path.dirname(os.path.dirname(os.path.abspath(fis.__file__))))"
    # cwd "/": `python -c` puts the cwd first on sys.path, which would shadow FIS_SRC with ./fis
    root = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/").stdout.strip()
    info: dict[str, Any] = {"root": root}
    git = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True)
    if git.returncode == 0:
        info["commit"] = git.stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "fis"], capture_output=True, text=True).stdout
        info["uncommitted_fis_changes"] = [line[3:] for line in dirty.splitlines()]
    elif (Path(root) / "COMMIT").is_file():
        info["commit"] = (Path(root) / "COMMIT").read_text().strip()
    return info


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("fis", "numpy", "rasterio", "rasterstats", "exactextract", "s2cloudless", "lightgbm"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


if __name__ == "__main__":
    main()
