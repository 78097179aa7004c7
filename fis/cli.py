"""The ``fis`` command line: ingest an archive, migrate, serve, compute series, build a demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from fis.config import Settings
from fis.errors import FisError


def _settings() -> Settings:
    return Settings.from_env()


def _fail(exc: FisError) -> None:
    raise click.ClickException(exc.message) from None


def _close_on_exit(close: Any) -> None:
    """Release database connections when the command ends (engines are made per command)."""
    click.get_current_context().call_on_close(close)


class _Group(click.Group):
    """Any :class:`FisError` a command lets through becomes a one-line ``Error: ...`` and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FisError as exc:
            raise click.ClickException(exc.message) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fis")
def main() -> None:
    """fis: cloud-aware Sentinel-2 statistics for field polygons, served from your own archive.

    Settings come from FIS_* environment variables: FIS_DATABASE_URL (SQLAlchemy URL; default
    an SQLite file in FIS_DATA_DIR), FIS_DATA_DIR (default ./var), FIS_MAX_PIXELS, ...
    """


# --- db ---------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (PostGIS extension included on PostgreSQL)."""
    from fis.db import current_revision, make_engine, upgrade

    settings = _settings()
    try:
        engine = make_engine(settings.effective_database_url)
        _close_on_exit(engine.dispose)
        upgrade(engine, revision)
    except FisError as exc:
        _fail(exc)
    except Exception as exc:  # noqa: BLE001 - driver errors vary
        raise click.ClickException(f"cannot migrate {settings.effective_database_url}: {exc}") from None
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION ('base' drops every table)."""
    from fis.db import current_revision, downgrade, make_engine

    engine = make_engine(_settings().effective_database_url)
    _close_on_exit(engine.dispose)
    downgrade(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision of the configured database."""
    from fis.db import current_revision, head_revision, make_engine

    engine = make_engine(_settings().effective_database_url)
    _close_on_exit(engine.dispose)
    click.echo(f"current: {current_revision(engine)}  head: {head_revision(engine)}")


# --- ingest -----------------------------------------------------------------------------------

@main.command()
@click.argument("sources", nargs=-1, required=False)
@click.option("--stac-api", "stac_api", default=None, metavar="URL", help="STAC API landing page to search (with --collection).")
@click.option("--collection", "collections", multiple=True, metavar="ID", help="Collection to search, e.g. sentinel-2-l1c (repeatable).")
@click.option("--bbox", default=None, metavar="MINLON,MINLAT,MAXLON,MAXLAT", help="Search area (EPSG:4326).")
@click.option("--datetime", "datetime_", default=None, metavar="INTERVAL", help="Search interval, e.g. 2023-06-01/2023-06-30 or ../2023-06-30.")
@click.option("--max-items", type=int, default=None, help="Stop after this many items.")
@click.option("--cloud-layers", is_flag=True, help="Also precompute the default cloud layers (like `fis clouds`) for the ingested L1C scenes.")
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
    from fis.catalog.ingest import IngestReport, discover_sources, ingest_outcomes, read_scenes
    from fis.db import ensure_migrated
    from fis.service import Services

    if not sources and not stac_api:
        raise click.UsageError("give SOURCES (files, directories, URLs, .SAFE, .zip) or --stac-api URL --collection ID")
    if not stac_api and (collections or bbox or datetime_ or max_items is not None):
        raise click.UsageError("--collection, --bbox, --datetime and --max-items go with --stac-api URL")
    svc = Services.create(_settings())
    _close_on_exit(svc.close)
    try:
        ensure_migrated(svc.db)
    except FisError as exc:
        _fail(exc)
    report = IngestReport()

    def add(part: IngestReport) -> None:
        report.created += part.created
        report.updated += part.updated
        report.failed += part.failed

    if stac_api:
        from fis.catalog.stac_api import parse_bbox_option, read_stac_api

        try:
            outcomes = read_stac_api(stac_api, collections, bbox=parse_bbox_option(bbox), datetime=datetime_, max_items=max_items)
            add(ingest_outcomes(outcomes, svc.sessions, progress=lambda name: click.echo(f"  {name}", err=True)))
        except FisError as exc:
            _fail(exc)
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
    from fis.cloudlayers import CloudLayerSettings
    from fis.request import CloudMaskSettings

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


# --- clouds -----------------------------------------------------------------------------------

