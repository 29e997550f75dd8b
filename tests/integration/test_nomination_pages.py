"""The nomination pages over real HTTP, on SQLite and PostgreSQL under both framework files: who may call
them, errors in the summary and beside the field, a replayed POST, a crafted route, the banner, and
that no GET of any nomination page changes domain data (with real drafts and an unseen update).
"""

from __future__ import annotations

import html
import re
import uuid

import pytest
import requests
from sqlalchemy import select

from portal import db
from referrals.journey import service
from referrals.models import NominatedPerson
from referrals.triage import service as triage
from tests.architecture.test_get_changes_nothing import _digest, _unchanged
from tests.builders import call, complete_draft, context_of, framework_of, route_for, route_not_for
from tests.conftest import FRAMEWORKS
from tests.integration.reads import count_nominations, log_entries, nomination, version_of
from tests.signin import csrf_token, dev_sign_in, h1

pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


def post(http: requests.Session, url: str, data: dict, *, page: str | None = None) -> requests.Response:
    """POST ``data`` with the CSRF token (and the hidden fields) of the page at ``page`` (default ``url``)."""
    form = http.get(page or url, timeout=10).text
    hidden = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if 'type="hidden"' in tag and name and value:
            hidden[name.group(1)] = html.unescape(value.group(1))
    return http.post(url, data={**hidden, "csrf_token": csrf_token(form), **data}, timeout=10)


def errors(page: str) -> tuple[list[str], list[str]]:
    """(the error summary's messages, the messages beside fields), as text."""
    summary = re.search(r'govuk-error-summary__list">(.*?)</ul>', page, re.S)
    listed = (
        [html.unescape(t).strip() for t in re.findall(r"<a [^>]*>(.*?)</a>", summary.group(1), re.S)] if summary else []
    )
    beside = [
        html.unescape(t).strip()
        for t in re.findall(r'class="govuk-error-message"[^>]*>\s*<span[^>]*>Error:</span>(.*?)</p>', page, re.S)
    ]
    return listed, beside


def test_only_practitioners_reach_the_journey(live_app):
    for subject, status in (
        ("school.admin", 403),
        ("sf.coordinator", 403),
        ("sf.dpo", 403),
        ("school.practitioner", 200),
    ):
        http, _ = dev_sign_in(live_app.url, subject)
        assert http.get(f"{live_app.url}/nominations/start", timeout=10).status_code == status, subject
    assert requests.get(f"{live_app.url}/nominations", timeout=10, allow_redirects=False).status_code == 302


def test_yes_to_immediate_risk_stops_the_journey_and_says_whom_to_call(live_app):
    http, _ = dev_sign_in(live_app.url, "school.practitioner")
    before = count_nominations(live_app.app)
    response = post(http, f"{live_app.url}/nominations/new", {"immediate_risk": "yes"})
    assert response.url.endswith("/nominations/contact-now")
    assert h1(response.text) == "Contact children's services or the police now"
    assert "999" in response.text and "01632 960000" in response.text
    assert count_nominations(live_app.app) == before


def test_every_error_is_in_the_summary_and_beside_its_field_with_error_in_the_title(live_app):
    http, _ = dev_sign_in(live_app.url, "school.practitioner")
    response = post(http, f"{live_app.url}/nominations/new", {"immediate_risk": "no"})
    draft = re.search(r"/nominations/([0-9a-f-]{36})/route", response.url).group(1)
    response = post(
        http,
        f"{live_app.url}/nominations/{draft}/person",
        {
            "given_name": "",
            "family_name": "x" * 101,
            "date_of_birth": ["30", "2", "2015"],
            "nhs_number": "943 476 5910",
            "upn": "A12",
            "postcode": "NOT A CODE",
        },
    )
    assert response.status_code == 400
    assert re.search(r"<title>Error: ", response.text)
    expected = [
        "Enter the first name",
        "Last name must be 100 characters or fewer",
        "Date of birth must be a real date",
        "Enter a valid NHS number: check you have copied it correctly",
        "UPN must be 13 characters",
        "Enter a real postcode",
    ]
    assert errors(response.text) == (expected, expected)
    assert 'href="#date_of_birth-day"' in response.text and 'id="date_of_birth-day"' in response.text
    # nothing was saved: the draft has no person yet
    with live_app.app.app_context():
        stored = db.session().scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == uuid.UUID(draft)))
        assert stored.all() == []


def test_a_crafted_route_for_another_sector_is_refused_with_the_reason(live_app):
    framework = framework_of(live_app.app)
    http, _ = dev_sign_in(live_app.url, "gp.practitioner")
    response = post(http, f"{live_app.url}/nominations/new", {"immediate_risk": "no"})
    route_page = response.url
    assert route_not_for(framework, "gp_practice").title not in response.text  # not offered
    response = post(http, route_page, {"route": route_not_for(framework, "gp_practice").key})
    assert response.status_code == 403
    assert h1(response.text) == "Your organisation cannot nominate under this route"
    assert "GP practices cannot nominate under" in html.unescape(response.text)
    assert log_entries(live_app.app)[-1].event == "access_denied"


