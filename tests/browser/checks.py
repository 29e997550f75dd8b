"""What every page must satisfy in a browser: no WCAG 2.2 A/AA violation found by axe-core, and GOV.UK
Frontend's JavaScript started under the Content Security Policy."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]}
}

_axe = Axe()

#: data-module elements whose GOV.UK Frontend component has not marked itself initialised
_UNINITIALISED = """
() => [...document.querySelectorAll("[data-module]")]
    .filter((el) => !el.hasAttribute(`data-${el.dataset.module}-init`))
    .map((el) => el.outerHTML.slice(0, 120))
"""


def assert_accessible(page: Page) -> None:
    results = _axe.run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, f"{page.url}\n{results.generate_report()}"


def assert_govuk_frontend_started(page: Page, console_errors: list[str], page_errors: list[str]) -> None:
    csp = [message for message in console_errors if "Content Security Policy" in message]
    assert not csp, f"{page.url}: the Content Security Policy blocked something:\n" + "\n".join(csp)
    assert not page_errors, f"{page.url}: script errors:\n" + "\n".join(page_errors)
    # set by the template's nonce-carrying inline script
    assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')"), (
        f"{page.url}: the inline script did not run (govuk-frontend-supported missing)"
    )
    # set by each component that initAll() in /static/js/init.mjs started
    assert page.evaluate(_UNINITIALISED) == [], f"{page.url}: GOV.UK Frontend components not initialised"


def assert_page_is_sound(page: Page, console_errors: list[str], page_errors: list[str]) -> None:
    page.wait_for_load_state("load")
    assert_govuk_frontend_started(page, console_errors, page_errors)
    assert_accessible(page)
