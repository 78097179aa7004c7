"""``fis series``: list, show (or export) and delete stored time series, like GET/DELETE /api/v1/timeseries."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import click

from fis.cli.common import check_output, close_on_exit, format_option, load_settings, open_output
from fis.errors import NotFound


def _services() -> Any:
    """The services of this command on a migrated database (closed when the command ends)."""
    from fis.services.runtime import Services
    from fis.store.db import ensure_migrated

    svc = Services.create(load_settings())
    close_on_exit(svc.close)
    ensure_migrated(svc.db)
    return svc


def _not_found(series_id: str) -> click.ClickException:
    return click.ClickException(f"no time series {series_id!r}; list the stored ones with `fis series list`")


@click.group()
def series() -> None:
    """Stored time series: list, show/export, plot, rename, delete."""


@series.command("list")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print the list as JSON (the API's list items).")
def series_list(as_json: bool) -> None:
    """List stored series, newest first: id, name, created, date range, observation dates, area in ha."""
    from fis.core.geometry import geodesic_area_ha
    from fis.protocols.native.views import series_summary
    from fis.store.queries import list_series, observation_counts

    svc = _services()
    with svc.sessions() as session:
        _, total = list_series(session, limit=1, offset=0)
        rows, _ = list_series(session, limit=max(total, 1), offset=0)
        counts = observation_counts(session, [r.id for r in rows])
    if as_json:
        items = [series_summary(r, counts.get(r.id, 0), base_url=svc.settings.public_url) for r in rows]
        click.echo(json.dumps(items, indent=2))
        return
    table = [("ID", "NAME", "CREATED", "FROM", "TO", "DATES", "AREA_HA")]
    for row in rows:
        time_range = row.parameters.get("time_range") or {}
        table.append(
            (
                row.id,
                row.name or "",
                _utc_text(row.created_at),
                str(time_range.get("from", ""))[:10],
                str(time_range.get("to", ""))[:10],
                str(counts.get(row.id, 0)),
                f"{geodesic_area_ha(row.geometry):.2f}",
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


@series.command("show")
@click.argument("series_id")
@click.option(
    "--max-cloud-fraction",
    type=click.FloatRange(0, 1),
    default=None,
    help="Observations with a larger cloudy-pixel share are cloudy [default: the stored value].",
)
@click.option(
    "--max-cloud-probability",
    type=click.FloatRange(0, 1),
    default=None,
    help="Observations whose averaged-vector P(cloud) is larger are cloudy [default: the stored value].",
)
@click.option(
    "--include-cloudy/--exclude-cloudy",
    default=None,
    help="Keep cloudy observations (flagged) or leave them out [default: the stored value].",
)
@format_option
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    help="Write to this file (default stdout): `fis series show ID --format csv -o field.csv` exports.",
)
def series_show(
    series_id: str,
    max_cloud_fraction: float | None,
    max_cloud_probability: float | None,
    include_cloudy: bool | None,
    fmt: str,
    output: str,
) -> None:
    """Show or export a stored series, filtered like GET /api/v1/timeseries/ID."""
    from fis.core.observation import csv_columns
    from fis.protocols.native.export import csv_lines, geojson_feature, long_csv_lines
    from fis.protocols.native.views import series_json
    from fis.store.queries import errors_of, observations_of, scene_details

    check_output(output)
    svc = _services()
    with svc.sessions() as session:
        stored = _get(session, series_id)
        observations, errors = observations_of(stored), errors_of(stored)
        details = scene_details(session, [i for o in observations for i in o.scenes])
    view = _view(stored.parameters, max_cloud_fraction, max_cloud_probability, include_cloudy)
    with open_output(output) as out:
        if fmt in ("csv", "long_csv"):
            shown = view.apply(observations)
            make = long_csv_lines if fmt == "long_csv" else csv_lines
            for line in make(
                [o for o, _ in shown], cloudy=[c for _, c in shown], columns=csv_columns(stored.parameters)
            ):
                out.write(line)
        else:
            document = series_json(stored, observations, errors, view, details, base_url=svc.settings.public_url)
            out.write(json.dumps(geojson_feature(document) if fmt == "geojson" else document, indent=2) + "\n")


@series.command("plot")
@click.argument("series_id")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True, help="The PNG file to write."
)
@click.option(
    "--max-cloud-fraction",
    type=click.FloatRange(0, 1),
    default=None,
    help="Dates with a larger cloudy-pixel share are cloudy [default: the stored value].",
)
@click.option(
    "--max-cloud-probability",
    type=click.FloatRange(0, 1),
    default=None,
    help="Dates whose averaged-vector P(cloud) is larger are cloudy [default: the stored value].",
)
@click.option("--width", type=click.IntRange(200, 4000), default=1200, show_default=True, help="Pixels.")
@click.option("--height", type=click.IntRange(200, 4000), default=800, show_default=True, help="Pixels.")
@click.option("--dpi", type=click.IntRange(50, 600), default=100, show_default=True, help="Dots per inch (text size).")
def series_plot(
    series_id: str,
    output: str,
    max_cloud_fraction: float | None,
    max_cloud_probability: float | None,
    width: int,
    height: int,
    dpi: int,
) -> None:
    """Draw the NDVI profile as a PNG, like GET /api/v1/timeseries/ID/plot.png: all dates, and cloudy dates masked."""
    from fis.protocols.native.plot import Thresholds, profile_png
    from fis.store.queries import observations_of

    check_output(output)
    svc = _services()
    with svc.sessions() as session:
        stored = _get(session, series_id)
        observations = observations_of(stored)
    view = _view(stored.parameters, max_cloud_fraction, max_cloud_probability, include_cloudy=True)
    png = profile_png(
        view.apply(observations),
        Thresholds(view.max_cloud_fraction, view.max_cloud_probability),
        title=f"NDVI profile: {stored.name or stored.id}",
        width=width,
        height=height,
        dpi=dpi,
    )
    with click.open_file(output, "wb") as out:
        out.write(png)
    click.echo(f"wrote {output} ({width} x {height} px)", err=output == "-")


@series.command("delete")
@click.argument("series_id")
@click.option("--yes", is_flag=True, default=False, help="Do not ask for confirmation.")
def series_delete(series_id: str, yes: bool) -> None:
    """Delete a stored series and its observations (asks first unless --yes)."""
    from fis.store.db import transaction
    from fis.store.queries import delete_series

    svc = _services()
    with svc.sessions() as session:
        stored = _get(session, series_id)
        label = f"{series_id} ({stored.name})" if stored.name else series_id
    if not yes:
        click.confirm(f"Delete time series {label} and its {len(stored.observations)} observations?", abort=True)
    with transaction(svc.sessions) as session:
        delete_series(session, series_id)
    click.echo(f"deleted time series {label}")


def _utc_text(value: Any) -> str:
    """``YYYY-MM-DD HH:MM`` UTC (SQLite hands back naive datetimes, which are UTC)."""
    import datetime as dt

    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return str(value.strftime("%Y-%m-%d %H:%M"))


def _get(session: Any, series_id: str) -> Any:
    """The stored series, or the CLI's one-line "no time series" error."""
    from fis.store.queries import get_series

    try:
        return get_series(session, series_id)
    except NotFound:
        raise _not_found(series_id) from None


def _view(
    parameters: dict[str, Any],
    max_cloud_fraction: float | None,
    max_cloud_probability: float | None,
    include_cloudy: bool | None,
) -> Any:
    """The stored cloud filter with the options given, read through the GET endpoint's query model."""
    from fis.protocols.native.query import SeriesQuery
    from fis.protocols.native.views import CloudFilter

    given = {"max_cloud_fraction": max_cloud_fraction, "max_cloud_probability": max_cloud_probability,
             "include_cloudy": include_cloudy}
    query = SeriesQuery.from_args({k: str(v).lower() for k, v in given.items() if v is not None})
    view = CloudFilter.from_parameters(parameters).with_thresholds(query)
    return replace(view, include_cloudy=view.include_cloudy if query.include_cloudy is None else query.include_cloudy)
