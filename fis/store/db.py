"""Database engine, sessions and migrations (Alembic, run programmatically)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from fis.errors import InvalidInput, StorageError

#: The Alembic scripts (the repository's ``migrations/``, shipped as ``fis._resources.migrations``).
MIGRATIONS_DIR = Path(str(files("fis._resources.migrations")))


def make_engine(url: str) -> Engine:
    """An engine for an SQLAlchemy URL; SQLite gets foreign keys (its file and folder are made by :func:`upgrade`)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(
            f"FIS_DATABASE_URL {url!r} is not an SQLAlchemy URL; use e.g. postgresql+psycopg://user:pw@host/db or sqlite:///path.sqlite",
            field="FIS_DATABASE_URL",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=8)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed together, or rolled back on any error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (creates the PostGIS extension on PostgreSQL, the file on SQLite)."""
    path = sqlite_file(engine)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def sqlite_file(engine: Engine) -> Path | None:
    """The database file of an SQLite engine (None for other databases and in-memory SQLite)."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def current_revision(engine: Engine) -> str | None:
    """The schema revision; None for an empty database or an SQLite file that does not exist (not created)."""
    path = sqlite_file(engine)
    if path is not None and not path.exists():
        return None
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def ensure_migrated(engine: Engine) -> None:
    """Raise :class:`StorageError` unless the schema is at the newest migration (creates nothing)."""
    path = sqlite_file(engine)
    if path is not None and not path.exists():
        raise StorageError(
            f"database file {path} does not exist; run `fis db upgrade` to create it", details={"reason": "missing"}
        )
    try:
        current = current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - connection problems of any driver
        raise StorageError(
            f"database {engine.url.render_as_string(hide_password=True)} is unreachable: {exc}",
            details={"reason": "unreachable"},
        ) from None
    head = head_revision(engine)
    if current != head:
        raise StorageError(
            f"database schema is at revision {current!r}, the code needs {head!r}; run `fis db upgrade`",
            details={"reason": "not_migrated"},
        )
