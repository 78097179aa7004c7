"""Engine.compute on hand-checkable rasters: exact counts, band means, NDVI statistics, mosaics.

Scenes are real COG files + STAC items (fis.demo.synthetic) read back through rasterio/GDAL. The
standard scene (tests/handrasters.py) is a 10 x 10 grid of 10 m pixels with
``B04 = 100 + v`` and ``B08 = 1000 + v`` DN, ``v = row*10 + col``, baseline 02.14 (reflectance =
DN / 10000). Expected values are computed by hand in the comments; the comparison tolerance
``TOL`` only absorbs the float32 storage of reflectance (1e-4 * DN in float32: < 1e-8 error).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer
from shapely.geometry import shape

from fis.core.bands import BANDS
from fis.core.observation import PixelCounts
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from fis.errors import RequestTooLarge
from handrasters import (
    CLEAR,
    CLOUDY,
    UTC,
    WHEN,
    X0,
    Y0,
    centres_inside,
    default_dn,
    index_values,
    make_request,
    pixel_rect,
    polygon,
    ring,
    split_scene_bands,
    uniform_scene_bands,
    write_scene,
)

TOL = 1e-7  # reflectance: float32 storage of DN * 1e-4
NDVI_TOL = 1e-6  # NDVI from float32 reflectance vs exact DN arithmetic


@pytest.fixture(scope="module")
def model():
    return load_model("s2cloudless-v0.1")


@pytest.fixture
def engine(model) -> Engine:
    return Engine(model)


def only(result):
    assert result.errors == ()
    assert len(result.observations) == 1
    return result.observations[0]


def expected_ndvi(v: np.ndarray) -> np.ndarray:
    """NDVI of the standard scene from its DNs, exactly: (1000+v - (100+v)) / (1100 + 2v)."""
    v = np.asarray(v, dtype=np.float64)
    return 900.0 / (1100.0 + 2.0 * v)


# ------------------------------------------------------------------------------ counts and means


def test_rectangle_on_pixel_edges_exact_means_and_counts(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    # rows 1..3, cols 2..4: v = 12..14, 22..24, 32..34 -> mean v = 10*2 + 3 = 23
    obs = only(engine.compute(make_request(polygon(pixel_rect(1, 2, 3, 4))), [scene]))
    assert obs.pixels == PixelCounts(total=9, valid=9, cloudy=0, nodata=0)
    assert obs.bands["B04"] == pytest.approx(0.0123, abs=TOL)
    assert obs.bands["B08"] == pytest.approx(0.1023, abs=TOL)
    assert all(obs.bands[b] is None for b in BANDS if b not in ("B04", "B08"))
    assert obs.scenes == ("S1",)
    assert obs.date == dt.date(2020, 6, 1) and obs.datetime == WHEN
    # without the ten model bands there is no object-level probability
    assert obs.cloud_probability is None


@pytest.mark.parametrize(
    ("x_min", "y_max", "x_max", "y_min", "total", "b04"),
    [
        # edges 0.1 m outside the centres x = 5..35, y = -5..-15: cols 0..3, rows 0..1
        # v mean = 10*0.5 + 1.5 = 6.5 -> DN 106.5
        (4.9, -4.9, 35.1, -15.1, 8, 0.01065),
        # edges 0.1 m inside those centres: cols 1..2, row 1 only -> v = 11, 12 -> 11.5
        (5.1, -5.1, 34.9, -24.9, 2, 0.01115),
    ],
)
def test_pixel_counted_iff_its_centre_is_inside(
    tmp_path: Path, engine: Engine, x_min, y_max, x_max, y_min, total, b04
) -> None:
    scene = write_scene(tmp_path, "S1")
    geometry = polygon(ring(X0 + x_min, Y0 + y_min, X0 + x_max, Y0 + y_max))
    obs = only(engine.compute(make_request(geometry), [scene]))
    assert obs.pixels.total == obs.pixels.valid == total
    assert obs.bands["B04"] == pytest.approx(b04, abs=TOL)
    assert centres_inside(shape(geometry)).sum() == total


def test_polygon_with_hole(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    # outer: rows 1..8, cols 1..8 (64 px, sum v = 64 * 49.5 = 3168)
    # hole: rows 3..5, cols 3..5 (9 px, sum v = 9 * 44 = 396) -> 55 px, mean v = 2772 / 55 = 50.4
    geometry = polygon(pixel_rect(1, 1, 8, 8), pixel_rect(3, 3, 5, 5))
    obs = only(engine.compute(make_request(geometry), [scene]))
    assert obs.pixels == PixelCounts(total=55, valid=55, cloudy=0, nodata=0)
    assert obs.bands["B04"] == pytest.approx(0.01504, abs=TOL)
    assert obs.bands["B08"] == pytest.approx(0.10504, abs=TOL)


def test_multipolygon(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    # rows 0..1 x cols 0..1 (v 0, 1, 10, 11) and rows 8..9 x cols 8..9 (v 88, 89, 98, 99)
    # -> 8 px, mean v = (22 + 374) / 8 = 49.5
    geometry = {
        "type": "MultiPolygon",
        "coordinates": [[pixel_rect(0, 0, 1, 1)], [pixel_rect(8, 8, 9, 9)]],
    }
    obs = only(engine.compute(make_request(geometry), [scene]))
    assert obs.pixels == PixelCounts(total=8, valid=8, cloudy=0, nodata=0)
    assert obs.bands["B04"] == pytest.approx(0.01495, abs=TOL)
    v = np.array([0, 1, 10, 11, 88, 89, 98, 99])
    assert obs.ndvi["mean"] == pytest.approx(expected_ndvi(v).mean(), abs=NDVI_TOL)


def test_polygon_smaller_than_a_pixel_gets_exactly_the_pixel_of_its_centroid(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    # a 2 m x 2 m square in pixel (row 4, col 3) that misses its centre (X0+35, Y0-45): v = 43
    geometry = polygon(ring(X0 + 32, Y0 - 48, X0 + 34, Y0 - 46))
    obs = only(engine.compute(make_request(geometry), [scene]))
    assert obs.pixels == PixelCounts(total=1, valid=1, cloudy=0, nodata=0)
    assert obs.bands["B04"] == pytest.approx(0.0143, abs=TOL)
    assert obs.ndvi["mean"] == pytest.approx(900 / 1186, abs=NDVI_TOL)
    assert obs.ndvi["std"] == 0.0
    assert obs.ndvi["min"] == obs.ndvi["max"] == obs.ndvi["median"] == obs.ndvi["p10"] == obs.ndvi["mean"]


def test_polygon_partly_outside_the_scene_counts_missing_pixels_as_nodata(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    # rows 0..1, cols 8..11: cols 10, 11 lie east of the 10-column raster
    obs = only(engine.compute(make_request(polygon(pixel_rect(0, 8, 1, 11))), [scene]))
    assert obs.pixels == PixelCounts(total=8, valid=4, cloudy=0, nodata=4)
    # v = 8, 9, 18, 19 -> 13.5
    assert obs.bands["B04"] == pytest.approx(0.01135, abs=TOL)


# ------------------------------------------------------------------------------ no data / NDVI


def test_nodata_pixels_are_counted_and_excluded_from_every_mean(tmp_path: Path, engine: Engine) -> None:
    dn = default_dn()
    dn["B04"][2, 2] = 0
    dn["B04"][2, 3] = 0
    dn["B08"][3, 4] = 0  # no data in another band only: the pixel is still not valid
    scene = write_scene(tmp_path, "S1", dn)
    # rows 1..3, cols 2..4 minus (2,2), (2,3), (3,4): v = 12, 13, 14, 24, 32, 33 (sum 128)
    obs = only(engine.compute(make_request(polygon(pixel_rect(1, 2, 3, 4))), [scene]))
    assert obs.pixels == PixelCounts(total=9, valid=6, cloudy=0, nodata=3)
    assert obs.bands["B04"] == pytest.approx((100 + 128 / 6) / 10000, abs=TOL)
    assert obs.bands["B08"] == pytest.approx((1000 + 128 / 6) / 10000, abs=TOL)
    v = np.array([12, 13, 14, 24, 32, 33])
    assert obs.ndvi["mean"] == pytest.approx(expected_ndvi(v).mean(), abs=NDVI_TOL)
    assert obs.ndvi["min"] == pytest.approx(900 / (1100 + 66), abs=NDVI_TOL)
    assert obs.ndvi["max"] == pytest.approx(900 / (1100 + 24), abs=NDVI_TOL)


def test_red_plus_nir_zero_is_not_a_valid_ndvi_pixel(tmp_path: Path, engine: Engine) -> None:
    # baseline 05.09: reflectance = (DN - 1000) / 10000, so DN 1000 is reflectance 0 (not no-data)
    v = index_values()
    dn = {"B04": (1100 + v).astype(np.uint16), "B08": (2000 + v).astype(np.uint16)}
    dn["B04"][2, 3] = 1000
    dn["B08"][2, 3] = 1000
    scene = write_scene(tmp_path, "S1", dn, processing_baseline="05.09")
    obs = only(engine.compute(make_request(polygon(pixel_rect(1, 2, 3, 4))), [scene]))
    assert obs.pixels == PixelCounts(total=9, valid=8, cloudy=0, nodata=1)
    # the 8 other pixels: v sum = 9*23 - 23 = 184 -> mean 23; B04 reflectance (100 + 23) / 10000
    assert obs.bands["B04"] == pytest.approx(0.0123, abs=TOL)
    assert np.isfinite(obs.ndvi["min"]) and obs.ndvi["min"] > 0.7


def test_ndvi_statistics_exact(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    obs = only(engine.compute(make_request(polygon(pixel_rect(1, 2, 3, 4))), [scene]))
    v = np.array([12, 13, 14, 22, 23, 24, 32, 33, 34])
    x = expected_ndvi(v)  # 900 / (1100 + 2v)
    expected = {
        "mean": x.mean(),
        "min": 900 / 1168,  # v = 34
        "max": 900 / 1124,  # v = 12
        "std": x.std(ddof=0),
        "median": 900 / 1146,  # v = 23
        "p10": np.percentile(x, 10),
        "p25": np.percentile(x, 25),
        "p75": np.percentile(x, 75),
        "p90": np.percentile(x, 90),
    }
    assert set(obs.ndvi) == set(expected)
    for name, value in expected.items():
        assert obs.ndvi[name] == pytest.approx(value, abs=NDVI_TOL), name
    # the conventions are discriminated by these values (population std, linear percentiles)
    assert abs(x.std(ddof=1) - expected["std"]) > 100 * NDVI_TOL
    for method in ("lower", "higher", "nearest", "midpoint"):
        assert abs(np.percentile(x, 10, method=method) - expected["p10"]) > 10 * NDVI_TOL
    # p10 by hand: sorted x, rank 0.1 * 8 = 0.8 -> x0 + 0.8 (x1 - x0)
    s = np.sort(x)
    assert expected["p10"] == pytest.approx(s[0] + 0.8 * (s[1] - s[0]), abs=1e-15)


def test_no_valid_pixel_gives_null_statistics_not_a_division_error(tmp_path: Path, engine: Engine) -> None:
    bands = uniform_scene_bands(CLEAR)
    for band in BANDS:
        bands[band][0][:, :5] = 0  # west half: no data in every band
    scene = write_scene(tmp_path, "S1", bands)
    obs = only(engine.compute(make_request(polygon(pixel_rect(2, 0, 4, 3))), [scene]))
    assert obs.pixels == PixelCounts(total=12, valid=0, cloudy=0, nodata=12)
    assert obs.cloud_fraction is None
    assert obs.cloud_probability is None
    assert all(value is None for value in obs.ndvi.values())
    assert all(value is None for value in obs.bands.values())
    # the JSON form keeps the date with nulls
    body = obs.to_json(cloudy=False)
    assert body["ndvi"]["mean"] is None and body["cloud_fraction"] is None


# ------------------------------------------------------------------------------ CRS of the input


def test_same_polygon_in_epsg3857_and_4326_gives_the_same_pixels(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    # an L-shape with vertices on pixel corners: every edge is >= 5 m from any pixel centre
    utm = [
        (X0 + 10, Y0 - 10), (X0 + 80, Y0 - 10), (X0 + 80, Y0 - 40), (X0 + 40, Y0 - 40),
        (X0 + 40, Y0 - 90), (X0 + 10, Y0 - 90), (X0 + 10, Y0 - 10),
    ]
    results = {}
    for crs in ("EPSG:32633", "EPSG:3857", "EPSG:4326"):
        to = Transformer.from_crs("EPSG:32633", crs, always_xy=True)
        coords = [list(to.transform(x, y)) for x, y in utm]
        request = make_request(polygon(coords), crs=None if crs == "EPSG:4326" else crs)
        results[crs] = only(engine.compute(request, [scene]))
    # 7 x 3 (rows 1..3, cols 1..7) + 3 x 5 (rows 4..8, cols 1..3) = 21 + 15 = 36 pixels
    v = np.concatenate([index_values()[1:4, 1:8].ravel(), index_values()[4:9, 1:4].ravel()])
    for crs, obs in results.items():
        assert obs.pixels == PixelCounts(total=36, valid=36, cloudy=0, nodata=0), crs
        assert obs.bands["B04"] == pytest.approx((100 + v.mean()) / 10000, abs=TOL), crs
        assert obs.ndvi == results["EPSG:32633"].ndvi, crs


# ------------------------------------------------------------------------------ dates and tiles


def test_two_tiles_on_one_date_are_one_observation_over_the_union(tmp_path: Path, engine: Engine) -> None:
    v = index_values()
    # tile A: columns 0..5, acquired first; tile B: columns 4..8 (overlap 4..5), other B04 values
    a = write_scene(
        tmp_path, "A_T33TWN", {"B04": (100 + v[:, 0:6]).astype(np.uint16), "B08": (1000 + v[:, 0:6]).astype(np.uint16)},
        when=WHEN,
    )
    b = write_scene(
        tmp_path, "B_T33TXN", {"B04": (300 + v[:, 4:9]).astype(np.uint16), "B08": (1000 + v[:, 4:9]).astype(np.uint16)},
        when=WHEN + dt.timedelta(seconds=5), x0=X0 + 40, mgrs_tile="33TXN",
    )
    request = make_request(polygon(pixel_rect(0, 0, 9, 9)))
    for order in ([a, b], [b, a]):
        obs = only(engine.compute(request, order))
        assert obs.scenes == ("A_T33TWN", "B_T33TXN")
        assert obs.datetime == WHEN
        # union covers columns 0..8 (90 px); column 9 has no tile
        assert obs.pixels == PixelCounts(total=100, valid=90, cloudy=0, nodata=10)
        # first tile wins in the overlap: cols 0..5 from A (100 + v), cols 6..8 from B (300 + v)
        # mean over cols 0..8 of v = 45 + 4 = 49; B adds 200 DN on 30 of 90 pixels
        assert obs.bands["B04"] == pytest.approx((149 + 200 * 30 / 90) / 10000, abs=TOL)
        assert obs.bands["B08"] == pytest.approx(0.1049, abs=TOL)


def test_observations_are_per_utc_date(tmp_path: Path, engine: Engine) -> None:
    late = write_scene(tmp_path, "LATE", when=dt.datetime(2020, 6, 1, 23, 59, 59, tzinfo=UTC))
    early = write_scene(tmp_path, "EARLY", when=dt.datetime(2020, 6, 2, 0, 0, 1, tzinfo=UTC))
    # 01:30 at +02:00 is 23:30 UTC of the day before: same observation as LATE
    tz = dt.timezone(dt.timedelta(hours=2))
    same = write_scene(tmp_path, "SAME", when=dt.datetime(2020, 6, 2, 1, 30, tzinfo=tz))
    result = engine.compute(make_request(polygon(pixel_rect(0, 0, 1, 1))), [late, early, same])
    assert [o.date for o in result.observations] == [dt.date(2020, 6, 1), dt.date(2020, 6, 2)]
    assert result.observations[0].scenes == ("SAME", "LATE")
    assert result.observations[1].scenes == ("EARLY",)


def test_20m_and_60m_bands_take_the_coarse_pixel_containing_each_10m_pixel(tmp_path: Path, engine: Engine) -> None:
    R5, C5 = np.mgrid[0:5, 0:5]
    R2, C2 = np.mgrid[0:2, 0:2]
    dn = {
        **default_dn(),
        "B05": ((2000 + 10 * R5 + C5).astype(np.uint16), 20.0),  # 5 x 5 pixels of 20 m
        "B01": ((3000 + 10 * R2 + C2).astype(np.uint16), 60.0),  # 2 x 2 pixels of 60 m (120 m)
    }
    scene = write_scene(tmp_path, "S1", dn)
    cases = [
        # rows 1..5, cols 0..2: B05 parents R = 0,1,1,2,2 (mean 1.2), C = 0,0,1 (mean 1/3);
        # B01 parent (0, 0) everywhere
        ((1, 0, 5, 2), 2000 + 12 + 1 / 3, 3000.0),
        # rows 4..7, cols 4..7: B05 R = C = 2,2,3,3 (2.5) -> 2027.5; B01 R = C = 0,0,1,1 -> 3005.5
        ((4, 4, 7, 7), 2027.5, 3005.5),
    ]
    for (r0, c0, r1, c1), b05, b01 in cases:
        obs = only(engine.compute(make_request(polygon(pixel_rect(r0, c0, r1, c1))), [scene]))
        rows, cols = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
        # independent oracle: each 10 m pixel takes its parent coarse pixel's DN
        parent05 = dn["B05"][0][rows // 2, cols // 2].mean()
        parent01 = dn["B01"][0][rows // 6, cols // 6].mean()
        assert parent05 == pytest.approx(b05) and parent01 == pytest.approx(b01)
        assert obs.bands["B05"] == pytest.approx(b05 / 10000, abs=TOL)
        assert obs.bands["B01"] == pytest.approx(b01 / 10000, abs=TOL)
        assert obs.pixels.valid == rows.size


@pytest.mark.parametrize("damage", ["deleted", "garbage", "truncated"])
def test_unreadable_band_file_fails_only_its_date(tmp_path: Path, engine: Engine, damage: str) -> None:
    scenes = [
        write_scene(tmp_path, f"S{day}", when=dt.datetime(2020, 6, day, 10, tzinfo=UTC)) for day in (1, 11, 21)
    ]
    victim = Path(scenes[1].assets["B08"].href)
    if damage == "deleted":
        victim.unlink()
    elif damage == "garbage":
        victim.write_bytes(b"this is not a GeoTIFF" * 100)
    else:
        data = victim.read_bytes()
        victim.write_bytes(data[: len(data) // 2])
    result = engine.compute(make_request(polygon(pixel_rect(1, 2, 3, 4))), scenes)
    assert result.status == "PARTIAL"
    assert [o.date for o in result.observations] == [dt.date(2020, 6, 1), dt.date(2020, 6, 21)]
    for obs in result.observations:
        assert obs.pixels.valid == 9
        assert obs.bands["B04"] == pytest.approx(0.0123, abs=TOL)
    (error,) = result.errors
    assert error.date == dt.date(2020, 6, 11)
    assert error.scenes == ("S11",)
    assert "B08" in error.message and str(victim) in error.message


# ------------------------------------------------------------------------------ limits / empty


def test_max_pixels_raises_request_too_large_with_the_numbers(tmp_path: Path, model) -> None:
    scene = write_scene(tmp_path, "S1")
    request = make_request(polygon(pixel_rect(1, 2, 3, 4)))  # a 3 x 3 grid
    with pytest.raises(RequestTooLarge) as info:
        Engine(model, max_pixels=8).compute(request, [scene])
    assert info.value.status == 413
    assert info.value.details == {"pixels": 9, "max_pixels": 8, "resolution": 10.0}
    assert "3 x 3 = 9" in info.value.message and "8" in info.value.message
    assert only(Engine(model, max_pixels=9).compute(request, [scene])).pixels.total == 9


def test_no_scene_gives_no_observations(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    request = make_request(polygon(pixel_rect(1, 2, 3, 4)))
    result = engine.compute(request, [])
    assert result.observations == () and result.errors == () and result.status == "OK"
    # a scene outside the time range is ignored as well
    outside = make_request(polygon(pixel_rect(1, 2, 3, 4)), time_range={"from": "2021-01-01", "to": "2021-12-31"})
    assert engine.compute(outside, [scene]).observations == ()


def test_polygon_touching_no_scene_gives_no_observations_through_the_catalog(tmp_path: Path) -> None:
    from fis.config import Settings
    from fis.services.ingest import ingest
    from fis.services.runtime import Services
    from fis.store.db import upgrade

    write_scene(tmp_path / "archive", "S1")
    services = Services.create(Settings(data_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path / 'fis.sqlite'}"))
    try:
        upgrade(services.db)
        report = ingest([str(tmp_path / "archive")], services.sessions)
        assert report.created == ["S1"] and report.failed == []
        far = polygon(ring(X0 + 5000, Y0 - 5000, X0 + 5100, Y0 - 4900))  # 5 km away
        _, result = services.run_timeseries(make_request(far))
        assert result.observations == () and result.errors == ()
        _, result = services.run_timeseries(make_request(polygon(pixel_rect(1, 2, 3, 4))))
        assert [o.pixels.total for o in result.observations] == [9]
    finally:
        services.close()


# ------------------------------------------------------------------------------ clouds


@pytest.mark.parametrize(("reflectance", "cloudy"), [(CLEAR, False), (CLOUDY, True)])
def test_homogeneous_clear_and_cloudy_fields(tmp_path: Path, engine: Engine, model, reflectance, cloudy) -> None:
    # 400 m x 400 m scene: the field's 160 m cloud cell is fully covered (see the 160 m test below)
    scene = write_scene(tmp_path, "S1", uniform_scene_bands(reflectance, shape=(40, 40)))
    obs = only(engine.compute(make_request(polygon(pixel_rect(1, 1, 8, 8))), [scene]))
    assert obs.pixels.valid == 64
    for band in BANDS:
        assert obs.bands[band] == pytest.approx(reflectance[band], abs=TOL), band
    assert obs.cloud_fraction == (1.0 if cloudy else 0.0)
    assert obs.pixels.cloudy == (64 if cloudy else 0)
    assert (obs.cloud_probability > 0.9) if cloudy else (obs.cloud_probability < 0.1)


@pytest.mark.parametrize(
    ("average_over", "dilation", "cloudy_pixels"),
    [
        (0, 0, 50),  # columns 0..4 cloudy, no post-processing: exactly half
        (0, 1, 60),  # a radius-1 disk (cross) dilation adds column 5
        (1, 0, 50),  # averaging over the cross: column 4 (4/5 cloudy) stays, column 5 (1/5) stays clear
        (0, 2, 70),  # a radius-2 disk reaches two columns further
    ],
)
def test_cloud_fraction_from_the_per_pixel_mask_at_10m(
    tmp_path: Path, engine: Engine, model, average_over: int, dilation: int, cloudy_pixels: int
) -> None:
    scene = write_scene(tmp_path, "S1", split_scene_bands(CLOUDY, CLEAR, split_col=5))
    request = make_request(
        polygon(pixel_rect(0, 0, 9, 9)),
        cloud_mask_resolution=10,
        cloud_mask_average_over=average_over,
        cloud_mask_dilation=dilation,
    )
    obs = only(engine.compute(request, [scene]))
    assert obs.pixels == PixelCounts(total=100, valid=100, cloudy=cloudy_pixels, nodata=0)
    assert obs.cloud_fraction == cloudy_pixels / 100
    # the object-level probability is the model applied to the mean 10-band vector
    vector = np.array([[obs.bands[b] for b in model.input_bands]])
    assert obs.cloud_probability == pytest.approx(float(model.predict(vector)[0]), abs=1e-12)
    half = np.array([[(CLEAR[b] + CLOUDY[b]) / 2 for b in model.input_bands]])
    assert np.allclose(vector, half, atol=TOL)


def test_default_cloud_mask_at_160m_on_a_homogeneous_cloudy_field(tmp_path: Path, engine: Engine) -> None:
    # The scene must be larger than one 160 m cell: GDAL's average warp leaves a cell empty
    # when the whole source raster is smaller than that cell (a 10 x 10 scene gave cloudy=0).
    scene = write_scene(tmp_path, "S1", uniform_scene_bands(CLOUDY, shape=(40, 40)))
    obs = only(engine.compute(make_request(polygon(pixel_rect(0, 0, 9, 9))), [scene]))
    assert obs.pixels == PixelCounts(total=100, valid=100, cloudy=100, nodata=0)
    assert obs.cloud_fraction == 1.0
    # a field straddling four 160 m cells (x 150..170, y -150..-170 around the corner)
    obs = only(engine.compute(make_request(polygon(pixel_rect(14, 14, 17, 17))), [scene]))
    assert obs.pixels == PixelCounts(total=16, valid=16, cloudy=16, nodata=0)
