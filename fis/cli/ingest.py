"""``fis ingest``: register scenes from STAC files, SAFE products or a STAC API."""

from __future__ import annotations

import sys
from typing import Any

import click

from fis.cli.common import close_on_exit, fail, load_settings
from fis.errors import FisError


@click.command()
@click.argument("sources", nargs=-1, required=False)
@click.option(
    "--stac-api", "stac_api", default=None, metavar="URL", help="STAC API landing page to search (with --collection)."
)
@click.option(
    "--collection", "collections", multiple=True, metavar="ID",
    help="Collection to search, e.g. sentinel-2-l1c (repeatable).",
)
@click.option("--bbox", default=None, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help="Search area (EPSG:4326).")
@click.option(
    "--datetime", "datetime_", default=None, metavar="INTERVAL",
    help="Search interval, e.g. 2023-06-01/2023-06-30 or ../2023-06-30.",
)
@click.option("--max-items", type=int, default=None, help="Stop after this many items.")
@click.option(
    "--cloud-layers", is_flag=True,
    help="Also precompute the default cloud layers (like `fis clouds`) for the ingested L1C scenes.",
)
def ingest(sources: tuple[str, ...], stac_api: str | None, collections: tuple[str, ...], bbox: str | None,
           datetime_: str | None, max_items: int | None, cloud_layers: bool) -> None:
    """Register scenes from STAC files, SAFE products or a STAC API search.

    SOURCES are STAC Item / ItemCollection files, http(s) URLs of them, Sentinel-2 .SAFE
    directories, zipped SAFE products (.zip), or directories holding any of these (searched
    recursively; .SAFE folders are not descended into). With --stac-api URL --collection ID
    the items come from a STAC API search (pystac-client), filtered by --bbox, --datetime and
    capped by --max-items. Remote hrefs are not opened at ingest; GDAL reads them at request
    time (/vsicurl/, /vsis3/; configure with GDAL/AWS environment variables).

    Re-ingesting an item updates it. Broken items and products are reported with the reason
    and skipped; the exit status is 1 when any failed.
    """
    from fis.catalog.sources import discover_sources, read_scenes
    from fis.services.ingest import IngestReport, ingest_outcomes
    from fis.services.runtime import Services
    from fis.store.db import ensure_migrated

    if not sources and not stac_api:
        raise click.UsageError("give SOURCES (files, directories, URLs, .SAFE, .zip) or --stac-api URL --collection ID")
    if not stac_api and (collections or bbox or datetime_ or max_items is not None):
        raise click.UsageError("--collection, --bbox, --datetime and --max-items go with --stac-api URL")
    svc = Services.create(load_settings())
    close_on_exit(svc.close)
    try:
        ensure_migrated(svc.db)
    except FisError as exc:
        fail(exc)
    report = IngestReport()

    def add(part: IngestReport) -> None:
        report.created += part.created
        report.updated += part.updated
        report.failed += part.failed

    if stac_api:
        from fis.catalog.stac_api import parse_bbox_option, read_stac_api

        try:
            outcomes = read_stac_api(
                stac_api, collections, bbox=parse_bbox_option(bbox), datetime=datetime_, max_items=max_items
            )
            add(ingest_outcomes(outcomes, svc.sessions, progress=lambda name: click.echo(f"  {name}", err=True)))
        except FisError as exc:
            fail(exc)
    found = list(discover_sources(sources))
    if found:
        with click.progressbar(length=len(found), label="Ingesting", file=sys.stderr) as bar:
            for source in found:
                add(ingest_outcomes(read_scenes(source), svc.sessions))
                bar.update(1)
    click.echo(f"{len(report.created)} scenes added, {len(report.updated)} updated, {len(report.failed)} failed")
    for name, reason in report.failed:
        click.echo(f"  FAILED {name}: {reason}", err=True)
    layers_failed = False
    if cloud_layers and (report.created or report.updated):
        layers_failed = _ingest_cloud_layers(svc, [*report.created, *report.updated])
    if report.failed or layers_failed:
        sys.exit(1)


def _ingest_cloud_layers(svc: Any, scene_ids: list[str]) -> bool:
    """Precompute default cloud layers for freshly ingested scenes; True when any failed."""
    from fis.core.request import CloudMaskSettings
    from fis.engine.cloudlayers import CloudLayerSettings

    defaults = CloudMaskSettings()
    settings = CloudLayerSettings.for_mask(svc.engine.model.name, defaults)
    with click.progressbar(length=len(scene_ids), label="Cloud layers", file=sys.stderr) as bar:
        layers = svc.compute_cloud_layers(settings, scene_ids=scene_ids, progress=lambda _id: bar.update(1))
    click.echo(
        f"cloud layers: {len(layers.computed)} computed, {len(layers.skipped)} already done, "
        f"{len(layers.not_applicable)} not applicable, {len(layers.failed)} failed"
    )
    for name, reason in layers.failed:
        click.echo(f"  FAILED cloud layers of {name}: {reason}", err=True)
    return bool(layers.failed)
