"""Tests for fis.core.request: validation of time-series request bodies and query-string values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fis.core.request import (
    ACCEPTED_KEYS,
    CloudMaskSettings,
    TimeseriesRequest,
    parse_bool,
    parse_threshold,
    parse_timeseries_request,
)
from fis.errors import InvalidCRS, InvalidGeometry, InvalidInput, InvalidTimeRange

GEOM = {"type": "Polygon", "coordinates": [[[10.0, 45.0], [10.01, 45.0], [10.01, 45.01], [10.0, 45.01], [10.0, 45.0]]]}
UTM = {"type": "Polygon", "coordinates": [[[500000, 5000000], [500100, 5000000], [500100, 5000100], [500000, 5000000]]]}
TR = {"from": "2015-07-01", "to": "2015-09-30"}


def body(**kw):
    b = {"geometry": GEOM, "time_range": TR}
    b.update(kw)
    return b


# ------------------------------------------------------------------------------------ accepted


def test_minimal_request_defaults():
    req = parse_timeseries_request(body())
    assert isinstance(req, TimeseriesRequest)
    assert req.resolution == 10.0
    assert req.cloud_mask == CloudMaskSettings()
    assert req.cloud_mask.to_dict() == {"threshold": 0.4, "resolution": 160.0, "average_over": 1, "dilation_size": 1}
    assert req.max_cloud_fraction is None and req.max_cloud_probability is None
    assert req.include_cloudy is False
    assert req.aoi.crs.to_string() == "EPSG:4326"
    assert req.time_range.start == datetime(2015, 7, 1, tzinfo=UTC)
    assert req.time_range.end == datetime(2015, 9, 30, 23, 59, 59, 999999, tzinfo=UTC)


def test_full_request_and_parameters():
    req = parse_timeseries_request(
        body(
            geometry=UTM,
            crs="EPSG:32633",
            resolution=20,
            cloud_threshold=0.5,
            cloud_mask_resolution=80,
            cloud_mask_average_over=2,
            cloud_mask_dilation=0,
            max_cloud_fraction=0.2,
            max_cloud_probability=1,
            include_cloudy=True,
        )
    )
    assert req.aoi.crs.to_string() == "EPSG:32633"
    assert req.resolution == 20.0 and isinstance(req.resolution, float)
    assert req.cloud_mask == CloudMaskSettings(threshold=0.5, resolution=80.0, average_over=2, dilation_size=0)
    params = req.parameters()
    assert params == {
        "crs": "EPSG:32633",
        "time_range": {"from": "2015-07-01T00:00:00Z", "to": "2015-09-30T23:59:59.999999Z"},
        "resolution": 20.0,
        "cloud_mask": {"threshold": 0.5, "resolution": 80.0, "average_over": 2, "dilation_size": 0},
        "max_cloud_fraction": 0.2,
        "max_cloud_probability": 1.0,
        "include_cloudy": True,
    }
    assert json.loads(json.dumps(params)) == params  # JSON-serialisable


def test_parameters_defaults_are_json():
    params = parse_timeseries_request(body()).parameters()
    assert params["crs"] == "EPSG:4326"
    assert params["max_cloud_fraction"] is None and params["include_cloudy"] is False
    assert json.loads(json.dumps(params)) == params


@pytest.mark.parametrize(
    ("key", "value", "attr", "expected"),
    [
        ("resolution", 10, "resolution", 10.0),
        ("resolution", 0.5, "resolution", 0.5),
        ("resolution", 10000, "resolution", 10000.0),
        ("resolution", None, "resolution", 10.0),  # null = default
        ("cloud_threshold", 0, "cloud_mask.threshold", 0.0),
        ("cloud_threshold", 1, "cloud_mask.threshold", 1.0),
        ("cloud_threshold", 0.35, "cloud_mask.threshold", 0.35),
        ("cloud_mask_resolution", 10, "cloud_mask.resolution", 10.0),
        ("cloud_mask_resolution", 1000.5, "cloud_mask.resolution", 1000.5),
        ("cloud_mask_average_over", 0, "cloud_mask.average_over", 0),
        ("cloud_mask_average_over", 10, "cloud_mask.average_over", 10),
        ("cloud_mask_average_over", 3.0, "cloud_mask.average_over", 3),  # integral float
        ("cloud_mask_dilation", 0, "cloud_mask.dilation_size", 0),
        ("cloud_mask_dilation", 10, "cloud_mask.dilation_size", 10),
        ("max_cloud_fraction", 0, "max_cloud_fraction", 0.0),
        ("max_cloud_fraction", 1.0, "max_cloud_fraction", 1.0),
        ("max_cloud_fraction", None, "max_cloud_fraction", None),
        ("max_cloud_probability", 0.5, "max_cloud_probability", 0.5),
        ("include_cloudy", False, "include_cloudy", False),
        ("include_cloudy", True, "include_cloudy", True),
        ("include_cloudy", None, "include_cloudy", False),
        ("crs", None, "aoi.crs", None),
    ],
)
def test_optional_values(key, value, attr, expected):
    req = parse_timeseries_request(body(**{key: value}))
    obj = req
    for part in attr.split("."):
        obj = getattr(obj, part)
    if attr == "aoi.crs":
        assert obj.to_string() == "EPSG:4326"
    else:
        assert obj == expected
        assert type(obj) is type(expected)


@pytest.mark.parametrize(
    "crs", ["EPSG:32633", 32633, "urn:ogc:def:crs:EPSG::32633", "http://www.opengis.net/def/crs/EPSG/0/32633"]
)
def test_crs_forms(crs):
    req = parse_timeseries_request(body(geometry=UTM, crs=crs))
    assert req.aoi.crs.to_string() == "EPSG:32633"
    assert req.aoi.geometry_4326.bounds[0] == pytest.approx(15.0, abs=1e-6)


def test_geometry_forms():
    wkt = "POLYGON((10 45, 10.01 45, 10.01 45.01, 10 45.01, 10 45))"
    feat = {"type": "Feature", "properties": {}, "geometry": GEOM}
    named = {**UTM, "crs": {"type": "name", "properties": {"name": "EPSG:32633"}}}
    assert parse_timeseries_request(body(geometry=wkt)).aoi.geometry.equals(parse_timeseries_request(body()).aoi.geometry)
    assert parse_timeseries_request(body(geometry=feat)).aoi.geometry.geom_type == "Polygon"
    assert parse_timeseries_request(body(geometry=named)).parameters()["crs"] == "EPSG:32633"


def test_repair_warning_is_carried():
    bowtie = {"type": "Polygon", "coordinates": [[[10, 45], [10.01, 45.01], [10.01, 45], [10, 45.01], [10, 45]]]}
    req = parse_timeseries_request(body(geometry=bowtie))
    assert req.aoi.warnings and "make_valid" in req.aoi.warnings[0]


# ------------------------------------------------------------------------------------ rejected


NUMBER_KEYS = [
    "resolution",
    "cloud_threshold",
    "cloud_mask_resolution",
    "cloud_mask_average_over",
    "cloud_mask_dilation",
    "max_cloud_fraction",
    "max_cloud_probability",
]


@pytest.mark.parametrize("key", NUMBER_KEYS)
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0.4", ["must be a number", "the string '0.4'"]),
        ("abc", ["must be a number"]),
        (True, ["must be a number", "true"]),
        (False, ["must be a number", "false"]),
        ([1], ["must be a number", "a list"]),
        ({"v": 1}, ["must be a number", "an object"]),
        (float("nan"), ["finite", "nan"]),
        (float("inf"), ["finite", "inf"]),
        (float("-inf"), ["finite", "-inf"]),
    ],
)
def test_number_type_errors(key, value, words):
    with pytest.raises(InvalidInput) as info:
        parse_timeseries_request(body(**{key: value}))
    err = info.value
    assert type(err) is InvalidInput
    assert err.field == key
    assert err.message.startswith(f"{key}: ")
    for w in words:
        assert w in err.message, (w, err.message)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("resolution", 0, ["0 is out of range", "greater than 0", "10000"]),
        ("resolution", -10, ["-10 is out of range"]),
        ("resolution", 10000.5, ["10000.5 is out of range", "at most 10000"]),
        ("resolution", 1e9, ["out of range"]),
        ("cloud_threshold", 1.01, ["1.01 is out of range", "between 0 and 1"]),
        ("cloud_threshold", -0.1, ["-0.1 is out of range", "between 0 and 1"]),
        ("cloud_mask_resolution", 0, ["out of range", "greater than 0"]),
        ("cloud_mask_resolution", -160, ["out of range"]),
        ("cloud_mask_average_over", -1, ["-1 is out of range", "0 to 10"]),
        ("cloud_mask_average_over", 11, ["11 is out of range", "0 to 10"]),
        ("cloud_mask_average_over", 1.5, ["must be an integer", "1.5"]),
        ("cloud_mask_dilation", 11, ["out of range", "0 to 10"]),
        ("cloud_mask_dilation", 2.5, ["must be an integer"]),
        ("max_cloud_fraction", 1.5, ["1.5 is out of range", "between 0 and 1"]),
        ("max_cloud_fraction", -0.01, ["out of range"]),
        ("max_cloud_probability", 2, ["2 is out of range", "between 0 and 1"]),
        ("include_cloudy", "true", ["must be a boolean", "true or false", "the string 'true'"]),
        ("include_cloudy", 1, ["must be a boolean", "1"]),
        ("include_cloudy", 0, ["must be a boolean"]),
        ("include_cloudy", [], ["must be a boolean", "a list"]),
    ],
)
def test_value_errors(key, value, words):
    with pytest.raises(InvalidInput) as info:
        parse_timeseries_request(body(**{key: value}))
    err = info.value
    assert err.field == key
    for w in words:
        assert w in err.message, (w, err.message)


@pytest.mark.parametrize(
    ("payload", "exc", "field", "words"),
    [
        (None, InvalidInput, None, ["must be a JSON object", "null", "geometry", "time_range"]),
        ([], InvalidInput, None, ["must be a JSON object", "a list"]),
        ("{}", InvalidInput, None, ["must be a JSON object", "the string"]),
        (42, InvalidInput, None, ["must be a JSON object"]),
        ({}, InvalidInput, "geometry", ["geometry", "is required"]),
        ({"time_range": TR}, InvalidInput, "geometry", ["is required"]),
        ({"geometry": GEOM}, InvalidInput, "time_range", ["time_range", "is required"]),
        ({"geometry": None, "time_range": TR}, InvalidInput, "geometry", ["is required"]),
        ({"geometry": GEOM, "time_range": None}, InvalidInput, "time_range", ["is required"]),
        (body(resolutoin=10), InvalidInput, "resolutoin", ["unknown key", "'resolutoin'", "did you mean 'resolution'", "accepted keys", "cloud_threshold"]),
        (body(zzz=1, aaa=2), InvalidInput, "aaa", ["'aaa', 'zzz'", "accepted keys are geometry, crs, time_range"]),
        (body(crs="EPSG:99999"), InvalidCRS, "crs", ["'EPSG:99999'", "not a CRS known to PROJ"]),
        (body(crs=True), InvalidCRS, "crs", ["not a CRS identifier"]),
        (body(geometry=UTM), InvalidGeometry, "geometry", ["outside lon", '"crs"']),
        (body(geometry={"type": "Point", "coordinates": [1, 2]}), InvalidGeometry, "geometry", ["'Point'", "not accepted"]),
        (body(geometry=[1, 2]), InvalidGeometry, "geometry", ["GeoJSON", "list"]),
        (body(geometry={**UTM, "crs": {"type": "name", "properties": {"name": "EPSG:0"}}}), InvalidCRS, "geometry.crs", ["'EPSG:0'"]),
        (body(time_range="2015-07-01/2015-09-30"), InvalidTimeRange, "time_range", ["must be an object"]),
        (body(time_range={"from": "2015-13-01", "to": "2015-09-30"}), InvalidTimeRange, "time_range.from", ["'2015-13-01'", "YYYY-MM-DD"]),
        (body(time_range={"from": "2015-07-01", "to": "2015-02-30"}), InvalidTimeRange, "time_range.to", ["not a valid calendar date"]),
        (body(time_range={"from": "2015-07-01"}), InvalidTimeRange, "time_range.to", ["is required"]),
        (body(time_range={"from": "2015-09-30", "to": "2015-07-01"}), InvalidTimeRange, "time_range", ["is after to", "swap"]),
    ],
)
def test_request_errors(payload, exc, field, words):
    with pytest.raises(exc) as info:
        parse_timeseries_request(payload)
    err = info.value
    assert type(err) is exc
    assert err.field == field
    for w in words:
        assert w in err.message, (w, err.message)


def test_unknown_keys_details():
    with pytest.raises(InvalidInput) as info:
        parse_timeseries_request(body(foo=1))
    assert info.value.details == {"unknown": ["foo"], "accepted": list(ACCEPTED_KEYS)}
    assert info.value.to_dict()["field"] == "foo"


def test_error_order_unknown_before_missing():
    with pytest.raises(InvalidInput) as info:
        parse_timeseries_request({"geom": GEOM})
    assert info.value.field == "geom"


# ----------------------------------------------------------------------------- CloudMaskSettings


def test_cloud_mask_settings_validate_on_construction():
    with pytest.raises(InvalidInput) as info:
        CloudMaskSettings(threshold=2)
    assert info.value.field == "cloud_threshold"
    with pytest.raises(InvalidInput) as info:
        CloudMaskSettings(dilation_size=-1)
    assert info.value.field == "cloud_mask_dilation"
    s = CloudMaskSettings(threshold=1, resolution=60)
    assert s.to_dict() == {"threshold": 1.0, "resolution": 60.0, "average_over": 1, "dilation_size": 1}
    assert isinstance(s.threshold, float)


# ------------------------------------------------------------------------ query-string helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("0", 0.0), ("1", 1.0), ("0.3", 0.3), (" .25 ", 0.25), ("1e-1", 0.1), ("1.0", 1.0)],
)
def test_parse_threshold_accepts(text, expected):
    assert parse_threshold(text, field="max_cloud_fraction") == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["''", "not a number", "between 0 and 1"]),
        ("abc", ["'abc'", "not a number", "between 0 and 1"]),
        ("0,3", ["'0,3'", "not a number"]),
        ("nan", ["'nan'", "not a finite number"]),
        ("inf", ["'inf'", "not a finite number"]),
        ("1.5", ["'1.5'", "out of range", "between 0 and 1"]),
        ("-0.1", ["'-0.1'", "out of range"]),
        (0.3, ["must be a number between 0 and 1", "0.3"]),
    ],
)
def test_parse_threshold_rejects(text, words):
    with pytest.raises(InvalidInput) as info:
        parse_threshold(text, field="max_cloud_fraction")
    err = info.value
    assert err.field == "max_cloud_fraction"
    assert err.message.startswith("max_cloud_fraction: ")
    for w in words:
        assert w in err.message, (w, err.message)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("true", True), ("True", True), ("TRUE", True), ("1", True), ("yes", True), ("Yes", True), (" true ", True),
        ("false", False), ("False", False), ("0", False), ("no", False), ("NO", False),
    ],
)
def test_parse_bool_accepts(text, expected):
    assert parse_bool(text, field="include_cloudy") is expected


@pytest.mark.parametrize("text", ["", "maybe", "2", "on", "off", "t", "y", True, 1])
def test_parse_bool_rejects(text):
    with pytest.raises(InvalidInput) as info:
        parse_bool(text, field="include_cloudy")
    err = info.value
    assert err.field == "include_cloudy"
    assert repr(text) in err.message
    assert "not a boolean" in err.message and "true or false" in err.message
