"""Engine.compute_many: a chunk of features shares its reads and gives every feature exactly the
values of its single request (Engine.compute), or the error that request raises.

Archives: the hand-checkable one (tests/fis_archive.py: a field on two tiles, a B08 no-data strip,
a cloudy date), the demo generator's two overlapping tiles (partly cloudy dates, a seam) with and
without precomputed cloud layers, and the real Sentinel-2 L1C data of ../shared/data. Each test
compares every value (observations, errors, grid, warnings) of every feature; the read-count tests
count the band reads (``read_band_on_grids``) per file and date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer
from shapely import transform as shapely_transform
from shapely.geometry import Point, box, mapping

import fis.engine.dates as dates_module
from fis.catalog.stac import scene_from_item
from fis.core.bands import BANDS
from fis.core.request import TimeseriesRequest, parse_timeseries_request
from fis.core.scenes import SceneRecord
from fis.demo.archive import build_demo_archive
from fis.demo.synthetic import BandRaster, write_stac_scene
from fis.engine.chunk import estimated_pixels, hilbert_index, plan_chunks, union_grid, window_of
from fis.engine.cloudlayers import CloudLayerSettings, layer_properties, write_layers
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.engine.grid import grid_for_bounds
from fis.engine.raster import DatasetCache
from fis.errors import FisError, RequestTooLarge
from fis_archive import CRS, FIELD_BOUNDS_UTM, SCENE_EAST, SCENE_IDS, build_archive

MODEL = "s2cloudless-v0.1"


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL)


def load_scenes(root: Path) -> list[SceneRecord]:
    items = sorted(p for p in root.rglob("*.json") if "properties" in json.loads(p.read_text()))
    return [scene_from_item(json.loads(p.read_text()), base_href=str(p)) for p in items]


def scenes_of(request: TimeseriesRequest, scenes: Sequence[SceneRecord]) -> list[SceneRecord]:
    """What ``find_scenes`` gives a request: scenes whose footprint intersects it, oldest first."""
    aoi = request.aoi.geometry_4326
    return sorted((s for s in scenes if s.footprint.intersects(aoi)), key=lambda s: (s.datetime, s.id))


def request(geometry: Any, crs: str, time_range: dict[str, str], **options: Any) -> TimeseriesRequest:
    body = {"geometry": json.loads(json.dumps(mapping(geometry))), "crs": crs, "time_range": time_range, **options}
    return parse_timeseries_request(body)


def single(engine: Engine, items: Sequence[tuple[TimeseriesRequest, Sequence[SceneRecord]]]) -> list[Any]:
    out: list[Any] = []
    for req, scenes in items:
        try:
            out.append(engine.compute(req, scenes))
        except FisError as exc:
            out.append(exc)
    return out


def assert_same(expected: list[Any], got: list[Any]) -> None:
    assert len(got) == len(expected)
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        if isinstance(want, FisError):
            assert type(have) is type(want), (i, have)
            assert (have.message, have.field, have.details) == (want.message, want.field, want.details), i
        else:
            assert not isinstance(have, FisError), (i, have)
            assert have.grid == want.grid, i
            assert have.errors == want.errors, i
            assert have.warnings == want.warnings, i
            assert len(have.observations) == len(want.observations), i
            for a, b in zip(have.observations, want.observations, strict=True):
                assert a == b, (i, a.date)
            assert have == want, i


class ReadCounter:
    """Counts ``read_band_on_grids`` calls per (file, grids) while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        real = dates_module.read_band_on_grids

        def counting(asset, grids, cache):  # type: ignore[no-untyped-def]
            with self._lock:
                self.calls[asset.href] += 1
            return real(asset, grids, cache)

        monkeypatch.setattr(dates_module, "read_band_on_grids", counting)


# --------------------------------------------------------------------------- hand-checkable archive

JUNE = {"from": "2023-06-01", "to": "2023-06-30"}


@pytest.fixture(scope="module")
def hand_scenes(tmp_path_factory: pytest.TempPathFactory) -> list[SceneRecord]:
    root = tmp_path_factory.mktemp("chunks-hand")
    build_archive(root)
    scenes = load_scenes(root)
    assert sorted(s.id for s in scenes) == sorted(SCENE_IDS)
    return scenes