@main.command()
@click.option("--scene", "scene_ids", multiple=True, help="Scene id (repeatable) [default: every scene].")
@click.option("--resolution", type=float, default=160.0, show_default=True, help="Layer resolution in metres.")
@click.option("--threshold", type=float, default=0.4, show_default=True, help="s2cloudless probability threshold of the mask.")
@click.option("--average-over", type=int, default=1, show_default=True, help="Disk radius (layer pixels) of probability averaging; 0 = off.")
@click.option("--dilation", type=int, default=1, show_default=True, help="Disk radius (layer pixels) of mask dilation; 0 = off.")
@click.option("--force", is_flag=True, help="Recompute layers that already match the settings.")
def clouds(scene_ids: tuple[str, ...], resolution: float, threshold: float, average_over: int, dilation: int, force: bool) -> None:
    """Precompute cloud layers per scene: CLP (probability*255) and CLM (0 clear, 1 cloud, 255 no data).

    Layers are COGs under FIS_DATA_DIR/cloud-layers, registered on each scene with the settings
    that made them; requests whose cloud settings match read them instead of running the model.
    Re-running skips finished scenes; a scene that fails is reported and retried next time.
    """
    from fis.cloudlayers import CloudLayerSettings
    from fis.db import ensure_migrated
    from fis.request import CloudMaskSettings
    from fis.service import Services

    svc = Services.create(_settings())
    try:
        ensure_migrated(svc.db)
        mask = CloudMaskSettings(threshold=threshold, resolution=resolution, average_over=average_over, dilation_size=dilation)
        settings = CloudLayerSettings.for_mask(svc.engine.model.name, mask)
        total = len(scene_ids) if scene_ids else None
        with click.progressbar(length=total or _scene_count(svc), label="Cloud layers", file=sys.stderr) as bar:
            report = svc.compute_cloud_layers(settings, scene_ids=scene_ids, force=force, progress=lambda _id: bar.update(1))
    except FisError as exc:
        _fail(exc)
    finally:
        svc.close()
    click.echo(
        f"{len(report.computed)} scenes computed, {len(report.skipped)} already done, {len(report.failed)} failed"
        + (f", {len(report.not_applicable)} not applicable (not L1C: their cloud source is SCL)" if report.not_applicable else "")
    )
    for name, reason in report.failed:
        click.echo(f"  FAILED {name}: {reason}", err=True)
    if report.failed:
        sys.exit(1)


def _scene_count(svc: Any) -> int:
    from fis.store import count_scenes

    with svc.sessions() as session:
        return count_scenes(session)


# --- serve ------------------------------------------------------------------------------------

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads of the WSGI server.")
def serve(host: str, port: int, threads: int) -> None:
    """Run the HTTP API with the waitress production WSGI server."""
    from waitress import serve as waitress_serve

    from fis.app import create_app
    from fis.db import ensure_migrated

    app = create_app(_settings())
    try:
        ensure_migrated(app.extensions["fis"].db)
    except FisError as exc:
        _fail(exc)
    click.echo(f"fis serving on http://{host}:{port}  (OpenAPI: http://{host}:{port}/api/v1/openapi.json)")
    # poll() instead of select(): the open-dataset pool holds far more than 1024 descriptors
    waitress_serve(app, host=host, port=port, threads=threads, ident="fis", asyncore_use_poll=True)


# --- stats ------------------------------------------------------------------------------------

def _read_geometry(value: str) -> Any:
    path = Path(value)
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


@main.command()
@click.option("--geometry", "geometry", required=True, help="GeoJSON file (Polygon, MultiPolygon, Feature) or a WKT string.")
@click.option("--crs", default=None, help="CRS of the geometry (default EPSG:4326, lon/lat).")
@click.option("--from", "date_from", required=True, help="First date (ISO 8601, inclusive).")
@click.option("--to", "date_to", required=True, help="Last date (ISO 8601, inclusive; a date means the whole day).")
@click.option("--resolution", type=float, default=None, help="Grid resolution in metres [default: 10].")
@click.option("--cloud-threshold", type=float, default=None, help="s2cloudless probability threshold of the pixel mask [default: 0.4].")
@click.option("--cloud-mask-resolution", type=float, default=None, help="Resolution of the pixel cloud mask in metres [default: 160].")
@click.option("--max-cloud-fraction", type=float, default=None, help="Observations with a larger cloudy-pixel share are cloudy.")
@click.option("--max-cloud-probability", type=float, default=None, help="Observations whose averaged-vector P(cloud) is larger are cloudy.")
@click.option("--include-cloudy", is_flag=True, default=False, help="Keep cloudy observations in the output (flagged).")
@click.option("--mask-clouds", is_flag=True, default=False,
              help="Compute every statistic over the valid pixels the cloud mask calls clear (adds pixels.clear).")
