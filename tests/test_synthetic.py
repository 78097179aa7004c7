"""fis.demo.synthetic: per-band GeoTIFF/COG + STAC Item writer and the DN encoding."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import Point, shape

from fis.core.bands import BANDS, COMMON_NAMES
from fis.demo.synthetic import (
    COG_MEDIA_TYPE,
    BandRaster,
    baseline_offset_dn,
    grid_transform,
    reflectance_to_dn,
    write_stac_scene,
)
from fis.errors import InvalidInput

UTC = dt.UTC
WHEN = dt.datetime(2023, 6, 1, 10, 5, 21, tzinfo=UTC)
X0, Y0 = 500000.0, 5100000.0


def _hand_raster(rows: int, cols: int, start: int = 1000) -> np.ndarray:
    """DN values that encode their own position: start + row * cols + col (0 kept as no-data)."""
    dn = (start + np.arange(rows * cols).reshape(rows, cols)).astype(np.uint16)
    dn[0, 0] = 0
    return dn


def _three_res_bands() -> dict[str, BandRaster]:
    return {
        "B04": BandRaster(_hand_raster(12, 12), grid_transform(X0, Y0, 10)),
        "B8A": BandRaster(_hand_raster(6, 6, 2000), grid_transform(X0, Y0, 20)),
        "B10": BandRaster(_hand_raster(2, 2, 3000), grid_transform(X0, Y0, 60)),
    }


@pytest.fixture
def scene(tmp_path: Path) -> Path:
    return write_stac_scene(tmp_path, "S2A_TEST_SCENE", WHEN, _three_res_bands())


def test_grid_transform() -> None:
    assert grid_transform(X0, Y0, 20) == Affine(20, 0, X0, 0, -20, Y0)
    with pytest.raises(InvalidInput):
        grid_transform(X0, Y0, 0)


@pytest.mark.parametrize("cog", [True, False])
def test_band_round_trip_exact(tmp_path: Path, cog: bool) -> None:
    bands = _three_res_bands()
    item_path = write_stac_scene(tmp_path, "s", WHEN, bands, cog=cog)
    assert item_path == tmp_path / "s" / "s.json"
    for band, raster in bands.items():
        with rasterio.open(tmp_path / "s" / f"{band}.tif") as src:
            assert src.count == 1
            assert src.dtypes == ("uint16",)
            assert src.nodata == 0
            assert src.crs.to_epsg() == 32633
            assert src.transform == raster.transform
            np.testing.assert_array_equal(src.read(1), raster.dn)
            layout = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
            assert (layout == "COG") is cog
            assert src.profile["tiled"]
            assert src.compression is not None and src.compression.value.upper() == "DEFLATE"


def test_cog_has_overviews_when_larger_than_a_block(tmp_path: Path) -> None:
    dn = np.full((300, 300), 1234, dtype=np.uint16)
    write_stac_scene(tmp_path, "big", WHEN, {"B02": BandRaster(dn, grid_transform(X0, Y0, 10))})
    with rasterio.open(tmp_path / "big" / "B02.tif") as src:
        assert src.overviews(1), "a 300 px COG should carry at least one overview level"


def test_item_parses_with_pystac_and_has_the_fields(scene: Path) -> None:
    d = json.loads(scene.read_text())
    item = pystac.Item.from_dict(d)
    assert item.id == "S2A_TEST_SCENE"
    assert item.datetime == WHEN
    p = d["properties"]
    assert p["datetime"] == "2023-06-01T10:05:21Z"
    assert p["platform"] == "sentinel-2a"
    assert p["constellation"] == "sentinel-2"
    assert p["instruments"] == ["msi"]
    assert p["s2:processing_baseline"] == "05.09"
    assert p["s2:product_type"] == "S2MSI1C"
    assert p["s2:mgrs_tile"] == "33TWN"
    assert p["grid:code"] == "MGRS-33TWN"
    assert p["proj:code"] == "EPSG:32633"
    assert p["proj:epsg"] == 32633
    ext = " ".join(d["stac_extensions"])
    for name in ("/eo/", "/raster/", "/projection/"):
        assert name in ext

    red = d["assets"]["red"]
    assert red["href"] == "./B04.tif"
    assert red["type"] == COG_MEDIA_TYPE
    assert red["roles"] == ["data"]
    assert red["eo:bands"] == [{"name": "B04", "common_name": "red"}]
    assert red["raster:bands"] == [
        {"nodata": 0, "data_type": "uint16", "spatial_resolution": 10.0, "scale": 0.0001, "offset": -0.1}
    ]
    assert red["proj:shape"] == [12, 12]
    assert red["proj:transform"] == [10.0, 0.0, X0, 0.0, -10.0, Y0]
    assert d["assets"]["cirrus"]["eo:bands"] == [{"name": "B10", "common_name": "cirrus"}]
    assert d["assets"]["cirrus"]["raster:bands"][0]["spatial_resolution"] == 60.0
    assert d["assets"]["nir08"]["proj:shape"] == [6, 6]
    # hrefs resolve next to the item
    for asset in item.assets.values():
        assert (scene.parent / asset.href).exists()


def test_footprint_is_lonlat_union_of_band_extents(tmp_path: Path) -> None:
    bands = {
        "B04": BandRaster(_hand_raster(12, 12), grid_transform(X0, Y0, 10)),  # 120 m square
        "B10": BandRaster(_hand_raster(3, 3), grid_transform(X0, Y0, 60)),  # 180 m square
    }
    d = json.loads(write_stac_scene(tmp_path, "fp", WHEN, bands).read_text())
    footprint = shape(d["geometry"])
    to_ll = Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    west, south, east, north = d["bbox"]
    assert footprint.bounds == pytest.approx((west, south, east, north), abs=1e-9)
    # corners of the larger (60 m) extent are on/inside; a point beyond it is not
    for x, y in [(X0 + 1, Y0 - 1), (X0 + 179, Y0 - 179), (X0 + 179, Y0 - 1)]:
        assert footprint.buffer(1e-9).contains(Point(*to_ll.transform(x, y)))
    assert not footprint.contains(Point(*to_ll.transform(X0 + 185, Y0 - 90)))
    assert 14.99 < west < east < 15.01 and 46.0 < south < north < 46.06


@pytest.mark.parametrize(
    ("asset_keys", "expected"),
    [
        ("common", {"red", "nir08", "cirrus"}),
        ("band", {"B04", "B8A", "B10"}),
    ],
)
def test_asset_key_modes(tmp_path: Path, asset_keys: str, expected: set[str]) -> None:
    d = json.loads(write_stac_scene(tmp_path, "k", WHEN, _three_res_bands(), asset_keys=asset_keys).read_text())
    assert set(d["assets"]) == expected
    pystac.Item.from_dict(d)


def test_all_thirteen_common_name_keys(tmp_path: Path) -> None:
    bands = {b: BandRaster(_hand_raster(2, 2), grid_transform(X0, Y0, 60)) for b in BANDS}
    d = json.loads(write_stac_scene(tmp_path, "all", WHEN, bands).read_text())
    assert set(d["assets"]) == set(COMMON_NAMES)
    for key, band in COMMON_NAMES.items():
        assert d["assets"][key]["eo:bands"][0]["name"] == band
        assert d["assets"][key]["href"] == f"./{band}.tif"


@pytest.mark.parametrize(
    ("baseline", "offset", "dn_offset"),
    [("02.09", 0.0, 0), ("03.01", 0.0, 0), ("04.00", -0.1, -1000), ("05.09", -0.1, -1000), ("05.10", -0.1, -1000)],
)
def test_offset_follows_processing_baseline(tmp_path: Path, baseline: str, offset: float, dn_offset: int) -> None:
    assert baseline_offset_dn(baseline) == dn_offset
    d = json.loads(write_stac_scene(tmp_path, "b", WHEN, _three_res_bands(), processing_baseline=baseline).read_text())
    assert d["properties"]["s2:processing_baseline"] == baseline
    for asset in d["assets"].values():
        rb = asset["raster:bands"][0]
        assert rb["scale"] == 0.0001
        assert rb["offset"] == offset


def test_without_scale_offset_and_without_nodata(tmp_path: Path) -> None:
    d = json.loads(
        write_stac_scene(tmp_path, "n", WHEN, _three_res_bands(), raster_scale_offset=False, nodata=None).read_text()
    )
    for asset in d["assets"].values():
        rb = asset["raster:bands"][0]
        assert "scale" not in rb and "offset" not in rb and "nodata" not in rb
    with rasterio.open(tmp_path / "n" / "B04.tif") as src:
        assert src.nodata is None


def test_non_utc_datetime_is_normalised_to_z(tmp_path: Path) -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    d = json.loads(
        write_stac_scene(tmp_path, "t", dt.datetime(2023, 1, 1, 11, 0, 0, 500000, tzinfo=cet), _three_res_bands())
        .read_text()
    )
    assert d["properties"]["datetime"] == "2023-01-01T10:00:00.500000Z"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"datetime": dt.datetime(2023, 1, 1)}, "timezone-aware"),
        ({"bands": {"red": BandRaster(_hand_raster(2, 2), grid_transform(X0, Y0, 10))}}, "band ids"),
        ({"bands": {"B13": BandRaster(_hand_raster(2, 2), grid_transform(X0, Y0, 10))}}, "band ids"),
        ({"bands": {"B04": BandRaster(np.ones((2, 2)) * 0.1, grid_transform(X0, Y0, 10))}}, "reflectance_to_dn"),
        ({"bands": {"B04": BandRaster(np.ones(4, dtype=np.uint16), grid_transform(X0, Y0, 10))}}, "2-D"),
        ({"bands": {}}, "at least one band"),
        ({"processing_baseline": "five"}, "processing baseline"),
        ({"asset_keys": "wrong"}, "asset_keys"),
        ({"crs": "EPSG:999999"}, "unknown CRS"),
    ],
)
def test_invalid_input_is_named(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"datetime": WHEN, "bands": _three_res_bands(), **kwargs}
    with pytest.raises(InvalidInput, match=match):
        write_stac_scene(tmp_path, "bad", args.pop("datetime"), args.pop("bands"), **args)


def test_integer_dn_arrays_are_accepted(tmp_path: Path) -> None:
    dn = np.array([[0, 1], [65534, 65535]], dtype=np.int64)
    write_stac_scene(tmp_path, "i", WHEN, {"B02": BandRaster(dn, grid_transform(X0, Y0, 10))})
    with rasterio.open(tmp_path / "i" / "B02.tif") as src:
        np.testing.assert_array_equal(src.read(1), dn)


# ----------------------------------------------------------------------------- DN encoding


@pytest.mark.parametrize(
    ("baseline", "expected"),
    [
        # refl:   0.1234  0.0   -0.05  NaN  7.0    -1.0  0.00004
        ("05.09", [2234, 1000, 500, 0, 65534, 1, 1000]),
        ("02.09", [1234, 1, 1, 0, 65534, 1, 1]),
    ],
)
def test_reflectance_to_dn_table(baseline: str, expected: list[int]) -> None:
    refl = np.array([0.1234, 0.0, -0.05, np.nan, 7.0, -1.0, 0.00004])
    dn = reflectance_to_dn(refl, processing_baseline=baseline)
    assert dn.dtype == np.uint16
    assert dn.tolist() == expected


@pytest.mark.parametrize("baseline", ["02.09", "04.00", "05.09"])
def test_reflectance_to_dn_inverts_the_service_rule_exactly(baseline: str) -> None:
    offset = baseline_offset_dn(baseline)
    dn = np.arange(1, 65535, dtype=np.uint16)  # every data DN
    refl = (dn.astype(np.float64) + offset) / 10000  # the service's rule
    np.testing.assert_array_equal(reflectance_to_dn(refl, processing_baseline=baseline), dn)
    small = np.array([[0.0312, 0.4501], [np.nan, 0.0001]])
    back = reflectance_to_dn(small, processing_baseline=baseline).astype(np.float64)
    np.testing.assert_allclose(((back + offset) / 10000)[~np.isnan(small)], small[~np.isnan(small)], atol=1e-12)
    assert back[1, 0] == 0
