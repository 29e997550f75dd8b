"""Fixtures the integration modules share (the app itself is ``tests/conftest.py``'s): the access log's
own engine and signing keys, and the demo school's practitioner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import Engine

from portal.access_log import signing
from portal.cli import upgrade
from portal.db import make_engine
from portal.gate import AccessContext
from tests.builders import context_of


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the migrated (empty) database, without the app: the access log's tests write it directly."""
    upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """A checkpoint signing key of the test's own."""
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(key: Ed25519PrivateKey) -> dict:
    """The key set that trusts ``key``."""
    return signing.keyset([key.public_key()])


@pytest.fixture
def school(app: Flask) -> AccessContext:
    """Oakfield School's practitioner (Sarah Attendance), the demo's usual nominator."""
    return context_of(app, "school.practitioner")
