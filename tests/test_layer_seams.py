"""Precomputed cloud layers across tile seams give exactly the mask computed on the mosaic."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from shapely.geometry import box, mapping

from fis.catalog.stac import scene_from_item
from fis.core.request import parse_timeseries_request
from fis.demo.archive import build_demo_archive
from fis.engine.cloudlayers import CloudLayerSettings, layer_properties, write_layers
from fis.engine.clouds import cloud_mask, load_model
from fis.engine.engine import Engine
from fis.engine.layermosaic import NO_OWNER, bounding_window, exact_cells, layer_owner, take_owned
from fis.engine.raster import DatasetCache, read_band_on_grids

N = NO_OWNER


def test_owner_is_the_first_layer_with_data() -> None:
    first = np.array([[True, True, False], [False, False, False]])
    second = np.array([[True, False, True], [True, False, False]])
    assert layer_owner([first, second]).tolist() == [[0, 0, 1], [1, N, N]]


def test_take_owned_takes_each_cell_from_its_owner() -> None:
    owner = np.array([[0, 1, N]])
    out = take_owned([np.array([[1.0, 2.0, 3.0]]), np.array([[4.0, 5.0, 6.0]])], owner)
    assert out[0, :2].tolist() == [1.0, 5.0] and np.isnan(out[0, 2])


def test_cells_within_radius_of_another_owner_are_not_exact() -> None:
    owner = np.array([[0, 0, 0, 1, 1, 1]] * 3)
    assert exact_cells(owner, 1)[1].tolist() == [True, True, False, False, True, True]
    assert exact_cells(owner, 2)[1].tolist() == [True, False, False, False, False, True]
    assert exact_cells(owner, 0).all()


def test_cells_without_data_never_break_exactness() -> None:
    owner = np.array([[0, 0, N, N, 1, 1]])
    # no data next to a tile is no data in its layer as well; only a different owner matters
    assert exact_cells(owner, 1).tolist() == [[True, True, True, True, True, True]]
    assert exact_cells(owner, 3)[0].tolist() == [True, False, True, True, False, True]


def test_bounding_window_is_clipped_to_the_array() -> None:
    cells = np.zeros((6, 8), dtype=bool)
    cells[1, 2] = cells[3, 6] = True
    assert bounding_window(cells, 2, cells.shape) == (slice(0, 6), slice(0, 8))
    assert bounding_window(cells, 0, cells.shape) == (slice(1, 4), slice(2, 7))


# --------------------------------------------------------------------------- two tiles, real engine

SETTINGS = {"threshold": 0.4, "average_over": 1, "dilation_size": 1, "resolution": 160}


@pytest.fixture(scope="module")
def seam_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[list, list, dict]:
    """Two overlapping tiles (the demo generator), 160 m layers for every scene, a field across the seam."""
    root = tmp_path_factory.mktemp("seams")
    archive = build_demo_archive(root / "archive", size_px=200, revisit_days=10, tiles=2, seed=3)
    model = load_model("s2cloudless-v0.1")
    settings = CloudLayerSettings(model=model.name, **SETTINGS)
    cache = DatasetCache(64)
    plain, layered = [], []
    for path in archive.items:
        scene = scene_from_item(json.loads(path.read_text()), base_href=str(path))
        assets = write_layers(scene, model, settings, root / "layers", cache)
        plain.append(scene)
        layered.append(dataclasses.replace(
            scene, assets={**scene.assets, **assets}, properties={**scene.properties, "cloud_layers": layer_properties(settings)},
        ))
    cache.close()
    return plain, layered, _field_across_the_seam(plain)


def _field_across_the_seam(scenes: list) -> dict:
    """A 1.2 x 1 km field (GeoJSON in the tiles' CRS) across the east edge of the first (west) tile."""
    cache = DatasetCache(4)
    with cache.dataset(scenes[0].assets["B04"].href) as dataset:
        east, north, crs = dataset.bounds.right, dataset.bounds.top, dataset.crs.to_string()
    cache.close()
    return {"geometry": mapping(box(east - 600, north - 1030, east + 600, north - 30)), "crs": crs}


def _body(field: dict) -> dict:
    return {
        "geometry": json.loads(json.dumps(field["geometry"])), "crs": field["crs"],
        "time_range": {"from": "2023-01-01", "to": "2023-12-31"}, "resolution": 10, "cloud_threshold": 0.4,
        "cloud_mask_resolution": 160, "cloud_mask_average_over": 1, "cloud_mask_dilation": 1,
    }


def _series(scenes: list, field: dict, *, use_layers: bool) -> dict:
    body = _body(field)
    engine = Engine(load_model("s2cloudless-v0.1"), use_cloud_layers=use_layers)
    result = engine.compute(parse_timeseries_request(body), scenes)
    assert not result.errors
    return {o.date: o for o in result.observations}


def test_layers_across_a_seam_equal_the_mask_on_the_mosaic(seam_archive: tuple[list, list, dict]) -> None:
    plain, layered, geometry = seam_archive
    on_the_fly = _series(plain, geometry, use_layers=False)
    from_layers = _series(layered, geometry, use_layers=True)
    assert on_the_fly.keys() == from_layers.keys()
    assert {o.cloud_source for o in from_layers.values()} == {"precomputed"}
    assert {o.cloud_source for o in on_the_fly.values()} == {"s2cloudless"}
    for date, expected in on_the_fly.items():
        got = from_layers[date]
        assert (got.pixels.cloudy, got.cloud_fraction) == (expected.pixels.cloudy, expected.cloud_fraction), date
        assert got.cloud_probability == expected.cloud_probability
    cloudy_dates = [d for d, o in on_the_fly.items() if 0 < o.pixels.cloudy < o.pixels.valid]
    assert cloudy_dates, "the archive must have partly cloudy dates over the field for this test to mean anything"


def test_first_tile_layer_alone_would_differ_at_the_seam(seam_archive: tuple[list, list, dict]) -> None:
    """The case the seam handling exists for: the west tile's own CLM differs from the mosaic's mask
    near its east edge on some date (so the equality above is not trivially true)."""
    plain, layered, geometry = seam_archive
    model = load_model("s2cloudless-v0.1")
    engine = Engine(model, use_cloud_layers=False)
    request = parse_timeseries_request(_body(geometry))
    layout = engine.layout(request, plain)
    grid = layout.cloud_grid
    by_date: dict = {}
    for scene in layered:
        by_date.setdefault(scene.date, []).append(scene)
    cache = DatasetCache(256)
    differing = 0
    for scenes in by_date.values():
        if len(scenes) < 2:
            continue
        stacks = [
            np.stack([read_band_on_grids(s.assets[b], [grid], cache)[0].ravel() for b in model.input_bands], axis=1)
            for s in scenes
        ]
        mosaic = np.where(np.isfinite(stacks[0]), stacks[0], stacks[1])
        expected = cloud_mask(model.predict(mosaic).reshape(grid.shape), threshold=0.4)
        first_layer = read_band_on_grids(scenes[0].assets["CLM"], [grid], cache)[0] == 1
        inside = np.isfinite(read_band_on_grids(scenes[0].assets["CLM"], [grid], cache)[0])
        differing += int((expected != first_layer)[inside].sum())
    cache.close()
    assert differing > 0
