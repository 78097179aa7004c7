"""``fis clouds`` on a real dask LocalCluster of 2 worker processes: the same layers as in-process,
resumable (finished scenes skipped), an interrupted run keeps every scene already registered, and the
run reports scenes per minute. One writer: the CLI's process registers each scene as it is written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner, Result

from fis.cli import main
from fis.config import Settings
from fis.engine.cloudlayers import CLM, CLP, CloudLayerSettings
from fis.errors import InvalidInput
from fis.services.cluster import open_client, scheduler_address
from fis_archive import SCENE_CLEAR, SCENE_IDS, build_archive

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster-archive")
    build_archive(root)
    return root


@pytest.fixture
def env(postgis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("FIS_DASK_SCHEDULER", raising=False)
    # worker processes import fis from the same place as this process
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")]))
    return {"FIS_DATABASE_URL": postgis_url, "FIS_DATA_DIR": str(tmp_path / "data")}


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def services(env: dict[str, str]):  # type: ignore[no-untyped-def]
    from fis.services.runtime import Services

    return Services.create(Settings(data_dir=Path(env["FIS_DATA_DIR"]), database_url=env["FIS_DATABASE_URL"]))


def layers_of(env: dict[str, str]) -> dict[str, dict[str, np.ndarray]]:
    from fis.store.queries import find_scenes

    svc = services(env)
    try:
        with svc.sessions() as session:
            out = {}
            for scene in find_scenes(session, None, None):
                if CLP in scene.assets:
                    out[scene.id] = {}
                    for layer in (CLP, CLM):
                        with rasterio.open(scene.assets[layer].href) as dataset:
                            out[scene.id][layer] = dataset.read(1)
            return out
    finally:
        svc.close()


def test_two_workers_make_the_same_layers_as_one_process_and_resume(env, archive: Path, tmp_path: Path) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "ingest", str(archive)).exit_code == 0
    # one scene in this process first: the cluster run must skip it
    first = run(env, "clouds", "--scene", SCENE_CLEAR)
    assert first.exit_code == 0 and "1 scenes computed, 0 already done, 0 failed" in first.output
    result = run(env, "clouds", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert f"{len(SCENE_IDS) - 1} scenes computed, 1 already done, 0 failed" in result.output
    assert "scenes per minute" in result.output
    on_cluster = layers_of(env)
    assert sorted(on_cluster) == sorted(SCENE_IDS)

    # the same layers computed in one process (a second data dir and database)
    from fis.store.db import upgrade

    again = run(env, "clouds", "--workers", "2")
    assert f"0 scenes computed, {len(SCENE_IDS)} already done" in again.output
    local_env = {**env, "FIS_DATA_DIR": str(tmp_path / "local")}
    svc = services(local_env)
    upgrade(svc.db)
    svc.close()
    forced = run(local_env, "clouds", "--force", "--workers", "0")
    assert forced.exit_code == 0 and f"{len(SCENE_IDS)} scenes computed" in forced.output
    local = layers_of(local_env)
    for scene_id in SCENE_IDS:
        for layer in (CLP, CLM):
            assert np.array_equal(on_cluster[scene_id][layer], local[scene_id][layer]), (scene_id, layer)
    assert any((on_cluster[s][CLM] == 1).any() for s in SCENE_IDS)  # the cloudy date: not all clear


def test_an_interrupted_cluster_run_keeps_what_it_registered(env, archive: Path) -> None:
    assert run(env, "db", "upgrade").exit_code == 0
    assert run(env, "ingest", str(archive)).exit_code == 0
    svc = services(env)
    seen: list[str] = []

    def stop_after_two(scene_id: str) -> None:
        seen.append(scene_id)
        if len(seen) == 2:
            raise KeyboardInterrupt

    try:
        with open_client(2) as client, pytest.raises(KeyboardInterrupt):
            svc.compute_cloud_layers(CloudLayerSettings(model=svc.engine.model.name), progress=stop_after_two,
                                     client=client)
    finally:
        svc.close()
    kept = layers_of(env)
    assert sorted(kept) == sorted(seen)  # both scenes reported done are registered, with readable files
    rerun = run(env, "clouds", "--workers", "2")
    assert rerun.exit_code == 0, rerun.output
    assert f"{len(SCENE_IDS) - 2} scenes computed, 2 already done, 0 failed" in rerun.output


def test_scheduler_address_and_bad_worker_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIS_DASK_SCHEDULER", "tcp://10.0.0.1:8786")
    assert scheduler_address(None) == "tcp://10.0.0.1:8786"
    assert scheduler_address("tcp://other:8786") == "tcp://other:8786"
    monkeypatch.setenv("FIS_DASK_SCHEDULER", "")
    assert scheduler_address(None) is None
    with pytest.raises(InvalidInput, match="workers must be at least 1"):
        open_client(0)
    monkeypatch.setattr("fis.services.cluster.CONNECT_TIMEOUT_S", 2)
    with pytest.raises(InvalidInput, match="cannot reach the dask scheduler"):
        open_client(None, "tcp://127.0.0.1:9")  # nothing listens on the discard port
