"""API clients, their access tokens, series owners and idempotency keys.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

- ``clients``: OAuth2 client credentials (``fis clients create``); the secret only as a scrypt hash.
- ``access_tokens``: issued bearer tokens as SHA-256 hashes, with their expiry.
- ``timeseries.owner``: the client that made a series (null when made without authentication).
- ``idempotency_keys``: the series a POST with an ``Idempotency-Key`` made, per owner.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_table(
        "access_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_access_tokens_client_id_clients"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_access_tokens")),
    )
    op.create_index(op.f("ix_access_tokens_client_id"), "access_tokens", ["client_id"])
    with op.batch_alter_table("timeseries") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.create_index(op.f("ix_timeseries_owner"), ["owner"])
    op.create_table(
        "idempotency_keys",
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("series_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_id"], ["timeseries.id"], name=op.f("fk_idempotency_keys_series_id_timeseries"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("owner", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_series_id"), "idempotency_keys", ["series_id"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("timeseries") as batch:
        batch.drop_index("ix_timeseries_owner")
        batch.drop_column("owner")
    op.drop_table("access_tokens")
    op.drop_table("clients")
