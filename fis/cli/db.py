"""``fis db``: database schema migrations."""

from __future__ import annotations

import click

from fis.cli.common import close_on_exit, fail, load_settings
from fis.errors import FisError


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (PostGIS extension included on PostgreSQL)."""
    from fis.store.db import current_revision, make_engine, upgrade

    settings = load_settings()
    try:
        engine = make_engine(settings.effective_database_url)
        close_on_exit(engine.dispose)
        upgrade(engine, revision)
    except FisError as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - driver errors vary
        raise click.ClickException(f"cannot migrate {settings.effective_database_url}: {exc}") from None
    click.echo(f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Migrate the schema down to REVISION ('base' drops every table)."""
    from fis.store.db import current_revision, downgrade, make_engine

    engine = make_engine(load_settings().effective_database_url)
    close_on_exit(engine.dispose)
    downgrade(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision of the configured database."""
    from fis.store.db import current_revision, head_revision, make_engine

    engine = make_engine(load_settings().effective_database_url)
    close_on_exit(engine.dispose)
    click.echo(f"current: {current_revision(engine)}  head: {head_revision(engine)}")
