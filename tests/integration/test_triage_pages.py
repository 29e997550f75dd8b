"""The triage pages over HTTP, on SQLite and PostgreSQL, under both framework files: who may open them,
the coordinator's whole journey through them, form errors, CSRF, stale forms and crafted input.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import pytest
import requests
from sqlalchemy import func, select, text

from portal import db
from portal.families.models import Family, Flag, RelationshipKind
from referrals.models import NominatedPerson, Nomination, NominationEvent, NominationStatus
from referrals.setup import current_framework
from tests.builders import create_known_person, create_nomination, nominee
from tests.conftest import FRAMEWORKS, LiveServer
from tests.signin import csrf_token, dev_sign_in, h1

#: every triage page a GET reaches, by the state of nomination it is about
OPEN_PAGES = ["", "/request-information", "/decline", "/accept"]
ACCEPTED_PAGES = ["/family", "/lead-professional", "/notice", "/flags"]


pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


def nomination(live_app: LiveServer, **kwargs) -> uuid.UUID:
    with live_app.app.app_context():
        created = create_nomination(db.session(), **kwargs)
        db.session().commit()
        return created.id


def version(page: str) -> str:
    match = re.search(r'name="version"[^>]*value="(\d+)"', page)
    assert match, "no version on the page"
    return match.group(1)


def post(http: requests.Session, live_app: LiveServer, path: str, page: str, **data) -> requests.Response:
    return http.post(
        live_app.url + path, data={"csrf_token": csrf_token(page), **data}, timeout=10, allow_redirects=False
    )


def counts(live_app: LiveServer) -> tuple[int, int, int]:
    """Nominations' versions summed, events and flags: any change a request made shows here."""
    with live_app.app.app_context():
        s = db.session()
        return (
            s.scalar(select(func.coalesce(func.sum(Nomination.version), 0))),
            s.scalar(select(func.count()).select_from(NominationEvent)),
            s.scalar(select(func.count()).select_from(Flag)),
        )


def criteria_rows(live_app: LiveServer) -> int:
    with live_app.app.app_context():
        return db.session().execute(text("SELECT count(*) FROM criterion_met")).scalar()


def coordinator(live_app: LiveServer) -> requests.Session:
    http, response = dev_sign_in(live_app.url, "sf.coordinator")
    assert response.status_code == 200
    return http


@pytest.mark.parametrize("subject", ["gp.practitioner", "school.practitioner", "rsl.admin", "sf.dpo", "sf.lead1"])
def test_partners_and_other_council_roles_are_refused_every_triage_page_with_the_missing_role(live_app, subject):
    open_id = nomination(live_app)
    accepted_id = nomination(live_app, status=NominationStatus.ACCEPTED)
    http, _ = dev_sign_in(live_app.url, subject)
    before = counts(live_app)
    paths = ["/triage"] + [f"/triage/nominations/{open_id}{p}" for p in OPEN_PAGES]
    paths += [f"/triage/nominations/{accepted_id}{p}" for p in ACCEPTED_PAGES]
    home = http.get(f"{live_app.url}/home", timeout=10).text
    for path in paths:
        response = http.get(live_app.url + path, timeout=10)
        assert response.status_code == 403, path
        assert "Supporting Families coordinator role" in response.text, path
        if path.endswith(("/request-information", "/decline", "/accept", "/lead-professional", "/notice", "/flags")):
            refused = http.post(live_app.url + path, data={"csrf_token": csrf_token(home), "version": "1"}, timeout=10)
            assert refused.status_code == 403, path
    assert "Triage nominations" not in home
    assert counts(live_app) == before


