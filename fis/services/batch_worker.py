"""The worker side of a batch: compute one chunk of features in a dask worker process.

The engine (cloud model, open-dataset pool, read threads) is built once per worker process from the
settings the client sends, and kept in a module-level cache, so chunks after the first reuse warm
datasets. A chunk is computed with the engine's shared-read :meth:`~fis.engine.engine.Engine.compute_many`;
the answer is plain data: per feature its :class:`SeriesResult`, or the error's code and message.
"""

from __future__ import annotations

from collections.abc import Sequence
from threading import Lock

from fis.config import Settings
from fis.core.observation import SeriesResult
from fis.core.request import TimeseriesRequest
from fis.core.scenes import SceneRecord
from fis.engine.engine import Engine
from fis.services.runtime import Services

#: one feature of a chunk: its key in the job, its request and its scenes
ChunkItem = tuple[int, TimeseriesRequest, Sequence[SceneRecord]]
#: one feature's answer: its key and its series, or (error code, message)
ChunkAnswer = tuple[int, SeriesResult | tuple[str, str]]

_ENGINES: dict[Settings, Engine] = {}
_LOCK = Lock()


def worker_engine(settings: Settings) -> Engine:
    """This process' engine for ``settings`` (built on first use)."""
    with _LOCK:
        engine = _ENGINES.get(settings)
        if engine is None:
            engine = _ENGINES[settings] = Services.create(settings).engine
        return engine


def compute_chunk(settings: Settings, items: Sequence[ChunkItem]) -> list[ChunkAnswer]:
    """Every feature of a chunk, computed with shared reads (a dask task; runs in a worker process)."""
    engine = worker_engine(settings)
    results = engine.compute_many([(request, scenes) for _, request, scenes in items])
    return [
        (seq, result if isinstance(result, SeriesResult) else (result.code, result.message))
        for (seq, _, _), result in zip(items, results, strict=True)
    ]
