"""The fused reductions give numpy's values bit for bit: statistics with one sum for mean and std,
percentiles by value buckets instead of a partition of every value, block sums in another order."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS

from fis.core.radiometry import Radiometry
from fis.core.stats import NDVI_STATISTICS, STATISTICS, linear_percentiles, ndvi, summarise
from fis.engine.grid import Grid
from fis.engine.raster import NativeWindow, _block_sums, _exact_means, block_mean

PERCENTS = [50, 10, 25, 75, 90]


def _numpy_summary(values: np.ndarray) -> dict[str, float]:
    """The statistics one numpy call each, as fis computed them before."""
    return {name: STATISTICS[name](values) for name in NDVI_STATISTICS}


def _samples() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for n in (1, 2, 3, 17, 65_535, 65_536, 100_003, 400_000):
        out.append(rng.random(n) * 2 - 1)  # NDVI-like
        out.append(np.round(rng.normal(0.3, 0.2, n), 2))  # many ties
        out.append(np.full(n, -0.125))  # one value
        # a huge spread: most values in one bucket
        out.append(np.concatenate([rng.random(n - n // 3) * 1e-9, rng.normal(0.0, 1e8, n // 3)]))
        out.append((rng.random(n).astype(np.float32) - np.float32(0.1)).astype(np.float64))
    return out


@pytest.mark.parametrize("index", range(40))
def test_summary_is_numpys_bit_for_bit(index: int) -> None:
    values = _samples()[index]
    assert summarise(values) == _numpy_summary(values)


def test_bucketed_percentiles_equal_np_percentile_on_large_arrays() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        values = rng.normal(rng.random(), rng.random() + 1e-3, 70_001 + int(rng.integers(0, 5_000)))
        expected = [float(v) for v in np.percentile(values, [*PERCENTS, 0, 100, 33.3])]
        got = linear_percentiles(values, [*PERCENTS, 0, 100, 33.3], low=float(values.min()), high=float(values.max()))
        assert got == expected
    values = rng.random(100_000)
    before = values.copy()
    linear_percentiles(values, PERCENTS, low=float(values.min()), high=float(values.max()))
    assert np.array_equal(values, before)  # the caller's values are not reordered


def test_ndvi_zero_sum_and_nan() -> None:
    red = np.array([0.1, 0.0, np.nan, 0.2, -0.1], dtype=np.float32)
    nir = np.array([0.3, 0.0, 0.5, np.nan, 0.1], dtype=np.float32)
    index = ndvi(red, nir)
    r64, n64 = red.astype(np.float64), nir.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(n64 + r64 != 0, (n64 - r64) / (n64 + r64), np.nan)
    assert np.array_equal(index, expected, equal_nan=True)
    assert np.isnan(index[1]) and np.isnan(index[4])  # a zero sum is no NDVI


def test_exact_block_means_do_not_depend_on_the_order_of_summation() -> None:
    """Cells of 16 x 16 (10 m) and 8 x 8 (20 m) native pixels, with no-data pixels and a cell column
    half outside the window: the block means equal the digital-number means computed by hand and
    the means from numpy's reshape-sum order, bit for bit."""
    rng = np.random.default_rng(11)
    radiometry = Radiometry(scale=1e-4, offset=-0.1, nodata=0)
    crs = CRS.from_epsg(32633)
    for pixel, cells in ((10.0, 16), (20.0, 8)):
        dn = rng.integers(1, 16_000, size=(cells * 6 + 5, cells * 7 + 3)).astype(np.uint16)
        dn[rng.random(dn.shape) < 0.05] = 0  # no data
        dn[:, 2 : 2 + cells] = 0  # a cell column without data
        values = radiometry.to_reflectance(dn)
        native = NativeWindow(values=values, transform=Affine(pixel, 0, 500_000.0, 0, -pixel, 5_000_000.0))
        size = pixel * cells
        # row 1, column 2 of the window is the grid's corner; the last cell column sticks out of the window
        grid = Grid(crs=crs, transform=Affine(size, 0, 500_000.0 + 2 * pixel, 0, -size, 5_000_000.0 - pixel),
                    width=8, height=6)
        got = block_mean(native, grid, radiometry)
        sums, counts = _block_sums(native, grid)  # numpy's order: reshape and sum(axis=(1, 3))
        assert np.array_equal(got, _exact_means(sums, counts, native.values, radiometry), equal_nan=True)
        expected = np.full(grid.shape, np.nan)
        for r in range(grid.height):
            for c in range(grid.width):
                block = dn[1 + r * cells : 1 + (r + 1) * cells, 2 + c * cells : 2 + (c + 1) * cells].astype(np.int64)
                ok = block != 0
                if ok.any():  # reflectance (DN - 1000) / 10000 averaged as whole digital numbers
                    expected[r, c] = (float((block[ok] - 1000).sum()) / ok.sum() + 1000) * 1e-4 - 0.1
        assert np.isnan(got[:, 0]).all()
        assert np.isfinite(got[:, -1]).all()  # partly covered: the mean of the part the window has
        assert np.array_equal(got, expected, equal_nan=True)
