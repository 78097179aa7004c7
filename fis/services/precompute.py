"""Use case: precompute the CLP/CLM cloud layers of stored scenes and register them on the scenes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from fis.engine.cloudlayers import CloudLayerSettings, LayerReport, compute_cloud_layers
from fis.engine.engine import Engine
from fis.store.db import transaction
from fis.store.queries import find_scenes, get_scene, register_cloud_layers


def precompute_cloud_layers(
    sessions: sessionmaker[Session],
    engine: Engine,
    settings: CloudLayerSettings,
    out_dir: Path,
    *,
    scene_ids: Sequence[str] = (),
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LayerReport:
    """Layers under ``out_dir`` for the given scenes (default: every scene), one transaction per scene."""
    with sessions() as session:
        if scene_ids:
            scenes = [get_scene(session, scene_id) for scene_id in scene_ids]
        else:
            scenes = find_scenes(session, None, None)

    def register(scene_id: str, assets: dict[str, Any], properties: dict[str, Any]) -> None:
        with transaction(sessions) as session:
            register_cloud_layers(session, scene_id, assets, properties)

    return compute_cloud_layers(
        scenes, engine.model, settings, out_dir, engine.cache, register, force=force, progress=progress,
    )
