"""The triage flow tests' app: seeded with the demo data, once per database and per framework file."""

from __future__ import annotations

import pytest

from tests.builders_nominations import (
    FRAMEWORKS,
    triage_app,
)


@pytest.fixture(params=FRAMEWORKS)
def framework_file(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(database_url, tmp_path, framework_file):
    app = triage_app(database_url, tmp_path, framework_file)
    yield app
    app.extensions["db_engine"].dispose()
