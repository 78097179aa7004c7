"""``fis demo``: build and ingest the demo archive."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from fis.cli.common import close_on_exit, load_settings


@click.command()
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False), default=None,
    help="Where to write the archive [default: FIS_DATA_DIR/demo].",
)
@click.option("--year", type=int, default=2023, show_default=True)
@click.option("--size", type=int, default=200, show_default=True, help="Archive width/height in 10 m pixels.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port used in the printed example requests.")
def demo(directory: str | None, year: int, size: int, port: int) -> None:
    """Build a demo archive (COGs + STAC items), migrate the database, ingest it, print requests."""
    from fis.demo.archive import build_demo_archive
    from fis.services.ingest import ingest as run_ingest
    from fis.services.runtime import Services
    from fis.store.db import upgrade

    settings = load_settings()
    out = Path(directory) if directory else settings.data_dir / "demo"
    with click.progressbar(length=1, label="Generating demo archive", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)
        archive = build_demo_archive(out, year=year, size_px=size, progress=progress)
    svc = Services.create(settings)
    close_on_exit(svc.close)
    upgrade(svc.db)
    report = run_ingest([str(p) for p in archive.items], svc.sessions)
    click.echo(
        f"demo archive in {out}: {len(archive.items)} scenes ({len(report.created)} new, "
        f"{len(report.updated)} updated, {len(report.failed)} failed)"
    )
    name, polygon = next(iter(archive.fields.items()))
    body = {
        "geometry": polygon,
        "time_range": {"from": f"{year}-01-01", "to": f"{year}-12-31"},
        "max_cloud_fraction": 0.2,
    }
    fields_file = out / "fields.geojson"
    click.echo(f"\nStart the service:\n  fis serve --port {port}\n")
    click.echo(f"Then open http://127.0.0.1:{port}/ to draw a field and see its profile.\n")
    click.echo(f"Field polygons: {fields_file}  ({', '.join(archive.fields)})\n")
    click.echo(f"Time series of field {name!r}, cloudy dates (cloud_fraction > 0.2) left out:")
    click.echo(
        f"  curl -s -X POST http://127.0.0.1:{port}/api/v1/timeseries -H 'Content-Type: application/json' \\\n"
        f"    -d '{json.dumps(body)}'"
    )
    click.echo("\nThe same as CSV:")
    click.echo(
        f"  curl -s -X POST 'http://127.0.0.1:{port}/api/v1/timeseries?format=csv' "
        f"-H 'Content-Type: application/json' \\\n    -d '{json.dumps(body)}'"
    )
    click.echo("\nOr without the server:")
    click.echo(
        f"  fis stats --geometry '{_wkt(polygon)}' --from {year}-01-01 --to {year}-12-31 "
        "--max-cloud-fraction 0.2 --format csv"
    )


def _wkt(geojson: dict[str, Any]) -> str:
    from shapely.geometry import shape

    return shape(geojson).wkt
