"""The nomination journeys in a real browser, with axe-core's WCAG 2.2 A and AA checks on every page: a
school's whole journey (with its errors, the household loop, changing an answer, and answering the
council later), a GP practice's whole journey (with the immediate-risk stop and a duplicate), and the
refusals a partner can meet."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from portal import db
from portal.families.models import Person
from referrals.models import Nomination
from referrals.triage import service as triage
from tests.browser.test_pages import h1, sign_in_as
from tests.builders import context_of
from tests.conftest import LiveServer
from tests.integration.reads import version_of

pytestmark = pytest.mark.browser

SARAH = "Sarah Attendance (school.practitioner)"
PRIYA = "Dr Priya Patel (gp.practitioner)"


def continue_(page: Page) -> None:
    page.get_by_role("button", name="Continue").click()


def error_summary_says(page: Page, *messages: str) -> None:
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))
    for message in messages:
        expect(summary.get_by_role("link", name=message)).to_be_visible()
        expect(page.locator(".govuk-error-message", has_text=message)).to_be_visible()


def fill_person(page: Page, given: str, family: str, day: str, month: str, year: str, **more: str) -> None:
    page.get_by_label("First name").fill(given)
    page.get_by_label("Last name").fill(family)
    page.get_by_label("Day").fill(day)
    page.get_by_label("Month").fill(month)
    page.get_by_label("Year").fill(year)
    if "nhs" in more:
        page.get_by_label("NHS number (if you know it)").fill(more["nhs"])
    if "upn" in more:
        page.get_by_label("Unique pupil number (UPN, if you know it)").fill(more["upn"])
    if "postcode" in more:
        page.get_by_label("Postcode").fill(more["postcode"])


def test_a_school_nominates_a_pupil_and_answers_the_council_later(
    live_app: LiveServer, page: Page, check: Callable[[], None]
):
    sign_in_as(page, live_app, SARAH)
    page.get_by_role("link", name="Nominate a family").first.click()
    expect(h1(page)).to_have_text("Nominate a family")
    check()
    page.get_by_role("button", name="Start now").click()

    # the first question, unanswered, then "no"
    expect(h1(page)).to_contain_text("Is anyone at immediate risk of harm?")
    check()
    continue_(page)
    error_summary_says(page, "Select yes if anyone is at immediate risk of harm")
    check()
    page.get_by_label("No").check()
    continue_(page)

    # only the school's routes; health is a health professional's route
    expect(h1(page)).to_contain_text("What is your concern about?")
    expect(page.get_by_label("Health of equivalent concern")).to_have_count(0)
    check()
    page.get_by_label("School attendance of equivalent concern").check()
    continue_(page)

    expect(h1(page)).to_have_text("Who is your concern about?")
    check()
    page.get_by_label("Day").fill("31")
    page.get_by_label("Month").fill("2")
    page.get_by_label("Year").fill("2016")
    page.get_by_label("Unique pupil number (UPN, if you know it)").fill("A12")
    continue_(page)
    error_summary_says(
        page,
        "Enter the first name",
        "Enter the last name",
        "Date of birth must be a real date",
        "UPN must be 13 characters",
        "Enter their postcode",
    )
    check()
    page.locator(".govuk-error-summary").get_by_role("link", name="Date of birth must be a real date").click()
    expect(page.get_by_label("Day")).to_be_focused()
    fill_person(page, "Jamie", "Rivers", "3", "4", "2016", upn="", postcode="ex4 4qj")
    continue_(page)

    # the household loop: add two, remove one
    expect(h1(page)).to_have_text("Does anyone else live in the household?")
    check()
    continue_(page)
    error_summary_says(
        page,
        "Select yes if you want to add someone who lives in the household".replace(
            "add someone who lives in the household", "add another household member"
        ),
    )
    page.get_by_label("Yes").check()
    continue_(page)
    expect(h1(page)).to_have_text("Add a household member")
    check()
    page.get_by_label("Parent or carer").check()
    fill_person(page, "Alex", "Rivers", "12", "9", "1988")
    continue_(page)
    expect(h1(page)).to_have_text("You have added 1 household member")
    check()
    page.get_by_label("Yes").check()
    continue_(page)
    page.get_by_label("Child (under 18)").check()
    fill_person(page, "Sky", "Rivers", "1", "1", "1999")
    continue_(page)
    error_summary_says(page, "Date of birth must be after")
    check()
    page.get_by_label("Year").fill("2019")
    continue_(page)
    expect(h1(page)).to_have_text("You have added 2 household members")
    page.get_by_role("link", name="Remove Sky Rivers").click()
    expect(h1(page)).to_contain_text("Are you sure you want to remove Sky Rivers?")
    check()
    page.get_by_label("Yes").check()
    continue_(page)
    expect(h1(page)).to_have_text("You have added 1 household member")
    page.get_by_label("No").check()
    continue_(page)

    expect(h1(page)).to_contain_text("What are you worried about?")
    check()
    continue_(page)
    error_summary_says(page, "Enter what you are worried about")
    check()
    page.get_by_label(re.compile("What are you worried about?")).fill("Jamie misses most Mondays and seems tired.")
    continue_(page)
    expect(h1(page)).to_contain_text("What has your organisation already tried?")
    check()
    page.get_by_label(re.compile("What has your organisation already tried?")).fill("Two meetings with Alex.")
    continue_(page)
    expect(h1(page)).to_contain_text("Does the family know about this nomination?")
    check()
    page.get_by_label("No, they have not been told").check()
    continue_(page)
    expect(h1(page)).to_contain_text("Why has the family not been told")
    check()
    page.get_by_label(re.compile("Why has the family not been told")).fill("Alex asked us to wait a week.")
    continue_(page)

    # check answers, change one, come back
    expect(h1(page)).to_have_text("Check your answers before sending your nomination")
    expect(page.get_by_test_id("subject-answers")).to_contain_text("Jamie Rivers")
    expect(page.get_by_test_id("subject-answers")).to_contain_text("EX4 4QJ")
    expect(page.get_by_test_id("member-answers")).to_contain_text("Alex Rivers")
    check()
    page.get_by_role("link", name="Change what you are worried about").click()
    page.get_by_label(re.compile("What are you worried about?")).fill("Jamie misses most Mondays; tired; hungry.")
    continue_(page)
    expect(h1(page)).to_have_text("Check your answers before sending your nomination")
    expect(page.get_by_test_id("told-us-answers")).to_contain_text("tired; hungry")
    page.get_by_role("button", name="Send nomination").click()

    expect(page.locator(".govuk-panel__title")).to_have_text("Nomination sent")
    reference = page.locator(".govuk-panel__body strong").inner_text()
    assert re.fullmatch(r"SFN-[2-9B-Z]{6}", reference)
    check()

    page.get_by_role("link", name="your nominations", exact=True).click()
    expect(h1(page)).to_have_text("Your nominations")
    expect(page.get_by_test_id("nominations")).to_contain_text(reference)
    expect(page.get_by_test_id("nominations")).to_contain_text("Submitted")
    check()

    # the council asks a question; Sarah sees it on her next visit and answers
    app = live_app.app
    with app.app_context():
        nomination_id = db.session().scalar(select(Nomination.id).where(Nomination.reference == reference))
    coordinator = context_of(app, "sf.coordinator")
    with app.app_context():
        triage.request_information(
            db.session(),
            coordinator,
            nomination_id,
            "How many Mondays this term?",
            version=version_of(app, nomination_id),
        )
        db.session().commit()
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Home").click()
    banner = page.locator(".govuk-notification-banner")
    expect(banner).to_contain_text("Your nomination has been updated")
    check()
    banner.get_by_role("button", name=reference).click()
    expect(h1(page)).to_contain_text(reference)
    expect(page.get_by_test_id("messages")).to_contain_text("How many Mondays this term?")
    check()
    page.get_by_role("button", name="Send answer").click()
    error_summary_says(page, "Enter the information the Supporting Families team asked for")
    check()
    page.get_by_label("Your answer").fill("Seven of the ten.")
    page.get_by_role("button", name="Send answer").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Your answer has been sent")
    expect(page.get_by_test_id("messages")).to_contain_text("Seven of the ten.")
    check()
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Home").click()
    expect(page.locator(".govuk-notification-banner")).to_have_count(0)


def test_a_gp_stops_for_immediate_risk_then_nominates_a_patient_already_known(
    live_app: LiveServer, page: Page, check: Callable[[], None]
):
    with live_app.app.app_context():
        kelly = next(p for p in db.session().scalars(select(Person)) if p.full_name == "Kelly Brown")
        nhs = kelly.nhs_number
    sign_in_as(page, live_app, PRIYA)
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Your nominations").click()
    expect(h1(page)).to_have_text("Your nominations")
    check()
    page.get_by_role("button", name="Nominate a family").click()
    page.get_by_role("button", name="Start now").click()
    page.get_by_label("Yes").check()
    continue_(page)
    expect(h1(page)).to_have_text("Contact children's services or the police now")
    expect(page.locator("main")).to_contain_text("999")
    check()

    page.get_by_role("link", name="nominate the family").click()
    page.get_by_role("button", name="Start now").click()
    page.get_by_label("No").check()
    continue_(page)
    expect(page.get_by_label("School attendance of equivalent concern")).to_have_count(0)
    page.get_by_label("Health of equivalent concern").check()
    continue_(page)
    fill_person(page, "Kelly", "Brown", "1", "1", "1990", nhs="943 476 5910", postcode="EX1 1AA")
    continue_(page)
    error_summary_says(page, "Enter a valid NHS number: check you have copied it correctly")
    check()
    page.get_by_label("NHS number (if you know it)").fill(f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}")
    continue_(page)
    page.get_by_label("No").check()
    continue_(page)
    page.get_by_label(re.compile("What are you worried about?")).fill("Poorly controlled diabetes; the children help.")
    continue_(page)
    page.get_by_label(re.compile("What has your organisation already tried?")).fill("Reviews; missed appointments.")
    continue_(page)
    page.get_by_label("Yes, they have been told and given the fair processing notice").check()
    continue_(page)
    expect(h1(page)).to_have_text("Check your answers before sending your nomination")
    expect(page.locator("main")).not_to_contain_text("Why not")
    check()
    page.get_by_role("button", name="Send nomination").click()

    expect(page.locator(".govuk-panel__title")).to_have_text("Nomination sent")
    expect(page.get_by_test_id("linked-message")).to_have_text(
        "This person is already known to the Supporting Families team: "
        "your information has been added to the existing record."
    )
    expect(page.locator("main")).not_to_contain_text("SF-000101")
    check()
    page.get_by_role("link", name="View your nomination").click()
    expect(page.get_by_test_id("nomination-status")).to_contain_text("Added to an existing record")
    check()


def test_refusals_say_which_condition_failed(live_app: LiveServer, page: Page, check: Callable[[], None]):
    """Northgate Homes has no protocol for sharing domestic abuse concerns; a GP cannot open its nomination."""
    sign_in_as(page, live_app, "Hannah Housing (rsl.practitioner)")
    page.goto(f"{live_app.url}/nominations/start")
    page.get_by_role("button", name="Start now").click()
    page.get_by_label("No").check()
    continue_(page)
    page.get_by_label("Domestic abuse concern").check()
    continue_(page)
    fill_person(page, "Robin", "Hale", "5", "6", "1991", postcode="EX2 2BB")
    continue_(page)
    page.get_by_label("No").check()
    continue_(page)
    page.get_by_label(re.compile("What are you worried about?")).fill("Neighbours report shouting most nights.")
    continue_(page)
    page.get_by_label(re.compile("What has your organisation already tried?")).fill("A tenancy visit.")
    continue_(page)
    page.get_by_label("They have been told, but not given the notice").check()
    continue_(page)
    page.get_by_label(re.compile("Why has the family not been told")).fill("The notice is given by the council.")
    continue_(page)
    page.get_by_role("button", name="Send nomination").click()
    expect(h1(page)).to_have_text("Your nomination has not been sent")
    expect(page.get_by_test_id("failed-conditions")).to_contain_text("No sharing protocol in force covers")
    check()
    draft_url = page.url.replace("/check-answers", "")

    page.get_by_role("navigation", name="Menu").get_by_role("button", name="Sign out").click()
    sign_in_as(page, live_app, PRIYA)
    response = page.goto(draft_url + "/concern")
    assert response is not None and response.status == 403
    expect(h1(page)).to_have_text("You cannot see or change this nomination")
    expect(page.get_by_test_id("failed-conditions")).to_contain_text("not made by your organisation")
    check()
