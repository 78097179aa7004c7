#!/usr/bin/env python
"""Cost of one evalscript call: the seed's NDVI + CLM script over n pixels x 4 inputs in the sandbox.

    python benchmarks/evalscript.py                      # n = 10000 and 100000, 40 calls each
    python benchmarks/evalscript.py --pixels 2500 --calls 100

Prints, per n, the median and minimum milliseconds of ``EvalscriptSandbox.evaluate`` (shipping the
inputs to a worker, the V8 loop, the outputs back, sampleType and dataMask) and, in the same run, of
the same arithmetic in numpy (the native path's equivalent of that step), plus their difference per
pixel. The first 5 calls (V8 warming up) are left out of the median. See docs/evalscripts.md.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from fis.engine.evalscript import EvalscriptSandbox

NDVI_CLM = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["B04", "B08", "CLM", "dataMask"]}],
    output: [{id: "ndvi", bands: 1, sampleType: "FLOAT32"}, {id: "clm", bands: 1}, {id: "dataMask", bands: 1}]
  };
}
function evaluatePixel(s) {
  return {ndvi: [index(s.B08, s.B04)], clm: [s.CLM], dataMask: [s.dataMask]};
}
"""


def _numpy(pixels: dict[str, np.ndarray]) -> None:
    with np.errstate(invalid="ignore", divide="ignore"):
        ndvi = ((pixels["B08"] - pixels["B04"]) / (pixels["B08"] + pixels["B04"])).astype(np.float32)
    valid = pixels["dataMask"] != 0
    float(np.nanmean(ndvi[valid])), float(pixels["CLM"][valid].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pixels", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with EvalscriptSandbox(processes=1) as sandbox:
        setup = sandbox.setup(NDVI_CLM)
        print(f"{'pixels':>8} {'evalscript ms (median/min)':>28} {'numpy ms (median)':>18} {'extra ns/pixel':>15}")
        for n in args.pixels:
            pixels = {
                "B04": rng.random(n),
                "B08": rng.random(n),
                "CLM": (rng.random(n) > 0.8).astype(np.float64),
                "dataMask": (rng.random(n) > 0.1).astype(np.float64),
            }
            ours: list[float] = []
            native: list[float] = []
            for _ in range(args.calls):
                started = time.perf_counter()
                sandbox.evaluate(NDVI_CLM, setup, pixels)
                middle = time.perf_counter()
                _numpy(pixels)
                native.append((time.perf_counter() - middle) * 1e3)
                ours.append((middle - started) * 1e3)
            median = statistics.median(ours[5:])
            extra = (median - statistics.median(native[5:])) / n * 1e6
            print(f"{n:>8} {median:>18.2f} / {min(ours):>7.2f} {statistics.median(native[5:]):>18.3f} {extra:>15.0f}")


if __name__ == "__main__":
    main()
