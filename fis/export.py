"""CSV export: a fixed column order, one row per observation, streamed line by line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from fis.observation import CSV_COLUMNS, Observation


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def csv_lines(observations: Iterable[Observation], *, cloudy: Iterable[bool]) -> Iterator[str]:
    """The header, then one CSV line per observation (empty cell for a missing value)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    yield _drain(buffer)
    for observation, is_cloudy in zip(observations, cloudy):
        writer.writerow({key: _cell(value) for key, value in observation.csv_row(cloudy=is_cloudy).items()})
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate(0)
    return text
