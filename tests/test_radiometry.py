"""DN -> reflectance: processing baselines, STAC raster:bands, no-data, and the engine end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from fis.catalog.stac import iter_item_dicts, scene_from_item
from fis.core.bands import BANDS
from fis.core.radiometry import (
    Radiometry,
    baseline_has_offset,
    parse_baseline,
    radiometry_for_asset,
)
from fis.demo.synthetic import reflectance_to_dn
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from handrasters import CLEAR, CLOUDY, UTC, make_request, pixel_rect, polygon, write_scene

METADATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "metadata"


# ------------------------------------------------------------------------------ baseline rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("02.06", (2, 6)),
        ("03.01", (3, 1)),
        ("04.00", (4, 0)),
        ("05.09", (5, 9)),
        ("05.10", (5, 10)),
        ("N0400", (4, 0)),  # the product-name form (S2B_MSIL1C_..._N0400_...)
        ("0509", (5, 9)),
        (" 04.00 ", (4, 0)),
        ("5", (5, 0)),
        (None, None),
        ("", None),
        ("abc", None),
    ],
)
def test_parse_baseline(text, expected) -> None:
    assert parse_baseline(text) == expected


@pytest.mark.parametrize(
    ("baseline", "offset"),
    [("02.06", False), ("02.09", False), ("03.01", False), ("03.99", False), ("04.00", True), ("05.09", True), ("05.10", True), (None, False)],
)
def test_offset_from_baseline_04_00(baseline, offset) -> None:
    assert baseline_has_offset(baseline) is offset
    radiometry = radiometry_for_asset(None, processing_baseline=baseline)
    assert radiometry.scale == pytest.approx(1e-4)
    assert radiometry.offset == pytest.approx(-0.1 if offset else 0.0)
    # DN 2000 is reflectance 0.1 from 04.00 on (DN 1000 = 0), else 0.2
    refl = radiometry.to_reflectance(np.array([2000, 1000], dtype=np.uint16))
    assert refl.tolist() == pytest.approx([0.1, 0.0] if offset else [0.2, 0.1], abs=1e-8)


def test_raster_bands_scale_offset_win_and_are_not_applied_twice() -> None:
    band = {"nodata": 0, "data_type": "uint16", "scale": 0.0001, "offset": -0.1}
    for baseline in ("05.09", "02.14", None):
        radiometry = radiometry_for_asset(band, processing_baseline=baseline)
        assert (radiometry.scale, radiometry.offset) == (0.0001, -0.1)
        assert radiometry.to_reflectance(np.array([2000], dtype=np.uint16))[0] == pytest.approx(0.1, abs=1e-8)
    # an explicit offset 0 in raster:bands is also taken at its word
    explicit = radiometry_for_asset({"scale": 0.0001, "offset": 0}, processing_baseline="05.09")
    assert explicit.offset == 0.0
    # scale only: offset 0, no baseline offset added on top
    scale_only = radiometry_for_asset({"scale": 0.0001}, processing_baseline="05.09")
    assert (scale_only.scale, scale_only.offset) == (0.0001, 0.0)


@pytest.fixture(scope="module")
def earth_search_v1_l1c() -> dict:
    path = METADATA / "stac_earth_search_v1_l1c_S2B_27VWK_20240206.json"
    if not path.is_file():
        pytest.skip(f"real STAC item not found at {path} (../shared/data absent)")
    return json.loads(path.read_text())


def test_earth_search_v1_item_dn_2000_is_reflectance_0_1(earth_search_v1_l1c) -> None:
    (item,) = list(iter_item_dicts(earth_search_v1_l1c, source="earth-search"))
    scene = scene_from_item(item)
    assert scene.processing_baseline == "05.10"
    assert sorted(scene.assets) == sorted(BANDS)
    for band, asset in scene.assets.items():
        assert (asset.radiometry.scale, asset.radiometry.offset, asset.radiometry.nodata) == (0.0001, -0.1, 0), band
        refl = asset.radiometry.to_reflectance(np.array([2000, 1000, 0], dtype=np.uint16))
        assert refl[0] == pytest.approx(0.1, abs=1e-8), band
        assert refl[1] == 0.0, band
        assert np.isnan(refl[2]), band


def test_float_data_means_reflectance_already() -> None:
    radiometry = radiometry_for_asset({"data_type": "float32", "nodata": "nan"}, processing_baseline="05.09")
    assert (radiometry.scale, radiometry.offset) == (1.0, 0.0)
    values = np.array([0.1234, np.nan, 0.0], dtype=np.float32)
    out = radiometry.to_reflectance(values)
    assert out.dtype == np.float32
    assert out[0] == np.float32(0.1234) and np.isnan(out[1]) and out[2] == 0.0


def test_nodata_becomes_nan_and_output_is_float32() -> None:
    out = Radiometry().to_reflectance(np.array([[0, 1, 65535]], dtype=np.uint16))
    assert out.dtype == np.float32 and out.shape == (1, 3)
    assert np.isnan(out[0, 0]) and out[0, 1] == np.float32(1e-4) and out[0, 2] == np.float32(6.5535)
    # a file nodata other than 0
    custom = radiometry_for_asset(None, processing_baseline="02.14", file_nodata=65535)
    out = custom.to_reflectance(np.array([0, 65535, 5000], dtype=np.uint16))
    assert out[0] == 0.0 and np.isnan(out[1]) and out[2] == np.float32(0.5)
    # no nodata at all
    assert not np.isnan(Radiometry(nodata=None).to_reflectance(np.array([0], dtype=np.uint16))).any()


def test_offset_dn_near_1000_keeps_full_float32_precision() -> None:
    """Dark pixels under the -1000 offset: (DN - 1000) / 10000 rounded once to float32."""
    dn = np.arange(1, 20001, dtype=np.uint16)
    exact = (dn.astype(np.float64) - 1000.0) / 10000.0
    out = radiometry_for_asset({"scale": 0.0001, "offset": -0.1}, processing_baseline="05.09").to_reflectance(dn)
    assert np.array_equal(out, exact.astype(np.float32))
    out = radiometry_for_asset(None, processing_baseline="04.00").to_reflectance(dn)
    assert np.array_equal(out, exact.astype(np.float32))


def test_radiometry_round_trips_through_dict() -> None:
    r = Radiometry(scale=0.0001, offset=-0.1, nodata=0)
    assert Radiometry.from_dict(r.to_dict()) == r


# ------------------------------------------------------------------------------ end to end


def _bands_dn(reflectance: dict[str, np.ndarray], baseline: str) -> dict[str, tuple[np.ndarray, float]]:
    return {band: (reflectance_to_dn(values, processing_baseline=baseline), 10.0) for band, values in reflectance.items()}


def test_same_reflectance_means_from_baseline_05_09_and_02_xx_scenes(tmp_path: Path) -> None:
    """The same reflectances stored as 05.09 DNs (+1000) and as 02.xx DNs give identical results."""
    rng = np.random.default_rng(7)
    base = {band: np.full((40, 40), CLEAR[band]) for band in BANDS}
    mixed = {
        band: np.round(np.where(rng.random((40, 40)) < 0.3, CLOUDY[band], base[band]) * rng.uniform(0.9, 1.1, (40, 40)), 4)
        for band in BANDS
    }
    day = lambda d: dt.datetime(2022, 6, d, 10, tzinfo=UTC)  # noqa: E731
    old = write_scene(tmp_path, "OLD_0214", _bands_dn(mixed, "02.14"), processing_baseline="02.14", when=day(1))
    new = write_scene(tmp_path, "NEW_0509", _bands_dn(mixed, "05.09"), processing_baseline="05.09", when=day(2))
    # the same 05.09 DNs, described only by s2:processing_baseline (no raster:bands scale/offset)
    bare = write_scene(
        tmp_path, "BARE_0509", _bands_dn(mixed, "05.09"), processing_baseline="05.09", when=day(3),
        raster_scale_offset=False,
    )
    new_dn = reflectance_to_dn(mixed["B04"], processing_baseline="05.09")
    old_dn = reflectance_to_dn(mixed["B04"], processing_baseline="02.14")
    assert np.array_equal(new_dn.astype(int), old_dn.astype(int) + 1000)

    request = make_request(
        polygon(pixel_rect(3, 4, 30, 33)), cloud_mask_resolution=10, include_cloudy=True,
        time_range={"from": "2022-06-01", "to": "2022-06-03"},
    )
    result = Engine(load_model("s2cloudless-v0.1")).compute(request, [old, new, bare])
    assert result.errors == ()
    first, *others = result.observations
    assert [o.scenes for o in result.observations] == [("OLD_0214",), ("NEW_0509",), ("BARE_0509",)]
    assert first.pixels.valid == 28 * 30
    rows, cols = slice(3, 31), slice(4, 34)
    for band in BANDS:
        assert first.bands[band] == pytest.approx(mixed[band][rows, cols].mean(), abs=1e-7), band
    for obs in others:
        assert obs.pixels == first.pixels
        for band in BANDS:
            assert obs.bands[band] == pytest.approx(first.bands[band], abs=1e-9), band
        for name, value in first.ndvi.items():
            assert obs.ndvi[name] == pytest.approx(value, abs=1e-9), name
        assert obs.cloud_probability == pytest.approx(first.cloud_probability, abs=1e-9)
        assert obs.cloud_fraction == first.cloud_fraction
    assert 0.0 < first.cloud_fraction < 1.0
