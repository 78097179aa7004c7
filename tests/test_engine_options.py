"""Statistics options on hand-checkable rasters: clear-pixel statistics, indices, percentiles,
histograms and temporal aggregation, through :meth:`fis.engine.engine.Engine.compute` on real COGs.

The standard scene (tests/handrasters.py) has ``B04 = 100 + v`` and ``B08 = 1000 + v`` DN with
``v = row*10 + col``; the index ``(B08 + B04) * 10000`` is then ``1100 + 2v`` per pixel. The split
scene has the real cloudy spectrum in columns 0..4 and the real clear spectrum in columns 5..9;
at ``cloud_mask_resolution = 10`` without smoothing or dilation exactly columns 0..4 are cloudy.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from fis.core.bands import BANDS
from fis.core.observation import PixelCounts
from fis.engine.clouds import load_model
from fis.engine.engine import Engine
from handrasters import (
    CLEAR,
    CLOUDY,
    UTC,
    make_request,
    pixel_rect,
    polygon,
    split_scene_bands,
    uniform_scene_bands,
    write_scene,
)

TOL = 1e-7  # reflectance (float32 storage)
INDEX_TOL = 1e-3  # (B08 + B04) * 10000 from float32 reflectance
NDVI_CLEAR = (CLEAR["B08"] - CLEAR["B04"]) / (CLEAR["B08"] + CLEAR["B04"])
NDVI_CLOUDY = (CLOUDY["B08"] - CLOUDY["B04"]) / (CLOUDY["B08"] + CLOUDY["B04"])
NDMI_CLEAR = (CLEAR["B08"] - CLEAR["B11"]) / (CLEAR["B08"] + CLEAR["B11"])
RECT = polygon(pixel_rect(1, 2, 3, 4))  # v = 12..14, 22..24, 32..34
WHOLE = polygon(pixel_rect(0, 0, 9, 9))
MASK_AT_10M = {"cloud_mask_resolution": 10, "cloud_mask_average_over": 0, "cloud_mask_dilation": 0}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_model("s2cloudless-v0.1"))


def only(result):
    assert result.errors == ()
    assert len(result.observations) == 1
    return result.observations[0]


# --- indices, percentiles, histograms ----------------------------------------------------------

def test_custom_index_statistics_percentiles_and_histogram_exact(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")
    request = make_request(
        RECT,
        indices={"dnsum": "(B08 + B04) * 10000", "ndmi": None},
        statistics={"percentiles": [0.05, 0.5, 0.95], "histogram": {"bins": 2, "low": 1125, "high": 1165}},
    )
    obs = only(engine.compute(request, [scene]))
    # 1100 + 2v over v = 12 13 14 22 23 24 32 33 34: 1124 1126 1128 1144 1146 1148 1164 1166 1168
    dnsum = obs.indices["dnsum"]
    std_v = np.sqrt((121 + 100 + 81 + 1 + 0 + 1 + 81 + 100 + 121) / 9)
    expected = {"mean": 1146, "min": 1124, "max": 1168, "std": 2 * std_v, "median": 1146,
                "p10": 1125.6, "p25": 1128, "p75": 1164, "p90": 1166.4}
    assert dnsum == pytest.approx(expected, abs=INDEX_TOL)
    assert obs.percentiles["dnsum"] == pytest.approx({"p5": 1124.8, "p50": 1146, "p95": 1167.2}, abs=INDEX_TOL)
    # NDVI = 900 / (1100 + 2v): its median is the pixel v = 23
    assert obs.percentiles["ndvi"]["p50"] == pytest.approx(900 / 1146, abs=1e-6)
    hist = obs.histograms["dnsum"]
    assert [(b["low"], b["high"], b["count"]) for b in hist["bins"]] == [(1125.0, 1145.0, 3), (1145.0, 1165.0, 3)]
    assert (hist["underflow"], hist["overflow"]) == (1, 2)  # 1124 below; 1166, 1168 above
    assert obs.histograms["ndvi"]["underflow"] == 9  # NDVI ~0.78 is far below 1125
    # B11 is not in the scene: NDMI has null statistics, no percentiles and no histogram
    assert all(v is None for v in obs.indices["ndmi"].values())
    assert obs.percentiles["ndmi"] == {"p5": None, "p50": None, "p95": None}
    assert obs.histograms["ndmi"] is None
    # the default statistics are untouched by the options
    assert obs.ndvi["mean"] == pytest.approx(only(engine.compute(make_request(RECT), [scene])).ndvi["mean"], abs=1e-15)
    assert obs.pixels == PixelCounts(total=9, valid=9, cloudy=0, nodata=0)


def test_builtin_indices_on_a_homogeneous_field(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1", uniform_scene_bands(CLEAR))
    request = make_request(WHOLE, indices=["ndwi", "ndmi", "nbr", "evi", "savi"])
    obs = only(engine.compute(request, [scene]))
    b = CLEAR
    expected = {
        "ndwi": (b["B03"] - b["B08"]) / (b["B03"] + b["B08"]),
        "ndmi": NDMI_CLEAR,
        "nbr": (b["B08"] - b["B12"]) / (b["B08"] + b["B12"]),
        "evi": 2.5 * (b["B08"] - b["B04"]) / (b["B08"] + 6 * b["B04"] - 7.5 * b["B02"] + 1),
        "savi": 1.5 * (b["B08"] - b["B04"]) / (b["B08"] + b["B04"] + 0.5),
    }
    assert list(obs.indices) == list(expected)
    for name, value in expected.items():
        stats = obs.indices[name]
        assert stats["mean"] == pytest.approx(value, abs=1e-6), name
        assert stats["min"] == stats["max"] == pytest.approx(value, abs=1e-6)
        assert stats["std"] == pytest.approx(0.0, abs=1e-12)


def test_index_undefined_pixels_are_left_out_of_that_index_only(tmp_path: Path, engine: Engine) -> None:
    # sqrt(B04 * 10000 - 122.5) = sqrt(v - 22.5): undefined (NaN) for v = 12, 13, 14, 22
    scene = write_scene(tmp_path, "S1")
    request = make_request(RECT, indices={"root": "sqrt(B04 * 10000 - 122.5)"})
    obs = only(engine.compute(request, [scene]))
    assert obs.pixels.valid == 9 and obs.ndvi["mean"] is not None  # NDVI keeps all nine pixels
    values = [np.sqrt(v - 22.5) for v in (23, 24, 32, 33, 34)]
    assert obs.indices["root"]["mean"] == pytest.approx(np.mean(values), abs=1e-3)
    assert obs.indices["root"]["min"] == pytest.approx(np.sqrt(0.5), abs=1e-3)
    assert obs.indices["root"]["median"] == pytest.approx(np.sqrt(9.5), abs=1e-3)


# --- clear-pixel statistics --------------------------------------------------------------------

def test_mask_clouds_computes_every_statistic_over_the_clear_pixels(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1", split_scene_bands(CLOUDY, CLEAR, split_col=5))
    options = {"indices": ["ndmi"], "statistics": {"percentiles": [0.5], "histogram": {"edges": [0, 0.5, 1]}}}
    everything = only(engine.compute(make_request(WHOLE, **MASK_AT_10M, **options), [scene]))
    clear = only(engine.compute(make_request(WHOLE, **MASK_AT_10M, **options, mask_clouds=True), [scene]))
    # counts: 50 of the 100 valid pixels are cloudy; the other 50 are what the statistics use
    assert everything.pixels == PixelCounts(total=100, valid=100, cloudy=50, nodata=0)
    assert clear.pixels == PixelCounts(total=100, valid=100, cloudy=50, nodata=0, clear=50)
    assert everything.pixels.to_dict() == {"total": 100, "valid": 100, "cloudy": 50, "nodata": 0}
    assert clear.pixels.to_dict() == {"total": 100, "valid": 100, "cloudy": 50, "nodata": 0, "clear": 50}
    # NDVI, bands, indices, percentiles and histograms: the clear half only
    assert clear.ndvi["mean"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    assert clear.ndvi["min"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    assert everything.ndvi["mean"] == pytest.approx((NDVI_CLEAR + NDVI_CLOUDY) / 2, abs=1e-6)
    for band in BANDS:
        assert clear.bands[band] == pytest.approx(CLEAR[band], abs=TOL), band
        assert everything.bands[band] == pytest.approx((CLEAR[band] + CLOUDY[band]) / 2, abs=TOL), band
    assert clear.indices["ndmi"]["mean"] == pytest.approx(NDMI_CLEAR, abs=1e-6)
    assert clear.percentiles["ndvi"]["p50"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    assert [b["count"] for b in clear.histograms["ndvi"]["bins"]] == [0, 50]
    assert [b["count"] for b in everything.histograms["ndvi"]["bins"]] == [50, 50]
    # the cloud measures still describe every valid pixel
    assert clear.cloud_fraction == everything.cloud_fraction == 0.5
    assert clear.cloud_probability == everything.cloud_probability


def test_mask_clouds_without_a_cloud_mask_has_no_clear_pixel(tmp_path: Path, engine: Engine) -> None:
    scene = write_scene(tmp_path, "S1")  # B04 and B08 only: the cloud model cannot run
    obs = only(engine.compute(make_request(RECT, mask_clouds=True), [scene]))
    assert obs.pixels == PixelCounts(total=9, valid=9, cloudy=0, nodata=0, clear=0)
    assert obs.cloud_fraction is None
    assert all(v is None for v in obs.ndvi.values()) and all(v is None for v in obs.bands.values())


# --- temporal aggregation ----------------------------------------------------------------------

@pytest.fixture
def three_dates(tmp_path: Path):
    """A: 2020-06-01 clear; B: 2020-06-03 cloudy; C: 2020-06-12 half cloudy (columns 0..4)."""
    return [
        write_scene(tmp_path, "A", uniform_scene_bands(CLEAR), when=dt.datetime(2020, 6, 1, 10, tzinfo=UTC)),
        write_scene(tmp_path, "B", uniform_scene_bands(CLOUDY), when=dt.datetime(2020, 6, 3, 10, tzinfo=UTC)),
        write_scene(tmp_path, "C", split_scene_bands(CLOUDY, CLEAR, split_col=5), when=dt.datetime(2020, 6, 12, 10, tzinfo=UTC)),
    ]


def aggregate(engine: Engine, scenes, *, to: str = "2020-06-20", **aggregation):
    request = make_request(WHOLE, **MASK_AT_10M, time_range={"from": "2020-06-01", "to": to},
                           aggregation={"interval": "P10D", **aggregation})
    result = engine.compute(request, scenes)
    assert result.errors == ()
    return result.observations


def test_aggregation_all_pools_the_pixels_of_every_date(three_dates, engine: Engine) -> None:
    first, second = aggregate(engine, three_dates, pick="all")
    assert (first.date, first.datetime) == (dt.date(2020, 6, 1), dt.datetime(2020, 6, 1, tzinfo=UTC))
    assert first.interval == {"from": "2020-06-01T00:00:00Z", "to": "2020-06-10T23:59:59.999999Z",
                              "observations": ["2020-06-01", "2020-06-03"]}
    assert first.scenes == ("A", "B")
    assert first.pixels == PixelCounts(total=200, valid=200, cloudy=100, nodata=0)
    assert first.cloud_fraction == 0.5
    assert first.ndvi["mean"] == pytest.approx((NDVI_CLEAR + NDVI_CLOUDY) / 2, abs=1e-6)
    assert first.ndvi["min"] == pytest.approx(NDVI_CLOUDY, abs=1e-6)
    assert first.ndvi["max"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    assert first.ndvi["std"] == pytest.approx((NDVI_CLEAR - NDVI_CLOUDY) / 2, abs=1e-6)
    assert first.bands["B04"] == pytest.approx((CLEAR["B04"] + CLOUDY["B04"]) / 2, abs=TOL)
    assert second.interval["observations"] == ["2020-06-12"]
    assert second.pixels == PixelCounts(total=100, valid=100, cloudy=50, nodata=0)
    # cloud_probability: the model on the mean vector of every valid pixel used
    assert first.cloud_probability == pytest.approx(second.cloud_probability, abs=1e-6)


def test_aggregation_least_cloudy_takes_one_date(three_dates, engine: Engine) -> None:
    first, second = aggregate(engine, three_dates, pick="least_cloudy")
    alone = only(engine.compute(make_request(WHOLE, **MASK_AT_10M), three_dates[:1]))
    assert first.interval["observations"] == ["2020-06-01"] and first.scenes == ("A",)
    assert first.pixels == alone.pixels == PixelCounts(total=100, valid=100, cloudy=0, nodata=0)
    assert first.ndvi == alone.ndvi
    assert first.bands == alone.bands
    assert first.cloud_probability == pytest.approx(alone.cloud_probability, abs=1e-12)
    assert second.interval["observations"] == ["2020-06-12"]


def test_aggregation_clear_mean_composites_the_clear_pixels(three_dates, engine: Engine) -> None:
    first, second = aggregate(engine, three_dates, pick="clear_mean", last_interval="shorten")
    # B has no clear pixel: only A is used
    assert first.interval["observations"] == ["2020-06-01"]
    assert first.pixels == PixelCounts(total=100, valid=100, cloudy=0, nodata=0)
    assert first.ndvi["mean"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    # C: the composite holds the 50 clear pixels of columns 5..9
    assert second.interval["observations"] == ["2020-06-12"]
    assert second.pixels == PixelCounts(total=100, valid=100, cloudy=50, nodata=0)
    assert second.ndvi["mean"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    assert second.ndvi["std"] == pytest.approx(0.0, abs=1e-9)
    for band in BANDS:
        assert second.bands[band] == pytest.approx(CLEAR[band], abs=TOL), band


def test_aggregation_with_mask_clouds_pools_only_clear_pixels(three_dates, engine: Engine) -> None:
    request = make_request(WHOLE, **MASK_AT_10M, mask_clouds=True, time_range={"from": "2020-06-01", "to": "2020-06-10"},
                           aggregation={"interval": "P10D"})
    (row,) = engine.compute(request, three_dates).observations
    assert row.pixels == PixelCounts(total=200, valid=200, cloudy=100, nodata=0, clear=100)
    assert row.ndvi["mean"] == pytest.approx(NDVI_CLEAR, abs=1e-6)
    assert row.bands["B04"] == pytest.approx(CLEAR["B04"], abs=TOL)


@pytest.mark.parametrize(
    ("last", "to", "intervals", "used"),
    [
        ("shorten", "2020-06-11", [("2020-06-01", "2020-06-10"), ("2020-06-11", "2020-06-11")], [2, 0]),
        ("skip", "2020-06-11", [("2020-06-01", "2020-06-10")], [2]),
        # extended to its full 10 days, the last interval reads C (2020-06-12) beyond the time range
        ("extend", "2020-06-11", [("2020-06-01", "2020-06-10"), ("2020-06-11", "2020-06-20")], [2, 1]),
        # an interval without any date is still a row, with null statistics
        ("shorten", "2020-06-30", [("2020-06-01", "2020-06-10"), ("2020-06-11", "2020-06-20"), ("2020-06-21", "2020-06-30")],
         [2, 1, 0]),
    ],
)
def test_last_interval_and_empty_intervals(three_dates, engine: Engine, last: str, to: str, intervals, used) -> None:
    rows = aggregate(engine, three_dates, to=to, last_interval=last)
    assert [(r.interval["from"][:10], r.interval["to"][:10]) for r in rows] == intervals
    assert [len(r.interval["observations"]) for r in rows] == used
    for row in rows:
        if not row.interval["observations"]:
            assert row.pixels == PixelCounts(total=0, valid=0, cloudy=0, nodata=0)
            assert row.ndvi["mean"] is None and row.cloud_fraction is None and row.cloud_probability is None
            assert row.scenes == ()


def test_overflowing_index_statistics_are_null_not_infinite(tmp_path: Path, engine: Engine) -> None:
    # (B08 - B04) = 0.09 on every pixel: the index is 9e307, its sum over 9 pixels overflows float64
    scene = write_scene(tmp_path, "S1")
    request = make_request(RECT, indices={"huge": "B08 * 1e307 * 100 - B04 * 1e307 * 100"},
                           statistics={"percentiles": [0.5], "histogram": {"bins": 2}})
    obs = only(engine.compute(request, [scene]))
    stats = obs.indices["huge"]
    assert stats["min"] == pytest.approx(9e307, rel=1e-5) and stats["max"] == pytest.approx(9e307, rel=1e-5)
    assert stats["mean"] is None and stats["std"] is None  # overflow: null, never inf or NaN in the JSON
    assert obs.percentiles["huge"]["p50"] == pytest.approx(9e307, rel=1e-5)
