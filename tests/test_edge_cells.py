"""Coarse cells at a file's edge (the 160 m cloud grid): the rule fis uses, by hand.

A cell that a file covers only in part takes the mean of the covered part; in a mosaic the first
tile that covers any part of a cell gives it, later tiles only fill cells without data. (GDAL's
warper gives such a cell yet another value, neither this mean nor the next tile's; that is the main
difference to the peers' cloud mask along tile edges, see docs/benchmarks.md.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from pyproj import CRS

from fis.core.radiometry import Radiometry
from fis.core.scenes import BandAsset
from fis.engine.dates import mosaic
from fis.engine.grid import Grid
from fis.engine.raster import DatasetCache, read_band_on_grids

X0, Y0 = 500_000.0, 5_100_000.0  # multiples of 160 m, like the cloud grid's cells


def _write(path: Path, dn: np.ndarray) -> BandAsset:
    with rasterio.open(
        path, "w", driver="GTiff", width=dn.shape[1], height=dn.shape[0], count=1, dtype="uint16",
        crs="EPSG:32633", transform=Affine(10, 0, X0, 0, -10, Y0), nodata=0,
    ) as dst:
        dst.write(dn, 1)
    return BandAsset(band="B02", href=str(path), radiometry=Radiometry(scale=1.0, offset=0.0, nodata=0), resolution=10.0)


def _cells(width: int, height: int) -> Grid:
    return Grid(crs=CRS.from_epsg(32633), transform=Affine(160, 0, X0, 0, -160, Y0), width=width, height=height)


class _Scene:
    """The one attribute :func:`fis.engine.dates.mosaic` reads."""

    def __init__(self, asset: BandAsset):
        self.assets = {"B02": asset}


def test_a_cell_the_file_covers_in_part_takes_the_mean_of_the_covered_part(tmp_path: Path) -> None:
    # 45 x 40 pixels of 10 m: the third column of 160 m cells is covered 50 m wide, the third row 80 m high
    dn = np.tile(np.arange(1, 46, dtype=np.uint16), (40, 1))
    asset = _write(tmp_path / "b.tif", dn)
    cache = DatasetCache(4)
    (cells,) = read_band_on_grids(asset, [_cells(4, 3)], cache)
    cache.close()
    # column means: cols 0-15 -> 1..16, 16-31 -> 17..32, 32-44 -> 33..45 (the covered part); every row alike
    np.testing.assert_array_equal(cells[:, :3], [[8.5, 24.5, 39.0]] * 3)
    assert np.isnan(cells[:, 3]).all()  # beyond the file


def test_in_a_mosaic_the_first_tile_covering_part_of_a_cell_gives_it(tmp_path: Path) -> None:
    first = _write(tmp_path / "first.tif", np.full((48, 36), 100, dtype=np.uint16))  # 360 m: 40 m of the third cell
    second = _write(tmp_path / "second.tif", np.full((48, 64), 200, dtype=np.uint16))
    cache = DatasetCache(8)
    (cells,) = mosaic([_Scene(first), _Scene(second)], "B02", [_cells(4, 3)], cache)  # type: ignore[list-item]
    cache.close()
    np.testing.assert_array_equal(cells, [[100, 100, 100, 200]] * 3)


def test_cell_means_are_exact_digital_number_means_scaled_once(tmp_path: Path) -> None:
    """A 160 m cell of 256 pixels is mean(DN) * scale + offset in float64, as a float64 script
    computes it from the digital numbers, not a sum of float32-rounded reflectances."""
    rng = np.random.default_rng(7)
    dn = rng.integers(1000, 12000, size=(32, 32), dtype=np.uint16)
    path = tmp_path / "dn.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=32, height=32, count=1, dtype="uint16",
        crs="EPSG:32633", transform=Affine(10, 0, X0, 0, -10, Y0), nodata=0,
    ) as dst:
        dst.write(dn, 1)
    asset = BandAsset(band="B02", href=str(path), radiometry=Radiometry(scale=1e-4, offset=-0.1, nodata=0), resolution=10.0)
    cache = DatasetCache(4)
    (cells,) = read_band_on_grids(asset, [_cells(2, 2)], cache)
    cache.close()
    expected = dn.reshape(2, 16, 2, 16).astype(np.float64).mean(axis=(1, 3)) * 1e-4 - 0.1
    assert cells.tolist() == expected.tolist()  # bit for bit
    float32_route = ((dn.astype(np.float32) - 1000) / 10000).reshape(2, 16, 2, 16).sum(axis=(1, 3), dtype=np.float64) / 256
    assert float32_route.tolist() != expected.tolist()  # the route it replaces is off in the last bits


def test_layers_made_with_float32_cell_sums_are_recomputed_not_used() -> None:
    from fis.engine.cloudlayers import CloudLayerSettings

    current = CloudLayerSettings(model="s2cloudless-v0.1")
    old = CloudLayerSettings.from_dict({"model": "s2cloudless-v0.1", "resolution": 160, "threshold": 0.4, "average_over": 1, "dilation_size": 1})
    assert (old.cells, current.cells) == (1, 2)
    assert not old.matches(current) and CloudLayerSettings.from_dict(current.to_dict()).matches(current)
