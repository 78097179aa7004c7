"""Tests for fis.core.timerange: ISO 8601 parsing, inclusive UTC ranges, STAC-style intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from fis.core.timerange import MAX_DATETIME, MIN_DATETIME, TimeRange, parse_datetime, parse_interval, parse_time_range
from fis.errors import InvalidInput, InvalidTimeRange

UTC = UTC


def dt(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------------------ parse_datetime


@pytest.mark.parametrize(
    ("text", "end_of_day", "expected"),
    [
        ("2015-07-01", False, dt(2015, 7, 1)),
        ("2015-07-01", True, dt(2015, 7, 1, 23, 59, 59, 999999)),
        (" 2015-07-01 ", False, dt(2015, 7, 1)),
        ("2016-02-29", False, dt(2016, 2, 29)),
        ("2015-07-01T00:00:00Z", False, dt(2015, 7, 1)),
        ("2015-07-01T00:00:00Z", True, dt(2015, 7, 1)),  # a date-time is exact, even as an end
        ("2015-07-01t10:20:30z", False, dt(2015, 7, 1, 10, 20, 30)),
        ("2015-07-01 10:20:30Z", False, dt(2015, 7, 1, 10, 20, 30)),
        ("2015-07-01T10:20Z", False, dt(2015, 7, 1, 10, 20)),
        ("2015-07-01T10:20:30", False, dt(2015, 7, 1, 10, 20, 30)),  # naive = UTC
        ("2015-07-01T10:20:30.5Z", False, dt(2015, 7, 1, 10, 20, 30, 500000)),
        ("2015-07-01T10:20:30.123456789Z", False, dt(2015, 7, 1, 10, 20, 30, 123456)),
        ("2015-07-01T10:20:30,25Z", False, dt(2015, 7, 1, 10, 20, 30, 250000)),
        ("2015-07-01T10:20:30+02:00", False, dt(2015, 7, 1, 8, 20, 30)),
        ("2015-07-01T10:20:30+0200", False, dt(2015, 7, 1, 8, 20, 30)),
        ("2015-07-01T10:20:30+02", False, dt(2015, 7, 1, 8, 20, 30)),
        ("2015-07-01T01:00:00-05:30", False, dt(2015, 7, 1, 6, 30)),
        ("2015-07-01T23:00:00-02:00", False, dt(2015, 7, 2, 1)),  # crosses the day in UTC
        ("2015-07-01T00:00:00+00:00", False, dt(2015, 7, 1)),
    ],
)
def test_parse_datetime_accepts(text, end_of_day, expected):
    got = parse_datetime(text, field="t", end_of_day=end_of_day)
    assert got == expected
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("2015-13-01", ["'2015-13-01'", "not an ISO 8601 date", "month 13", "YYYY-MM-DD", "2015-07-01T00:00:00Z"]),
        ("2015-00-10", ["'2015-00-10'", "month 00"]),
        ("2015-02-30", ["'2015-02-30'", "not a valid calendar date", "day is out of range"]),
        ("2015-02-29", ["'2015-02-29'", "not a valid calendar date"]),
        ("2015-04-31", ["'2015-04-31'", "not a valid calendar date"]),
        ("2015-07-00", ["'2015-07-00'", "not a valid calendar date"]),
        ("0000-01-01", ["'0000-01-01'", "not a valid calendar date"]),
        ("2015-07-01T24:00:00Z", ["impossible time of day"]),
        ("2015-07-01T10:60:00Z", ["impossible time of day"]),
        ("2015-07-01T10:00:60Z", ["impossible time of day"]),
        ("2015-07-01T10:00:00+25:00", ["impossible UTC offset", "'+25:00'"]),
        ("2015-07-01T10:00:00+02:75", ["impossible UTC offset"]),
        ("9999-12-31T23:00:00-05:00", ["outside the supported years"]),
        ("0001-01-01T00:30:00+01:00", ["outside the supported years"]),
        ("garbage", ["'garbage'", "not an ISO 8601 date", "YYYY-MM-DD"]),
        ("01/07/2015", ["'01/07/2015'", "not an ISO 8601 date"]),
        ("20150701", ["'20150701'", "not an ISO 8601 date"]),
        ("2015-7-1", ["'2015-7-1'", "not an ISO 8601 date"]),
        ("2015-07", ["'2015-07'", "not an ISO 8601 date"]),
        ("2015-07-01T", ["not an ISO 8601 date"]),
        ("2015-07-01T10", ["not an ISO 8601 date"]),
        ("2015-07-01T10:00:00 UTC", ["not an ISO 8601 date"]),
        ("2015-07-01T10:00:00.Z", ["not an ISO 8601 date"]),
        ("", ["empty string", "YYYY-MM-DD"]),
        ("   ", ["empty string"]),
        (None, ["must be a date string", "null"]),
        (20150701, ["must be a date string", "int", "20150701"]),
        (1.5, ["must be a date string", "float"]),
        (True, ["must be a date string", "bool"]),
        (["2015-07-01"], ["must be a date string", "list"]),
        ({"date": "2015-07-01"}, ["must be a date string", "dict"]),
    ],
)
def test_parse_datetime_rejects(value, words):
    with pytest.raises(InvalidTimeRange) as info:
        parse_datetime(value, field="time_range.from")
    err = info.value
    assert err.field == "time_range.from"
    assert err.message.startswith("time_range.from: ")
    assert isinstance(err, InvalidInput)
    for w in words:
        assert w in err.message, (w, err.message)


def test_error_message_example_from_brief():
    with pytest.raises(InvalidTimeRange) as info:
        parse_datetime("2015-13-01", field="time_range.from")
    msg = info.value.message
    assert msg.startswith("time_range.from: '2015-13-01' is not an ISO 8601 date")
    assert msg.endswith("use YYYY-MM-DD or a full date-time like 2015-07-01T00:00:00Z")


# ---------------------------------------------------------------------------- parse_time_range


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ({"from": "2015-07-01", "to": "2015-09-30"}, dt(2015, 7, 1), dt(2015, 9, 30, 23, 59, 59, 999999)),
        ({"from": "2015-07-01", "to": "2015-07-01"}, dt(2015, 7, 1), dt(2015, 7, 1, 23, 59, 59, 999999)),
        ({"from": "2015-07-01T10:00:00Z", "to": "2015-07-01T10:00:00Z"}, dt(2015, 7, 1, 10), dt(2015, 7, 1, 10)),
        ({"from": "2015-07-01T10:00:00Z", "to": "2015-07-02"}, dt(2015, 7, 1, 10), dt(2015, 7, 2, 23, 59, 59, 999999)),
        ({"to": "2015-09-30T12:00:00+02:00", "from": "2015-07-01"}, dt(2015, 7, 1), dt(2015, 9, 30, 10)),
        # from is a date-time later in the day than the bare-date 'to' start, but still inside it
        ({"from": "2015-07-01T18:00:00", "to": "2015-07-01"}, dt(2015, 7, 1, 18), dt(2015, 7, 1, 23, 59, 59, 999999)),
    ],
)
def test_parse_time_range_accepts(value, start, end):
    tr = parse_time_range(value)
    assert tr == TimeRange(start, end)
    assert tr.start == start and tr.end == end


@pytest.mark.parametrize(
    ("value", "field", "words"),
    [
        (None, "time_range", ["must be an object", "null", '"from"']),
        ("2015-07-01/2015-09-30", "time_range", ["must be an object", "str"]),
        (["2015-07-01", "2015-09-30"], "time_range", ["must be an object", "list"]),
        ({}, "time_range.from", ["is required"]),
        ({"to": "2015-09-30"}, "time_range.from", ["is required"]),
        ({"from": "2015-07-01"}, "time_range.to", ["is required"]),
        ({"from": None, "to": "2015-09-30"}, "time_range.from", ["must be a date string", "null"]),
        ({"from": "2015-07-01", "to": 5}, "time_range.to", ["must be a date string", "int"]),
        ({"from": "2015-13-01", "to": "2015-09-30"}, "time_range.from", ["'2015-13-01'", "not an ISO 8601 date"]),
        ({"from": "2015-07-01", "to": "2015-02-30"}, "time_range.to", ["'2015-02-30'", "not a valid calendar date"]),
        ({"from": "2015-09-30", "to": "2015-07-01"}, "time_range", ["from (2015-09-30) is after to (2015-07-01)", "swap"]),
        ({"from": "2015-07-01T10:00:01Z", "to": "2015-07-01T10:00:00Z"}, "time_range", ["is after to", "swap"]),
        ({"from": "2015-07-02", "to": "2015-07-01T23:59:59Z"}, "time_range", ["is after to"]),
        ({"from": "2015-07-01", "to": "2015-09-30", "until": "x"}, "time_range.until", ["unknown key", "'until'", "'from' and 'to'"]),
        ({"start": "2015-07-01", "end": "2015-09-30"}, "time_range.end", ["unknown key", "'end', 'start'"]),
    ],
)
def test_parse_time_range_rejects(value, field, words):
    with pytest.raises(InvalidTimeRange) as info:
        parse_time_range(value)
    err = info.value
    assert err.field == field
    for w in words:
        assert w in err.message, (w, err.message)


def test_parse_time_range_custom_field():
    with pytest.raises(InvalidTimeRange) as info:
        parse_time_range({"from": "x", "to": "2015-01-01"}, field="params.time_range")
    assert info.value.field == "params.time_range.from"


# ----------------------------------------------------------------------------------- TimeRange


def test_time_range_contains_is_inclusive():
    tr = parse_time_range({"from": "2015-07-01", "to": "2015-07-31"})
    assert tr.contains(dt(2015, 7, 1))
    assert tr.contains(dt(2015, 7, 31, 23, 59, 59, 999999))
    assert tr.contains(dt(2015, 7, 31, 10, 15))
    assert not tr.contains(dt(2015, 8, 1))
    assert not tr.contains(dt(2015, 6, 30, 23, 59, 59, 999999))
    assert tr.contains(datetime(2015, 7, 15, 12))  # naive = UTC
    # 2015-08-01T01:00+02:00 is 2015-07-31T23:00Z: inside
    assert tr.contains(datetime(2015, 8, 1, 1, tzinfo=timezone(timedelta(hours=2))))


def test_time_range_to_dict():
    tr = parse_time_range({"from": "2015-07-01", "to": "2015-09-30"})
    assert tr.to_dict() == {"from": "2015-07-01T00:00:00Z", "to": "2015-09-30T23:59:59.999999Z"}
    # round-trips
    assert parse_time_range(tr.to_dict()) == tr


def test_time_range_normalises_and_validates():
    tr = TimeRange(datetime(2015, 7, 1), datetime(2015, 7, 2, 2, tzinfo=timezone(timedelta(hours=2))))
    assert tr.start == dt(2015, 7, 1) and tr.start.tzinfo is not None
    assert tr.end == dt(2015, 7, 2)
    assert tr.end.utcoffset() == timedelta(0)
    with pytest.raises(InvalidTimeRange) as info:
        TimeRange(dt(2015, 7, 2), dt(2015, 7, 1))
    assert info.value.field == "time_range"
    with pytest.raises(AttributeError):
        tr.start = dt(2016, 1, 1)  # type: ignore[misc]


# ------------------------------------------------------------------------------ parse_interval


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2015-07-01/2015-09-30", dt(2015, 7, 1), dt(2015, 9, 30, 23, 59, 59, 999999)),
        ("2015-07-01T00:00:00Z/2015-09-30T12:00:00Z", dt(2015, 7, 1), dt(2015, 9, 30, 12)),
        ("../2015-09-30", MIN_DATETIME, dt(2015, 9, 30, 23, 59, 59, 999999)),
        ("/2015-09-30", MIN_DATETIME, dt(2015, 9, 30, 23, 59, 59, 999999)),
        ("2015-07-01/..", dt(2015, 7, 1), MAX_DATETIME),
        ("2015-07-01/", dt(2015, 7, 1), MAX_DATETIME),
        ("2015-07-01", dt(2015, 7, 1), dt(2015, 7, 1, 23, 59, 59, 999999)),  # bare date = whole day
        ("2015-07-01T10:00:00Z", dt(2015, 7, 1, 10), dt(2015, 7, 1, 10)),  # an instant
        ("2015-07-01T12:00:00+02:00", dt(2015, 7, 1, 10), dt(2015, 7, 1, 10)),
        (" 2015-07-01 / 2015-07-02 ", dt(2015, 7, 1), dt(2015, 7, 2, 23, 59, 59, 999999)),
        ("2015-07-01/2015-07-01", dt(2015, 7, 1), dt(2015, 7, 1, 23, 59, 59, 999999)),
    ],
)
def test_parse_interval_accepts(text, start, end):
    tr = parse_interval(text)
    assert (tr.start, tr.end) == (start, end)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("../..", ["open at both ends"]),
        ("/", ["open at both ends"]),
        ("2015-09-30/2015-07-01", ["starts (2015-09-30) after it ends (2015-07-01)", "swap"]),
        ("2015-07-01/2015-08-01/2015-09-01", ["more than one '/'"]),
        ("2015-07-01/banana", ["'banana'", "not an ISO 8601 date"]),
        ("2015-02-30/2015-03-01", ["'2015-02-30'", "not a valid calendar date"]),
        ("", ["empty string"]),
        ("tomorrow", ["'tomorrow'", "not an ISO 8601 date"]),
        (None, ["must be a string", "null"]),
        (20150701, ["must be a string", "int"]),
    ],
)
def test_parse_interval_rejects(value, words):
    with pytest.raises(InvalidTimeRange) as info:
        parse_interval(value)
    err = info.value
    assert err.field == "datetime"
    assert err.message.startswith("datetime: ")
    for w in words:
        assert w in err.message, (w, err.message)


def test_parse_interval_custom_field_and_open_ends_serialise():
    with pytest.raises(InvalidTimeRange) as info:
        parse_interval("x/y", field="dates")
    assert info.value.field == "dates"
    tr = parse_interval("2015-07-01/..")
    assert tr.to_dict() == {"from": "2015-07-01T00:00:00Z", "to": "9999-12-31T23:59:59.999999Z"}
    assert tr.contains(dt(2030, 1, 1))
    assert parse_interval("../2015-07-01").contains(dt(1990, 1, 1))
