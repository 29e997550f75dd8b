"""Shared fixtures: an app per database backend (SQLite and PostgreSQL), built by running the real
migrations, and a live server for flows that need real HTTP (the sign-in back channel).

Both run the default framework file unless a module asks for every shipped one:
``pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)`` (a folder's ``conftest.py`` may
override ``framework_name`` instead). The data the tests build is made by ``tests/builders.py``."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import settings
from werkzeug.serving import make_server

from portal.app import create_app
from portal.cli import upgrade

# Tests never assert on wall-clock time (a shared two-core machine can take 300 ms for a 20 ms example):
# hypothesis's per-example deadline is one, so it is off everywhere.
settings.register_profile("portal", deadline=None)
settings.load_profile("portal")

IN_CI = os.environ.get("CI", "").lower() == "true"
#: the shipped framework files: the nomination and triage tests run under each
FRAMEWORKS = ("troubled_families_2015", "supporting_families_2022")
PG_ADMIN_URL = os.environ.get("PORTAL_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_admin():
    import psycopg

    url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Create a throwaway database on the machine's PostgreSQL; under CI=true a missing server fails."""
    try:
        admin = _pg_admin()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI=true but is unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"portal_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def make_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    base = request.getfixturevalue("postgres_server")
    # a fresh database per test, so tests cannot see each other's rows; migrations take well under a second
    name = f"t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    request.addfinalizer(lambda: _drop(name))
    return base.rsplit("/", 1)[0] + "/" + name


def _drop(name: str) -> None:
    with _pg_admin() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_app(database_url: str, tmp_path: Path, port: int, extra_env: dict[str, str] | None = None) -> Flask:
    """Migrate the database with the real migrations, then build the app on it."""
    env = {
        "PORTAL_ENV": "test",
        "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
        "PORTAL_DATABASE_URL": database_url,
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
        "PORTAL_DEV_IDP": "1",
        **(extra_env or {}),
    }
    upgrade(database_url)
    return create_app(config={"PROPAGATE_EXCEPTIONS": False}, env=env)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return make_database(backend, tmp_path, request)


@pytest.fixture
def framework_name() -> str:
    """The framework file ``app`` and ``live_app`` run (``PORTAL_FRAMEWORK_FILE``); empty: the default."""
    return ""


def framework_env(framework_name: str) -> dict[str, str]:
    return {"PORTAL_FRAMEWORK_FILE": framework_name} if framework_name else {}


class LiveServer:
    def __init__(self, app: Flask, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


def seeded(app: Flask, *, nominations: bool = False) -> Flask:
    """The demo organisations, users, register and families (and, if asked, the demo nominations, which
    ``tests/integration/test_demo_seed.py`` covers; other tests build the nominations they need)."""
    from portal import db
    from portal.auth.dev_idp import issuer
    from portal.demo.seed import seed_demo

    with app.app_context():
        seed_demo(db.session(), issuer(app), nominations=nominations)
        db.session().commit()
    return app


@pytest.fixture
def app(database_url: str, tmp_path: Path, framework_name: str) -> Iterator[Flask]:
    """The portal on a migrated, seeded database, for the Flask test client."""
    app = seeded(build_app(database_url, tmp_path, free_port(), framework_env(framework_name)))
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def live_app(database_url: str, tmp_path: Path, framework_name: str) -> Iterator[LiveServer]:
    """The portal, migrated and seeded with the demo data, served over real HTTP on a free port."""
    port = free_port()
    app = seeded(build_app(database_url, tmp_path, port, framework_env(framework_name)))
    server = LiveServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()
        app.extensions["db_engine"].dispose()
