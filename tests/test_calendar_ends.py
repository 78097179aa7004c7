"""Series whose time range touches the calendar's ends (0001-01-01, 9999-12-31) are stored and extended."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from fis.core.timerange import TimeRange
from fis.store.incremental import covered_dates
from fis_archive import DATE_CLEAR, DATE_CLOUDY, DATE_MOSAIC, archive, ingested, request_body  # noqa: F401

UTC = dt.UTC


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (dt.datetime(2023, 6, 5, tzinfo=UTC), dt.datetime.max.replace(tzinfo=UTC), (dt.date(2023, 6, 5), dt.date.max)),
        (
            dt.datetime.min.replace(tzinfo=UTC),
            dt.datetime(2023, 6, 5, 23, 59, 59, 999999, tzinfo=UTC),
            (dt.date.min, dt.date(2023, 6, 5)),
        ),
        # partial last day of the calendar / partial first day: no whole day
        (dt.datetime(9999, 12, 31, 1, tzinfo=UTC), dt.datetime.max.replace(tzinfo=UTC), None),
        (dt.datetime.min.replace(tzinfo=UTC), dt.datetime(1, 1, 1, 12, tzinfo=UTC), None),
        (
            dt.datetime(2023, 6, 5, 12, tzinfo=UTC),
            dt.datetime(2023, 6, 7, 12, tzinfo=UTC),
            (dt.date(2023, 6, 6), dt.date(2023, 6, 6)),
        ),
    ],
)
def test_covered_dates_at_the_calendar_ends(start: dt.datetime, end: dt.datetime, expected: Any) -> None:
    assert covered_dates(TimeRange(start, end)) == expected


@pytest.mark.parametrize(
    ("stored", "extended", "reused", "computed", "dates"),
    [
        # ends in year 9999: the longer request reuses the two stored dates and computes the earlier one
        (
            {"from": "2023-06-05", "to": "9999-12-31"},
            {"from": "2023-06-01", "to": "9999-12-31"},
            2,
            1,
            [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY],
        ),
        # starts in year 1: the stored date is reused, the two later ones are computed
        (
            {"from": "0001-01-01", "to": "2023-06-05"},
            {"from": "0001-01-01", "to": "2023-06-30"},
            1,
            2,
            [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY],
        ),
        # both ends: nothing to extend, computed afresh
        (
            {"from": "0001-01-01", "to": "9999-12-31"},
            {"from": "0001-01-01", "to": "9999-12-31"},
            0,
            3,
            [DATE_CLEAR, DATE_MOSAIC, DATE_CLOUDY],
        ),
    ],
)
def test_extending_a_series_at_the_calendar_ends(
    ingested: Any, stored: dict[str, str], extended: dict[str, str], reused: int, computed: int, dates: list[str]
) -> None:
    client = ingested.test_client()
    first = client.post("/api/v1/timeseries", json=request_body(time_range=stored, include_cloudy=True))
    assert first.status_code == 201, first.get_json()
    second = client.post("/api/v1/timeseries", json=request_body(time_range=extended, include_cloudy=True))
    assert second.status_code == 201, second.get_json()
    assert (second.headers["X-FIS-Reused"], second.headers["X-FIS-Computed"]) == (str(reused), str(computed))
    body = second.get_json()
    assert [o["date"] for o in body["observations"]] == dates
    assert body["time_range"]["to"] == (
        "9999-12-31T23:59:59.999999Z" if extended["to"] == "9999-12-31" else "2023-06-30T23:59:59.999999Z"
    )
    refreshed = client.post(f"/api/v1/timeseries/{body['id']}/refresh")
    assert refreshed.status_code == 200, refreshed.get_json()
    assert refreshed.headers["X-FIS-Computed"] == "0"
