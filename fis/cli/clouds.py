"""``fis clouds``: precompute CLP/CLM cloud layers per scene."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from fis.cli.common import fail, load_settings
from fis.errors import FisError


@click.command()
@click.option("--scene", "scene_ids", multiple=True, help="Scene id (repeatable) [default: every scene].")
@click.option("--resolution", type=float, default=160.0, show_default=True, help="Layer resolution in metres.")
@click.option(
    "--threshold", type=float, default=0.4, show_default=True, help="s2cloudless probability threshold of the mask."
)
@click.option(
    "--average-over", type=int, default=1, show_default=True,
    help="Disk radius (layer pixels) of probability averaging; 0 = off.",
)
@click.option(
    "--dilation", type=int, default=1, show_default=True, help="Disk radius (layer pixels) of mask dilation; 0 = off."
)
@click.option("--force", is_flag=True, help="Recompute layers that already match the settings.")
@click.option(
    "--workers", type=click.IntRange(min=0), default=None,
    help="Worker processes of a local dask cluster computing scenes in parallel; 0 = in this process "
    "[default: FIS_CLOUD_WORKERS, 0].",
)
@click.option(
    "--scheduler", metavar="ADDR", default=None,
    help="Run on an existing dask cluster: its scheduler address, e.g. tcp://host:8786 [default: FIS_DASK_SCHEDULER].",
)
def clouds(
    scene_ids: tuple[str, ...], resolution: float, threshold: float, average_over: int, dilation: int, force: bool,
    workers: int | None, scheduler: str | None,
) -> None:
    """Precompute cloud layers per scene: CLP (probability*255) and CLM (0 clear, 1 cloud, 255 no data).

    Layers are COGs under FIS_DATA_DIR/cloud-layers, registered on each scene with the settings
    that made them; requests whose cloud settings match read them instead of running the model.
    Re-running skips finished scenes; a scene that fails is reported and retried next time.
    With --workers N (or --scheduler / FIS_DASK_SCHEDULER) the scenes are computed on a dask
    cluster and each is registered as soon as it is written: an interrupted run loses nothing
    finished. The last line says how many scenes per minute were computed.
    """
    from fis.core.request import CloudMaskSettings
    from fis.engine.cloudlayers import CloudLayerSettings
    from fis.services.runtime import Services
    from fis.store.db import ensure_migrated

    settings_ = load_settings()
    svc = Services.create(settings_)
    try:
        ensure_migrated(svc.db)
        mask = CloudMaskSettings(
            threshold=threshold, resolution=resolution, average_over=average_over, dilation_size=dilation
        )
        settings = CloudLayerSettings.for_mask(svc.engine.model.name, mask)
        total = len(scene_ids) if scene_ids else None
        count = total or _scene_count(svc)
        with (
            _cluster(settings_.cloud_workers if workers is None else workers, scheduler) as client,
            click.progressbar(length=count, label="Cloud layers", file=sys.stderr) as bar,
        ):
            report = svc.compute_cloud_layers(
                settings, scene_ids=scene_ids, force=force, progress=lambda _id: bar.update(1), client=client,
            )
    except FisError as exc:
        fail(exc)
    finally:
        svc.close()
    rate = report.scenes_per_minute
    click.echo(
        f"{len(report.computed)} scenes computed, {len(report.skipped)} already done, {len(report.failed)} failed"
        + (
            f", {len(report.not_applicable)} not applicable (not L1C: their cloud source is SCL)"
            if report.not_applicable
            else ""
        )
        + f" in {report.seconds:.1f} s"
        + (f" ({rate:.1f} scenes per minute)" if rate is not None else "")
    )
    for name, reason in report.failed:
        click.echo(f"  FAILED {name}: {reason}", err=True)
    if report.failed:
        sys.exit(1)


@contextmanager
def _cluster(workers: int, scheduler: str | None) -> Iterator[Any]:
    """A dask client when a scheduler is named or ``workers`` >= 1, else None (compute in this process)."""
    from fis.services.cluster import open_client, scheduler_address

    if scheduler_address(scheduler) is None and workers < 1:
        yield None
        return
    with open_client(workers or None, scheduler) as client:
        yield client


def _scene_count(svc: Any) -> int:
    from fis.store.queries import count_scenes

    with svc.sessions() as session:
        return count_scenes(session)
