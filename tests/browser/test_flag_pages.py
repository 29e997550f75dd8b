"""The flag pages and the access log in a real browser, with axe-core's WCAG 2.2 A and AA checks on each."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_pages import h1, sign_in_as
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_a_gp_finds_a_flagged_patient_and_whom_to_call(live_app: LiveServer, page: Page, check: Callable[[], None]):
    sign_in_as(page, live_app, "Dr Priya Patel (gp.practitioner)")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Flagged people").click()
    expect(h1(page)).to_have_text("People you serve who are flagged")
    table = page.get_by_test_id("flagged-people")
    expect(table).to_contain_text("Kelly Brown")
    expect(table).not_to_contain_text("Dean Walsh")  # no notice given to that family yet
    expect(page.get_by_role("navigation", name="Pagination")).to_be_visible()
    check()

    page.get_by_label("Search by NHS number, UPN or name").fill("943 476 5910")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a valid NHS number")
    check()

    page.get_by_label("Search by NHS number, UPN or name").fill("Brown")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_contain_text("3 people match")
    check()

    page.get_by_role("link", name="Kelly Brown").click()
    expect(h1(page)).to_have_text("Kelly Brown")
    expect(page.locator("main")).to_contain_text("Lucy Lead")
    expect(page.locator("main")).to_contain_text("01632 960101")
    expect(page.get_by_role("heading", name="Health")).to_be_visible()
    check()


def test_a_school_sees_attendance_but_not_health_the_notice_did_not_cover(
    live_app: LiveServer, page: Page, check: Callable[[], None]
):
    sign_in_as(page, live_app, "Sarah Attendance (school.practitioner)")
    page.goto(f"{live_app.url}/flags?q=Tyler")
    page.get_by_role("link", name="Tyler Brown").click()
    expect(page.get_by_role("heading", name="School attendance")).to_be_visible()
    expect(page.get_by_role("heading", name="Health")).to_have_count(0)
    check()


def test_a_direct_link_to_someone_not_served_is_refused_with_the_reason(
    live_app: LiveServer, page: Page, check: Callable[[], None]
):
    sign_in_as(page, live_app, "Dr Priya Patel (gp.practitioner)")
    page.goto(f"{live_app.url}/flags?q=Kelly")
    href = page.get_by_role("link", name="Kelly Brown").get_attribute("href")
    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    sign_in_as(page, live_app, "Paul Officer (probation.practitioner)")
    response = page.goto(f"{live_app.url}{href}")
    assert response is not None and response.status == 403
    expect(h1(page)).to_have_text("You cannot see this information")
    expect(page.get_by_test_id("failed-conditions")).to_contain_text("serves")
    check()


def test_the_dpo_searches_the_log_opens_an_entry_and_checks_integrity(
    live_app: LiveServer, page: Page, check: Callable[[], None]
):
    sign_in_as(page, live_app, "Dr Priya Patel (gp.practitioner)")
    page.goto(f"{live_app.url}/flags")
    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    sign_in_as(page, live_app, "Dana Protection (sf.dpo)")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Access log").click()
    expect(h1(page)).to_have_text("Access log")
    check()
    page.get_by_label("Action").select_option("flags_listed")
    page.get_by_role("button", name="Apply filters").click()
    entries = page.get_by_test_id("log-entries")
    expect(entries).to_contain_text("Dr Priya Patel")
    check()
    entries.get_by_role("link").first.click()
    expect(h1(page)).to_have_text(re.compile(r"^Access log entry \d+$"))
    expect(page.locator("main")).to_contain_text("ISP-SF-GP v2")
    check()
    page.goto(f"{live_app.url}/access-log/integrity")
    check()
    page.get_by_role("button", name="Check integrity").click()
    expect(page.locator(".govuk-panel")).to_contain_text("The access log is intact")
    check()


def test_break_glass_form_errors_and_the_marked_result(live_app: LiveServer, page: Page, check: Callable[[], None]):
    from sqlalchemy import select

    from portal import db
    from portal.families.models import Person

    with live_app.app.app_context():
        kelly = next(p for p in db.session().scalars(select(Person)) if p.full_name == "Kelly Brown")
        nhs = kelly.nhs_number
    sign_in_as(page, live_app, "Paul Officer (probation.practitioner)")
    page.goto(f"{live_app.url}/flags")
    page.get_by_role("link", name="use emergency (break-glass) access").click()
    expect(h1(page)).to_have_text("Emergency access to a person's flag")  # signed in moments ago: no re-sign-in
    check()
    page.get_by_role("button", name="See the flag").click()
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter why you need emergency access")
    expect(page.locator(".govuk-error-summary")).to_contain_text("Confirm that you understand")
    check()
    page.get_by_label("NHS number or UPN of the person").fill(nhs)
    page.get_by_label("Why do you need to see this person's information now?").fill(
        "Police at the address now; need to reach the lead professional"
    )
    page.get_by_label("I understand this access is recorded").check()
    page.get_by_role("button", name="See the flag").click()
    expect(h1(page)).to_have_text("Kelly Brown")
    expect(page.locator(".govuk-warning-text")).to_contain_text("break-glass")
    check()

    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    sign_in_as(page, live_app, "Dana Protection (sf.dpo)")
    page.goto(f"{live_app.url}/access-log")
    page.get_by_role("link", name="review emergency (break-glass) accesses").click()
    expect(page.get_by_test_id("break-glass-accesses")).to_contain_text("Police at the address now")
    check()
    page.get_by_role("button", name=re.compile("^Mark the access by Paul Officer")).click()
    expect(page.get_by_role("status")).to_contain_text("No emergency accesses are waiting for review")
    check()
