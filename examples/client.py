#!/usr/bin/env python3
"""A minimal fis client using only the Python standard library.

POSTs a time-series request, prints one line per observation (date, NDVI mean, cloud fraction,
cloud probability) and downloads the same series as CSV.

    python examples/client.py                                  # examples/request.json, http://127.0.0.1:8080
    python examples/client.py --base http://127.0.0.1:8765 --include-cloudy --csv series.csv
    python examples/client.py --geometry examples/field.geojson --from 2023-04-01 --to 2023-09-30
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def call(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request; returns (status, headers, body). fis errors are raised as SystemExit with the message."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            error = json.loads(payload)["error"]
        except (ValueError, KeyError, TypeError):
            raise SystemExit(f"{method} {url}: HTTP {exc.code}: {payload[:500]!r}") from None
        where = f" (field {error['field']})" if error.get("field") else ""
        raise SystemExit(f"{method} {url}: HTTP {error['status']} {error['code']}{where}: {error['message']}") from None
    except urllib.error.URLError as exc:
        raise SystemExit(f"cannot reach {url}: {exc.reason}; is `fis serve` running?") from None


def build_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(Path(args.request).read_text(encoding="utf-8"))
    if args.geometry:
        body["geometry"] = json.loads(Path(args.geometry).read_text(encoding="utf-8"))
    if args.date_from or args.date_to:
        body["time_range"] = {
            "from": args.date_from or body["time_range"]["from"],
            "to": args.date_to or body["time_range"]["to"],
        }
    if args.max_cloud_fraction is not None:
        body["max_cloud_fraction"] = args.max_cloud_fraction
    if args.include_cloudy:
        body["include_cloudy"] = True
    return body


def fmt(value: float | None, width: int = 8) -> str:
    return f"{value:{width}.3f}" if value is not None else f"{'-':>{width}}"


def print_table(series: dict[str, Any]) -> None:
    summary = series["summary"]
    print(f"series {series['id']}  status {series['status']}  "
          f"{summary['observations']} observations, {summary['returned']} shown, {summary['cloudy']} cloudy "
          f"(filter {series['filter']})")
    print(f"{'date':<10}  {'ndvi_mean':>9}  {'cloud_fraction':>14}  {'cloud_probability':>17}  {'valid px':>8}  cloudy")
    for obs in series["observations"]:
        print(
            f"{obs['date']:<10}  {fmt(obs['ndvi']['mean'], 9)}  {fmt(obs['cloud_fraction'], 14)}  "
            f"{fmt(obs['cloud_probability'], 17)}  {obs['pixels']['valid']:>8}  {'yes' if obs['cloudy'] else ''}"
        )
    for error in series["errors"]:
        print(f"{error['date']:<10}  failed: {error['message']}")
    for warning in series["warnings"]:
        print(f"warning: {warning}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="http://127.0.0.1:8080", help="service URL [%(default)s]")
    parser.add_argument("--request", default=str(HERE / "request.json"), help="JSON request body [%(default)s]")
    parser.add_argument("--geometry", help="GeoJSON file (Polygon, MultiPolygon or Feature) replacing the body's geometry")
    parser.add_argument("--from", dest="date_from", help="first date, inclusive (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", help="last date, inclusive (YYYY-MM-DD)")
    parser.add_argument("--max-cloud-fraction", type=float, help="hide dates with a larger cloudy-pixel share")
    parser.add_argument("--include-cloudy", action="store_true", help="show cloudy dates too (flagged)")
    parser.add_argument("--csv", default="fis-timeseries.csv", help="where to save the CSV [%(default)s]")
    args = parser.parse_args(argv)

    base = args.base.rstrip("/")
    status, headers, payload = call("POST", f"{base}/api/v1/timeseries", build_body(args))
    series = json.loads(payload)
    print(f"HTTP {status}, Location: {headers.get('Location')}")
    print_table(series)

    _, _, csv_bytes = call("GET", series["links"]["csv"])
    Path(args.csv).write_bytes(csv_bytes)
    rows = max(0, len(csv_bytes.decode("utf-8").splitlines()) - 1)
    print(f"CSV ({rows} rows, same filter as above) saved to {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
