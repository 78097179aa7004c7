"""Percentiles, histograms, ISO 8601 intervals and the request options, on hand-checkable values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from fis.core.aggregation import Aggregation, covered_range, intervals, parse_aggregation, parse_duration
from fis.core.request import parse_timeseries_request
from fis.core.stats import HistogramSpec, histogram, percentile_key, percentiles
from fis.core.timerange import TimeRange
from fis.errors import InvalidInput

UTC = dt.UTC
VALUES = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0])  # sorted: 1 1 2 3 3 4 5 5 5 6 9


# --- percentiles ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("q", "key", "value"),
    [
        (0.0, "p0", 1.0),
        (0.05, "p5", 1.0),  # rank 0.5 between 1 and 1
        (0.15, "p15", 1.5),  # rank 1.5 between 1 and 2
        (0.5, "p50", 4.0),  # rank 5
        (0.95, "p95", 7.5),  # rank 9.5 between 6 and 9
        (0.025, "p2.5", 1.0),
        (0.999, "p99.9", 8.97),  # rank 9.99: 6 + 0.99 * 3
        (1.0, "p100", 9.0),
    ],
)
def test_percentiles_linear_interpolation_by_hand(q: float, key: str, value: float) -> None:
    assert percentile_key(q) == key
    assert percentiles(VALUES, (q,)) == {key: pytest.approx(value, abs=1e-12)}


def test_percentiles_of_nothing_are_null() -> None:
    assert percentiles(np.empty(0), (0.05, 0.5)) == {"p5": None, "p50": None}


# --- histograms -------------------------------------------------------------------------------

def bins(result: dict[str, Any]) -> list[tuple[float, float, int]]:
    return [(b["low"], b["high"], b["count"]) for b in result["bins"]]


def test_equidistant_histogram_with_range_counts_every_value_once() -> None:
    result = histogram(VALUES, HistogramSpec(bins=4, low=2.0, high=6.0))
    # [2,3): 2   [3,4): 3 3   [4,5): 4   [5,6]: 5 5 5 6 (last bin closed);  below: 1 1;  above: 9
    assert bins(result) == [(2.0, 3.0, 1), (3.0, 4.0, 2), (4.0, 5.0, 1), (5.0, 6.0, 4)]
    assert (result["underflow"], result["overflow"]) == (2, 1)
    assert sum(c for _, _, c in bins(result)) + result["underflow"] + result["overflow"] == VALUES.size


def test_histogram_edges_are_tidy_decimals() -> None:
    result = histogram(np.array([-0.7, -0.65, 0.05, 1.0]), HistogramSpec(bins=20, low=-1.0, high=1.0))
    lows = [b[0] for b in bins(result)]
    assert lows[:4] == [-1.0, -0.9, -0.8, -0.7]  # not -0.7000000000000001
    counts = {low: count for low, _, count in bins(result) if count}
    assert counts == {-0.7: 2, 0.0: 1, 0.9: 1}  # -0.7 and -0.65 share [-0.7, -0.6); 1.0 is in the last bin


def test_histogram_bin_width_shortens_the_last_bin_to_high() -> None:
    spec = HistogramSpec(bin_width=0.3, low=-1.0, high=0.0)
    assert spec.n_bins == 4
    result = histogram(np.array([-1.0, -0.71, -0.7, -0.1, 0.0, 0.5]), spec)
    assert bins(result) == [(-1.0, -0.7, 2), (-0.7, -0.4, 1), (-0.4, -0.1, 0), (-0.1, 0.0, 2)]
    assert result["overflow"] == 1


def test_histogram_explicit_edges() -> None:
    result = histogram(VALUES, HistogramSpec(edges=(0.0, 2.0, 5.0, 10.0)))
    assert bins(result) == [(0.0, 2.0, 2), (2.0, 5.0, 4), (5.0, 10.0, 5)]
    assert (result["underflow"], result["overflow"]) == (0, 0)


def test_histogram_range_from_the_data_and_constant_data() -> None:
    result = histogram(VALUES, HistogramSpec(bins=4))  # 1..9, width 2
    assert bins(result) == [(1.0, 3.0, 3), (3.0, 5.0, 3), (5.0, 7.0, 4), (7.0, 9.0, 1)]
    constant = histogram(np.array([0.5, 0.5]), HistogramSpec(bins=2))  # numpy's rule: value +- 0.5
    assert bins(constant) == [(0.0, 0.5, 0), (0.5, 1.0, 2)]
    assert histogram(np.empty(0), HistogramSpec(bins=2)) is None


def test_equal_frequency_histogram() -> None:
    values = np.arange(1.0, 13.0)  # 1..12
    result = histogram(values, HistogramSpec(type="equal_frequency", bins=4))
    # inner edges at the 1/4, 2/4, 3/4 quantiles: 3.75, 6.5, 9.25
    assert bins(result) == [(1.0, 3.75, 3), (3.75, 6.5, 3), (6.5, 9.25, 3), (9.25, 12.0, 3)]
    ranged = histogram(values, HistogramSpec(type="equal_frequency", bins=2, low=3.0, high=10.0))
    # values 3..10 in range (median 6.5); 1, 2 below, 11, 12 above
    assert bins(ranged) == [(3.0, 6.5, 4), (6.5, 10.0, 4)]
    assert (ranged["underflow"], ranged["overflow"]) == (2, 2)


# --- ISO 8601 intervals -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "months", "days"),
    [("P1D", 0, 1), ("P10D", 0, 10), ("P1W", 0, 7), ("P2W3D", 0, 17), ("P1M", 1, 0), ("P3M", 3, 0),
     ("P1M15D", 1, 15), ("P1Y", 12, 0), ("P12M", 12, 0), ("P366D", 0, 366), ("p10d", 0, 10)],
)
def test_durations(text: str, months: int, days: int) -> None:
    duration = parse_duration(text)
    assert (duration.months, duration.days) == (months, days)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("10D", "not a supported interval"), ("P", "not a supported interval"), ("PT12H", "hours, minutes or seconds"),
     ("P0D", "empty"), ("P2Y", "longer than one year"), ("P13M", "longer than one year"), ("P1Y1D", "longer than one year"),
     ("P367D", "longer than one year"), ("P1.5D", "not a supported interval"), (10, "must be a string"), ("-P1D", "not a supported")],
)
def test_bad_durations(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_duration(value)
    assert fragment in caught.value.message and caught.value.field == "aggregation.interval"
    assert "P10D" in caught.value.message  # says what is accepted


def as_text(spans: list[Any]) -> list[tuple[str, str]]:
    return [(s.to_dict()["from"], s.to_dict()["to"]) for s in spans]


JUNE = TimeRange(dt.datetime(2023, 6, 1, tzinfo=UTC), dt.datetime(2023, 6, 25, 23, 59, 59, 999999, tzinfo=UTC))


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        ("shorten", [("2023-06-01T00:00:00Z", "2023-06-10T23:59:59.999999Z"),
                     ("2023-06-11T00:00:00Z", "2023-06-20T23:59:59.999999Z"),
                     ("2023-06-21T00:00:00Z", "2023-06-25T23:59:59.999999Z")]),
        ("skip", [("2023-06-01T00:00:00Z", "2023-06-10T23:59:59.999999Z"),
                  ("2023-06-11T00:00:00Z", "2023-06-20T23:59:59.999999Z")]),
        ("extend", [("2023-06-01T00:00:00Z", "2023-06-10T23:59:59.999999Z"),
                    ("2023-06-11T00:00:00Z", "2023-06-20T23:59:59.999999Z"),
                    ("2023-06-21T00:00:00Z", "2023-06-30T23:59:59.999999Z")]),
    ],
)
def test_intervals_and_the_last_one(last: str, expected: list[tuple[str, str]]) -> None:
    aggregation = Aggregation(parse_duration("P10D"), last_interval=last)
    assert as_text(intervals(JUNE, aggregation)) == expected
    covered = covered_range(JUNE, aggregation)
    assert covered.end == (dt.datetime(2023, 6, 30, 23, 59, 59, 999999, tzinfo=UTC) if last == "extend" else JUNE.end)


def test_whole_number_of_intervals_has_no_partial_one() -> None:
    june = TimeRange(dt.datetime(2023, 6, 1, tzinfo=UTC), dt.datetime(2023, 6, 30, 23, 59, 59, 999999, tzinfo=UTC))
    for last in ("shorten", "skip", "extend"):
        assert len(intervals(june, Aggregation(parse_duration("P10D"), last_interval=last))) == 3


def test_calendar_months_from_the_31st() -> None:
    year = TimeRange(dt.datetime(2023, 1, 31, tzinfo=UTC), dt.datetime(2023, 5, 30, 23, 59, 59, 999999, tzinfo=UTC))
    starts = [s.start.date().isoformat() for s in intervals(year, Aggregation(parse_duration("P1M")))]
    # every step is counted from the start: 31 Jan + 2 months is 31 March, not 28 March
    assert starts == ["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30"]
    leap = TimeRange(dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    assert as_text(intervals(leap, Aggregation(parse_duration("P1Y")))) == [("2024-01-01T00:00:00Z", "2024-12-31T23:59:59.999999Z")]


def test_aggregation_option_validation() -> None:
    assert parse_aggregation({"interval": "P5D"}).to_dict() == {"interval": "P5D", "last_interval": "shorten", "pick": "all"}
    assert parse_aggregation("P1M").pick == "all"
    for value, field in [
        ({"interval": "P5D", "pick": "median"}, "aggregation.pick"),
        ({"interval": "P5D", "last_interval": "drop"}, "aggregation.last_interval"),
        ({"pick": "all"}, "aggregation.interval"),
        ({"interval": "P5D", "every": 2}, "aggregation.every"),
        ([1], "aggregation"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            parse_aggregation(value)
        assert caught.value.field == field


# --- the request ------------------------------------------------------------------------------

BOX = {"type": "Polygon", "coordinates": [[[15.0, 46.0], [15.001, 46.0], [15.001, 46.001], [15.0, 46.001], [15.0, 46.0]]]}


def body(**extra: Any) -> dict[str, Any]:
    return {"geometry": BOX, "time_range": {"from": "2023-01-01", "to": "2023-12-31"}, **extra}


def test_default_request_parameters_are_unchanged() -> None:
    request = parse_timeseries_request(body())
    assert set(request.parameters()) == {
        "crs", "time_range", "resolution", "cloud_mask", "max_cloud_fraction", "max_cloud_probability", "include_cloudy",
    }
    assert request.statistics.is_default and request.aggregation is None


def test_options_are_recorded_in_the_parameters() -> None:
    request = parse_timeseries_request(body(
        mask_clouds=True,
        indices={"ndwi": None, "my_ratio": "(B08 - B11) / (B08 + B11)", "ndvi": None},
        statistics={"percentiles": [0.95, 0.05, 0.05], "histogram": {"bin_width": 0.25, "low": -1, "high": 1}},
        aggregation={"interval": "P10D", "pick": "least_cloudy"},
    ))
    assert request.parameters() | {} == {
        **parse_timeseries_request(body()).parameters(),
        "mask_clouds": True,
        "indices": {"ndwi": "(B03 - B08) / (B03 + B08)", "my_ratio": "(B08 - B11) / (B08 + B11)"},  # ndvi is always there
        "statistics": {"percentiles": [0.95, 0.05],
                       "histogram": {"type": "equidistant", "bins": 8, "bin_width": 0.25, "low": -1.0, "high": 1.0}},
        "aggregation": {"interval": "P10D", "last_interval": "shorten", "pick": "least_cloudy"},
    }
    assert [i.name for i in parse_timeseries_request(body(indices=["evi", "savi", "evi"])).indices] == ["evi", "savi"]


BAD_OPTIONS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("unknown index", {"indices": ["ndsi"]}, "indices.ndsi", ["'ndsi'", "ndwi", "evi"]),
    ("unknown band", {"indices": {"r": "B13 / B04"}}, "indices.r", ["'B13'"]),
    ("unsafe expression", {"indices": {"r": "__import__('os')"}}, "indices.r", ["'__import__'"]),
    ("malformed expression", {"indices": {"r": "(B08 - B04"}}, "indices.r", ["ends too early"]),
    ("index name", {"indices": {"R 1": "B08"}}, "indices.R 1", ["not a valid index name"]),
    ("indices type", {"indices": 3}, "indices", ["list of built-in index names"]),
    ("percentile > 1", {"statistics": {"percentiles": [0.5, 95]}}, "statistics.percentiles", ["95", "0..1"]),
    ("percentile < 0", {"statistics": {"percentiles": [-0.1]}}, "statistics.percentiles", ["-0.1"]),
    ("percentile string", {"statistics": {"percentiles": ["0.5"]}}, "statistics.percentiles", ["not a number"]),
    ("percentiles type", {"statistics": {"percentiles": 0.5}}, "statistics.percentiles", ["a list of numbers"]),
    ("statistics key", {"statistics": {"median": True}}, "statistics.median", ["percentiles, histogram"]),
    ("histogram no bins", {"statistics": {"histogram": {"low": -1, "high": 1}}}, "statistics.histogram", ["no bins"]),
    ("histogram two kinds", {"statistics": {"histogram": {"bins": 4, "edges": [0, 1]}}}, "statistics.histogram",
     ["bins and edges"]),
    ("histogram low >= high", {"statistics": {"histogram": {"bins": 4, "low": 1, "high": 1}}}, "statistics.histogram.low",
     ["less than high"]),
    ("histogram low only", {"statistics": {"histogram": {"bins": 4, "low": 0}}}, "statistics.histogram.high", ["both"]),
    ("histogram 0 bins", {"statistics": {"histogram": {"bins": 0}}}, "statistics.histogram.bins", ["1 to 1000"]),
    ("histogram 1.5 bins", {"statistics": {"histogram": {"bins": 1.5}}}, "statistics.histogram.bins", ["integer"]),
    ("bin width without range", {"statistics": {"histogram": {"bin_width": 0.1}}}, "statistics.histogram.bin_width",
     ["needs low and high"]),
    ("bin width too small", {"statistics": {"histogram": {"bin_width": 1e-6, "low": 0, "high": 1}}},
     "statistics.histogram.bin_width", ["more than 1000 bins"]),
    ("edges not increasing", {"statistics": {"histogram": {"edges": [0, 0.5, 0.5]}}}, "statistics.histogram.edges",
     ["strictly increasing"]),
    ("edges with range", {"statistics": {"histogram": {"edges": [0, 1], "low": 0, "high": 1}}}, "statistics.histogram.low",
     ["leave out low and high"]),
    ("histogram type", {"statistics": {"histogram": {"bins": 4, "type": "quantile"}}}, "statistics.histogram.type",
     ["equidistant", "equal_frequency"]),
    ("equal frequency edges", {"statistics": {"histogram": {"edges": [0, 1], "type": "equal_frequency"}}},
     "statistics.histogram.type", ["give bins"]),
    ("histogram key", {"statistics": {"histogram": {"bins": 4, "range": [0, 1]}}}, "statistics.histogram.range", ["accepted keys"]),
    ("unknown interval", {"aggregation": {"interval": "P1Q"}}, "aggregation.interval", ["'P1Q'", "P10D"]),
    ("unknown pick", {"aggregation": {"interval": "P1M", "pick": "median"}}, "aggregation.pick", ["least_cloudy"]),
    ("mask_clouds type", {"mask_clouds": "yes"}, "mask_clouds", ["boolean"]),
]


@pytest.mark.parametrize(("case", "extra", "field", "fragments"), BAD_OPTIONS, ids=[c[0] for c in BAD_OPTIONS])
def test_bad_options_name_the_parameter(case: str, extra: dict[str, Any], field: str, fragments: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_timeseries_request(body(**extra))
    assert caught.value.field == field, caught.value.message
    assert caught.value.status == 400
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message
