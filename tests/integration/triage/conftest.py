"""The triage flow tests run under both framework files (``app`` is the shared one, ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.conftest import FRAMEWORKS


@pytest.fixture(params=FRAMEWORKS)
def framework_name(request: pytest.FixtureRequest) -> str:
    return request.param
