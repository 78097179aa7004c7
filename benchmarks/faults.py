#!/usr/bin/env python
"""fis serve on PostGIS under load, through a database outage, and on SIGTERM. One command::

    python benchmarks/faults.py                      # 16 clients, 60 s load, 15 s outage
    python benchmarks/faults.py --duration 20 --outage 10 --clients 8

Needs a PostgreSQL server with PostGIS (``FIS_TEST_POSTGRES_URL``, default
postgresql+psycopg://postgres@localhost:5432/postgres); a fresh database is made and dropped.
fis reaches PostgreSQL through a TCP relay in this script, so the "outage" cuts every connection
and refuses new ones for ``--outage`` seconds without stopping a PostgreSQL that others use.

    load      N clients for --duration s: 80 % GET of stored series, 10 % list, 10 % POST of a new field
    outage    the same load; after 10 s the relay goes down for --outage s, then up again:
              answers by status and error code, Retry-After present, /healthz during the outage,
              seconds until the first 2xx after the database is back (no restart)
    sigterm   the same load; SIGTERM to fis serve after 5 s: what the in-flight requests got
    check     every POST answered 201 is stored with exactly the observations it returned;
              no series without observations (a series and its observations, or nothing)

Results: printed, and written to ``benchmarks/results/<timestamp>-faults.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, archive_size_for, ensure_archive, request_body
from load import HOST, Server, field_polygon, free_port, percentile


class Relay:
    """A TCP relay to PostgreSQL that can be taken down (every connection cut, new ones refused) and up."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.up_flag = threading.Event()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(128)
        self.listener = listener
        self.up_flag.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        self.up_flag.clear()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not, on Linux)
            self.listener.close()
        with self.lock:
            for conn in self.conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self.conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self.up_flag.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self.up_flag.is_set():
                client.close()
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            a.close()
            b.close()