def hand_features() -> list[Any]:
    """The field on both tiles, fields on the west / east tile only, a sliver, a sub-pixel field,
    a field with a hole, and one outside the archive (no scenes)."""
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    return [
        box(x0, y0, x1, y1),
        box(500020, 5000020, 500180, 5000150),  # west tile only on 2023-06-11
        box(500300, 5000300, 500580, 5000580),  # east tile only on 2023-06-11
        box(500200, 5000420, 500290, 5000431),  # sliver across the seam (x = 500240)
        box(500401, 5000111, 500404, 5000114),  # sub-pixel
        box(500010, 5000300, 500230, 5000590).difference(box(500100, 5000400, 500150, 5000450)),
        Point(500123, 5000287).buffer(61),
        box(520000, 5000000, 520200, 5000200),  # outside the archive
    ]


OPTION_SETS = {
    "default": {},
    "coverage": {"pixel_rule": "coverage", "min_coverage": 0.3},
    "all_touched": {"pixel_rule": "all_touched"},
    "statistics": {
        "indices": ["ndmi"], "mask_clouds": True,
        "statistics": {"percentiles": [0.1, 0.5, 0.9], "histogram": {"edges": [-1, 0, 0.7, 1]}},
    },
    "aggregation": {"aggregation": {"interval": "P10D", "pick": "all"}},
    "least_cloudy": {"aggregation": {"interval": "P1M", "pick": "least_cloudy"}},
    "clear_mean": {"aggregation": {"interval": "P15D", "pick": "clear_mean"}, "pixel_rule": "coverage"},
    "cloud_grid_is_grid": {"cloud_mask_resolution": 10, "cloud_mask_average_over": 2, "cloud_mask_dilation": 1},
    "20m": {"resolution": 20},
    "ndvi_only": {"outputs": ["ndvi"]},
}


@pytest.mark.parametrize("name", sorted(OPTION_SETS))
def test_hand_archive_every_feature_equals_its_single_request(name: str, hand_scenes, model) -> None:
    options = OPTION_SETS[name]
    items = []
    for geometry in hand_features():
        req = request(geometry, CRS, JUNE, **options)
        items.append((req, scenes_of(req, hand_scenes)))
    # the features do have different scene sets: both tiles, west only, east only, none
    assert len({frozenset(s.id for s in scenes) for _, scenes in items}) >= 3
    assert not items[-1][1]
    expected = single(Engine(model), items)
    assert_same(expected, Engine(model).compute_many(items))
    assert expected[0].observations  # not vacuous


def test_too_large_feature_fails_alone_and_each_date_is_read_once_per_group(
    hand_scenes, model, monkeypatch: pytest.MonkeyPatch
) -> None:
    x0, y0, x1, y1 = FIELD_BOUNDS_UTM
    fields = [box(x0 + 30 + 10 * k, y0 + 5 * k, x0 + 10 * k + 150, y0 + 5 * k + 70) for k in range(6)]  # across the seam
    big = box(500000, 5000000, 500600, 5000600)  # 3600 pixels > max_pixels
    geometries = [*fields[:3], big, *fields[3:]]
    items = []
    for geometry in geometries:
        req = request(geometry, CRS, JUNE)
        items.append((req, scenes_of(req, hand_scenes)))
    assert {frozenset(s.id for s in sc) for _, sc in items} == {frozenset(SCENE_IDS)}  # one group
    expected = single(Engine(model, max_pixels=2000), items)
    assert isinstance(expected[3], RequestTooLarge)
    counter = ReadCounter(monkeypatch)
    got = Engine(model, max_pixels=2000).compute_many(items)
    assert_same(expected, got)
    # every band file of every date is read once for the whole chunk; the second tile of
    # 2023-06-11 only where the first leaves gaps: once as well
    files = {a.href for s in hand_scenes for b, a in s.assets.items() if b in BANDS}
    assert set(counter.calls) <= files
    assert max(counter.calls.values()) == 1, counter.calls.most_common(3)
    east = {a.href for s in hand_scenes if s.id == SCENE_EAST for a in s.assets.values()}
    assert east & set(counter.calls)  # the seam date's east tile was read (the fields cross it)


