"""``fis stats``: compute, store and print a time series."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from fis.cli.common import check_output, close_on_exit, fail, format_option, load_settings, open_output
from fis.cli.request_options import composite_options, options_body, request_options
from fis.errors import FisError


def _read_geometry(value: str) -> Any:
    path = Path(value)
    if not path.is_file() and _looks_like_path(value):
        problem = "is a directory" if path.is_dir() else "does not exist"
        raise click.BadParameter(
            f"the file {value} {problem}; pass a GeoJSON file (Polygon, MultiPolygon, Feature) or a WKT string",
            param_hint="--geometry",
        )
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise click.BadParameter(f"{value} is not a GeoJSON file: {exc}", param_hint="--geometry") from None
        if isinstance(data, dict) and data.get("type") == "FeatureCollection":
            features = data.get("features") or []
            if len(features) != 1:
                raise click.BadParameter(
                    f"{value} holds {len(features)} features; pass a file with one Polygon/MultiPolygon feature",
                    param_hint="--geometry",
                )
            return features[0]
        return data
    return value  # WKT


def _looks_like_path(value: str) -> bool:
    """A file name rather than WKT/JSON text: ends in .json/.geojson or has a path separator (WKT has none)."""
    text = value.strip()
    if text.startswith("{"):
        return False
    return text.lower().endswith((".json", ".geojson")) or "/" in text or os.sep in text


@click.command()
@click.option(
    "--geometry", "geometry", required=True, help="GeoJSON file (Polygon, MultiPolygon, Feature) or a WKT string."
)
@click.option("--from", "date_from", required=True, help="First date (ISO 8601, inclusive).")
@click.option("--to", "date_to", required=True, help="Last date (ISO 8601, inclusive; a date means the whole day).")
@request_options
@composite_options
@format_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-", help="Output file (default stdout)."
)
def stats(geometry: str, date_from: str, date_to: str, fmt: str, output: str, **options: Any) -> None:
    """Compute and store a time series, like POST /api/v1/timeseries, and print it."""
    check_output(output)
    from fis.api.app import create_app
    from fis.core.observation import csv_columns
    from fis.core.request import parse_timeseries_request
    from fis.protocols.native.export import csv_lines, geojson_feature, long_csv_lines
    from fis.protocols.native.views import CloudFilter, series_json
    from fis.store.db import ensure_migrated

    body: dict[str, Any] = {"geometry": _read_geometry(geometry), **options_body(date_from, date_to, options)}
    app = create_app(load_settings())
    svc = app.extensions["fis"]
    close_on_exit(svc.close)
    try:
        ensure_migrated(svc.db)
        request = parse_timeseries_request(body)
        with click.progressbar(length=1, label="Computing", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            series, result = svc.run_timeseries(request, progress=progress)
    except FisError as exc:
        fail(exc)
    view = CloudFilter.from_parameters(series.parameters)
    observations = list(result.observations)
    with open_output(output) as out:
        if fmt in ("csv", "long_csv"):
            shown = view.apply(observations)
            make = long_csv_lines if fmt == "long_csv" else csv_lines
            for line in make(
                [o for o, _ in shown], cloudy=[c for _, c in shown], columns=csv_columns(series.parameters)
            ):
                out.write(line)
        else:
            from fis.store.queries import scene_details

            with svc.sessions() as session:
                details = scene_details(session, [i for o in observations for i in o.scenes])
            with app.test_request_context("/", base_url=svc.settings.public_url):
                document = series_json(series, observations, list(result.errors), view, details)
                document["reused"], document["computed"] = result.reused, result.computed
                out.write(json.dumps(geojson_feature(document) if fmt == "geojson" else document, indent=2))
                out.write("\n")
    click.echo(
        f"series {series.id}: {len(observations)} observations, status {result.status} "
        f"({result.reused} reused, {result.computed} computed)",
        err=True,
    )
