"""Shared pieces of the benchmarks: the cached demo archive, the benchmark polygons, scene loading.

The archive is made by the project's own generator (:func:`fis.demo.archive.build_demo_archive`): two
overlapping MGRS tiles, one year at a 5-day revisit (73 dates, 146 scenes), 13 per-band COGs with
overviews per scene, Level-1C DNs of processing baseline 05.09. It is cached under
``benchmarks/data/`` (gitignored) keyed by its parameters; a metadata file beside it
records how long generating it took (``benchmarks/data/<archive>.meta.json``).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import Polygon, mapping

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
RESULTS_DIR = HERE / "results"

CRS = "EPSG:32633"
ORIGIN = (500000.0, 5100000.0)  # upper-left corner of the demo area (fis.demo.archive default)
YEAR = 2023
REVISIT_DAYS = 5
TILES = 2
SEED = 0
MARGIN_PX = 50  # 500 m of archive around the largest polygon


@dataclass(frozen=True)
class Archive:
    root: Path
    size_px: int
    items: list[Path]
    generation_seconds: float | None

    @property
    def centre(self) -> tuple[float, float]:
        half = self.size_px * 10.0 / 2
        return ORIGIN[0] + half, ORIGIN[1] - half

    def describe(self) -> dict[str, Any]:
        dates = len({p.parent.name.split("_")[2] for p in self.items})
        return {
            "root": str(self.root),
            "size_px": self.size_px,
            "extent_km": self.size_px * 10 / 1000,
            "tiles": TILES,
            "year": YEAR,
            "revisit_days": REVISIT_DAYS,
            "scenes": len(self.items),
            "dates": dates,
            "generation_seconds": self.generation_seconds,
        }


def archive_size_for(max_hectares: float) -> int:
    """Archive width in 10 m pixels: the largest square polygon plus 500 m around it, in 100 px steps
    (10,000 ha -> 1100 px = 11 km; 100 ha -> 200 px)."""
    side_px = math.ceil(math.sqrt(max_hectares * 1e4) / 10.0)
    return max(200, int(math.ceil((side_px + 2 * MARGIN_PX) / 100.0) * 100))


def ensure_archive(size_px: int, *, log: Any = print) -> Archive:
    """The cached archive of ``size_px`` x ``size_px`` pixels, generated (and timed) when missing."""
    root = DATA_DIR / f"archive-s{size_px}-y{YEAR}-t{TILES}-r{REVISIT_DAYS}-seed{SEED}"
    meta = DATA_DIR / f"{root.name}.meta.json"  # outside the archive: `fis ingest DIR` reads every *.json below DIR
    if not meta.is_file():
        from fis.demo.archive import build_demo_archive

        log(f"generating the benchmark archive ({size_px} x {size_px} px of 10 m, {TILES} tiles, {YEAR}, "
            f"{REVISIT_DAYS}-day revisit) in {root} ...")
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if done == total or now - last[0] > 15:
                last[0] = now
                log(f"  {done}/{total} scenes")

        start = time.perf_counter()
        build_demo_archive(root, year=YEAR, revisit_days=REVISIT_DAYS, size_px=size_px, tiles=TILES, seed=SEED, progress=progress)
        seconds = time.perf_counter() - start
        meta.write_text(json.dumps({"size_px": size_px, "generation_seconds": round(seconds, 1)}, indent=1) + "\n")
        log(f"  generated in {seconds:.0f} s")
    items = sorted(p for p in root.glob("*/*.json"))
    seconds = json.loads(meta.read_text()).get("generation_seconds")
    return Archive(root=root, size_px=size_px, items=items, generation_seconds=seconds)


def benchmark_polygon(archive: Archive, hectares: float) -> Polygon:
    """A slightly irregular quadrilateral of ``hectares`` centred on the archive (EPSG:32633 metres).

    Vertices sit at non-round offsets so no edge runs exactly through a row of pixel centres
    (where implementations may legitimately round differently). The centre lies in the overlap
    of the two tiles; the 10,000 ha polygon spans both tiles, so every path has to mosaic.
    """
    cx, cy = archive.centre
    cx, cy = cx + 3.37, cy - 2.71
    h = math.sqrt(hectares * 1e4) / 2
    jitter = min(h * 0.03, 7.3)
    ring = [
        (cx - h + 0.31 * jitter, cy - h + 0.97 * jitter),
        (cx + 0.05 * h, cy - h - 0.41 * jitter),
        (cx + h - 0.57 * jitter, cy - h + 0.23 * jitter),
        (cx + h + 0.29 * jitter, cy + 0.07 * h),
        (cx + h - 0.83 * jitter, cy + h - 0.61 * jitter),
        (cx - 0.11 * h, cy + h + 0.37 * jitter),
        (cx - h + 0.71 * jitter, cy + h - 0.89 * jitter),
        (cx - h - 0.47 * jitter, cy - 0.13 * h),
    ]
    poly = Polygon(ring)
    # scale about the centroid to the exact requested area
    from shapely import affinity

    factor = math.sqrt(hectares * 1e4 / poly.area)
    return affinity.scale(poly, factor, factor, origin=(cx, cy))


def request_body(polygon: Polygon) -> dict[str, Any]:
    """The fis request for a one-year series of ``polygon`` with the default cloud settings."""
    return {
        "geometry": json.loads(json.dumps(mapping(polygon))),  # GeoJSON lists, not tuples
        "crs": CRS,
        "time_range": {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"},
        "resolution": 10,
        "cloud_threshold": 0.4,
        "cloud_mask_resolution": 160,
        "cloud_mask_average_over": 1,
        "cloud_mask_dilation": 1,
    }


def load_scenes(items: list[Path]) -> list[Any]:
    from fis.catalog.stac import scene_from_item

    return [scene_from_item(json.loads(p.read_text()), base_href=str(p)) for p in items]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB.

    Linux: ``VmHWM`` of /proc/self/status, which belongs to this program's own memory image;
    ``ru_maxrss`` survives fork + exec, so a child of a large parent (the run that just generated
    the archive) would report the parent's peak. Elsewhere ``ru_maxrss``.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0)


def current_rss_mb() -> float:
    try:
        with open("/proc/self/statm") as fh:
            import os

            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")
