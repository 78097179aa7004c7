"""Pixel rules ``center`` / ``all_touched`` / ``coverage`` (+ ``min_coverage``) on hand-made grids.

The grid is handrasters' 10 x 10 raster of 10 m pixels, ``v[row, col] = 10 row + col``,
B04 = (100 + v) / 10 000 and B08 = (1000 + v) / 10 000. The box x X0+22.5..X0+42.5,
y Y0-42.5..Y0-22.5 covers, per row and per column of pixels 2, 3, 4, the fractions
0.75, 1, 0.25: the centres of pixels 2 and 3 are inside, the centre of 4 is not. So

* ``center``: the 2 x 2 pixels rows/cols 2..3 (4 pixels);
* ``all_touched``: the 3 x 3 pixels rows/cols 2..4 (9 pixels, unweighted);
* ``coverage``: the same 9 pixels weighted by the outer product of (0.75, 1, 0.25) (sum 4);
  weighted mean row = (2 * 0.75 + 3 + 4 * 0.25) / 2 = 2.75, so mean v = 27.5 + 2.75 = 30.25;
* ``coverage`` with ``min_coverage`` 0.5: rows/cols 2..3 weighted (0.75, 1) x (0.75, 1)
  (sum 3.0625); mean row = (2 * 1.75 * 0.75 + 3 * 1.75 * 1) / 3.0625 = 18/7, mean v = 198/7.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from shapely.geometry import box, mapping

from fis.core.stats import HistogramSpec, weighted_quantile
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.engine.grid import Grid, pixel_weights
from fis.engine.reductions import DatePixels, StatisticsOptions, reduce_date
from fis.errors import InvalidInput
from handrasters import X0, Y0, make_request, polygon, ring, write_scene

BOX = (X0 + 22.5, Y0 - 42.5, X0 + 42.5, Y0 - 22.5)
FRACTIONS = {2: 0.75, 3: 1.0, 4: 0.25}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory):
    return write_scene(tmp_path_factory.mktemp("rules"), "RULES")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model("s2cloudless-v0.1"))


def _compute(engine: Engine, scene, **options):
    request = make_request(polygon(ring(*BOX)), **options)
    (obs,) = engine.compute(request, [scene]).observations
    return obs


def _weighted_ndvi(cells: dict[tuple[int, int], float]) -> tuple[float, float]:
    v = np.array([10 * r + c for r, c in cells], dtype=np.float64)
    w = np.array(list(cells.values()))
    ndvi = ((1000 + v) - (100 + v)) / ((1000 + v) + (100 + v))
    mean = float(np.sum(w * ndvi) / w.sum())
    return mean, float(np.sqrt(np.sum(w * (ndvi - mean) ** 2) / w.sum()))


def test_center_rule_takes_the_four_pixels_whose_centre_is_inside(engine, scene) -> None:
    obs = _compute(engine, scene)
    assert obs.pixels.total == obs.pixels.valid == 4
    # rows/cols 2..3: mean v = 22 + 2.5 + 0.5 ... = mean of 22, 23, 32, 33 = 27.5
    assert obs.bands["B04"] == pytest.approx((100 + 27.5) / 1e4, rel=1e-6)
    assert obs == _compute(engine, scene, pixel_rule="center")


def test_all_touched_takes_the_nine_touched_pixels_unweighted(engine, scene) -> None:
    obs = _compute(engine, scene, pixel_rule="all_touched")
    assert obs.pixels.total == obs.pixels.valid == 9
    assert obs.bands["B04"] == pytest.approx((100 + 33) / 1e4, rel=1e-6)  # mean of rows/cols 2..4 = 33


def test_coverage_weights_each_pixel_by_its_covered_fraction(engine, scene) -> None:
    obs = _compute(engine, scene, pixel_rule="coverage")
    assert obs.pixels.total == obs.pixels.valid == 9  # pixel counts stay integer counts of weight > 0
    assert obs.bands["B04"] == pytest.approx((100 + 30.25) / 1e4, rel=1e-6)
    assert obs.bands["B08"] == pytest.approx((1000 + 30.25) / 1e4, rel=1e-6)
    cells = {(r, c): FRACTIONS[r] * FRACTIONS[c] for r in (2, 3, 4) for c in (2, 3, 4)}
    mean, std = _weighted_ndvi(cells)
    assert obs.ndvi["mean"] == pytest.approx(mean, rel=1e-6)
    assert obs.ndvi["std"] == pytest.approx(std, rel=1e-5)
    # min/max over every pixel with weight > 0: v = 44 (max v -> min NDVI) and v = 22
    assert obs.ndvi["min"] == pytest.approx(900 / (1100 + 88), rel=1e-6)
    assert obs.ndvi["max"] == pytest.approx(900 / (1100 + 44), rel=1e-6)


def test_min_coverage_drops_the_thinly_covered_pixels(engine, scene) -> None:
    obs = _compute(engine, scene, pixel_rule="coverage", min_coverage=0.5)
    assert obs.pixels.total == 4
    assert obs.bands["B04"] == pytest.approx((100 + 198 / 7) / 1e4, rel=1e-6)
    # exactly at the threshold: 0.5625 (corner 2,2) stays with 0.5625, goes with 0.57
    assert _compute(engine, scene, pixel_rule="coverage", min_coverage=0.5625).pixels.total == 4
    assert _compute(engine, scene, pixel_rule="coverage", min_coverage=0.57).pixels.total == 3


def test_pixel_weights_on_the_grid() -> None:
    from affine import Affine
    from pyproj import CRS

    grid = Grid(crs=CRS.from_epsg(32633), transform=Affine(10, 0, X0, 0, -10, Y0), width=10, height=10)
    mask, weights = pixel_weights(grid, box(*BOX), rule="coverage")
    rows, cols = np.nonzero(mask)
    assert list(zip(rows.tolist(), cols.tolist())) == [(r, c) for r in (2, 3, 4) for c in (2, 3, 4)]
    assert weights.tolist() == [FRACTIONS[r] * FRACTIONS[c] for r, c in zip(rows, cols)]
    assert pixel_weights(grid, box(*BOX), rule="center")[1] is None
    assert int(pixel_weights(grid, box(*BOX), rule="all_touched")[0].sum()) == 9


def test_weighted_reduction_by_hand() -> None:
    """cloud_fraction, percentiles and the histogram with weights, on four pixels."""
    b04 = np.array([0.1, 0.1, 0.1, 0.1])
    b08 = np.array([0.3, 0.5, 0.7, 0.9])  # NDVI 0.5, 2/3, 0.75, 0.8
    cloudy = np.array([True, False, False, False])
    weights = np.array([0.5, 1.0, 0.25, 0.25])
    pixels = DatePixels(values={"B04": b04, "B08": b08}, cloudy=cloudy, cloud_source="scl", weights=weights,
                        product_level="L2A")
    options = StatisticsOptions(percentiles=(0.0, 0.5, 1.0), histogram=HistogramSpec(edges=(0.0, 0.6, 1.0)))
    r = reduce_date(pixels, model_bands=("B04", "B08"), model_level="L2A", options=options)
    assert r.cloud_fraction == pytest.approx(0.5 / 2.0)
    assert r.pixels.cloudy == 1 and r.pixels.valid == 4
    assert r.bands["B08"] == pytest.approx((0.15 + 0.5 + 0.175 + 0.225) / 2.0)
    assert r.percentiles["ndvi"] == pytest.approx({"p0": 0.5, "p50": weighted_quantile(np.array([0.5, 2 / 3, 0.75, 0.8]), weights, 0.5), "p100": 0.8})
    assert r.histograms["ndvi"]["bins"][0]["count"] == 0.5
    assert r.histograms["ndvi"]["bins"][1]["count"] == 1.5
    # the model's mean vector is the weighted mean too
    assert r.model_vector is not None and r.model_vector[1] == pytest.approx(r.bands["B08"])


def test_weighted_quantile_definition() -> None:
    values = np.array([3.0, 1.0, 2.0, 10.0])
    # equal weights: numpy's linear interpolation
    for q in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        assert weighted_quantile(values, np.full(4, 0.3), q) == pytest.approx(float(np.quantile(values, q)))
    # S_k = k w_k + (n-1) sum_{i<k} w_i for sorted (1, 2, 3, 10) with w (1, 1, 2, 0.5): 0, 4, 10, 13.5
    # S_n = 3 * 4.5 = 13.5; q = 0.5 -> h = 6.75, between 2 (S=4) and 3 (S=10): 2 + 2.75/6
    w = np.array([2.0, 1.0, 1.0, 0.5])
    assert weighted_quantile(values, w, 0.5) == pytest.approx(2 + 2.75 / 6)


@pytest.mark.parametrize(
    "options, field",
    [
        ({"pixel_rule": "centre"}, "pixel_rule"),
        ({"pixel_rule": 3}, "pixel_rule"),
        ({"pixel_rule": "coverage", "min_coverage": 1.5}, "min_coverage"),
        ({"pixel_rule": "coverage", "min_coverage": -0.1}, "min_coverage"),
        ({"pixel_rule": "coverage", "min_coverage": "0.5"}, "min_coverage"),
        ({"min_coverage": 0.5}, "min_coverage"),
    ],
)
def test_bad_pixel_rule_options_name_the_parameter(options, field) -> None:
    with pytest.raises(InvalidInput) as info:
        make_request(polygon(ring(*BOX)), **options)
    assert info.value.field == field
    assert field in info.value.message


def test_parameters_record_the_rule_only_when_not_default() -> None:
    geometry = json.loads(json.dumps(mapping(box(*BOX))))
    assert "pixel_rule" not in make_request(geometry).parameters()
    assert "min_coverage" not in make_request(geometry, pixel_rule="coverage").parameters()
    params = make_request(geometry, pixel_rule="coverage", min_coverage=0.25).parameters()
    assert params["pixel_rule"] == "coverage" and params["min_coverage"] == 0.25
