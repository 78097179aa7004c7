"""Reading request bodies and query strings into validated values."""

from __future__ import annotations

import json
from typing import Any

from flask import Request

from fis.core.limits import check_json_depth
from fis.errors import InvalidInput


def json_body(request: Request) -> Any:
    """The parsed JSON body, with a specific error when it is missing or malformed."""
    raw = request.get_data(cache=True)
    if not raw:
        raise InvalidInput(
            "request body is empty; send a JSON object with at least 'geometry' and 'time_range'", field="body"
        )
    check_json_depth(raw)
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidInput("request body is not UTF-8 text; send JSON", field="body") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", field="body"
        ) from None


def wants_csv(request: Request) -> bool:
    """True for ``?format=csv`` or an ``Accept`` header that prefers text/csv over JSON."""
    fmt = request.args.get("format")
    if fmt is not None:
        if fmt.lower() not in ("csv", "json"):
            raise InvalidInput(f"format={fmt!r} is not supported; use format=json or format=csv", field="format")
        return fmt.lower() == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv" and request.accept_mimetypes["text/csv"] > request.accept_mimetypes["application/json"]


def response_format(request: Request) -> str:
    """``json``, ``csv``, ``geojson`` or ``long_csv``: ``?format=``, else the ``Accept`` header.

    Without ``format`` an Accept header preferring text/csv (wide CSV) or application/geo+json
    over application/json selects that; anything else is JSON.
    """
    from fis.protocols.native.export import FORMATS

    fmt = request.args.get("format")
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise InvalidInput(
                f"format={fmt!r} is not supported; use format={', format='.join(FORMATS)}",
                field="format", details={"accepted": list(FORMATS)},
            )
        return fmt.lower()
    accept = request.accept_mimetypes
    best = accept.best_match(["application/json", "text/csv", "application/geo+json"])
    if best == "text/csv" and accept["text/csv"] > accept["application/json"]:
        return "csv"
    if best == "application/geo+json" and accept["application/geo+json"] > accept["application/json"]:
        return "geojson"
    return "json"
