"""Every page a user can reach so far, in a real browser: each passes axe-core's WCAG 2.2 A and AA rules,
and GOV.UK Frontend's JavaScript starts under the Content Security Policy."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

DEV_PROVIDER = "Demo accounts (development sign-in)"
PRIYA = "Dr Priya Patel (gp.practitioner)"
SCREENSHOT = Path(tempfile.gettempdir()) / "home.png"  # /tmp/home.png: for a person to look at


def h1(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def sign_in_as(page: Page, server: LiveServer, account_label: str) -> None:
    """Go through the sign-in page and the development provider's account picker."""
    page.goto(f"{server.url}/sign-in")
    page.get_by_role("button", name=DEV_PROVIDER).click()
    expect(h1(page)).to_have_text("Which demo account do you want to sign in as?")
    page.get_by_label(account_label, exact=True).check()
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_a_practitioner_signs_in_looks_around_and_signs_out(
    live_app: LiveServer, page: Page, check: Callable[[], None]
) -> None:
    service_name = live_app.app.config["SERVICE_NAME"]
    council_name = live_app.app.config["COUNCIL_NAME"]

    page.goto(f"{live_app.url}/")
    expect(h1(page)).to_have_text(service_name)
    check()

    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(h1(page)).to_have_text("Sign in with your organisation's account")
    check()

    page.get_by_role("button", name=DEV_PROVIDER).click()
    expect(h1(page)).to_have_text("Which demo account do you want to sign in as?")
    check()

    # nothing chosen: the error state, with GOV.UK Frontend moving focus to the error summary
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.get_by_role("link", name="Select the account to sign in as")).to_be_visible()
    expect(page.locator("#account-error")).to_contain_text("Select the account to sign in as")
    check()

    page.get_by_label(PRIYA, exact=True).check()
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(f"{live_app.url}/home")
    expect(h1(page)).to_have_text("Welcome, Dr Priya Patel")
    summary = page.locator(".govuk-summary-list")
    expect(summary).to_contain_text("Riverside Medical Practice")
    expect(summary).to_contain_text("GP practice")
    expect(summary.locator(".govuk-summary-list__row", has_text="Your roles")).to_contain_text("Practitioner")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("Dr Priya Patel")
    expect(page.get_by_role("banner").get_by_role("link", name=council_name)).to_be_visible()
    expect(page.locator(".govuk-phase-banner")).to_contain_text("Beta")
    check()
    page.screenshot(path=SCREENSHOT, full_page=True)

    menu = page.get_by_role("navigation", name="Menu")
    menu.get_by_role("link", name="Your account").click()
    expect(page).to_have_url(f"{live_app.url}/account")
    expect(h1(page)).to_have_text("Your account")
    expect(menu.get_by_role("link", name="Your account")).to_have_attribute("aria-current", "page")
    expect(page.locator(".govuk-summary-list")).to_contain_text("priya.patel@riverside-gp.test")
    check()

    menu.get_by_role("button", name="Sign out").click()
    expect(h1(page)).to_have_text("You have signed out")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    check()

    page.goto(f"{live_app.url}/home")
    expect(page).to_have_url(re.compile(re.escape(f"{live_app.url}/sign-in")))
    expect(h1(page)).to_have_text("Sign in with your organisation's account")
    check()


def test_the_page_not_found_page(live_app: LiveServer, page: Page, check: Callable[[], None]) -> None:
    response = page.goto(f"{live_app.url}/no-such-page")
    assert response is not None and response.status == 404
    expect(h1(page)).to_have_text("Page not found")
    check()


def test_a_disabled_account_is_refused_with_a_clear_page(
    live_app: LiveServer, page: Page, check: Callable[[], None]
) -> None:
    with page.expect_response(lambda r: urlsplit(r.url).path == "/auth/callback/dev") as callback:
        sign_in_as(page, live_app, "Dan Departed (school.disabled)")
    assert callback.value.status == 403
    expect(h1(page)).to_have_text("Your account has been disabled")
    expect(page.get_by_role("button", name="Back to sign in")).to_be_visible()
    check()
    page.goto(f"{live_app.url}/home")
    expect(page).to_have_url(re.compile(re.escape(f"{live_app.url}/sign-in")))


def test_a_role_without_permission_gets_a_403_that_says_why(
    probe_app: LiveServer, page: Page, check: Callable[[], None]
) -> None:
    sign_in_as(page, probe_app, PRIYA)
    expect(page).to_have_url(f"{probe_app.url}/home")
    response = page.goto(f"{probe_app.url}/probe/coordinators-only")
    assert response is not None and response.status == 403
    expect(h1(page)).to_have_text("You do not have permission to see this page")
    expect(page.get_by_test_id("forbidden-reason")).to_have_text(
        "This page is for users with the Supporting Families coordinator role. Your account does not have it."
    )
    check()


def test_the_server_error_page(probe_app: LiveServer, page: Page, check: Callable[[], None]) -> None:
    response = page.goto(f"{probe_app.url}/probe/fails")
    assert response is not None and response.status == 500
    expect(h1(page)).to_have_text("Sorry, there is a problem with the service")
    expect(page.locator("main")).not_to_contain_text("deliberate failure")
    check()


def test_on_a_narrow_screen_the_menu_button_reveals_the_navigation(
    live_app: LiveServer, page: Page, check: Callable[[], None]
) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in_as(page, live_app, PRIYA)
    expect(page).to_have_url(f"{live_app.url}/home")
    toggle = page.get_by_role("button", name="Menu")  # made visible by GOV.UK Frontend's service navigation
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    check()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    check()
