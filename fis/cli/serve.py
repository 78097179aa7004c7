"""``fis serve``: the HTTP API on waitress."""

from __future__ import annotations

import click

from fis.cli.common import fail, load_settings
from fis.errors import FisError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int, help="Worker threads of the WSGI server.")
def serve(host: str, port: int, threads: int) -> None:
    """Run the HTTP API with the waitress production WSGI server."""
    from waitress import serve as waitress_serve

    from fis.api.app import create_app
    from fis.store.db import ensure_migrated

    app = create_app(load_settings())
    try:
        ensure_migrated(app.extensions["fis"].db)
    except FisError as exc:
        fail(exc)
    click.echo(f"fis serving on http://{host}:{port}  (OpenAPI: http://{host}:{port}/api/v1/openapi.json)")
    # poll() instead of select(): the open-dataset pool holds far more than 1024 descriptors
    waitress_serve(app, host=host, port=port, threads=threads, ident="fis", asyncore_use_poll=True)
