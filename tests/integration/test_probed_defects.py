"""The defects found when the portal was probed as an attacker would, each answered as the page kit and
the gate now answer it, on SQLite and PostgreSQL over real HTTP. Every test here failed before its fix.
"""

from __future__ import annotations

import re
import uuid

import pytest
from flask import abort, flash
from sqlalchemy import func, select, text

from portal import db, gate
from portal.access_log.events import EventType
from portal.auth.rules import signed_in
from portal.db import commits
from portal.families import service as families
from portal.families.models import BreakGlassAccess, Person
from portal.organisations.models import Role, User, UserRole
from referrals.models import NominatedPerson, Nomination, NominationEvent, NominationEventKind, NominationStatus
from tests.builders import context_of, create_nomination
from tests.conftest import LiveServer, build_app, free_port, seeded
from tests.signin import csrf_token, dev_sign_in

#: values of ``page`` that ``str.isdigit`` accepts or a crafted link sends, each answered with a page
CRAFTED_PAGES = ["²", "٣", "99999999999", "0", "-1", "1e3", "", "%00"]


def _scalar(app, statement):
    with app.app_context():
        return db.session().scalar(statement)


def _nomination(app, **kwargs) -> uuid.UUID:
    with app.app_context():
        created = create_nomination(db.session(), **kwargs)
        db.session().commit()
        return created.id


def _log_details(app) -> list[str]:
    with app.app_context():
        return list(db.session().scalars(text("SELECT detail FROM access_log_entry ORDER BY seq")))


# ------------------------------------------------------------------ 1. scope of break-glass review


def test_a_partner_dpo_cannot_review_another_organisations_emergency_access(live_app):
    """The list page is scoped to the partner's organisation; the review of one access now is too."""
    app = live_app.app
    with app.app_context():
        session = db.session()
        person = next(p for p in session.scalars(select(Person)) if p.full_name == "Kelly Brown")
        kelly_nhs = person.nhs_number
        # the GP practice's manager is also its information governance lead
        gp_admin = session.scalar(select(User).where(User.subject == "gp.admin"))
        session.add(UserRole(user_id=gp_admin.id, role=Role.DPO))
        session.commit()
    with app.test_request_context():
        ctx = context_of(app, "probation.practitioner")
        grant = families.start_break_glass(db.session(), ctx, kelly_nhs, "Police report a child at risk tonight")
        db.session().commit()
    partner_dpo, _ = dev_sign_in(live_app.url, "gp.admin")
    listing = partner_dpo.get(f"{live_app.url}/access-log/break-glass", timeout=10)
    assert listing.status_code == 200 and "Police report a child at risk tonight" not in listing.text
    refused = partner_dpo.post(
        f"{live_app.url}/access-log/break-glass/{grant.id}/reviewed",
        data={"csrf_token": csrf_token(listing.text)},
        timeout=10,
    )
    assert refused.status_code == 403
    assert _scalar(app, select(BreakGlassAccess.reviewed_at).where(BreakGlassAccess.id == grant.id)) is None
    last = _log_details(app)[-1]
    assert str(grant.id) in last  # the refusal is logged, naming the access it was about


# --------------------------------------------------------- 2. a failed page releases the write lock


@pytest.fixture
def failing_app(database_url, tmp_path):
    """The portal with one extra page that logs, leaves a message for the next page, then fails."""
    port = free_port()
    app = seeded(build_app(database_url, tmp_path, port))

    @signed_in
    @commits
    def logs_then_fails():
        detail = {"source": "probe", "what": "defect 2", "file_sha256": "0" * 64, "rows": "1"}
        gate.record_system(db.session(), EventType.RECORDS_IMPORTED, [], detail)
        flash("This message is written by the session store, on its own connection")
        abort(404)

    app.add_url_rule("/probe/logs-then-fails", "logs_then_fails", logs_then_fails)
    server = LiveServer(app, port).start()
    try:
        yield server
    finally:
        server.stop()
        app.extensions["db_engine"].dispose()


def test_a_page_that_fails_after_logging_releases_the_database_before_the_session_store_writes(failing_app):
    http, _ = dev_sign_in(failing_app.url, "gp.practitioner")  # a signed-in session is kept in the database
    before = len(_log_details(failing_app.app))
    # the timeout only bounds a hang: before the fix SQLite waited 60 s on its own lock and answered 500
    answer = http.get(f"{failing_app.url}/probe/logs-then-fails", timeout=30)
    assert answer.status_code == 404
    assert len(_log_details(failing_app.app)) == before  # the failed request's entry was rolled back