def test_a_replayed_send_sends_nothing_second(live_app):
    app = live_app.app
    ctx = context_of(app, "school.practitioner")
    draft_id = complete_draft(app, ctx, route_for(framework_of(app), "school", "education"))
    http, _ = dev_sign_in(live_app.url, "school.practitioner")
    url = f"{live_app.url}/nominations/{draft_id}/check-answers"
    page = http.get(url, timeout=10).text
    data = {"csrf_token": csrf_token(page), "version": str(version_of(app, draft_id))}
    first = http.post(url, data=data, timeout=10)
    assert h1(first.text) == "Nomination sent" and nomination(app, draft_id).reference in first.text
    rows = count_nominations(app)
    again = http.post(url, data=data, timeout=10)
    assert again.status_code == 409 and h1(again.text) == "You have already sent this nomination"
    assert nomination(app, draft_id).reference in again.text and count_nominations(app) == rows


def test_a_stale_check_answers_page_sends_nothing_and_says_why(live_app):
    app = live_app.app
    ctx = context_of(app, "school.practitioner")
    draft_id = complete_draft(app, ctx, route_for(framework_of(app), "school", "education"))
    http, _ = dev_sign_in(live_app.url, "school.practitioner")
    url = f"{live_app.url}/nominations/{draft_id}/check-answers"
    page = http.get(url, timeout=10).text
    stale = {"csrf_token": csrf_token(page), "version": str(version_of(app, draft_id))}
    post(http, f"{live_app.url}/nominations/{draft_id}/concern", {"concern": "Changed in another tab"})
    response = http.post(url, data=stale, timeout=10)
    assert response.status_code == 409 and h1(response.text) == "Your answers have changed since you opened this page"
    assert nomination(app, draft_id).status.value == "draft"


def test_the_banner_shows_an_update_until_the_nominator_opens_the_nomination(live_app):
    app = live_app.app
    school = context_of(app, "school.practitioner")
    draft_id = complete_draft(app, school, route_for(framework_of(app), "school", "education"))
    sent = call(app, service.submit_nomination, school, framework_of(app), draft_id, version=version_of(app, draft_id))
    coordinator = context_of(app, "sf.coordinator")
    call(app, triage.request_information, coordinator, draft_id, "Which days?", version=version_of(app, draft_id))
    http, home = dev_sign_in(live_app.url, "school.practitioner")
    assert "Your nomination has been updated" in home.text and sent.reference in home.text
    listing = http.get(f"{live_app.url}/nominations", timeout=10).text
    assert "Your nomination has been updated" in listing
    # looking at it by its address (a GET) leaves the banner; opening it from the banner (a POST) clears it
    detail = http.get(f"{live_app.url}/nominations/{draft_id}", timeout=10)
    assert "Which days?" in detail.text and "Answer the Supporting Families team" in detail.text
    assert "Your nomination has been updated" in http.get(f"{live_app.url}/home", timeout=10).text
    opened = post(http, f"{live_app.url}/nominations/{draft_id}/open", {}, page=f"{live_app.url}/home")
    assert opened.url.endswith(f"/nominations/{draft_id}")
    assert "has been updated" not in http.get(f"{live_app.url}/home", timeout=10).text
    answered = post(
        http,
        f"{live_app.url}/nominations/{draft_id}/reply",
        {"message": "Mondays."},
        page=f"{live_app.url}/nominations/{draft_id}",
    )
    assert "Your answer has been sent" in answered.text and nomination(app, draft_id).status.value == "submitted"


def test_no_get_of_a_nomination_page_changes_domain_data(live_app, database_url):
    app = live_app.app
    school = context_of(app, "school.practitioner")
    route = route_for(framework_of(app), "school", "education")
    member = service.PersonAnswers("Sam", "Member", None, role="parent_carer")
    draft_id = complete_draft(app, school, route, members=(member,))
    sent_id = complete_draft(app, school, route)
    call(app, service.submit_nomination, school, framework_of(app), sent_id, version=version_of(app, sent_id))
    coordinator = context_of(app, "sf.coordinator")
    call(app, triage.request_information, coordinator, sent_id, "Anything else?", version=version_of(app, sent_id))
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("nominations.") or "GET" not in rule.methods:
            continue
        for nomination_id in (draft_id, sent_id, uuid.uuid4()):
            values = {"nomination_id": nomination_id, "ordinal": 1}
            with app.test_request_context():
                urls.append(app.url_for(rule.endpoint, **{a: values[a] for a in rule.arguments}))
    urls += ["/home"]
    for subject in ("school.practitioner", "gp.practitioner", "school.admin"):
        http, _ = dev_sign_in(live_app.url, subject)
        before = _digest(database_url)
        for url in sorted(set(urls)):
            response = http.get(live_app.url + url, timeout=10)
            assert response.status_code < 500, (url, subject, response.status_code)
        assert _unchanged(before, _digest(database_url)), f"a GET changed domain data as {subject}"
    assert call(app, service.unseen_updates, school.user_id) != []  # still news: no GET marked it seen
