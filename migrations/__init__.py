"""Alembic migrations; installed as ``fis._resources.migrations`` (see pyproject.toml)."""
