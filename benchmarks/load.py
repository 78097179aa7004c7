#!/usr/bin/env python
"""Service latency and throughput under concurrent clients. One command, loopback only::

    python benchmarks/load.py                       # 8 clients, 20 s per phase, 100 ha fields
    python benchmarks/load.py --clients 16 --duration 60 --hectares 1

It starts ``fis serve`` (waitress) as a subprocess on a free 127.0.0.1 port with its own
FIS_DATA_DIR (a temporary directory, SQLite), ingests the benchmark archive (the same cached one
``run.py`` uses), stores a few series, then runs three phases with N client threads
(stdlib http.client, one keep-alive connection per client):

    cached GET   GET /api/v1/timeseries/{id} of a stored series (re-filtered by a random threshold)
    fresh POST   POST /api/v1/timeseries with a new field position each time (computed and stored)
    mixed        80 % cached GETs + 20 % fresh POSTs

and reports per phase and kind: requests, errors (non-2xx or transport errors), p50/p95/p99
latency and throughput. Every phase is bounded in time and request count; the server is stopped
at the end. Results also go to ``benchmarks/results/<timestamp>-load.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, archive_size_for, benchmark_polygon, ensure_archive, request_body  # noqa: E402

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def fis_command(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from fis.cli import main; sys.argv[0] = 'fis'; main()", *args]


#: ``--server poll``: the same app and waitress settings as ``fis serve``, plus waitress'
#: ``asyncore_use_poll=True``. fis raises the open-file limit to keep thousands of raster datasets
#: open; waitress' default select() loop then dies on the first socket numbered >= 1024
#: ("ValueError: filedescriptor out of range in select()").
POLL_SERVER = """
import sys
from waitress import serve
from fis.api.app import create_app
from fis.config import Settings
from fis.store.db import ensure_migrated
app = create_app(Settings.from_env())
ensure_migrated(app.extensions["fis"].db)
serve(app, host=sys.argv[1], port=int(sys.argv[2]), threads=int(sys.argv[3]), ident="fis", asyncore_use_poll=True)
"""


class Server:
    """``fis serve`` in a subprocess with its own data directory; stopped by its own pid."""

    def __init__(self, archive_root: Path, *, threads: int, fis_src: str | None, keep: bool, kind: str = "fis"):
        self.tmp = Path(tempfile.mkdtemp(prefix="fis-load-"))
        self.keep = keep
        self.port = free_port()
        self.env = dict(os.environ, FIS_DATA_DIR=str(self.tmp))
        if fis_src:
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [fis_src, self.env.get("PYTHONPATH", "")]))
        self.archive_root = archive_root
        self.threads = threads
        self.kind = kind
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        start = time.perf_counter()
        # cwd: the data dir, so `python -c` imports fis from PYTHONPATH / site-packages, not from the cwd
        subprocess.run(fis_command("db", "upgrade"), env=self.env, check=True, capture_output=True, cwd=self.tmp)
        ingest = subprocess.run(fis_command("ingest", str(self.archive_root)), env=self.env, capture_output=True, text=True, cwd=self.tmp)
        if ingest.returncode != 0:
            raise RuntimeError(f"fis ingest failed:\n{ingest.stderr[-2000:]}")
        print(f"ingested: {ingest.stdout.strip()} ({time.perf_counter() - start:.1f} s)", flush=True)
        self.log = open(self.tmp / "server.log", "wb")
        if self.kind == "poll":
            command = [sys.executable, "-c", POLL_SERVER, HOST, str(self.port), str(self.threads)]
        else:
            command = fis_command("serve", "--host", HOST, "--port", str(self.port), "--threads", str(self.threads))
        self.proc = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fis serve exited: {(self.tmp / 'server.log').read_text()[-2000:]}")
            try:
                status, _, _ = request(HOST, self.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    what = "fis serve" if self.kind == "fis" else "fis app on waitress (asyncore_use_poll)"
                    print(f"{what} on http://{HOST}:{self.port} ({self.threads} threads), data dir {self.tmp}", flush=True)
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("fis serve did not answer /healthz within 60 s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mb(self) -> float | None:
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def request(host: str, port: int, method: str, path: str, body: Any = None, *, conn: http.client.HTTPConnection | None = None,
            timeout: float = 300) -> tuple[int, bytes, http.client.HTTPConnection | None]:
    """One request; reuses ``conn`` (keep-alive) and returns the connection to reuse next time."""
    own = conn is None
    if conn is None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        keep = not response.will_close
    except (OSError, http.client.HTTPException):
        conn.close()
        raise
    if own or not keep:
        conn.close()
        conn = None
    return response.status, payload, conn


def field_polygon(archive: Any, hectares: float, rng: random.Random) -> Any:
    """The benchmark polygon moved to a random position inside the archive (a 'new field')."""
    from shapely import affinity

    poly = benchmark_polygon(archive, hectares)
    half = archive.size_px * 10.0 / 2
    minx, miny, maxx, maxy = poly.bounds
    room_x = max(0.0, half - (maxx - minx) / 2 - 50.0)
    room_y = max(0.0, half - (maxy - miny) / 2 - 50.0)
    return affinity.translate(poly, rng.uniform(-room_x, room_x), rng.uniform(-room_y, room_y))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run_phase(name: str, port: int, *, clients: int, duration: float, max_requests: int, post_share: float,
              series_ids: list[str], archive: Any, hectares: float, seed: int, alive: Any = lambda: True) -> dict[str, Any]:
    """N client threads until ``duration`` or ``max_requests``; per kind latencies and errors."""
    deadline = time.monotonic() + duration
    lock = threading.Lock()
    samples: dict[str, list[float]] = {"GET": [], "POST": []}
    errors: dict[str, list[str]] = {"GET": [], "POST": []}
    issued = [0]

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = None
        while time.monotonic() < deadline:
            with lock:
                if issued[0] >= max_requests:
                    return
                issued[0] += 1
            kind = "POST" if rng.random() < post_share else "GET"
            if kind == "GET":
                threshold = rng.choice(["", "?max_cloud_fraction=0.3", "?max_cloud_fraction=0.6&include_cloudy=true"])
                args = ("GET", f"/api/v1/timeseries/{rng.choice(series_ids)}{threshold}", None)
            else:
                args = ("POST", "/api/v1/timeseries", request_body(field_polygon(archive, hectares, rng)))
            start = time.perf_counter()
            try:
                status, payload, conn = request(HOST, port, *args, conn=conn)
                ok = 200 <= status < 300
                problem = None if ok else f"HTTP {status}: {payload[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                conn, problem = None, f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - start
            with lock:
                samples[kind].append(elapsed)
                if problem:
                    errors[kind].append(problem)
            if problem and not alive():
                return  # the server is gone: stop instead of counting connection refusals
        if conn is not None:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 600)
    wall = time.perf_counter() - started
    result: dict[str, Any] = {"phase": name, "clients": clients, "seconds": round(wall, 2), "kinds": {}}
    for kind, values in samples.items():
        if not values:
            continue
        result["kinds"][kind] = {
            "requests": len(values),
            "errors": len(errors[kind]),
            "error_examples": sorted(set(errors[kind]))[:3],
            "p50_ms": percentile(values, 50) * 1000,
            "p95_ms": percentile(values, 95) * 1000,
            "p99_ms": percentile(values, 99) * 1000,
            "mean_ms": statistics.fmean(values) * 1000,
            "max_ms": max(values) * 1000,
            "throughput_rps": len(values) / wall,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads [8]")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase [20]")
    parser.add_argument("--max-requests", type=int, default=20000, help="cap on requests per phase [20000]")
    parser.add_argument("--hectares", type=float, default=100.0, help="field size of the POSTed polygons [100]")
    parser.add_argument("--archive-size", type=int, default=None, help="archive width in 10 m pixels [enough for --hectares]")
    parser.add_argument("--server-threads", type=int, default=8, help="waitress worker threads of fis serve [8]")
    parser.add_argument("--phases", default="get,post,mixed", help="phases to run [get,post,mixed]")
    parser.add_argument("--seed-series", type=int, default=4, help="series stored before the GET phase [4]")
    parser.add_argument("--fis-src", default=None, help="run the fis package in this source tree instead of the installed one")
    parser.add_argument("--server", choices=("fis", "poll"), default="fis",
                        help="fis: `fis serve` as shipped [default]; poll: the same app on waitress with asyncore_use_poll=True")
    parser.add_argument("--keep", action="store_true", help="keep the server's data directory (prints where)")
    args = parser.parse_args()

    archive = ensure_archive(args.archive_size or archive_size_for(args.hectares))
    print(f"archive: {archive.describe()}", flush=True)
    server = Server(archive.root, threads=args.server_threads, fis_src=str(Path(args.fis_src).resolve()) if args.fis_src else None,
                    keep=args.keep, kind=args.server)
    phases: list[dict[str, Any]] = []
    try:
        server.start()
        rng = random.Random(7)
        series_ids: list[str] = []
        seed_times = []
        for _ in range(args.seed_series):
            start = time.perf_counter()
            try:
                status, payload, _ = request(HOST, server.port, "POST", "/api/v1/timeseries", request_body(field_polygon(archive, args.hectares, rng)))
            except (OSError, http.client.HTTPException) as exc:
                status, payload = None, f"{type(exc).__name__}: {exc}".encode()
            seed_times.append(time.perf_counter() - start)
            if status != 201:
                print(f"\nFAILED: storing a series (single client, POST) -> {status or ''} {payload[:300]!r}", flush=True)
                if server.proc is not None and server.proc.poll() is not None:
                    print(f"the server died (exit {server.proc.returncode}); its log ends with:")
                    print("\n".join((server.tmp / "server.log").read_text(errors="replace").splitlines()[-3:]))
                    if args.server == "fis":
                        print("(--server poll runs the same app with waitress' asyncore_use_poll=True)")
                sys.exit(2)
            series_ids.append(json.loads(payload)["id"])
        print(f"stored {len(series_ids)} series (single-client POSTs: {', '.join(f'{t:.2f}' for t in seed_times)} s)", flush=True)
        shares = {"get": 0.0, "post": 1.0, "mixed": 0.2}
        for i, name in enumerate(p.strip() for p in args.phases.split(",") if p.strip()):
            if name not in shares:
                parser.error(f"unknown phase {name!r}; use get, post, mixed")
            if not server.alive():
                print(f"phase {name}: skipped, the server is no longer running", flush=True)
                continue
            print(f"phase {name}: {args.clients} clients for {args.duration:g} s ...", flush=True)
            phases.append(run_phase(
                name, server.port, clients=args.clients, duration=args.duration, max_requests=args.max_requests,
                post_share=shares[name], series_ids=series_ids, archive=archive, hectares=args.hectares, seed=i,
                alive=server.alive,
            ))
        peak = server.rss_mb()
        server_died = not server.alive()
        if server_died:
            print(f"THE SERVER DIED (exit {server.proc.returncode}); last lines of its log:", flush=True)
            print("\n".join((server.tmp / "server.log").read_text(errors="replace").splitlines()[-4:]))
    finally:
        server.stop()
    lines = [f"{'phase':<7} {'kind':<5} {'requests':>8} {'errors':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9} {'req/s':>7}"]
    for phase in phases:
        for kind, k in phase["kinds"].items():
            lines.append(f"{phase['phase']:<7} {kind:<5} {k['requests']:>8} {k['errors']:>6} {k['p50_ms']:>9.1f} {k['p95_ms']:>9.1f} "
                         f"{k['p99_ms']:>9.1f} {k['max_ms']:>9.1f} {k['throughput_rps']:>7.2f}")
            for example in k["error_examples"]:
                lines.append(f"        error: {example}")
    table = "\n".join(lines)
    print()
    print(table)
    print(f"server peak RSS: {peak:.0f} MB" if peak else "")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = RESULTS_DIR / f"{stamp}-load.json"
    out.write_text(json.dumps({
        "meta": {"timestamp": stamp, "server": args.server, "clients": args.clients, "duration_s": args.duration, "hectares": args.hectares,
                 "server_threads": args.server_threads, "archive": archive.describe(), "cpus": os.cpu_count(),
                 "server_peak_rss_mb": peak, "seed_post_seconds": seed_times, "server_died": server_died,
                 "loadavg_1min_end": os.getloadavg()[0]},
        "phases": phases,
    }, indent=1) + "\n")
    print(f"written {out}")
    failed = sum(k["errors"] for p in phases if p["phase"] == "get" for k in p["kinds"].values())
    sys.exit(1 if failed or server_died else 0)


if __name__ == "__main__":
    main()
