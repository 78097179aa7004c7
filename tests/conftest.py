"""Shared fixtures: databases (SQLite and real PostGIS), the reference data, a Flask app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fis.config import Settings

SHARED_DATA = Path(os.environ.get("FIS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
POSTGRES_ADMIN_URL = os.environ.get("FIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@localhost:5432/postgres")
REQUIRE_POSTGIS = os.environ.get("FIS_REQUIRE_POSTGIS") == "1"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real Sentinel-2 data); skips when it is not beside the checkout."""
    if not (SHARED_DATA / "s2-reference" / "reference_scenes.npy").is_file():
        pytest.skip(f"real Sentinel-2 reference data not found at {SHARED_DATA} (set FIS_SHARED_DATA)")
    return SHARED_DATA


def _postgis_available() -> str | None:
    """None when PostGIS can be used, else the reason."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            available = conn.execute(text("select count(*) from pg_available_extensions where name = 'postgis'")).scalar()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "not available"
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}"
    if not available:
        return "PostgreSQL has no PostGIS extension (apt-get install postgresql-15-postgis-3)"
    return None


@pytest.fixture(scope="session")
def postgis_server() -> str:
    """The admin URL of a PostgreSQL server with PostGIS; skip (or fail in CI) without one."""
    reason = _postgis_available()
    if reason:
        if REQUIRE_POSTGIS:
            pytest.fail(f"FIS_REQUIRE_POSTGIS=1 but {reason}")
        pytest.skip(reason)
    return POSTGRES_ADMIN_URL


def _fresh_postgres_database(admin_url: str) -> Iterator[str]:
    name = f"fis_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgis_url(postgis_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards)."""
    yield from _fresh_postgres_database(postgis_server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fis.sqlite'}"


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on the SQLite default and on real PostGIS."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fis.sqlite'}"
    else:
        server = request.getfixturevalue("postgis_server")
        yield from _fresh_postgres_database(server)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    """A migrated app on the parametrised database."""
    from fis.api.app import create_app
    from fis.store.db import upgrade

    application = create_app(settings)
    application.config["TESTING"] = True
    upgrade(application.extensions["fis"].db)
    yield application
    application.extensions["fis"].close()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()
