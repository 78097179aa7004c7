"""The Statistical API path (evalscript in V8) against the native engine for the same NDVI + CLM work.

    python benchmarks/statistical.py                 # 100 ha, one year (73 dates), 5 warm runs each
    python benchmarks/statistical.py --hectares 10 --runs 3

Both paths run in this process on the cached benchmark archive (``common.ensure_archive``) and the same
warm :class:`fis.engine.engine.Engine` (open datasets cached): the native side is ``Engine.compute`` of a
request with ``outputs=["ndvi", "cloud_fraction"]`` (NDVI statistics and the CLM share, no band means, no
cloud model); the Statistical side is what ``POST /api/v1/statistics`` runs: the request parsed, the seed's
NDVI + CLM evalscript evaluated per P1D interval in the sandbox's worker process, and the statistics of both
outputs. Runs alternate between the two; the table gives the median seconds and the ratio, and the two
paths' NDVI means are checked to agree (float32 precision).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CRS, RESULTS_DIR, YEAR, archive_size_for, benchmark_polygon, ensure_archive, load_scenes  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hectares", type=float, default=100.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from shapely.geometry import mapping

    from fis.api.statistics import EXAMPLE_EVALSCRIPT
    from fis.core.request import parse_timeseries_request
    from fis.engine.clouds import load_model
    from fis.engine.engine import Engine
    from fis.engine.evalscript import EvalscriptSandbox
    from fis.protocols.sentinelhub_stats.body import parse_statistical_request
    from fis.protocols.sentinelhub_stats.run import check_setup, run_statistical

    archive = ensure_archive(archive_size_for(args.hectares))
    polygon = benchmark_polygon(archive, args.hectares)
    geometry = json.loads(json.dumps(mapping(polygon)))
    scenes = load_scenes(archive.items)
    engine = Engine(load_model("s2cloudless-v0.1"))
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

    with EvalscriptSandbox(processes=1) as sandbox:
        def native() -> dict[str, float]:
            result = engine.compute(native_request, scenes)
            return {o.date.isoformat(): o.ndvi["mean"] for o in result.observations if o.ndvi.get("mean") is not None}

        def statistical() -> dict[str, float]:
            query = parse_statistical_request(body)
            setup = sandbox.setup(query.evalscript)
            check_setup(query, setup)
            answer = run_statistical(query, setup, sandbox, engine, scenes, timeout_s=60.0)
            assert answer["status"] == "OK", answer["status"]
            return {e["interval"]["from"][:10]: e["outputs"]["ndvi"]["bands"]["B0"]["stats"]["mean"]
                    for e in answer["data"] if e["outputs"]["ndvi"]["bands"]["B0"]["stats"]["mean"] != "NaN"}

        a, b = native(), statistical()  # warm-up: datasets opened, V8 worker started
        assert a.keys() == b.keys(), (sorted(a.keys() ^ b.keys()))[:5]
        worst = max(abs(a[d] - b[d]) for d in a)
        assert worst < 1e-6, worst
        times: dict[str, list[float]] = {"native": [], "statistical": []}
        for _ in range(args.runs):
            for name, fn in (("native", native), ("statistical", statistical)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["statistical"] / medians["native"]
    row = {"hectares": args.hectares, "dates": len(a), "runs": args.runs,
           "native_s": round(medians["native"], 4), "statistical_s": round(medians["statistical"], 4),
           "ratio": round(ratio, 2), "max_ndvi_mean_difference": worst}
    print(f"{'path':<14}{'median s':>10}")
    print(f"{'native':<14}{medians['native']:>10.3f}")
    print(f"{'statistical':<14}{medians['statistical']:>10.3f}")
    print(f"ratio statistical / native: {ratio:.2f} (target <= 1.5); {len(a)} dates, {args.hectares:g} ha; "
          f"NDVI means agree within {worst:.1e}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}-statistical.json"
    out.write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
