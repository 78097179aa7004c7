"""A Statistical API request run on the engine's stream of dates and the evalscript sandbox.

The engine (:meth:`fis.engine.engine.Engine.iter_dates`) reads the dates of the request's scenes in order; the
dates are grouped into the request's intervals; an interval is evaluated when the stream passes its end
(SIMPLE: the dates mosaicked per pixel in ``mosaickingOrder`` and the script run once per pixel; ORBIT: the
script gets every date's sample) and reduced per output band (:mod:`.calculations`). Only the current
interval's pixels are held.

A script that throws fails its interval (``BAD_REQUEST``); the time limit is per request: when it is spent the
interval being evaluated and every later one fail with ``TIMEOUT``; a script that needs more memory than it
may fails its interval with ``EXECUTION_ERROR``, as does an interval whose every date could not be read.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from fis.core.aggregation import Interval
from fis.core.bands import BANDS
from fis.core.observation import ObservationError
from fis.core.scenes import SceneRecord
from fis.engine.engine import DateItem, Engine
from fis.engine.evalscript import (
    EvalscriptError,
    EvalscriptResourceError,
    EvalscriptSandbox,
    EvalscriptTimeout,
    EvaluatedPixels,
    ScriptSetup,
)
from fis.engine.reductions import DatePixels
from fis.errors import InvalidInput
from fis.protocols.sentinelhub_stats.calculations import band_result
from fis.protocols.sentinelhub_stats.inputs import CLOUD_INPUTS, INPUTS, SCL, data_mask, mosaic, script_inputs
from fis.protocols.sentinelhub_stats.intervals import interval_dict
from fis.protocols.sentinelhub_stats.query import StatisticalQuery

#: Error types of a failed interval (the client retries EXECUTION_ERROR and TIMEOUT).
BAD_REQUEST: Final = "BAD_REQUEST"
EXECUTION_ERROR: Final = "EXECUTION_ERROR"
TIMEOUT: Final = "TIMEOUT"
#: The output that masks the others and is not reported.
DATA_MASK_OUTPUT: Final = "dataMask"


class ScriptRefused(InvalidInput):
    """The evalscript's setup asks for something this service does not do (HTTP 400)."""


@dataclass(frozen=True)
class _Date:
    when: dt.datetime
    scenes: tuple[str, ...]
    pixels: DatePixels
    cloud_cover: float | None


def check_setup(query: StatisticalQuery, setup: ScriptSetup) -> None:
    """Refuse what the script asks for and fis does not do, with a message naming it."""
    if setup.mosaicking == "TILE":
        raise ScriptRefused(
            "evalscript: mosaicking TILE is not supported; use SIMPLE (the default) or ORBIT (one sample per "
            "acquisition date: fis mosaics the tiles of a date)",
            field="aggregation.evalscript",
        )
    unknown = [name for name in setup.inputs if name not in INPUTS]
    if unknown:
        raise ScriptRefused(
            f"evalscript: input(s) {', '.join(map(repr, unknown))} are not available; use {', '.join(INPUTS)}",
            field="aggregation.evalscript", details={"accepted": list(INPUTS)},
        )
    if SCL in setup.inputs and query.product_level != "L2A":
        raise ScriptRefused(
            "evalscript: SCL exists only in sentinel-2-l2a; use input.data[0].type sentinel-2-l2a or drop SCL",
            field="aggregation.evalscript",
        )
    outputs = {o.id for o in setup.outputs}
    unknown_outputs = sorted(set(query.calculations.by_output) - outputs - {"default"})
    if unknown_outputs:
        raise ScriptRefused(
            f"calculations: {', '.join(map(repr, unknown_outputs))} is not an output of the evalscript; use one of "
            f"{', '.join(sorted(outputs))} or default",
            field=f"calculations.{unknown_outputs[0]}",
        )


def select_scenes(query: StatisticalQuery, scenes: Sequence[SceneRecord]) -> list[SceneRecord]:
    """The scenes of the request's collection, within ``dataFilter.timeRange`` and ``maxCloudCoverage``.

    A scene without ``eo:cloud_cover`` is kept by ``maxCloudCoverage`` (its cover is unknown).
    """
    out = []
    for scene in scenes:
        if scene.product_level != query.product_level:
            continue
        if query.scene_range is not None and not query.scene_range.contains(scene.datetime):
            continue
        cover = _cloud_cover(scene)
        if query.max_cloud_coverage is not None and cover is not None and cover > query.max_cloud_coverage:
            continue
        out.append(scene)
    return out


def engine_request(query: StatisticalQuery, setup: ScriptSetup) -> Any:
    """The engine's request: the script's bands read besides B04/B08, the cloud mask only when CLM/CLP are used."""
    bands = frozenset(name for name in setup.inputs if name in BANDS or name == SCL)
    cloud = bool(CLOUD_INPUTS.intersection(setup.inputs))
    return dataclasses.replace(
        query.request, extra_bands=bands, outputs=("ndvi", "cloud_fraction") if cloud else ("ndvi",)
    )


