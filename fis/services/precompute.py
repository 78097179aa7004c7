"""Use case: precompute the CLP/CLM cloud layers of stored scenes and register them on the scenes.

In this process, or spread over a dask cluster (``client``): the workers compute and write the
layers of one scene per task; this process registers each scene as soon as its files are written
(one writer, one transaction per scene), so an interrupted run loses nothing already registered
and the next run skips it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from fis.core.scenes import SceneRecord
from fis.engine.cloudlayers import (
    CloudLayerSettings,
    LayerReport,
    compute_cloud_layers,
    layer_properties,
    layers_to_compute,
    write_layers_task,
)
from fis.engine.engine import Engine
from fis.store.db import transaction
from fis.store.queries import find_scenes, get_scene, register_cloud_layers

if TYPE_CHECKING:
    from distributed import Client

#: scenes in flight per worker (one computing, one queued), so a huge archive is not submitted at once
IN_FLIGHT_PER_WORKER = 2


def precompute_cloud_layers(
    sessions: sessionmaker[Session],
    engine: Engine,
    settings: CloudLayerSettings,
    out_dir: Path,
    *,
    scene_ids: Sequence[str] = (),
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    client: Client | None = None,
) -> LayerReport:
    """Layers under ``out_dir`` for the given scenes (default: every scene), one transaction per scene;
    on the dask ``client``'s workers when given, else in this process."""
    with sessions() as session:
        if scene_ids:
            scenes = [get_scene(session, scene_id) for scene_id in scene_ids]
        else:
            scenes = find_scenes(session, None, None)

    def register(scene_id: str, assets: dict[str, Any], properties: dict[str, Any]) -> None:
        with transaction(sessions) as session:
            register_cloud_layers(session, scene_id, assets, properties)

    if client is None:
        return compute_cloud_layers(
            scenes, engine.model, settings, out_dir, engine.cache, register, force=force, progress=progress,
        )
    return _on_cluster(client, scenes, engine, settings, out_dir, register, force=force, progress=progress)


def _on_cluster(
    client: Client,
    scenes: list[SceneRecord],
    engine: Engine,
    settings: CloudLayerSettings,
    out_dir: Path,
    register: Callable[[str, dict[str, Any], dict[str, Any]], None],
    *,
    force: bool,
    progress: Callable[[str], None] | None,
) -> LayerReport:
    from distributed import as_completed

    start = time.perf_counter()
    manifest = engine.model.manifest
    todo, report = layers_to_compute(scenes, manifest.product_level, settings, force=force)
    if progress:
        for scene_id in [*report.not_applicable, *report.skipped]:
            progress(scene_id)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    pending = iter(todo)

    def submit(scene: SceneRecord) -> Any:
        # pure=False: a re-run after a failure computes again; the key names the scene for the dashboard
        return client.submit(
            write_layers_task, scene, manifest, settings, str(out_dir), key=f"cloud-layers-{scene.id}-{time.time_ns()}",
            pure=False,
        )

    scene_of: dict[str, SceneRecord] = {}
    first = []
    for scene in itertools.islice(pending, workers * IN_FLIGHT_PER_WORKER):
        future = submit(scene)
        scene_of[future.key] = scene
        first.append(future)
    running = as_completed(first)  # type: ignore[no-untyped-call]
    for future in running:
        scene = scene_of.pop(future.key)
        outcome = future.result()
        future.release()
        if isinstance(outcome, str):
            report.failed.append((scene.id, outcome))
        else:
            register(scene.id, outcome, layer_properties(settings))
            report.computed.append(scene.id)
        if progress:
            progress(scene.id)
        following = next(pending, None)
        if following is not None:
            nxt = submit(following)
            scene_of[nxt.key] = following
            running.add(nxt)  # type: ignore[no-untyped-call]
    report.seconds = time.perf_counter() - start
    return report