def test_a_coordinator_works_a_nomination_from_the_queue_to_flags_the_gp_can_see(live_app):
    with live_app.app.app_context():
        s = db.session()
        child = create_known_person(
            s,
            given_name="Jayden",
            family_name="Quincey",
            date_of_birth=date(2016, 2, 3),
            postcode="EX9 9ZZ",
            served_by=(("ods", "Y99001", RelationshipKind.REGISTERED_PATIENT),),
        )
        made = create_nomination(s, people=(nominee("Jaden", "Quincy", date(2016, 2, 3), postcode="ex9 9zz"),))
        s.commit()
        nomination_id, child_id, reference = made.id, child.id, made.reference
        route = current_framework().route(made.route_key)
        threshold = current_framework().threshold
    http = coordinator(live_app)
    assert "Triage nominations" in http.get(f"{live_app.url}/home", timeout=10).text
    queue = http.get(f"{live_app.url}/triage", timeout=10)
    assert queue.status_code == 200 and reference in queue.text and "Jaden Quincy" in queue.text
    base = f"/triage/nominations/{nomination_id}"

    page = http.get(live_app.url + base, timeout=10).text
    assert "Jayden Quincey" in page and "same date of birth" in page and "same postcode" in page
    person = re.search(r'name="person_id" value="([0-9a-f-]+)"', page).group(1)
    assert person == str(child_id)
    nominated = re.search(r'id="person-([0-9a-f-]+)"', page).group(1)
    confirmed = post(
        http,
        live_app,
        f"{base}/people/{nominated}/match",
        page,
        version=version(page),
        choice="confirm",
        person_id=person,
    )
    assert confirmed.status_code == 302

    form = http.get(f"{live_app.url}{base}/request-information", timeout=10).text
    sent = post(
        http, live_app, f"{base}/request-information", form, version=version(form), message="Is there an older sibling?"
    )
    assert sent.status_code == 302
    page = http.get(live_app.url + base, timeout=10).text
    assert "Is there an older sibling?" in page and "More information requested" in page

    form = http.get(f"{live_app.url}{base}/accept", timeout=10).text
    field = re.search(r'name="(criteria_[0-9a-f]+)"', form).group(1)
    accepted = post(
        http,
        live_app,
        f"{base}/accept",
        form,
        version=version(form),
        family="new",
        **{field: [route.criterion]},
    )
    assert accepted.status_code == 302 and accepted.headers["Location"].endswith(f"{base}/family")
    setup = http.get(f"{live_app.url}{base}/family", timeout=10).text
    assert f"meets 1 of the criteria; {threshold} are needed" in setup

    form = http.get(f"{live_app.url}{base}/lead-professional", timeout=10).text
    lead = re.search(r'<option value="([0-9a-f-]{36})"[^>]*>\s*Lucy Lead', form).group(1)
    assert post(http, live_app, f"{base}/lead-professional", form, version=version(form), lead=lead).status_code == 302

    form = http.get(f"{live_app.url}{base}/notice", timeout=10).text
    v2 = re.search(r'value="([0-9a-f-]{36})"[^>]*>\s*<label[^>]*>\s*FPN-SF v2', form)
    v2 = v2.group(1) if v2 else re.findall(r'name="notice_version"[^>]*value="([0-9a-f-]{36})"', form)[0]
    given_by = re.findall(r'name="given_by"[^>]*value="([0-9a-f-]{36})"', form)[0]
    today = date.today()
    recorded = post(
        http,
        live_app,
        f"{base}/notice",
        form,
        version=version(form),
        notice_version=v2,
        members=[str(child_id)],
        given_on=[str(today.day), str(today.month), str(today.year)],
        method="in_person",
        given_by=given_by,
    )
    assert recorded.status_code == 302, recorded.text[:2000]

    form = http.get(f"{live_app.url}{base}/flags", timeout=10).text
    review, ends = today + timedelta(days=90), today + timedelta(days=365)
    raised = post(
        http,
        live_app,
        f"{base}/flags",
        form,
        version=version(form),
        review_on=[str(review.day), str(review.month), str(review.year)],
        ends_on=[str(ends.day), str(ends.month), str(ends.year)],
        family_told="y",
    )
    assert raised.status_code == 302
    setup = http.get(f"{live_app.url}{base}/family", timeout=10).text
    assert "Raised" in setup

    history = http.get(live_app.url + base, timeout=10).text
    for label in (
        "Match confirmed",
        "More information requested",
        "Accepted",
        "Lead professional assigned",
        "Flags raised",
    ):
        assert label in history, label

    gp, _ = dev_sign_in(live_app.url, "gp.practitioner")
    flag = gp.get(f"{live_app.url}/flags/{child_id}", timeout=10)
    assert flag.status_code == 200 and h1(flag.text) == "Jayden Quincey" and "Lucy Lead" in flag.text


