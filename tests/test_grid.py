"""The request grid and the pixel rule (fis.engine.grid), on a hand-checkable 10 x 10 grid of 10 m pixels.

Pixel (row, col) spans x in [X0 + 10*col, X0 + 10*col + 10] and has its centre at
(X0 + 10*col + 5, Y0 - 10*row - 5).
"""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon, box

from fis.engine.grid import Grid, cell_lookup, grid_for_bounds, polygon_mask, snap_resolution
from handrasters import X0, Y0, centres_inside

UTM33 = CRS.from_epsg(32633)
GRID = Grid(crs=UTM33, transform=Affine(10.0, 0.0, X0, 0.0, -10.0, Y0), width=10, height=10)


def cols_rows(mask: np.ndarray) -> tuple[list[int], list[int]]:
    rows, cols = np.nonzero(mask)
    return sorted(set(cols.tolist())), sorted(set(rows.tolist()))


# ------------------------------------------------------------------------------ grid_for_bounds


@pytest.mark.parametrize(
    ("bounds", "margin", "expected"),
    [
        # bounds inside pixels: snap outwards to the 10 m lattice anchored at (X0, Y0)
        ((X0 + 12, Y0 - 37, X0 + 48, Y0 - 3), 0, (X0 + 10, Y0 - 40, X0 + 50, Y0, 4, 4)),
        # bounds exactly on pixel edges: no extra row/column
        ((X0 + 20, Y0 - 40, X0 + 50, Y0 - 10), 0, (X0 + 20, Y0 - 40, X0 + 50, Y0 - 10, 3, 3)),
        # float noise below 1e-9 pixel does not add a column
        ((X0 + 20 + 1e-9, Y0 - 40 - 1e-9, X0 + 50 + 1e-9, Y0 - 10), 0, (X0 + 20, Y0 - 40, X0 + 50, Y0 - 10, 3, 3)),
        # margin adds whole pixels on every side
        ((X0 + 20, Y0 - 40, X0 + 50, Y0 - 10), 2, (X0, Y0 - 60, X0 + 70, Y0 + 10, 7, 7)),
        # a degenerate (point) bound still gives one pixel
        ((X0 + 33, Y0 - 47, X0 + 33, Y0 - 47), 0, (X0 + 30, Y0 - 50, X0 + 40, Y0 - 40, 1, 1)),
    ],
)
def test_grid_for_bounds(bounds, margin, expected) -> None:
    grid = grid_for_bounds(bounds, UTM33, (10.0, 10.0), anchor=(X0, Y0), margin=margin)
    left, bottom, right, top, width, height = expected
    assert (grid.width, grid.height) == (width, height)
    assert grid.transform.c == pytest.approx(left)
    assert grid.transform.f == pytest.approx(top)
    assert grid.bounds == pytest.approx((left, bottom, right, top))
    assert grid.resolution == (10.0, 10.0)


def test_snap_resolution_uses_native_pixels_within_one_percent() -> None:
    assert snap_resolution(10.0, (9.995, 9.997)) == (9.995, 9.997)
    assert snap_resolution(10.0, (10.0, 10.0)) == (10.0, 10.0)
    assert snap_resolution(10.0, (20.0, 20.0)) == (10.0, 10.0)
    assert snap_resolution(20.0, (10.0, 10.0)) == (20.0, 20.0)
    assert snap_resolution(10.0, None) == (10.0, 10.0)


# ------------------------------------------------------------------------------- centre rule


@pytest.mark.parametrize(
    ("x_min", "x_max", "y_top", "y_bottom", "cols", "rows"),
    [
        # x edges just outside the centres 5, 15, 25 -> columns 0..2
        (4.9, 25.1, -4.9, -25.1, [0, 1, 2], [0, 1, 2]),
        # x edges just inside those centres -> only the middle column/row keeps its centre
        (5.1, 24.9, -5.1, -24.9, [1], [1]),
        # a rectangle on pixel edges covers exactly those pixels
        (20.0, 50.0, -10.0, -40.0, [2, 3, 4], [1, 2, 3]),
    ],
)
def test_pixel_counted_iff_centre_inside(x_min, x_max, y_top, y_bottom, cols, rows) -> None:
    geom = box(X0 + x_min, Y0 + y_bottom, X0 + x_max, Y0 + y_top)
    mask = polygon_mask(GRID, geom)
    assert cols_rows(mask) == (cols, rows)
    assert mask.sum() == len(cols) * len(rows)
    assert np.array_equal(mask, centres_inside(geom))