def test_pixel_budget_splits_a_group_and_keeps_the_values(hand_scenes, model, monkeypatch) -> None:
    geometries = [box(500000 + 100 * i, 5000000 + 100 * j, 500080 + 100 * i, 5000080 + 100 * j)
                  for i in range(6) for j in range(6)]
    items = []
    for geometry in geometries:
        req = request(geometry, CRS, JUNE, outputs=["ndvi"])
        items.append((req, scenes_of(req, hand_scenes)))
    expected = single(Engine(model), items)
    counter = ReadCounter(monkeypatch)
    engine = Engine(model, chunk_pixels=1000)  # 60 x 60 pixels in all: several groups of <= 1000
    assert_same(expected, engine.compute_many(items))
    reads_split = sum(counter.calls.values())
    counter.calls.clear()
    assert_same(expected, Engine(model).compute_many(items))
    reads_one = sum(counter.calls.values())
    assert reads_split > reads_one  # more, smaller union grids


def test_progress_counts_features(hand_scenes, model) -> None:
    seen: list[tuple[int, int]] = []
    items = []
    for geometry in hand_features():
        req = request(geometry, CRS, JUNE)
        items.append((req, scenes_of(req, hand_scenes)))
    Engine(model).compute_many(items, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(items), len(items))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_compute_many_of_nothing_is_nothing(model) -> None:
    assert Engine(model).compute_many([]) == []


# --------------------------------------------------------------------------- demo archive: two tiles, clouds

YEAR = {"from": "2023-01-01", "to": "2023-12-31"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, model) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("chunks-demo")
    build_demo_archive(root / "archive", size_px=200, revisit_days=20, tiles=2, seed=5)
    plain = load_scenes(root / "archive")
    settings = CloudLayerSettings(model=model.name)  # the request defaults: 160 m, 0.4, 1, 1
    cache = DatasetCache(64)
    layered = []
    for scene in plain:
        assets = write_layers(scene, model, settings, root / "layers", cache)
        layered.append(dataclasses.replace(
            scene, assets={**scene.assets, **assets},
            properties={**scene.properties, "cloud_layers": layer_properties(settings)},
        ))
    with cache.dataset(plain[0].assets["B04"].href) as dataset:
        bounds, crs = dataset.bounds, dataset.crs.to_string()
    cache.close()
    rng = np.random.default_rng(11)
    fields = []
    for _ in range(10):
        side = rng.uniform(40, 700)
        x = rng.uniform(bounds.left, bounds.right + 1200 - side)  # the second tile lies east
        y = rng.uniform(bounds.bottom, bounds.top - side)
        fields.append(box(x, y, x + side, y + side * rng.uniform(0.5, 1.5)).intersection(
            box(bounds.left, bounds.bottom - 5000, bounds.right + 5000, bounds.top)))
    fields.append(box(bounds.right - 500, bounds.top - 900, bounds.right + 500, bounds.top - 100))  # the seam
    return {"plain": plain, "layered": layered, "crs": crs, "fields": fields}


MASK_AT_10M = {"cloud_mask_resolution": 10, "cloud_mask_average_over": 2, "cloud_mask_dilation": 2, "mask_clouds": True}


@pytest.mark.parametrize(("layers", "options"), [
    (False, {}),
    (False, MASK_AT_10M),  # the cloud grid is the request grid: the mask's edge cells are the feature's own
    (True, {}),  # CLM/CLP layers, seam cells recomputed on the mosaic
    (True, {"aggregation": {"interval": "P1M", "pick": "least_cloudy"}}),
], ids=["on_the_fly", "on_the_fly_mask_at_10m", "precomputed", "precomputed_least_cloudy"])
def test_demo_two_tiles_every_feature_equals_its_single_request(demo, model, layers: bool, options) -> None:
    scenes = demo["layered" if layers else "plain"]
    items = []
    for geometry in demo["fields"]:
        req = request(geometry, demo["crs"], YEAR, **options)
        items.append((req, scenes_of(req, scenes)))
    assert len({frozenset(s.id for s in sc) for _, sc in items}) >= 2
    expected = single(Engine(model, use_cloud_layers=layers), items)
    got = Engine(model, use_cloud_layers=layers).compute_many(items)
    assert_same(expected, got)
    sources = {o.cloud_source for r in expected for o in r.observations} - {None}  # None: an empty interval
    assert sources == ({"precomputed"} if layers else {"s2cloudless"})
    cloudy = [o for r in expected for o in r.observations if o.pixels.cloudy and o.pixels.cloudy < o.pixels.valid]
    assert cloudy, "partly cloudy observations make the cloud-mask comparison meaningful"


