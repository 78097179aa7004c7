"""Size and nesting limits checked on request text before a parser (json, GEOS) recurses into it.

A WKT ``GEOMETRYCOLLECTION`` nested thousands deep crashes GEOS and JSON nested ~1,000 deep makes
``json.loads`` raise ``RecursionError``; polygons of hundreds of thousands of vertices keep a core
busy for minutes in ``is_valid`` and ``segmentize``; band math of thousands of operations makes as
many passes over every date's pixels. The checks here refuse such input cheaply. The API sets the
configurable limits per request (``set_max_vertices``, ``set_expression_limits``); outside a request
the defaults apply.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from fis.errors import InvalidGeometry, InvalidInput, RequestTooLarge

#: Deepest JSON accepted ([ and { levels); a GeoJSON MultiPolygon in a request body needs 6.
MAX_JSON_DEPTH = 32
#: Deepest WKT accepted (parenthesis levels); a MULTIPOLYGON needs 3.
MAX_WKT_DEPTH = 8
#: Default of ``FIS_MAX_VERTICES``: the most vertices a request geometry may have.
DEFAULT_MAX_VERTICES = 100_000

#: Defaults of ``FIS_MAX_EXPRESSION_LENGTH`` and ``FIS_MAX_EXPRESSION_NODES`` (band math of custom indices).
DEFAULT_MAX_EXPRESSION_LENGTH = 500
DEFAULT_MAX_EXPRESSION_NODES = 100


@dataclass(frozen=True)
class ExpressionLimits:
    """The longest band-math expression (characters) and its most parse-tree nodes (its evaluation cost:
    every node is one pass over the pixels of every date)."""

    length: int = DEFAULT_MAX_EXPRESSION_LENGTH
    nodes: int = DEFAULT_MAX_EXPRESSION_NODES


_max_vertices: ContextVar[int] = ContextVar("fis_max_vertices", default=DEFAULT_MAX_VERTICES)
_expression_limits: ContextVar[ExpressionLimits | None] = ContextVar("fis_expression_limits", default=None)
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def nesting_depth(text: bytes, opening: bytes, closing: bytes) -> int:
    """The deepest nesting of ``opening``/``closing`` characters in ``text`` (JSON strings are skipped)."""
    if b'"' in text:
        text = _JSON_STRING.sub(b"", text)
    codes = np.frombuffer(text, dtype=np.uint8)
    steps = np.zeros(codes.shape, dtype=np.int64)
    for c in opening:
        steps[codes == c] = 1
    for c in closing:
        steps[codes == c] = -1
    return int(np.cumsum(steps).max(initial=0))


def check_json_depth(raw: bytes | str, *, field: str = "body") -> None:
    """Raise :class:`InvalidInput` when JSON text nests deeper than :data:`MAX_JSON_DEPTH`."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return
    depth = nesting_depth(data, b"[{", b"]}")
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(
            f"{field}: the JSON is nested {depth} levels deep; at most {MAX_JSON_DEPTH} levels are accepted",
            field=field,
        )


def check_wkt_depth(text: str, *, field: str) -> None:
    """Raise :class:`InvalidGeometry` when WKT nests deeper than :data:`MAX_WKT_DEPTH` (before GEOS reads it)."""
    if text.count("(") <= MAX_WKT_DEPTH:
        return
    depth = nesting_depth(text.encode("utf-8", "surrogatepass"), b"(", b")")
    if depth > MAX_WKT_DEPTH:
        raise InvalidGeometry(
            f"{field}: the WKT is nested {depth} parentheses deep; at most {MAX_WKT_DEPTH} are accepted "
            "(a MULTIPOLYGON needs 3); send a POLYGON or MULTIPOLYGON",
            field=field,
        )


def max_vertices() -> int:
    """The vertex limit in effect (``FIS_MAX_VERTICES`` of the serving app, else the default)."""
    return _max_vertices.get()


def set_max_vertices(limit: int) -> None:
    """Apply ``limit`` to the geometries parsed from now on in this context (the API sets it per request)."""
    _max_vertices.set(limit)


def check_vertices(count: int, *, field: str) -> None:
    """Raise :class:`RequestTooLarge` (413) when a geometry has more vertices than the limit in effect."""
    limit = max_vertices()
    if count > limit:
        raise RequestTooLarge(
            f"{field}: the geometry has {count} vertices; at most {limit} are accepted (FIS_MAX_VERTICES); "
            "simplify it (e.g. shapely's simplify or ogr2ogr -simplify) and send it again",
            field=field,
            details={"vertices": count, "max_vertices": limit},
        )


def expression_limits() -> ExpressionLimits:
    """The band-math limits in effect (the serving app's settings, else the defaults)."""
    return _expression_limits.get() or ExpressionLimits()


def set_expression_limits(limits: ExpressionLimits) -> None:
    """Apply ``limits`` to the expressions parsed from now on in this context (the API sets them per request)."""
    _expression_limits.set(limits)