def run_statistical(
    query: StatisticalQuery,
    setup: ScriptSetup,
    sandbox: EvalscriptSandbox,
    engine: Engine,
    scenes: Sequence[SceneRecord],
    *,
    timeout_s: float,
    scope: str = "",
) -> dict[str, Any]:
    """The response body ``{"data": [...], "status": ...}`` of ``query`` over ``scenes``.

    ``scope`` (the request's id) keeps the script's globals from passing between requests.
    """
    deadline = time.monotonic() + timeout_s
    request = engine_request(query, setup)
    selected = select_scenes(query, scenes)
    cover = {s.id: _cloud_cover(s) for s in selected}
    items = engine.iter_dates(request, selected, pixel_probability="CLP" in setup.inputs)
    data: list[dict[str, Any]] = []
    timed_out = False
    for interval, dates, errors, grid_size in _grouped(query.intervals, items, cover):
        if not dates and not errors:
            continue
        entry: dict[str, Any] = {"interval": interval_dict(interval)}
        if timed_out:
            entry["error"] = _error(TIMEOUT, "the evalscript time limit of the request was spent")
        elif not dates:
            entry["error"] = _error(EXECUTION_ERROR, "; ".join(e.message for e in errors))
        else:
            try:
                evaluated = _evaluate(
                    query, setup, sandbox, interval, dates, max(0.001, deadline - time.monotonic()), scope
                )
                entry["outputs"] = _outputs(query, setup, evaluated, grid_size)
            except EvalscriptTimeout as exc:
                timed_out = True
                entry["error"] = _error(TIMEOUT, str(exc))
            except EvalscriptResourceError as exc:
                entry["error"] = _error(EXECUTION_ERROR, str(exc))
            except EvalscriptError as exc:
                entry["error"] = _error(BAD_REQUEST, str(exc))
        data.append(entry)
    failed = sum("error" in entry for entry in data)
    status = "OK" if failed == 0 else "FAILED" if failed == len(data) else "PARTIAL"
    return {"data": data, "status": status}


def _grouped(
    spans: Sequence[Interval], items: Iterator[DateItem], cover: dict[str, float | None]
) -> Iterator[tuple[Interval, list[_Date], list[ObservationError], int]]:
    """Each interval with its dates (and read errors) and the bounding raster's pixel count."""
    k = 0
    dates: list[_Date] = []
    errors: list[ObservationError] = []
    grid_size = 0
    for item in items:
        grid_size = item.layout.grid.size
        while k < len(spans) and item.datetime > spans[k].end:
            yield spans[k], dates, errors, grid_size
            dates, errors = [], []
            k += 1
        if k >= len(spans):
            break
        if item.datetime < spans[k].start:
            continue
        if isinstance(item.outcome, ObservationError):
            errors.append(item.outcome)
        else:
            assert isinstance(item.outcome, DatePixels)  # the stream has no reducer
            covers = [c for c in (cover.get(s) for s in item.scenes) if c is not None]
            dates.append(_Date(item.datetime, item.scenes, item.outcome, min(covers) if covers else None))
    while k < len(spans):
        yield spans[k], dates, errors, grid_size
        dates, errors = [], []
        k += 1


def _ordered(dates: list[_Date], order: str) -> list[_Date]:
    if order == "leastRecent":
        return sorted(dates, key=lambda d: d.when)
    if order == "leastCC":
        return sorted(dates, key=lambda d: (d.cloud_cover is None, d.cloud_cover or 0.0, -d.when.timestamp()))
    return sorted(dates, key=lambda d: d.when, reverse=True)


def _evaluate(
    query: StatisticalQuery, setup: ScriptSetup, sandbox: EvalscriptSandbox, interval: Interval, dates: list[_Date],
    timeout_s: float, scope: str,
) -> EvaluatedPixels:
    bounds = interval_dict(interval)
    ordered = _ordered(dates, query.mosaicking_order)
    samples = [script_inputs(d.pixels, setup.inputs, setup.units) for d in ordered]
    if setup.mosaicking == "ORBIT":
        scenes = [
            {"date": d.when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"), "tiles": list(d.scenes)}
            for d in ordered
        ]
        return sandbox.evaluate_orbit(
            query.evalscript, setup, samples, scenes,
            time_from=bounds["from"], time_to=bounds["to"], timeout_s=timeout_s, scope=scope,
        )
    pixels = mosaic(samples, [data_mask(d.pixels) for d in ordered])
    return sandbox.evaluate(query.evalscript, setup, pixels, timeout_s=timeout_s, scope=scope)


def _outputs(
    query: StatisticalQuery, setup: ScriptSetup, evaluated: EvaluatedPixels, grid_size: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in setup.outputs:
        if spec.id == DATA_MASK_OUTPUT:
            continue
        values = np.asarray(evaluated.values[spec.id], dtype=np.float64)
        valid = np.asarray(evaluated.valid[spec.id], dtype=bool)
        names = spec.names
        out[spec.id] = {
            "bands": {
                name: band_result(values[valid, b], grid_size, query.calculations.for_band(spec.id, name))
                for b, name in enumerate(names)
            }
        }
    return out


def _error(kind: str, message: str) -> dict[str, str]:
    return {"type": kind, "message": message}


def _cloud_cover(scene: SceneRecord) -> float | None:
    value = scene.properties.get("eo:cloud_cover")
    return float(value) if isinstance(value, (int, float)) and np.isfinite(value) else None