@pytest.mark.parametrize("seed", range(8))
def test_centre_rule_matches_point_in_polygon_on_irregular_polygons(seed: int) -> None:
    """Random star-shaped polygons: the mask is exactly 'pixel centre inside' (shapely oracle)."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 11))
    radii = rng.uniform(12, 48, 11)
    cx, cy = X0 + 50 + rng.uniform(-5, 5), Y0 - 50 + rng.uniform(-5, 5)
    geom = Polygon(list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles))))
    assert geom.is_valid
    expected = centres_inside(geom)
    assert expected.sum() > 5
    assert np.array_equal(polygon_mask(GRID, geom), expected)


def test_hole_pixels_are_excluded() -> None:
    outer = [(X0 + 10, Y0 - 10), (X0 + 90, Y0 - 10), (X0 + 90, Y0 - 90), (X0 + 10, Y0 - 90)]
    hole = [(X0 + 30, Y0 - 30), (X0 + 60, Y0 - 30), (X0 + 60, Y0 - 60), (X0 + 30, Y0 - 60)]
    mask = polygon_mask(GRID, Polygon(outer, [hole]))
    expected = np.zeros((10, 10), dtype=bool)
    expected[1:9, 1:9] = True
    expected[3:6, 3:6] = False
    assert np.array_equal(mask, expected)
    assert mask.sum() == 64 - 9


def test_multipolygon_takes_pixels_of_every_part() -> None:
    geom = MultiPolygon([box(X0, Y0 - 20, X0 + 20, Y0), box(X0 + 80, Y0 - 100, X0 + 100, Y0 - 80)])
    mask = polygon_mask(GRID, geom)
    assert mask.sum() == 8
    assert mask[0:2, 0:2].all() and mask[8:10, 8:10].all()


@pytest.mark.parametrize(
    ("geom", "row", "col"),
    [
        # a 2 m x 2 m square inside pixel (4, 3), away from its centre (35, -45)
        (box(X0 + 32, Y0 - 48, X0 + 34, Y0 - 46), 4, 3),
        # a 9.4 m square that lies between four centres (covers none of them); centroid (20.2, -20.2)
        (box(X0 + 15.5, Y0 - 24.9, X0 + 24.9, Y0 - 15.5), 2, 2),
        # a thin 1 m strip across nine pixels between two rows of centres; centroid (48.5, -12)
        (box(X0 + 0, Y0 - 12.5, X0 + 97, Y0 - 11.5), 1, 4),
        # a triangle smaller than a pixel
        (Polygon([(X0 + 71, Y0 - 91), (X0 + 74, Y0 - 91), (X0 + 72, Y0 - 94)]), 9, 7),
    ],
)
def test_polygon_smaller_than_a_pixel_gets_the_pixel_holding_its_centroid(geom, row, col) -> None:
    assert not centres_inside(geom).any()
    mask = polygon_mask(GRID, geom)
    assert mask.sum() == 1
    assert mask[row, col]


def test_tiny_polygon_outside_the_grid_gets_nothing() -> None:
    geom = box(X0 + 132, Y0 - 48, X0 + 134, Y0 - 46)
    assert polygon_mask(GRID, geom).sum() == 0


def test_all_touched_is_an_option_not_the_default() -> None:
    geom = box(X0 + 5.1, Y0 - 24.9, X0 + 24.9, Y0 - 5.1)
    assert polygon_mask(GRID, geom).sum() == 1
    assert polygon_mask(GRID, geom, all_touched=True).sum() == 9


# ------------------------------------------------------------------------------ cell lookup


def test_cell_lookup_maps_each_pixel_to_the_coarse_cell_holding_its_centre() -> None:
    mask = np.ones((10, 10), dtype=bool)
    coarse20 = Grid(crs=UTM33, transform=Affine(20.0, 0.0, X0, 0.0, -20.0, Y0), width=5, height=5)
    rows, cols = cell_lookup(GRID, coarse20, mask)
    r, c = np.nonzero(mask)
    assert np.array_equal(rows, r // 2) and np.array_equal(cols, c // 2)

    # 160 m cloud grid with a 3-cell margin (as the engine builds it): everything in one cell
    coarse160 = grid_for_bounds(GRID.bounds, UTM33, (160.0, 160.0), anchor=(X0, Y0), margin=3)
    rows, cols = cell_lookup(GRID, coarse160, mask)
    assert set(rows.tolist()) == {3} and set(cols.tolist()) == {3}
    assert coarse160.transform.c == X0 - 3 * 160 and coarse160.transform.f == Y0 + 3 * 160

    # a 30 m grid (not a divisor of 10 m pixels' lattice): floor((centre - origin) / 30)
    coarse30 = Grid(crs=UTM33, transform=Affine(30.0, 0.0, X0, 0.0, -30.0, Y0), width=4, height=4)
    rows, cols = cell_lookup(GRID, coarse30, mask)
    assert np.array_equal(cols, (10 * c + 5) // 30) and np.array_equal(rows, (10 * r + 5) // 30)
