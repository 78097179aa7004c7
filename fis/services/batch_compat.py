"""TEMPORARY stand-ins until the engine branch lands (Engine.compute_many, plan_chunks, open_client).

Removed at the merge of ``engine``; nothing else may import this module but the batch runner.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from shapely.geometry.base import BaseGeometry

from fis.core.observation import SeriesResult
from fis.core.request import TimeseriesRequest
from fis.core.scenes import SceneRecord
from fis.engine.engine import Engine
from fis.errors import FisError


def compute_many(
    engine: Engine, items: Sequence[tuple[TimeseriesRequest, Sequence[SceneRecord]]]
) -> list[SeriesResult | FisError]:
    if hasattr(engine, "compute_many"):
        return engine.compute_many(items)  # type: ignore[no-any-return]
    out: list[SeriesResult | FisError] = []
    for request, scenes in items:
        try:
            out.append(engine.compute(request, scenes))
        except FisError as exc:
            out.append(exc)
    return out


def plan_chunks(
    features: Sequence[tuple[Hashable, BaseGeometry, frozenset[str]]], *, max_features: int, max_pixels: int
) -> list[list[Any]]:
    keys = [f[0] for f in sorted(features, key=lambda f: (f[1].centroid.x, f[1].centroid.y))]
    return [keys[i : i + max_features] for i in range(0, len(keys), max_features)]


def open_client(workers: int | None = None, scheduler: str | None = None) -> Any:
    import os

    from distributed import Client, LocalCluster

    address = scheduler or os.environ.get("FIS_DASK_SCHEDULER")
    if address:
        return Client(address)  # type: ignore[no-untyped-call]
    cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None)  # type: ignore[no-untyped-call]
    return Client(cluster)  # type: ignore[no-untyped-call]