# --------------------------------------------------------------------------- real Sentinel-2 data

ACQUISITIONS = ("2015-08-20T10:07:28", "2015-07-31T10:00:09", "2015-09-09T10:00:17", "2015-08-30T10:05:47",
                "2015-07-11T10:00:08")


@pytest.fixture(scope="module")
def real_scenes(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[SceneRecord], tuple]:
    from affine import Affine

    folder = shared_data / "s2-reference"
    data = np.load(folder / "reference_scenes.npy")
    bbox = json.loads((folder / "bbox.geojson").read_text())
    xs = [p[0] for p in bbox["coordinates"][0]]
    ys = [p[1] for p in bbox["coordinates"][0]]
    bounds = (min(xs), min(ys), max(xs), max(ys))
    _, height, width, _ = data.shape
    transform = Affine((bounds[2] - bounds[0]) / width, 0.0, bounds[0], 0.0, -(bounds[3] - bounds[1]) / height, bounds[3])
    root = tmp_path_factory.mktemp("chunks-real")
    for i, acquired in enumerate(ACQUISITIONS):
        dn = np.rint(data[i].astype(np.float64) * 10000)
        bands = {band: BandRaster(dn[..., k].astype(np.uint16), transform) for k, band in enumerate(BANDS)}
        when = dt.datetime.fromisoformat(acquired).replace(tzinfo=dt.UTC)
        write_stac_scene(root, f"S2A_MSIL1C_{acquired[:10].replace('-', '')}_T33TWM", when, bands,
                         crs="EPSG:32633", processing_baseline="02.01", mgrs_tile="33TWM")
    return load_scenes(root), bounds


@pytest.mark.reference
@pytest.mark.parametrize("options", [
    {},
    {"cloud_mask_resolution": 10, "cloud_mask_average_over": 2, "cloud_mask_dilation": 1, "pixel_rule": "coverage"},
    {"resolution": 30, "mask_clouds": True, "statistics": {"percentiles": [0.5]}},
], ids=["default", "mask_at_10m_coverage", "30m"])
def test_real_data_every_feature_equals_its_single_request(real_scenes, model, options) -> None:
    scenes, (left, bottom, right, top) = real_scenes
    rng = np.random.default_rng(2)
    to_lonlat = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    items = []
    for k in range(10):
        w, h = rng.uniform(30, 400), rng.uniform(30, 400)
        x, y = rng.uniform(left - 50, right - w + 50), rng.uniform(bottom - 50, top - h + 50)
        geometry = box(x, y, x + w, y + h)
        if k % 3 == 0:  # some in EPSG:4326, as most clients send them
            lonlat = shapely_transform(geometry, to_lonlat.transform, interleaved=False)
            req = parse_timeseries_request({"geometry": json.loads(json.dumps(mapping(lonlat))), "time_range": {
                "from": "2015-07-01", "to": "2015-09-30"}, **options})
        else:
            req = request(geometry, "EPSG:32633", {"from": "2015-07-01", "to": "2015-09-30"}, **options)
        items.append((req, scenes_of(req, scenes)))
    expected = single(Engine(model), items)
    assert_same(expected, Engine(model).compute_many(items))
    assert sum(len(r.observations) for r in expected) >= 40
    assert any(o.pixels.cloudy for r in expected for o in r.observations)


# --------------------------------------------------------------------------- planning and grids


def test_union_grid_holds_each_grid_as_a_window() -> None:
    from pyproj import CRS as ProjCRS

    crs = ProjCRS.from_epsg(32633)
    a = grid_for_bounds((500003, 5000001, 500050, 5000044), crs, (10.0, 10.0), anchor=(500000.0, 5000000.0))
    b = grid_for_bounds((500203, 4999801, 500250, 4999844), crs, (10.0, 10.0), anchor=(500000.0, 5000000.0))
    union = union_grid([a, b])
    assert union is not None and union.bounds == (500000.0, 4999800.0, 500250.0, 5000050.0)
    for grid in (a, b):
        rows, cols = window_of(union, grid)  # type: ignore[misc]
        assert union.window(rows, cols) == grid
    shifted = grid_for_bounds((500003, 5000001, 500050, 5000044), crs, (10.0, 10.0), anchor=(500005.0, 5000000.0))
    assert union_grid([a, shifted]) is None and window_of(union, shifted) is None
    coarse = grid_for_bounds((500003, 5000001, 500050, 5000044), crs, (20.0, 20.0))
    assert union_grid([a, coarse]) is None


