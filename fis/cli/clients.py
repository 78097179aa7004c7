"""``fis clients``: make, list and revoke the API clients of ``FIS_AUTH=required`` (see docs/team.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from fis.cli.common import close_on_exit, fail, load_settings
from fis.errors import FisError


def _services() -> Any:
    """The services of this command on a migrated database (closed when the command ends)."""
    from fis.services.runtime import Services
    from fis.store.db import ensure_migrated

    svc = Services.create(load_settings())
    close_on_exit(svc.close)
    ensure_migrated(svc.db)
    return svc


@click.group()
def clients() -> None:
    """API clients (OAuth2 client credentials): create, list, revoke."""


@clients.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["user", "admin"]), default="user", show_default=True,
              help="user: compute and read its own series; admin: also ingest and build cloud layers.")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print {client_id, client_secret} as JSON.")
def clients_create(name: str, role: str, as_json: bool) -> None:
    """Make a client; its secret is printed once (only a hash is stored)."""
    from fis.services.clients import create_client

    try:
        client_id, secret = create_client(_services().sessions, name, role)
    except FisError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret, "name": name.strip(), "role": role}))
        return
    click.echo(f"client_id:     {client_id}\nclient_secret: {secret}\n(the secret is not shown again)")


@clients.command("list")
@click.option("--json", "as_json", is_flag=True, default=False, help="Print the clients as JSON.")
def clients_list(as_json: bool) -> None:
    """List the clients (never their secrets), oldest first."""
    from fis.services.clients import list_clients

    rows = list_clients(_services().sessions)
    items = [{
        "client_id": c.client_id, "name": c.name, "role": c.role, "created_at": c.created_at.isoformat(),
        "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
    } for c in rows]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        state = f"revoked {item['revoked_at'][:19]}" if item["revoked_at"] else "active"
        click.echo(f"{item['client_id']}  {item['role']:<5}  {state:<27}  {item['name']}")


@clients.command("revoke")
@click.argument("client_id")
def clients_revoke(client_id: str) -> None:
    """Revoke a client: its tokens stop working at once and it gets no new ones."""
    from fis.services.clients import revoke_client

    try:
        revoke_client(_services().sessions, client_id)
    except FisError as exc:
        fail(exc)
    click.echo(f"revoked {client_id}")
