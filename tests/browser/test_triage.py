"""A coordinator's triage in a real browser, with axe-core's WCAG 2.2 A and AA checks on every page:
queue, nomination, confirm a match, request information, accept, eligibility, lead professional,
notice, flags; then the GP practice that serves the child sees the flag."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from portal import db
from portal.families.models import RelationshipKind
from referrals.models import HouseholdRole, NominationStatus
from referrals.setup import current_framework
from tests.browser.test_pages import h1, sign_in_as
from tests.builders import create_known_person, create_nomination, nominee
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

COORDINATOR = "Chris Coordinator (sf.coordinator)"
GP = "Dr Priya Patel (gp.practitioner)"


def _prepare(live_app: LiveServer) -> dict[str, object]:
    """A child the GP practice serves, known but in no family; the school nominates him (with a typo in
    his name) and his mother, whom nobody knows; and a second nomination to decline."""
    with live_app.app.app_context():
        session = db.session()
        create_known_person(
            session,
            given_name="Jayden",
            family_name="Quincey",
            date_of_birth=date(2016, 2, 3),
            postcode="EX9 9ZZ",
            served_by=(("ods", "Y99001", RelationshipKind.REGISTERED_PATIENT),),
        )
        nomination = create_nomination(
            session,
            reference="SFN-BROWSE",
            people=(
                nominee("Jaden", "Quincey", date(2016, 2, 3), postcode="EX9 9ZZ"),
                nominee("Maria", "Quincey", date(1988, 5, 17), postcode="EX9 9ZZ", role=HouseholdRole.PARENT_CARER),
            ),
        )
        other = create_nomination(session, reference="SFN-OTHER1", people=(nominee("Ava", "Zimmer", None),))
        decided = create_nomination(session, reference="SFN-DECIDE", status=NominationStatus.NOT_ACCEPTED)
        session.commit()
        framework = current_framework()
        route = framework.route(nomination.route_key)
        others = [c for c in framework.criteria if c.key != route.criterion][: framework.threshold - 1]
        return {
            "route_title": route.title,
            "extra_criteria": [f"{c.number}. {c.title}" for c in others],
            "other": other.id,
            "decided": decided.id,
        }


def test_a_coordinator_triages_a_nomination_and_the_gp_sees_the_flag(
    live_app: LiveServer, page: Page, check: Callable[[], None]
) -> None:
    facts = _prepare(live_app)
    sign_in_as(page, live_app, COORDINATOR)
    page.get_by_role("link", name="Triage nominations").click()
    expect(h1(page)).to_have_text("Nominations to triage")
    queue = page.get_by_test_id("nomination-queue")
    expect(queue).to_contain_text("SFN-BROWSE")
    expect(queue).to_contain_text("Jaden Quincey")
    check()

    page.get_by_label("Route").select_option(label=str(facts["route_title"]))
    page.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_test_id("nomination-queue")).to_contain_text("SFN-BROWSE")
    check()

    page.get_by_role("link", name="SFN-BROWSE").click()
    expect(h1(page)).to_have_text("Nomination SFN-BROWSE")
    jaden = page.get_by_test_id("nominated-person").filter(has_text="Jaden Quincey")
    candidate = jaden.get_by_test_id("candidate").filter(has_text="Jayden Quincey")
    expect(candidate).to_contain_text("same date of birth")
    expect(candidate).to_contain_text("same postcode")
    check()
    candidate.get_by_role("button", name=re.compile("^Confirm this match")).click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Match confirmed")
    expect(
        page.get_by_test_id("nominated-person").filter(has_text="Jaden Quincey").get_by_test_id("confirmed-match")
    ).to_be_visible()
    check()
    maria = page.get_by_test_id("nominated-person").filter(has_text="Maria Quincey")
    maria.get_by_role("button", name=re.compile("^No match: a new person")).click()
    expect(
        page.get_by_test_id("nominated-person").filter(has_text="Maria Quincey").get_by_test_id("new-person")
    ).to_be_visible()

    page.get_by_role("link", name="Ask for more information").click()
    expect(h1(page)).to_have_text("Ask the nominator for more information")
    check()
    page.get_by_role("button", name="Send the request").click()
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter what you need to know")
    check()
    page.get_by_label("What do you need to know?").fill("Does Jaden have an older brother at another school?")
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_test_id("thread")).to_contain_text("older brother")
    check()

    page.get_by_role("link", name="Accept the nomination").click()
    expect(h1(page)).to_have_text("Accept the nomination")
    check()
    page.get_by_label("A new family").check()
    criteria = page.get_by_role("group", name="Criteria Maria Quincey meets")
    for label in facts["extra_criteria"]:
        criteria.get_by_label(label).check()
    page.get_by_role("button", name="Accept the nomination").click()
    expect(h1(page)).to_have_text(re.compile(r"^Family SF-\d{6}$"))
    expect(page.get_by_test_id("eligibility")).to_contain_text("Eligible")
    check()

    page.get_by_role("link", name="Assign a lead professional").click()
    check()
    page.get_by_label("Lead professional").select_option(
        label="Lucy Lead, Family Support Worker (Example County Council Supporting Families team)"
    )
    page.get_by_role("button", name="Assign").click()
    expect(page.locator(".govuk-task-list")).to_contain_text("Lucy Lead")
    check()

    page.get_by_role("link", name="Record the fair processing notice given").click()
    check()
    page.get_by_label(re.compile(r"FPN-SF v2")).check()
    page.get_by_label("In person").check()
    page.get_by_label(re.compile(r"the lead professional")).check()
    page.get_by_role("button", name="Record the notice").click()
    expect(page.get_by_test_id("notices")).to_contain_text("FPN-SF v2")
    check()

    page.get_by_role("link", name="Raise flags").click()
    expect(page.get_by_test_id("flag-people")).to_contain_text("Jayden Quincey")
    check()
    page.get_by_role("button", name="Raise flags").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Flags raised")
    expect(page.get_by_test_id("members").get_by_role("row", name=re.compile("Jayden Quincey"))).to_contain_text(
        "Raised"
    )
    check()

    page.goto(f"{live_app.url}/triage/nominations/{facts['other']}/decline")
    expect(h1(page)).to_have_text("Do not accept the nomination")
    check()
    page.goto(f"{live_app.url}/triage/nominations/{facts['decided']}/decline")
    expect(h1(page)).to_have_text("You cannot do this")
    expect(page.get_by_test_id("failed-conditions")).to_contain_text("already been decided")
    check()

    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    sign_in_as(page, live_app, GP)
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Flagged people").click()
    page.get_by_label("Search by NHS number, UPN or name").fill("Quincey")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Jayden Quincey").click()
    expect(h1(page)).to_have_text("Jayden Quincey")
    expect(page.locator("main")).to_contain_text("Lucy Lead")
    check()