@click.option("--index", "indices", multiple=True, metavar="NAME[=EXPR]",
              help="Also compute an index: a built-in (ndwi, ndmi, nbr, evi, savi) or NAME=band math, "
                   "e.g. --index 'my_ratio=(B08 - B11) / (B08 + B11)'. Repeatable.")
@click.option("--percentiles", default=None, metavar="Q,Q,...",
              help="Extra percentiles (0..1) of NDVI and every index, e.g. 0.05,0.5,0.95.")
@click.option("--histogram-bins", type=int, default=None, help="Histogram of NDVI and every index with N bins.")
@click.option("--histogram-bin-width", type=float, default=None, help="Histogram with bins of this width (needs --histogram-range).")
@click.option("--histogram-range", default=None, metavar="LOW,HIGH", help="Histogram range, e.g. -1,1 [default: each date's min,max].")
@click.option("--histogram-type", type=click.Choice(["equidistant", "equal_frequency"]), default=None,
              help="Bin layout [default: equidistant].")
@click.option("--interval", default=None, metavar="DURATION",
              help="Aggregate dates into intervals (ISO 8601, P1D..P1Y), e.g. P10D or P1M: one row per interval.")
@click.option("--last-interval", type=click.Choice(["shorten", "skip", "extend"]), default=None,
              help="When the time range is not a whole number of intervals [default: shorten].")
@click.option("--pick", type=click.Choice(["all", "least_cloudy", "clear_mean"]), default=None,
              help="Which dates make an interval's row [default: all].")
@click.option("--pixel-rule", type=click.Choice(["center", "all_touched", "coverage"]), default=None,
              help="Which pixels belong to the polygon; coverage weights each by its covered fraction [default: center].")
@click.option("--min-coverage", type=float, default=None,
              help="With --pixel-rule coverage: leave out pixels covered less than this fraction (0..1).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "geojson", "long_csv"]), default="json", show_default=True,
              help="json: the API response; csv: one row per date; long_csv: one row per date x statistic; "
                   "geojson: the field as a Feature with the series in its properties.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-", help="Output file (default stdout).")
def stats(geometry: str, crs: str | None, date_from: str, date_to: str, resolution: float | None,
          cloud_threshold: float | None, cloud_mask_resolution: float | None, max_cloud_fraction: float | None,
          max_cloud_probability: float | None, include_cloudy: bool, mask_clouds: bool, indices: tuple[str, ...],
          percentiles: str | None, histogram_bins: int | None, histogram_bin_width: float | None,
          histogram_range: str | None, histogram_type: str | None, interval: str | None, last_interval: str | None,
          pick: str | None, pixel_rule: str | None, min_coverage: float | None, fmt: str, output: str) -> None:
    """Compute and store a time series, like POST /api/v1/timeseries, and print it."""
    from fis.api.views import CloudFilter, series_json
    from fis.app import create_app
    from fis.db import ensure_migrated
    from fis.export import csv_lines, geojson_feature, long_csv_lines
    from fis.observation import csv_columns
    from fis.request import parse_timeseries_request

    body: dict[str, Any] = {"geometry": _read_geometry(geometry), "time_range": {"from": date_from, "to": date_to}}
    options = {
        "crs": crs, "resolution": resolution, "cloud_threshold": cloud_threshold,
        "cloud_mask_resolution": cloud_mask_resolution, "max_cloud_fraction": max_cloud_fraction,
        "max_cloud_probability": max_cloud_probability, "include_cloudy": include_cloudy or None,
        "mask_clouds": mask_clouds or None,
        "indices": _index_options(indices),
        "statistics": _statistics_options(percentiles, histogram_bins, histogram_bin_width, histogram_range, histogram_type),
        "aggregation": (
            None if interval is None and last_interval is None and pick is None
            else {k: v for k, v in {"interval": interval, "last_interval": last_interval, "pick": pick}.items() if v is not None}
        ),
        "pixel_rule": pixel_rule,
        "min_coverage": min_coverage,
    }
    body.update({k: v for k, v in options.items() if v is not None})
    app = create_app(_settings())
    svc = app.extensions["fis"]
    _close_on_exit(svc.close)
    try:
        ensure_migrated(svc.db)
        request = parse_timeseries_request(body)
        with click.progressbar(length=1, label="Computing", file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)
            series, result = svc.run_timeseries(request, progress=progress)
    except FisError as exc:
        _fail(exc)
    view = CloudFilter.from_parameters(series.parameters)
    observations = list(result.observations)
    # click.open_file has no ``newline``: open files ourselves so the CSV keeps its \r\n rows
    stream = open(output, "w", encoding="utf-8", newline="") if output != "-" else click.open_file("-", "w", encoding="utf-8")
    with stream as out:
        if fmt in ("csv", "long_csv"):
            shown = view.apply(observations)
            make = long_csv_lines if fmt == "long_csv" else csv_lines
            for line in make([o for o, _ in shown], cloudy=[c for _, c in shown], columns=csv_columns(series.parameters)):
                out.write(line)
        else:
            from fis.store import scene_details

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


