"""fis.demo.archive: the self-generated demo archive, checked with the real s2cloudless model."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from pyproj import Transformer
from rasterio.features import geometry_mask
from shapely import transform as shapely_transform
from shapely.geometry import box, shape

from fis.core.bands import BANDS
from fis.demo.archive import DemoArchive, build_demo_archive
from fis.demo.synthetic import grid_transform
from fis.errors import InvalidInput

SIZE = 60
ORIGIN = (500000.0, 5100000.0)
GRID = grid_transform(ORIGIN[0], ORIGIN[1], 10)
MODEL_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")


def _booster():
    lightgbm = pytest.importorskip("lightgbm")
    spec = importlib.util.find_spec("s2cloudless")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("s2cloudless is not installed: its LightGBM model file is needed")
    path = Path(spec.submodule_search_locations[0]) / "models" / "pixel_s2_cloud_detector_lightGBM_v0.1.txt"
    if not path.exists():
        pytest.skip(f"s2cloudless model file not found at {path}")
    return lightgbm.Booster(model_file=str(path))


@pytest.fixture(scope="module")
def booster():
    return _booster()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> DemoArchive:
    calls: list[tuple[int, int]] = []
    a = build_demo_archive(
        tmp_path_factory.mktemp("demo"), size_px=SIZE, revisit_days=60, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[0] == (0, 14) and calls[-1] == (14, 14)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    return a


def _items(archive: DemoArchive) -> dict[str, list[dict]]:
    by_date: dict[str, list[dict]] = defaultdict(list)
    for path in archive.items:
        d = json.loads(path.read_text())
        d["_dir"] = path.parent
        by_date[d["properties"]["datetime"][:10]].append(d)
    return dict(sorted(by_date.items()))


def _mosaic(items: list[dict], band: str) -> np.ndarray:
    """Reflectance of one band on the 10 m demo grid (coarse bands repeated), first tile wins."""
    out = np.full((SIZE, SIZE), np.nan)
    for item in items:
        asset = next(a for a in item["assets"].values() if a["eo:bands"][0]["name"] == band)
        rb = asset["raster:bands"][0]
        with rasterio.open(item["_dir"] / asset["href"]) as src:
            dn = src.read(1).astype(np.float64)
            t = src.transform
        refl = np.where(dn == rb["nodata"], np.nan, dn * rb["scale"] + rb["offset"])
        f = int(t.a // 10)
        up = np.repeat(np.repeat(refl, f, axis=0), f, axis=1)
        c0 = int(round((t.c - ORIGIN[0]) / 10))
        h, w = min(SIZE, up.shape[0]), min(SIZE - c0, up.shape[1])
        window = out[:h, c0 : c0 + w]
        out[:h, c0 : c0 + w] = np.where(np.isnan(window), up[:h, :w], window)
    return out


def _field_mask(geojson: dict) -> np.ndarray:
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32633", always_xy=True)
    geom = shapely_transform(shape(geojson), to_utm.transform, interleaved=False)
    return ~geometry_mask([geom], (SIZE, SIZE), GRID)


def _ndvi(items: list[dict], mask: np.ndarray) -> float:
    b04, b08 = _mosaic(items, "B04")[mask], _mosaic(items, "B08")[mask]
    return float(np.mean((b08 - b04) / (b08 + b04)))


def _model_stack(items: list[dict]) -> np.ndarray:
    return np.stack([_mosaic(items, b) for b in MODEL_BANDS], axis=-1)


def _dates(archive: DemoArchive, kind: str, months: tuple[int, ...] = tuple(range(1, 13))) -> list[dt.date]:
    return [d for d, k in archive.weather.items() if k == kind and d.month in months]


# ----------------------------------------------------------------------------- structure


def test_items_two_tiles_per_date(archive: DemoArchive) -> None:
    by_date = _items(archive)
    assert len(archive.items) == 14  # 2023-01-01 + k*60 days: 7 dates
    assert len(by_date) == 7
    assert list(archive.weather) == [dt.date(2023, 1, 1) + dt.timedelta(days=60 * k) for k in range(7)]
    for date, items in by_date.items():
        assert len(items) == 2
        tiles = [i["properties"]["s2:mgrs_tile"] for i in items]
        assert tiles == ["33TWN", "33UWN"]
        ymd = date.replace("-", "")
        assert [i["id"][-6:] for i in items] == ["T33TWN", "T33UWN"]
        assert all(f"_MSIL1C_{ymd}_" in i["id"] for i in items)
        assert len({i["properties"]["platform"] for i in items}) == 1
        for item in items:
            pystac.Item.from_dict({k: v for k, v in item.items() if k != "_dir"})
            assert item["properties"]["s2:processing_baseline"] == "05.09"
            assert {a["eo:bands"][0]["name"] for a in item["assets"].values()} == set(BANDS)
            assert all(a["raster:bands"][0]["offset"] == -0.1 for a in item["assets"].values())
        west, east = (shape(i["geometry"]) for i in items)
        overlap = west.intersection(east).area
        assert 0.1 * west.area < overlap < 0.6 * west.area  # overlapping, neither contains the other


def test_tiles_cover_about_sixty_percent_and_agree_in_the_overlap(archive: DemoArchive) -> None:
    items = next(iter(_items(archive).values()))
    for band in ("B04", "B8A", "B10"):
        arrays = []
        for item in items:
            arrays.append(_mosaic([item], band))
        west, east = arrays
        for a in arrays:
            assert 0.5 < np.isfinite(a).mean() < 0.7
        both = np.isfinite(west) & np.isfinite(east)
        assert both.any()
        np.testing.assert_array_equal(west[both], east[both])  # one datatake: identical pixels


def test_fields_inside_bbox_and_written(archive: DemoArchive) -> None:
    assert len(archive.fields) >= 3
    assert {"wheat-north", "maize-east", "meadow-L"} <= set(archive.fields)
    area = box(*archive.bbox)
    for geojson in archive.fields.values():
        assert geojson["type"] == "Polygon"
        poly = shape(geojson)
        assert poly.is_valid and area.contains(poly) and not poly.touches(area.exterior)
    fc = json.loads((archive.root / "fields.geojson").read_text())
    assert fc["type"] == "FeatureCollection"
    assert {f["properties"]["name"]: f["geometry"] for f in fc["features"]} == archive.fields
    # maize-east straddles the tile overlap: part of it is in one tile only
    west, east = (shape(i["geometry"]) for i in next(iter(_items(archive).values())))
    maize = shape(archive.fields["maize-east"])
    assert maize.intersects(west) and maize.intersects(east)
    assert not west.contains(maize) and east.contains(maize)
    assert shape(archive.fields["meadow-L"]).convex_hull.area > 1.2 * shape(archive.fields["meadow-L"]).area


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    def band(seed: int, name: str) -> np.ndarray:
        a = build_demo_archive(tmp_path / name, size_px=30, revisit_days=200, tiles=1, seed=seed)
        assert len(a.items) == 2
        with rasterio.open(a.items[1].parent / "B04.tif") as src:
            return src.read(1)

    np.testing.assert_array_equal(band(7, "a"), band(7, "b"))
    assert not np.array_equal(band(7, "a"), band(8, "c"))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tiles": 0}, "tiles"),
        ({"size_px": 10}, "size_px"),
        ({"revisit_days": 0}, "revisit"),
        ({"crs": "EPSG:4326"}, "projected CRS"),
        ({"crs": "EPSG:999999"}, "unknown CRS"),
    ],
)
def test_invalid_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        build_demo_archive(tmp_path, **kwargs)


# ----------------------------------------------------------------------------- content


def test_ndvi_seasonality_on_clear_dates(archive: DemoArchive) -> None:
    by_date = _items(archive)
    summer = _dates(archive, "clear", (6, 7, 8))
    winter = _dates(archive, "clear", (12, 1, 2))
    assert summer and winter, archive.weather
    for date in summer:  # some crop is near its peak on every clear summer date
        items = by_date[date.isoformat()]
        ndvi = {name: _ndvi(items, _field_mask(g)) for name, g in archive.fields.items()}
        assert max(ndvi.values()) > 0.6, (date, ndvi)
    # this fixture (seed 0) has a clear 30 June: maize is up, winter wheat is ripening
    june30 = _ndvi(by_date["2023-06-30"], _field_mask(archive.fields["maize-east"]))
    assert archive.weather[dt.date(2023, 6, 30)] == "clear" and june30 > 0.6
    for date in winter:
        items = by_date[date.isoformat()]
        for name in ("wheat-north", "maize-east"):
            assert 0.05 < _ndvi(items, _field_mask(archive.fields[name])) < 0.3


def test_water_has_negative_ndvi(archive: DemoArchive) -> None:
    items = _items(archive)[_dates(archive, "clear")[0].isoformat()]
    b04, b08 = _mosaic(items, "B04"), _mosaic(items, "B08")
    ndvi = (b08 - b04) / (b08 + b04)
    assert (ndvi < 0).mean() > 0.01  # the lake


def test_cloud_model_thick_cloud_and_clear(archive: DemoArchive, booster) -> None:
    by_date = _items(archive)
    overcast, clear = _dates(archive, "overcast"), _dates(archive, "clear")
    assert overcast and clear, archive.weather
    masks = {name: _field_mask(g) for name, g in archive.fields.items()}
    for date in overcast:
        x = _model_stack(by_date[date.isoformat()])
        p = booster.predict(x.reshape(-1, 10))
        assert p.min() > 0.8, (date, p.min())
        for name, mask in masks.items():
            assert booster.predict(x[mask].mean(axis=0)[None])[0] > 0.5, (date, name)
    for date in clear:
        x = _model_stack(by_date[date.isoformat()])
        p = booster.predict(x.reshape(-1, 10)).reshape(SIZE, SIZE)
        assert np.percentile(p, 99) < 0.2, date
        for name, mask in masks.items():
            assert p[mask].max() < 0.2, (date, name)
            assert booster.predict(x[mask].mean(axis=0)[None])[0] < 0.2, (date, name)


@pytest.mark.slow
def test_default_archive_is_fast_and_varied(tmp_path: Path, booster) -> None:
    t0 = time.perf_counter()
    a = build_demo_archive(tmp_path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 60, f"default demo archive took {elapsed:.1f} s"
    assert len(a.items) == 146 and len(a.weather) == 73
    kinds = set(a.weather.values())
    assert kinds == {"clear", "overcast", "cumulus", "cirrus"}
    # partial cumulus dates report a partial cloud cover
    covers = [json.loads(p.read_text())["properties"]["eo:cloud_cover"] for p in a.items]
    assert any(0 < c < 100 for c in covers)
    # thin cirrus raises B10 to 0.01-0.04 while clear land stays ~0.001
    cirrus_day = next(d for d, k in a.weather.items() if k == "cirrus")
    clear_day = next(d for d, k in a.weather.items() if k == "clear")
    for day, lo, hi in ((cirrus_day, 0.008, 0.045), (clear_day, 0.0005, 0.003)):
        item = next(p for p in a.items if f"_{day:%Y%m%d}_" in p.name)
        with rasterio.open(item.parent / "B10.tif") as src:
            b10 = (src.read(1).astype(float) - 1000) / 10000
        assert lo < b10.mean() < hi, (day, b10.mean())