def test_a_form_error_is_in_the_summary_and_beside_the_field_and_changes_nothing(live_app):
    nomination_id = nomination(live_app)
    http = coordinator(live_app)
    path = f"/triage/nominations/{nomination_id}/decline"
    form = http.get(live_app.url + path, timeout=10).text
    before = counts(live_app)
    response = post(http, live_app, path, form, version=version(form), reason="   ")
    assert response.status_code == 400
    assert re.search(r"<title>\s*Error: ", response.text)
    assert 'href="#reason"' in response.text and "Enter why the nomination is not being accepted" in response.text
    assert 'id="reason-error"' in response.text
    assert counts(live_app) == before


def test_accepting_before_every_match_is_reviewed_is_refused_on_the_page(live_app):
    with live_app.app.app_context():
        s = db.session()
        from portal.families.models import Person

        tyler = next(p for p in s.scalars(select(Person)) if p.full_name == "Tyler Brown")
        made = create_nomination(s, people=(nominee("Tyler", "Brown", tyler.date_of_birth, postcode=tyler.postcode),))
        s.commit()
        nomination_id = made.id
    http = coordinator(live_app)
    path = f"/triage/nominations/{nomination_id}/accept"
    form = http.get(live_app.url + path, timeout=10).text
    assert "match not yet reviewed" in form
    field = re.search(r'name="(criteria_[0-9a-f]+)"', form).group(1)
    before = counts(live_app)
    response = post(http, live_app, path, form, version=version(form), family="new", **{field: ["education"]})
    assert response.status_code == 400
    assert "Confirm or reject the matches for Tyler Brown" in response.text
    assert counts(live_app) == before


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(live_app):
    nomination_id = nomination(live_app)
    http = coordinator(live_app)
    before = counts(live_app)
    response = http.post(
        f"{live_app.url}/triage/nominations/{nomination_id}/decline",
        data={"version": "1", "reason": "No token"},
        timeout=10,
    )
    assert response.status_code == 400
    assert counts(live_app) == before


def test_a_stale_form_is_refused_with_what_changed(live_app):
    nomination_id = nomination(live_app)
    http = coordinator(live_app)
    path = f"/triage/nominations/{nomination_id}/request-information"
    form = http.get(live_app.url + path, timeout=10).text
    assert post(http, live_app, path, form, version=version(form), message="First").status_code == 302
    before = counts(live_app)
    again = post(http, live_app, path, form, version=version(form), message="From the old tab")
    assert again.status_code == 409
    assert "changed since you opened the page" in again.text
    assert version(again.text) == str(int(version(form)) + 1)  # the page now carries the current version
    assert counts(live_app) == before


def test_a_decided_nomination_page_says_why_it_cannot_be_changed(live_app):
    nomination_id = nomination(live_app, status=NominationStatus.NOT_ACCEPTED)
    http = coordinator(live_app)
    response = http.get(f"{live_app.url}/triage/nominations/{nomination_id}/decline", timeout=10)
    assert response.status_code == 403
    assert h1(response.text) == "You cannot do this"
    assert "has already been decided" in response.text
    shown = http.get(f"{live_app.url}/triage/nominations/{nomination_id}", timeout=10)
    assert shown.status_code == 200 and "Do not accept" not in shown.text


def test_an_unknown_nomination_is_not_found(live_app):
    http = coordinator(live_app)
    assert http.get(f"{live_app.url}/triage/nominations/{uuid.uuid4()}", timeout=10).status_code == 404
    assert http.get(f"{live_app.url}/triage/nominations/not-a-uuid", timeout=10).status_code == 404


