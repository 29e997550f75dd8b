"""Browser fixtures: Debian's Chromium driven by Playwright, one browser per test session, a new context per test.

The browser tests run on SQLite only: what a browser sees does not depend on the database, and the
integration tests already run every flow on both SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Blueprint
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from portal.auth.rules import public, requires
from portal.organisations.models import Role
from tests.browser.checks import assert_page_is_sound
from tests.conftest import IN_CI, LiveServer, build_app, free_port, seeded

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def backend() -> str:
    """Overrides the parametrised fixture in tests/conftest.py: SQLite only, to keep CI time down."""
    return "sqlite"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session; under CI=true a missing Chromium fails the run."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """What the pages of one test wrote to the browser console, and the script errors they threw."""

    errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(str(error))


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A page in a fresh browser context (its own cookies), its console collected into ``console``."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.on("console", console.on_message)
        page.on("pageerror", console.on_page_error)
        yield page
    finally:
        context.close()


@pytest.fixture
def check(page: Page, console: Console) -> Callable[[], None]:
    """Check the page now shown: axe finds no WCAG 2.2 A/AA violation, GOV.UK Frontend started under the CSP."""
    return lambda: assert_page_is_sound(page, console.errors, console.page_errors)


@pytest.fixture
def probe_app(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The seeded portal over HTTP, plus two routes only these tests have: one for coordinators, one that fails.

    Built here rather than on ``live_app`` so the blueprint is registered before the server starts
    (Flask refuses new blueprints once an app has handled a request). ``build_app`` turns
    PROPAGATE_EXCEPTIONS off, so an exception reaches the app's own 500 page.
    """
    port = free_port()
    app = build_app(database_url, tmp_path, port)
    probe = Blueprint("browser_probe", __name__, url_prefix="/probe")

    @probe.get("/coordinators-only")
    @requires(Role.COORDINATOR)
    def coordinators_only() -> str:
        return "ok"

    @probe.get("/fails")
    @public
    def fails() -> str:
        raise RuntimeError("a deliberate failure, to show the 500 page")

    app.register_blueprint(probe)
    seeded(app)
    server = LiveServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()
        app.extensions["db_engine"].dispose()
