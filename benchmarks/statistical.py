"""The Statistical API path (evalscript in V8) against the native engine for the same NDVI + CLM work.

    python benchmarks/statistical.py                 # 100 ha, one year (73 dates), 5 warm runs each
    python benchmarks/statistical.py --hectares 10 --runs 3

Both paths run in this process on the cached benchmark archive (``common.ensure_archive``) and the same
warm engine and evalscript sandbox of :class:`fis.services.runtime.Services` (as ``fis serve`` has them).
The native side is ``Engine.compute`` of a request with ``outputs=["ndvi", "cloud_fraction"]`` (NDVI
statistics and the CLM share, no band means, no cloud model). The Statistical side is what
``POST /api/v1/statistics`` runs: the request parsed, the seed's NDVI + CLM evalscript evaluated per P1D
interval in the sandbox's worker process, and the statistics of both outputs. Runs alternate between the
two; the table gives the median seconds and the ratio, and every run's NDVI means are compared across the
two paths (float32 precision) and the differences reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CRS, RESULTS_DIR, YEAR, archive_size_for, benchmark_polygon, ensure_archive, load_scenes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hectares", type=float, default=100.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from shapely.geometry import mapping

    from fis.api.statistics import EXAMPLE_EVALSCRIPT
    from fis.config import Settings
    from fis.core.request import parse_timeseries_request
    from fis.protocols.sentinelhub_stats.run import check_setup, run_statistical
    from fis.protocols.sentinelhub_stats.translate import parse_statistical_request
    from fis.services.runtime import Services

    archive = ensure_archive(archive_size_for(args.hectares))
    polygon = benchmark_polygon(archive, args.hectares)
    geometry = json.loads(json.dumps(mapping(polygon)))
    scenes = load_scenes(archive.items)
    # the service's own engine and sandbox (open-dataset cache and file limit as `fis serve` has them)
    tmp = Path(tempfile.mkdtemp(prefix="fis-statbench-"))
    services = Services.create(Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'fis.sqlite'}",
                                        evalscript_processes=1))
    engine = services.engine
    native_request = parse_timeseries_request({
        "geometry": geometry, "crs": CRS, "time_range": {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"},
        "resolution": 10, "outputs": ["ndvi", "cloud_fraction"],
    })
    body = {
        "input": {"bounds": {"geometry": geometry, "properties": {"crs": "http://www.opengis.net/def/crs/EPSG/0/32633"}},
                  "data": [{"type": "sentinel-2-l1c"}]},
        "aggregation": {"timeRange": {"from": f"{YEAR}-01-01T00:00:00Z", "to": f"{YEAR + 1}-01-01T00:00:00Z"},
                        "aggregationInterval": {"of": "P1D"}, "evalscript": EXAMPLE_EVALSCRIPT, "resx": 10, "resy": 10},
    }

    sandbox = services.sandbox
    try:
        def native() -> dict[str, float]:
            result = engine.compute(native_request, scenes)
            return {o.date.isoformat(): o.ndvi["mean"] for o in result.observations if o.ndvi.get("mean") is not None}

        def statistical() -> dict[str, float]:
            query = parse_statistical_request(body)
            scope = uuid.uuid4().hex  # as the API: a fresh script scope per request
            setup = sandbox.setup(query.evalscript, scope=scope)
            check_setup(query, setup)
            answer = run_statistical(query, setup, sandbox, engine, scenes, timeout_s=60.0, scope=scope)
            assert answer["status"] == "OK", answer["status"]
            return {e["interval"]["from"][:10]: e["outputs"]["ndvi"]["bands"]["B0"]["stats"]["mean"]
                    for e in answer["data"] if e["outputs"]["ndvi"]["bands"]["B0"]["stats"]["mean"] != "NaN"}

        results: dict[str, list[dict[str, float]]] = {"native": [native()], "statistical": [statistical()]}  # warm-up
        times: dict[str, list[float]] = {"native": [], "statistical": []}
        for _ in range(args.runs):
            for name, fn in (("native", native), ("statistical", statistical)):
                start = time.perf_counter()
                results[name].append(fn())
                times[name].append(time.perf_counter() - start)
    finally:
        services.close()
        shutil.rmtree(tmp, ignore_errors=True)
    # every run of one path against every run of the other: the same dates, NDVI means within float32 precision
    a = results["native"][0]
    worst, differing = 0.0, set()
    for x in results["native"]:
        for y in results["statistical"]:
            assert x.keys() == y.keys(), sorted(x.keys() ^ y.keys())[:5]
            for d in x:
                worst = max(worst, abs(x[d] - y[d]))
                if abs(x[d] - y[d]) > 1e-6:
                    differing.add(d)
    runs_differ = {name: sum(r != runs[0] for r in runs) for name, runs in results.items()}
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["statistical"] / medians["native"]
    row = {"hectares": args.hectares, "dates": len(a), "runs": args.runs,
           "native_s": round(medians["native"], 4), "statistical_s": round(medians["statistical"], 4),
           "ratio": round(ratio, 2), "max_ndvi_mean_difference": worst, "dates_differing": sorted(differing),
           "runs_differing_from_their_first": runs_differ}
    print(f"{'path':<14}{'median s':>10}")
    print(f"{'native':<14}{medians['native']:>10.3f}")
    print(f"{'statistical':<14}{medians['statistical']:>10.3f}")
    print(f"ratio statistical / native: {ratio:.2f} (target <= 1.5); {len(a)} dates, {args.hectares:g} ha; "
          f"NDVI means agree within {worst:.1e}" + (f" (differing dates: {sorted(differing)}; runs differing from "
                                                     f"their path's first: {runs_differ})" if differing else ""))
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}-statistical.json"
    out.write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