CRAFTED = [
    {"version": "x"},
    {"version": "-4", "reason": "r", "message": "m"},
    {"version": "1", "reason": "r" * 5000, "message": "m" * 5000},
    {"version": "1", "choice": "merge", "person_id": "1"},
    {"version": "1", "choice": "confirm", "person_id": "not-a-uuid"},
    {"version": "1", "choice": "confirm", "person_id": str(uuid.uuid4())},
    {"version": "1", "family": "reference", "family_reference": "SF-999999"},
    {"version": "1", "family": str(uuid.uuid4())},
    {"version": "1", "lead": "nobody"},
    {"version": "1", "lead": str(uuid.uuid4())},
    {
        "version": "1",
        "notice_version": "x",
        "members": ["y"],
        "given_on": ["1", "2"],
        "method": "pigeon",
        "given_by": "z",
    },
    {"version": "1", "review_on": ["31", "2", "2030"], "ends_on": ["1", "1", "1", "1"]},
    {"version": "1", "review_on": ["1", "1", "2031"], "ends_on": ["1", "1", "2030"]},
]


def test_crafted_input_never_gives_a_server_error_or_a_half_written_record(live_app):
    open_id = nomination(live_app, people=(nominee(), nominee("Ava", "Carter")))
    accepted_id = nomination(live_app, status=NominationStatus.ACCEPTED)
    with live_app.app.app_context():
        nominated = (
            db.session().scalars(select(NominatedPerson.id).where(NominatedPerson.nomination_id == open_id)).first()
        )
    http = coordinator(live_app)
    page = http.get(f"{live_app.url}/triage", timeout=10).text
    paths = [f"/triage/nominations/{open_id}{p}" for p in OPEN_PAGES[1:]]
    paths += [f"/triage/nominations/{accepted_id}{p}" for p in ACCEPTED_PAGES[1:]]
    paths += [f"/triage/nominations/{open_id}/people/{nominated}/match"]
    before = counts(live_app)
    criteria_before = criteria_rows(live_app)
    for path in paths:
        for data in CRAFTED:
            response = post(http, live_app, path, page, **data)
            assert response.status_code < 500, (path, data, response.status_code)
            assert response.status_code != 302, (path, data)
    for query in (
        "route=nowhere",
        "organisation=" + str(uuid.uuid4()),
        "age=forever",
        "status=draft",
        "page=-1",
        "page=x",
    ):
        assert http.get(f"{live_app.url}/triage?{query}", timeout=10).status_code in (200, 400), query
    after = counts(live_app)
    assert after[1:] == before[1:]  # no event, no flag from any crafted request
    assert criteria_rows(live_app) == criteria_before


def test_an_invalid_filter_is_refused_with_a_message(live_app):
    http = coordinator(live_app)
    response = http.get(f"{live_app.url}/triage?status=draft", timeout=10)
    assert response.status_code == 400 and re.search(r"<title>\s*Error: ", response.text)


def test_triage_pages_change_nothing_but_the_access_log(live_app, database_url):
    from tests.architecture.test_get_changes_nothing import _digest, _unchanged

    open_id = nomination(live_app, people=(nominee(), nominee("Ava", "Carter")))
    with live_app.app.app_context():
        brown = db.session().scalar(select(Family.id).where(Family.reference == "SF-000101"))
    accepted_id = nomination(live_app, status=NominationStatus.ACCEPTED, family_id=brown)
    http = coordinator(live_app)
    before = _digest(database_url)
    for path in ["/triage"] + [f"/triage/nominations/{open_id}{p}" for p in OPEN_PAGES]:
        assert http.get(live_app.url + path, timeout=10).status_code == 200, path
    for path in [f"/triage/nominations/{accepted_id}{p}" for p in ACCEPTED_PAGES]:
        assert http.get(live_app.url + path, timeout=10).status_code == 200, path
    assert _unchanged(before, _digest(database_url))