# ---------------------------------------------------------------------- 3. crafted query parameters


@pytest.mark.parametrize(("subject", "path"), [("gp.practitioner", "/flags"), ("sf.coordinator", "/triage")])
def test_a_crafted_page_number_is_the_first_page(live_app, subject, path):
    http, _ = dev_sign_in(live_app.url, subject)
    for page in CRAFTED_PAGES:
        answer = http.get(f"{live_app.url}{path}", params={"page": page}, timeout=10)
        assert answer.status_code == 200, (page, answer.status_code)


def test_a_crafted_page_number_on_the_access_log_is_the_first_page(live_app):
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    for page in CRAFTED_PAGES:
        answer = http.get(f"{live_app.url}/access-log", params={"event": "signed_in", "page": page}, timeout=10)
        assert answer.status_code == 200, (page, answer.status_code)


@pytest.mark.parametrize(
    "filters",
    [
        {"user_email": "a\x00b"},
        {"family": "SF\x00"},
        {"person": "943\x00476"},
        {"user_email": "a\x1bb"},
        {"date_from": ["1", "2"]},
        {"date_from": ["²", "1", "2026"]},
    ],
)
def test_access_log_filters_with_control_characters_are_refused_before_the_search(live_app, filters):
    http, _ = dev_sign_in(live_app.url, "sf.dpo")
    before = len(_log_details(live_app.app))
    answer = http.get(f"{live_app.url}/access-log", params=filters, timeout=10)
    assert answer.status_code == 400 and "There is a problem" in answer.text
    assert len(_log_details(live_app.app)) == before  # nothing was searched, so nothing is logged


@pytest.mark.parametrize(
    "filters",
    [
        {"route": "x\x00"},
        {"route": "x" * 5001},
        {"status": "submitted\x00"},
        {"age": "\x00"},
        {"organisation": "not-an-id\x00"},
        {"organisation": "o" * 5001},
    ],
)
def test_triage_filters_no_page_offers_are_refused_before_the_queue_or_the_log(live_app, filters):
    http, _ = dev_sign_in(live_app.url, "sf.coordinator")
    before = _log_details(live_app.app)
    answer = http.get(f"{live_app.url}/triage", params=filters, timeout=10)
    assert answer.status_code == 400, answer.status_code
    assert "There is a problem" in answer.text and "from the list" in answer.text
    after = _log_details(live_app.app)
    assert after == before  # refused on its shape: no listing, and no oversized entry


def _decline_page(http, live_app, nomination_id) -> str:
    page = http.get(f"{live_app.url}/triage/nominations/{nomination_id}/decline", timeout=10)
    assert page.status_code == 200
    return page.text


def _changes(app, nomination_id):
    """The nomination's version and status, and its events (messages among them): what a change touches."""
    with app.app_context():
        session = db.session()
        row = session.get(Nomination, nomination_id)
        events = session.scalar(select(func.count()).where(NominationEvent.nomination_id == nomination_id))
        return row.version, row.status, events


@pytest.mark.parametrize("version", [str(2**31), str(2**63), "9" * 40, "-1", "1.0", "²"])
def test_a_triage_version_beyond_any_integer_changes_nothing(live_app, version):
    app = live_app.app
    nomination_id = _nomination(app)
    http, _ = dev_sign_in(live_app.url, "sf.coordinator")
    page = _decline_page(http, live_app, nomination_id)
    before = _changes(app, nomination_id)
    base = f"{live_app.url}/triage/nominations/{nomination_id}"
    with app.app_context():
        person = db.session().scalar(select(NominatedPerson.id).where(NominatedPerson.nomination_id == nomination_id))
    posts = [
        (f"{base}/decline", {"reason": "Not eligible under any route"}),
        (f"{base}/request-information", {"message": "Which school does the child attend?"}),
        (f"{base}/people/{person}/match", {"choice": "new-person"}),
    ]
    for url, data in posts:
        answer = http.post(url, data={"csrf_token": csrf_token(page), "version": version, **data}, timeout=10)
        assert answer.status_code == 409, (url, answer.status_code)
    assert _changes(app, nomination_id) == before


# ------------------------------------------------------------------ 4. one set of text validators


