"""``fis serve``: the HTTP API on waitress."""

from __future__ import annotations

import click

from fis.cli.common import fail, load_settings
from fis.errors import FisError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads of the WSGI server.")
@click.option(
    "--connection-limit", default=1000, show_default=True, type=click.IntRange(min=1),
    help="Open connections accepted at once (idle ones count too); more wait in the listen backlog.",
)
@click.option(
    "--channel-timeout", default=30, show_default=True, type=click.IntRange(min=1),
    help="Seconds an idle or half-sent connection is kept open before it is closed.",
)
@click.option(
    "--shutdown-grace", default=30, show_default=True, type=click.IntRange(min=0),
    help="On SIGTERM/Ctrl-C: seconds the requests in flight get to finish (no new connections are accepted).",
)
def serve(host: str, port: int, threads: int, connection_limit: int, channel_timeout: int, shutdown_grace: int) -> None:
    """Run the HTTP API with the waitress production WSGI server."""
    from fis.api.app import create_app
    from fis.api.observability import configure_logging
    from fis.api.server import make_server
    from fis.store.db import ensure_migrated

    settings = load_settings()
    app = create_app(settings)
    try:
        ensure_migrated(app.extensions["fis"].db)
    except FisError as exc:
        fail(exc)
    configure_logging(settings.log_format)
    click.echo(f"fis serving on http://{host}:{port}  (OpenAPI: http://{host}:{port}/api/v1/openapi.json)")
    click.echo(f"authentication: FIS_AUTH={settings.auth}")
    server = make_server(
        app, host=host, port=port, threads=threads, max_body_bytes=settings.max_body_bytes,
        connection_limit=connection_limit, channel_timeout=channel_timeout, grace=shutdown_grace,
    )
    try:
        server.run()
    finally:
        app.extensions["fis"].close()  # the evalscript workers and the database pool
