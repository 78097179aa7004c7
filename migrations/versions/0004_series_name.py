"""Time series: the user's ``name`` and the request Feature's ``properties``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

- ``name``: up to 200 characters, null when the request gave none.
- ``properties``: JSON object of the request Feature's properties, null otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timeseries") as batch:
        batch.add_column(sa.Column("name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("properties", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timeseries") as batch:
        batch.drop_column("properties")
        batch.drop_column("name")