@pytest.mark.parametrize("bad", ["Please\x00 call", "Escape \x1b[31m red", "Bell \x07", "\u200e" * 3])
def test_triage_free_text_refuses_control_characters_and_stores_nothing(live_app, bad):
    app = live_app.app
    nomination_id = _nomination(app)
    http, _ = dev_sign_in(live_app.url, "sf.coordinator")
    page = _decline_page(http, live_app, nomination_id)
    before = _changes(app, nomination_id)
    version = re.search(r'name="version"[^>]*value="(\d+)"', page).group(1)
    base = f"{live_app.url}/triage/nominations/{nomination_id}"
    for url, field in ((f"{base}/decline", "reason"), (f"{base}/request-information", "message")):
        answer = http.post(url, data={"csrf_token": csrf_token(page), "version": version, field: bad}, timeout=10)
        assert answer.status_code == 400 and "must not include control codes" in answer.text, url
    assert _changes(app, nomination_id) == before


def test_triage_free_text_keeps_line_breaks_and_is_trimmed(live_app):
    app = live_app.app
    nomination_id = _nomination(app)
    http, _ = dev_sign_in(live_app.url, "sf.coordinator")
    page = _decline_page(http, live_app, nomination_id)
    version = re.search(r'name="version"[^>]*value="(\d+)"', page).group(1)
    answer = http.post(
        f"{live_app.url}/triage/nominations/{nomination_id}/request-information",
        data={"csrf_token": csrf_token(page), "version": version, "message": "  Which school?\r\nAnd which year?  "},
        timeout=10,
        allow_redirects=False,
    )
    assert answer.status_code == 302
    with app.app_context():
        asked = db.session().scalar(
            select(NominationEvent).where(
                NominationEvent.nomination_id == nomination_id,
                NominationEvent.kind == NominationEventKind.INFORMATION_REQUESTED,
            )
        )
        assert asked.message == "Which school?\nAnd which year?"
        assert db.session().get(Nomination, nomination_id).status == NominationStatus.MORE_INFORMATION_REQUESTED


# ------------------------------------------------------------ 5. the break-glass reason is trimmed


@pytest.mark.parametrize("reason", ["a" + " " * 30, " " * 40, "\t" * 25, "Too short" + " " * 20])
def test_a_break_glass_reason_is_measured_after_trimming(live_app, reason):
    app = live_app.app
    with app.app_context():
        kelly_nhs = next(p for p in db.session().scalars(select(Person)) if p.full_name == "Kelly Brown").nhs_number
    http, _ = dev_sign_in(live_app.url, "probation.practitioner")
    form = http.get(f"{live_app.url}/break-glass", timeout=10)
    before = _scalar(app, select(func.count()).select_from(BreakGlassAccess))
    answer = http.post(
        f"{live_app.url}/break-glass",
        data={"csrf_token": csrf_token(form.text), "identifier": kelly_nhs, "reason": reason, "confirm": "y"},
        timeout=10,
    )
    assert answer.status_code == 400 and "There is a problem" in answer.text
    assert _scalar(app, select(func.count()).select_from(BreakGlassAccess)) == before


# ------------------------------------------------------ 6. every page that takes an id checks it first


def _nomination_rules(app) -> list[tuple[str, set[str]]]:
    rules = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("nominations.") and "nomination_id" in rule.arguments:
            rules.append((rule.rule, set(rule.methods or ()) & {"GET", "POST"}))
    return rules


def test_every_nomination_page_refuses_an_id_that_is_not_the_users(live_app):
    app = live_app.app
    others = _nomination(app, nominator="gp.practitioner")  # other organisations' nominations
    with app.app_context():
        draft = create_nomination(db.session(), nominator="school.practitioner", status=NominationStatus.DRAFT)
        db.session().commit()
        theirs_draft = draft.id
    rules = _nomination_rules(app)
    assert len(rules) >= 15, rules  # every question page, check answers, the nomination, reply, open
    http, _ = dev_sign_in(live_app.url, "rsl.practitioner")
    token = csrf_token(http.get(f"{live_app.url}/nominations/new", timeout=10).text)
    for nomination_id in (uuid.uuid4(), others, theirs_draft):
        for rule, methods in rules:
            path = rule.replace("<uuid:nomination_id>", str(nomination_id)).replace("<int:ordinal>", "1")
            if "GET" in methods:
                answer = http.get(live_app.url + path, timeout=10, allow_redirects=False)
                assert answer.status_code == 403, ("GET", path, answer.status_code)
            if "POST" in methods:
                answer = http.post(live_app.url + path, data={"csrf_token": token}, timeout=10, allow_redirects=False)
                assert answer.status_code == 403, ("POST", path, answer.status_code)
