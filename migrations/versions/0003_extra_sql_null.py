"""observations.extra: SQL NULL instead of the JSON value null.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Observations without optional statistics were stored with ``extra`` = JSON ``null``; the model
now writes SQL NULL (``JSON(none_as_null=True)``). This converts the rows already stored.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE observations SET extra = NULL WHERE json_typeof(extra) = 'null'")
    else:
        op.execute("UPDATE observations SET extra = NULL WHERE extra = 'null'")


def downgrade() -> None:
    """Nothing to undo: SQL NULL and JSON null meant the same (no optional statistics)."""
