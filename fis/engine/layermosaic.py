"""Mosaicking per-tile cloud layers so they give exactly the mask computed on the mosaic.

A precomputed CLM of one tile was averaged and dilated over that tile's cells only. The mask
computed at request time runs on the mosaic of the date's tiles (first tile with data wins), so
a cell's mask depends on the probabilities within ``average_over + dilation_size`` cells of it,
whichever tile they come from. A tile's layer value at a cell is therefore the mosaic's value
exactly when every cell of that neighbourhood is owned by the same tile or by none (no data in
both); cells whose neighbourhood crosses a seam between owners must be computed on the mosaic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

#: owner of a cell that no tile's layer has data for
NO_OWNER = -1


def layer_owner(covered: Sequence[np.ndarray]) -> np.ndarray:
    """Per cell, the index of the first layer with data there (the mosaic's rule), else ``NO_OWNER``."""
    stack = np.stack(covered)
    return np.where(stack.any(axis=0), stack.argmax(axis=0), NO_OWNER).astype(np.int32)


def take_owned(layers: Sequence[np.ndarray], owner: np.ndarray) -> np.ndarray:
    """The mosaic of ``layers``: each cell from its owner's layer, NaN where no layer has data."""
    out = np.full(owner.shape, np.nan, dtype=np.float64)
    for index, layer in enumerate(layers):
        here = owner == index
        out[here] = layer[here]
    return out


def exact_cells(owner: np.ndarray, radius: int) -> np.ndarray:
    """True where the owner's layer equals the mosaic's mask: no other owner within ``radius`` cells.

    Cells without data are exact (never cloud either way). The neighbourhood is the square of
    side ``2 * radius + 1``, a superset of the disks s2cloudless averages and dilates over;
    outside the array counts as no data, as it does for the mask.
    """
    if radius <= 0:
        return np.ones(owner.shape, dtype=bool)
    size = 2 * radius + 1
    # the largest and smallest owner around each cell, ignoring cells without data
    highest = ndimage.maximum_filter(owner, size=size, mode="constant", cval=NO_OWNER)
    lowest_source = np.where(owner == NO_OWNER, np.iinfo(np.int32).max, owner)
    lowest = ndimage.minimum_filter(lowest_source, size=size, mode="constant", cval=np.iinfo(np.int32).max)
    alone = (highest == owner) & (lowest == owner)
    kept: np.ndarray = alone | (owner == NO_OWNER)
    return kept


def bounding_window(cells: np.ndarray, margin: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    """Rows and columns covering the True cells of ``cells`` plus ``margin`` cells, within ``shape``."""
    rows, cols = np.nonzero(cells)
    r0, r1 = max(int(rows.min()) - margin, 0), min(int(rows.max()) + margin + 1, shape[0])
    c0, c1 = max(int(cols.min()) - margin, 0), min(int(cols.max()) + margin + 1, shape[1])
    return slice(r0, r1), slice(c0, c1)
