"""Exports: the wide CSV (a fixed column order, one row per observation), the long CSV (one row
per observation x statistic) and the GeoJSON Feature (the AOI with the series in its
properties). CSVs are streamed line by line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from fis.core.observation import CSV_COLUMNS, Column, Observation

#: Formats of a stored series (``?format=`` / ``fis stats --format``).
FORMATS: tuple[str, ...] = ("json", "csv", "geojson", "long_csv")
LONG_CSV_COLUMNS: tuple[str, ...] = ("date", "datetime", "cloudy", "variable", "statistic", "value")
#: Columns of the wide CSV that identify a row rather than measure something.
_KEY_COLUMNS = frozenset({"date", "datetime", "cloudy"})


def csv_cell(value: Any) -> Any:
    """A CSV cell: empty for None, ``repr`` for floats (every digit), else the value."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def csv_lines(
    observations: Iterable[Observation], *, cloudy: Iterable[bool], columns: Sequence[Column] | None = None
) -> Iterator[str]:
    """The header, then one CSV line per observation (empty cell for a missing value).

    ``columns`` (from :func:`fis.core.observation.csv_columns`) defaults to :data:`CSV_COLUMNS`.
    """
    names = CSV_COLUMNS if columns is None else tuple(c.name for c in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\r\n", restval="", extrasaction="ignore")
    writer.writeheader()
    yield _drain(buffer)
    for observation, is_cloudy in zip(observations, cloudy, strict=True):
        writer.writerow({key: csv_cell(value) for key, value in observation.csv_row(cloudy=is_cloudy).items()})
        yield _drain(buffer)


def long_csv_lines(
    observations: Iterable[Observation], *, cloudy: Iterable[bool], columns: Sequence[Column]
) -> Iterator[str]:
    """``date,datetime,cloudy,variable,statistic,value``: one line per observation and wide-CSV column.

    ``variable`` is ``ndvi``, an index name, a band (``B04``, statistic ``mean``), ``cloud``
    (``probability``, ``fraction``), ``pixels`` (``total``, ``valid``, ...) or ``interval``;
    the lines of one observation follow the wide CSV's column order.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(LONG_CSV_COLUMNS)
    yield _drain(buffer)
    measured = [c for c in columns if c.name not in _KEY_COLUMNS]
    for observation, is_cloudy in zip(observations, cloudy, strict=True):
        row = observation.csv_row(cloudy=is_cloudy)
        key = (row["date"], row["datetime"], row["cloudy"])
        for column in measured:
            writer.writerow((*key, column.variable, column.statistic, csv_cell(row.get(column.name))))
        yield _drain(buffer)


def geojson_feature(series_body: dict[str, Any]) -> dict[str, Any]:
    """A series' JSON body as a GeoJSON Feature: its geometry, everything else in ``properties``.

    The request Feature's own ``properties`` (when the series has them) come first, flat, so GIS tools
    show them as attributes; the series' keys (``id``, ``name``, ``observations``, ...) win on a clash.
    """
    original = series_body.get("properties") or {}
    series = {key: value for key, value in series_body.items() if key not in ("geometry", "properties")}
    properties = {**original, **series}
    return {
        "type": "Feature",
        "id": series_body.get("id"),
        "geometry": series_body["geometry"],
        "properties": properties,
    }


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text