def _index_options(values: tuple[str, ...]) -> dict[str, str | None] | None:
    """``("ndwi", "r=(B08 - B11) / (B08 + B11)")`` -> ``{"ndwi": None, "r": "(B08 - B11) / (B08 + B11)"}``."""
    if not values:
        return None
    out: dict[str, str | None] = {}
    for value in values:
        name, sep, expression = value.partition("=")
        out[name.strip()] = expression.strip() if sep else None
    return out


def _numbers(value: str, option: str, count: int | None = None) -> list[float]:
    try:
        numbers = [float(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of numbers", param_hint=option) from None
    if count is not None and len(numbers) != count:
        raise click.BadParameter(f"{value!r}: give {count} numbers separated by a comma", param_hint=option)
    return numbers


def _statistics_options(percentiles: str | None, bins: int | None, bin_width: float | None, value_range: str | None,
                        kind: str | None) -> dict[str, Any] | None:
    """The ``statistics`` body key from the --percentiles and --histogram-* options."""
    out: dict[str, Any] = {}
    if percentiles is not None:
        out["percentiles"] = _numbers(percentiles, "--percentiles")
    if any(v is not None for v in (bins, bin_width, value_range, kind)):
        histogram: dict[str, Any] = {"bins": bins, "bin_width": bin_width, "type": kind}
        if value_range is not None:
            histogram["low"], histogram["high"] = _numbers(value_range, "--histogram-range", count=2)
        out["histogram"] = {k: v for k, v in histogram.items() if v is not None}
    return out or None


# --- demo -------------------------------------------------------------------------------------

@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None, help="Where to write the archive [default: FIS_DATA_DIR/demo].")
@click.option("--year", type=int, default=2023, show_default=True)
@click.option("--size", type=int, default=200, show_default=True, help="Archive width/height in 10 m pixels.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port used in the printed example requests.")
def demo(directory: str | None, year: int, size: int, port: int) -> None:
    """Build a demo archive (COGs + STAC items), migrate the database, ingest it, print requests."""
    from fis.catalog.ingest import ingest as run_ingest
    from fis.db import upgrade
    from fis.demo import build_demo_archive
    from fis.service import Services

    settings = _settings()
    out = Path(directory) if directory else settings.data_dir / "demo"
    with click.progressbar(length=1, label="Generating demo archive", file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - bar.pos)
        archive = build_demo_archive(out, year=year, size_px=size, progress=progress)
    svc = Services.create(settings)
    _close_on_exit(svc.close)
    upgrade(svc.db)
    report = run_ingest([str(p) for p in archive.items], svc.sessions)
    click.echo(f"demo archive in {out}: {len(archive.items)} scenes ({len(report.created)} new, {len(report.updated)} updated, {len(report.failed)} failed)")
    name, polygon = next(iter(archive.fields.items()))
    body = {"geometry": polygon, "time_range": {"from": f"{year}-01-01", "to": f"{year}-12-31"}, "max_cloud_fraction": 0.2}
    fields_file = out / "fields.geojson"
    click.echo("\nStart the service:\n  fis serve --port %d\n" % port)
    click.echo(f"Field polygons: {fields_file}  ({', '.join(archive.fields)})\n")
    click.echo(f"Time series of field {name!r}, cloudy dates (cloud_fraction > 0.2) left out:")
    click.echo(f"  curl -s -X POST http://127.0.0.1:{port}/api/v1/timeseries -H 'Content-Type: application/json' \\\n    -d '{json.dumps(body)}'")
    click.echo("\nThe same as CSV:")
    click.echo(f"  curl -s -X POST 'http://127.0.0.1:{port}/api/v1/timeseries?format=csv' -H 'Content-Type: application/json' \\\n    -d '{json.dumps(body)}'")
    click.echo("\nOr without the server:")
    click.echo(f"  fis stats --geometry '{_wkt(polygon)}' --from {year}-01-01 --to {year}-12-31 --max-cloud-fraction 0.2 --format csv")


def _wkt(geojson: dict[str, Any]) -> str:
    from shapely.geometry import shape

    return shape(geojson).wkt


if __name__ == "__main__":  # pragma: no cover
    main()