def call(
    port: int, method: str, path: str, body: Any = None, timeout: float = 120
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


class Load:
    """N client threads; every answer recorded as (start offset, kind, status or error, code, retry-after, seconds)."""

    def __init__(self, port: int, *, clients: int, archive: Any, hectares: float, series_ids: list[str]) -> None:
        self.port, self.clients, self.archive, self.hectares = port, clients, archive, hectares
        self.series_ids = series_ids
        self.records: list[dict[str, Any]] = []
        self.created: dict[str, int] = {}  # series id -> observations returned with its 201
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self, duration: float) -> None:
        self.t0 = time.monotonic()
        threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.clients)]
        for t in threads:
            t.start()
        self.stop.wait(duration)
        self.stop.set()
        for t in threads:
            t.join(timeout=300)

    def _client(self, index: int) -> None:
        rng = random.Random(index)
        while not self.stop.is_set():
            draw = rng.random()
            if draw < 0.1:
                kind, args = "POST", ("POST", "/api/v1/timeseries",
                                      request_body(field_polygon(self.archive, self.hectares, rng)))
            elif draw < 0.2:
                kind, args = "LIST", ("GET", "/api/v1/timeseries?limit=20", None)
            else:
                kind, args = "GET", ("GET", f"/api/v1/timeseries/{rng.choice(self.series_ids)}", None)
            start = time.monotonic()
            record: dict[str, Any] = {"t": round(start - self.t0, 3), "kind": kind}
            try:
                status, headers, payload = call(self.port, *args)
                record["status"] = status
                record["retry_after"] = headers.get("Retry-After")
                if status >= 400:
                    try:
                        record["code"] = json.loads(payload)["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        record["code"] = payload[:80].decode(errors="replace")
                elif kind == "POST":
                    body = json.loads(payload)
                    with self.lock:
                        self.created[body["id"]] = len(body["observations"])
            except (OSError, http.client.HTTPException) as exc:
                record["status"] = None
                record["code"] = type(exc).__name__
                time.sleep(0.2)
            record["seconds"] = time.monotonic() - start
            with self.lock:
                self.records.append(record)
            if record["status"] == 503:
                time.sleep(min(5.0, float(record.get("retry_after") or 1)))  # as a polite client does


def summary(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    by_kind: dict[str, Any] = {}
    for kind in ("GET", "LIST", "POST"):
        ok = [r["seconds"] for r in records if r["kind"] == kind and r["status"] is not None and r["status"] < 400]
        errors = [r for r in records if r["kind"] == kind and (r["status"] is None or r["status"] >= 400)]
        if not ok and not errors:
            continue
        by_kind[kind] = {
            "requests": len(ok) + len(errors), "errors": len(errors),
            "p50_ms": round((percentile(ok, 50) or 0) * 1000, 1),
            "p95_ms": round((percentile(ok, 95) or 0) * 1000, 1),
            "p99_ms": round((percentile(ok, 99) or 0) * 1000, 1),
            "throughput_rps": round((len(ok) + len(errors)) / seconds, 2),
        }
    statuses: dict[str, int] = {}
    for r in records:
        ok = r["status"] in (200, 201)
        key = str(r["status"]) if ok else f"{r['status']} {r.get('code', '')}".strip()
        statuses[key] = statuses.get(key, 0) + 1
    return {"seconds": round(seconds, 1), "kinds": by_kind, "answers": dict(sorted(statuses.items()))}


def consistency(url: str, created: dict[str, int]) -> dict[str, Any]:
    """Acknowledged series stored whole; no stored series without observations."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT t.id, count(o.id) FROM timeseries t LEFT JOIN observations o ON o.timeseries_id = t.id "
            "GROUP BY t.id"
        )).all())
    engine.dispose()
    mismatched = [sid for sid, n in created.items() if counts.get(sid) != n]
    empty = [sid for sid, n in counts.items() if n == 0]
    return {"stored_series": len(counts), "acknowledged_posts": len(created),
            "acknowledged_but_missing_or_partial": mismatched, "stored_without_observations": empty,
            "stored_but_not_acknowledged": len(set(counts) - set(created))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the load phase [60]")
    parser.add_argument("--outage", type=float, default=15.0, help="seconds the database is unreachable [15]")
    parser.add_argument("--hectares", type=float, default=1.0, help="field size of the POSTed polygons [1]")
    parser.add_argument("--phases", default="load,outage,sigterm")
    args = parser.parse_args()

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = os.environ.get("FIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@localhost:5432/postgres")
    name = f"fis_faults_{uuid.uuid4().hex[:8]}"
    admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    parsed = make_url(admin)
    relay = Relay((parsed.host or "localhost", parsed.port or 5432))
    direct_url = parsed.set(database=name).render_as_string(hide_password=False)
    relayed_url = parsed.set(database=name, host=HOST, port=relay.port).render_as_string(hide_password=False)
    os.environ.update(FIS_DATABASE_URL=relayed_url, FIS_RATE_LIMIT="", FIS_LOG_FORMAT="json")
    archive = ensure_archive(archive_size_for(args.hectares))
    results: dict[str, Any] = {"clients": args.clients, "hectares": args.hectares, "phases": {}}
    server = Server(archive.root, threads=8, fis_src=None, keep=False)
    try:
        server.start()
        rng = random.Random(0)
        created: dict[str, int] = {}
        for _ in range(4):
            body = json.loads(call(server.port, "POST", "/api/v1/timeseries",
                                   request_body(field_polygon(archive, args.hectares, rng)))[2])
            created[body["id"]] = len(body["observations"])
        seeds = list(created)
        phases = args.phases.split(",")
        if "load" in phases:
            load = Load(server.port, clients=args.clients, archive=archive, hectares=args.hectares, series_ids=seeds)
            load.run(args.duration)
            created.update(load.created)
            results["phases"]["load"] = summary(load.records, args.duration)
            print(json.dumps({"load": results["phases"]["load"]}, indent=1), flush=True)
        if "outage" in phases:
            load = Load(server.port, clients=args.clients, archive=archive, hectares=args.hectares, series_ids=seeds)
            runner = threading.Thread(target=load.run, args=(10 + args.outage + 20,), daemon=True)
            runner.start()
            time.sleep(10)
            relay.down()
            down_at = time.monotonic() - load.t0
            time.sleep(args.outage / 2)
            health = call(server.port, "GET", "/healthz")
            time.sleep(args.outage / 2)
            relay.up()
            up_at = time.monotonic() - load.t0
            runner.join()
            created.update(load.created)
            during = [r for r in load.records if down_at <= r["t"] < up_at]
            after = sorted((r for r in load.records if r["t"] >= up_at), key=lambda r: r["t"])
            first_ok = next((r["t"] - up_at for r in after if r["status"] is not None and r["status"] < 400), None)
            results["phases"]["outage"] = {
                "down_at_s": round(down_at, 1), "up_at_s": round(up_at, 1),
                "during": summary(during, up_at - down_at)["answers"],
                "during_503_without_retry_after": sum(1 for r in during if r["status"] == 503 and not r["retry_after"]),
                "during_500": sum(1 for r in during if r["status"] == 500),
                "healthz_during": {"status": health[0], "body": json.loads(health[2]),
                                   "retry_after": health[1].get("Retry-After")},
                "seconds_to_first_2xx_after_up": None if first_ok is None else round(first_ok, 2),
                "after": summary(after, 20)["answers"],
            }
            print(json.dumps({"outage": results["phases"]["outage"]}, indent=1), flush=True)
        if "sigterm" in phases:
            load = Load(server.port, clients=args.clients, archive=archive, hectares=args.hectares, series_ids=seeds)
            runner = threading.Thread(target=load.run, args=(15,), daemon=True)
            runner.start()
            time.sleep(5)
            assert server.proc is not None
            killed_at = time.monotonic() - load.t0
            server.proc.send_signal(signal.SIGTERM)
            server.proc.wait(timeout=60)
            runner.join()
            created.update(load.created)
            cut = [r for r in load.records if r["t"] < killed_at < r["t"] + r["seconds"]]
            results["phases"]["sigterm"] = {
                "exit_code": server.proc.returncode,
                "in_flight_at_sigterm": summary(cut, 1)["answers"],
                "after_sigterm": summary([r for r in load.records if r["t"] >= killed_at], 1)["answers"],
            }
            print(json.dumps({"sigterm": results["phases"]["sigterm"]}, indent=1), flush=True)
        results["consistency"] = consistency(direct_url, created)
        print(json.dumps({"consistency": results["consistency"]}, indent=1), flush=True)
    finally:
        server.stop()
        relay.down()
        admin_engine.dispose()
        with create_engine(admin, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}-faults.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
