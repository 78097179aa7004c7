"""The engine's pixel rule against rasterstats (the reference implementation of 'centre inside').

rasterstats ``zonal_stats(..., all_touched=False)`` on the very GeoTIFF the engine reads must
give the same pixel count and the same mean (relative 1e-6: the engine holds reflectance in
float32) for irregular polygons with holes and for multipolygons.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from rasterstats import zonal_stats
from shapely.geometry import MultiPolygon, Polygon, mapping

from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from handrasters import X0, Y0, make_request, write_scene

SIZE = 60  # 600 m x 600 m of 10 m pixels

# rasterstats 0.21 still applies affine transforms with `*` (affine >= 3.0 warns); not our code.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul instead of `\\*` mul:PendingDeprecationWarning")


def star(cx: float, cy: float, radii: np.ndarray, phase: float = 0.0) -> list[tuple[float, float]]:
    angles = phase + np.linspace(0, 2 * np.pi, len(radii), endpoint=False)
    return list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles)))


def irregular_polygons() -> list:
    rng = np.random.default_rng(2024)
    cx, cy = X0 + 301.3, Y0 - 297.7
    outer = star(cx, cy, rng.uniform(150, 280, 23), 0.1)
    hole = star(cx + 13.7, cy - 8.2, rng.uniform(40, 90, 9), 0.4)
    with_hole = Polygon(outer, [hole])
    two_parts = MultiPolygon([
        Polygon(star(X0 + 120.4, Y0 - 130.9, rng.uniform(40, 100, 7))),
        Polygon(star(X0 + 470.2, Y0 - 455.6, rng.uniform(30, 110, 13), 0.3), [star(X0 + 470.2, Y0 - 455.6, np.full(6, 20.0))]),
    ])
    thin = Polygon([(X0 + 3.3, Y0 - 51.1), (X0 + 597.1, Y0 - 47.9), (X0 + 590.2, Y0 - 61.4), (X0 + 8.8, Y0 - 66.6)])
    return [with_hole, two_parts, thin]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory):
    rng = np.random.default_rng(11)
    b04 = rng.integers(200, 3000, (SIZE, SIZE)).astype(np.uint16)
    b08 = rng.integers(1500, 6000, (SIZE, SIZE)).astype(np.uint16)
    holes = rng.random((SIZE, SIZE)) < 0.05  # 5 % no-data pixels (DN 0) in both bands
    b04[holes] = 0
    b08[holes] = 0
    scene = write_scene(tmp_path_factory.mktemp("oracle"), "S1", {"B04": b04, "B08": b08})
    return scene


@pytest.mark.parametrize("index", range(3))
def test_count_and_mean_equal_rasterstats(archive, index: int) -> None:
    geometry = irregular_polygons()[index]
    assert geometry.is_valid
    band_file = archive.assets["B04"].href
    (oracle,) = zonal_stats(geometry, band_file, stats=["count", "mean"], all_touched=False)
    assert oracle["count"] > 20
    result = Engine(load_model("s2cloudless-v0.1")).compute(make_request(json.loads(json.dumps(mapping(geometry)))), [archive])
    (obs,) = result.observations
    # the request grid is the band file's own 10 m grid
    assert result.grid["resolution"] == [10.0, 10.0]
    assert obs.pixels.valid == oracle["count"]
    assert obs.bands["B04"] * 10000 == pytest.approx(oracle["mean"], rel=1e-6)
    # and the polygon's total pixel count (no-data included) equals rasterstats with nodata off
    (everything,) = zonal_stats(geometry, band_file, stats=["count"], all_touched=False, nodata=-1)
    assert obs.pixels.total == everything["count"]


@pytest.mark.parametrize("index", range(3))
def test_all_touched_count_and_mean_equal_rasterstats(archive, index: int) -> None:
    geometry = irregular_polygons()[index]
    band_file = archive.assets["B04"].href
    (oracle,) = zonal_stats(geometry, band_file, stats=["count", "mean"], all_touched=True)
    request = make_request(json.loads(json.dumps(mapping(geometry))), pixel_rule="all_touched")
    (obs,) = Engine(load_model("s2cloudless-v0.1")).compute(request, [archive]).observations
    assert obs.pixels.valid == oracle["count"]
    assert obs.bands["B04"] * 10000 == pytest.approx(oracle["mean"], rel=1e-6)


@pytest.mark.parametrize("index", range(3))
def test_coverage_mean_equals_exactextract(archive, index: int) -> None:
    """The coverage rule's weighted means (band and NDVI) against exactextract on the same GeoTIFFs."""
    import rasterio
    from exactextract import exact_extract

    geometry = irregular_polygons()[index]
    b04_file, b08_file = archive.assets["B04"].href, archive.assets["B08"].href
    feature = {"type": "Feature", "properties": {}, "geometry": mapping(geometry)}
    with rasterio.open(b04_file) as b04, rasterio.open(b08_file) as b08:
        (b04_stats,) = exact_extract(b04, [feature], ["mean", "count"])
        (b08_stats,) = exact_extract(b08, [feature], ["mean"])
    request = make_request(json.loads(json.dumps(mapping(geometry))), pixel_rule="coverage")
    (obs,) = Engine(load_model("s2cloudless-v0.1")).compute(request, [archive]).observations
    # exactextract skips no-data (DN 0) pixels; so does the engine (both bands share the holes)
    assert obs.bands["B04"] * 10000 == pytest.approx(b04_stats["properties"]["mean"], abs=1e-6, rel=1e-6)
    assert obs.bands["B08"] * 10000 == pytest.approx(b08_stats["properties"]["mean"], abs=1e-6, rel=1e-6)