def test_hilbert_index_walks_neighbouring_cells() -> None:
    order = 3
    path = sorted(((x, y) for x in range(8) for y in range(8)), key=lambda p: hilbert_index(*p, order=order))
    assert len({hilbert_index(x, y, order) for x, y in path}) == 64
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in itertools.pairwise(path))


def _square(lon: float, lat: float, metres: float) -> Any:
    d = metres / 111_320.0
    return box(lon, lat, lon + d / np.cos(np.radians(lat)), lat + d)


def test_plan_chunks_keeps_neighbours_together_and_scene_sets_apart() -> None:
    one, two = frozenset({"a"}), frozenset({"a", "b"})
    west = [(f"w{i}", _square(15.0 + 0.002 * (i % 5), 45.0 + 0.002 * (i // 5), 100), one) for i in range(10)]
    east = [(f"e{i}", _square(16.0 + 0.002 * (i % 5), 45.0 + 0.002 * (i // 5), 100), one) for i in range(10)]
    seam = [(f"s{i}", _square(15.5 + 0.002 * i, 45.0, 100), two) for i in range(3)]
    features = [f for pair in zip(west, east, strict=True) for f in pair] + seam  # interleaved input
    chunks = plan_chunks(features, max_features=10, max_pixels=10_000_000)
    assert sorted(k for c in chunks for k in c) == sorted(k for k, _, _ in features)
    as_sets = [set(c) for c in chunks]
    assert {f"w{i}" for i in range(10)} in as_sets and {f"e{i}" for i in range(10)} in as_sets
    assert {f"s{i}" for i in range(3)} in as_sets
    # the pixel budget closes chunks: a 10 x 2 block of 100 m squares needs ~ 100 x 40 pixels
    small = plan_chunks(west, max_features=100, max_pixels=1500)
    assert len(small) > 1 and sorted(k for c in small for k in c) == sorted(k for k, _, _ in west)
    for chunk in small:
        boxes = [dict((k, g) for k, g, _ in west)[k].bounds for k in chunk]
        extent = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        assert len(chunk) == 1 or estimated_pixels(extent, 10.0) <= 1500
    assert [len(c) for c in plan_chunks(west, max_features=4, max_pixels=10**9)] == [4, 4, 2]
    assert plan_chunks([], max_features=4, max_pixels=100) == []


def test_plan_chunks_gives_a_huge_feature_its_own_chunk() -> None:
    s = frozenset({"a"})
    features = [("small", _square(15.0, 45.0, 100), s), ("huge", _square(15.001, 45.0, 30_000), s),
                ("other", _square(15.0005, 45.0, 100), s)]
    chunks = plan_chunks(features, max_features=10, max_pixels=100_000)
    assert ["huge"] in chunks and sorted(k for c in chunks for k in c) == ["huge", "other", "small"]


def test_estimated_pixels_of_a_square_kilometre() -> None:
    assert estimated_pixels((15.0, 45.0, 15.0, 45.0), 10.0) == 1
    # 1 km x 1 km at 45 degrees north: 100 x 100 pixels of 10 m (+1 for the alignment)
    assert 101 * 101 <= estimated_pixels(_square(15.0, 45.0, 1000).bounds, 10.0) <= 102 * 102


def test_dataset_cache_closes_the_oldest_handle_while_another_is_checked_out(hand_scenes) -> None:
    """A full pool closes its least recently used idle handle even when a file's only handle is in use
    (a long chunk over more files than the pool holds ran into an empty list here)."""
    a, b, c = (hand_scenes[0].assets[band].href for band in ("B02", "B03", "B04"))
    cache = DatasetCache(1)
    with cache.dataset(a):
        pass
    with cache.dataset(a) as held:  # a's only idle handle checked out
        with cache.dataset(b):
            pass
        with cache.dataset(c):
            pass  # giving c back makes two idle handles: b, the oldest, is closed
        assert not held.closed
    assert cache._idle_count == 1
    cache.close()
