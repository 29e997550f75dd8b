"""E-mailing the nominator when the council changes their nomination's status (``PORTAL_NOMINATION_EMAIL``),
on SQLite and PostgreSQL, against a real SMTP server on 127.0.0.1 (``tests.smtp``).

What is sent (one message, to the nominator, the reference, the status and the link; nothing personal),
when (only after the commit: a rolled-back change sends nothing), and what happens when it is off or the
mail server fails (nothing sent and no connection tried; the change still made and a warning logged).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from portal import db
from portal.families.identifiers import synthetic_nhs_number
from portal.organisations.models import User
from referrals import states
from referrals.journey import service as journey
from referrals.labels import NOMINATOR_STATUS_LABELS
from referrals.models import Nomination, NominationStatus
from referrals.setup import current_framework
from referrals.triage import accept, service
from referrals.triage.core import StaleNomination
from referrals.triage.demo import seed_demo_nominations
from tests.builders import (
    a_person,
    complete_draft,
    context,
    context_of,
    create_nomination,
    nominee,
    route_for,
    session_of,
    user,
)
from tests.conftest import LiveServer, build_app, free_port, seeded
from tests.integration.reads import version_in
from tests.signin import csrf_token, dev_sign_in
from tests.smtp import Received, SilentListener, SmtpReceiver

SENDER = "Supporting Families <no-reply@example-council.test>"
NHS = synthetic_nhs_number(5100)
CHILD = nominee("Kieran", "Oduya", date(2014, 3, 9), nhs_number=NHS, postcode="EX2 7QT")
CONCERN = "Kieran has missed eleven days since half term and his mother works nights."
QUESTION = "Has the school nurse seen Kieran since September?"
REASON = "The family already has a social worker under a child protection plan."
#: what no e-mail may contain, in any form: the person, the concern, the council's words
PERSONAL = [
    "Kieran",
    "Oduya",
    NHS,
    f"{NHS[:3]} {NHS[3:6]} {NHS[6:]}",
    "2014-03-09",
    "9 March 2014",
    "09/03/2014",
    "EX2 7QT",
    CONCERN,
    QUESTION,
    REASON,
    "eleven days",
    "social worker",
    "school nurse",
]


def mail_env(port: int, **more: str) -> dict[str, str]:
    return {
        "PORTAL_NOMINATION_EMAIL": "1",
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(port),
        "PORTAL_SMTP_STARTTLS": "0",  # the test server has no TLS; production refuses this (tests/unit)
        "PORTAL_SMTP_TIMEOUT": "1",
        "PORTAL_MAIL_FROM": SENDER,
        **more,
    }


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@contextmanager
def portal(database_url, tmp_path, env: dict[str, str], port: int | None = None) -> Iterator[Flask]:
    app = seeded(build_app(database_url, tmp_path, port or free_port(), env))
    try:
        yield app
    finally:
        app.extensions["db_engine"].dispose()


@pytest.fixture
def app(database_url, tmp_path, smtp) -> Iterator[Flask]:
    with portal(database_url, tmp_path, mail_env(smtp.port)) as app:
        yield app


def nominated(app: Flask, nominator: str = "school.practitioner") -> uuid.UUID:
    with session_of(app) as s:
        return create_nomination(s, nominator=nominator, people=(CHILD,), concern=CONCERN).id


def status_of(app: Flask, nomination_id: uuid.UUID) -> NominationStatus:
    with app.app_context():
        return db.session().scalar(select(Nomination.status).where(Nomination.id == nomination_id))


def reference_of(app: Flask, nomination_id: uuid.UUID) -> str:
    with app.app_context():
        return db.session().scalar(select(Nomination.reference).where(Nomination.id == nomination_id))


def email_of(app: Flask, subject: str) -> str:
    with app.app_context():
        return user(db.session(), subject).email


# -------------------------------------------------------------- the council's three changes, by service


def request_information(s: Session, nomination_id: uuid.UUID) -> None:
    service.request_information(s, context(s), nomination_id, QUESTION, version=version_in(s, nomination_id))


def decline(s: Session, nomination_id: uuid.UUID) -> None:
    service.decline_nomination(s, context(s), nomination_id, REASON, version=version_in(s, nomination_id))


def accept_new_family(s: Session, nomination_id: uuid.UUID) -> None:
    ctx, framework = context(s), current_framework()
    view = service.get_nomination_for(s, ctx, nomination_id, framework)
    person = view.people[0]
    assert not person.candidates  # nobody known: a new person, so the review is one step
    service.review_match(s, ctx, nomination_id, person.id, service.MatchChoice.NEW_PERSON, version=view.version)
    route = framework.route(s.get(Nomination, nomination_id).route_key)
    accept.accept_nomination(
        s,
        ctx,
        nomination_id,
        framework,
        version=version_in(s, nomination_id),
        family=accept.FamilyChoice(new=True),
        criteria={person.id: {route.criterion}},
    )


CHANGES: dict[str, tuple[Callable[[Session, uuid.UUID], None], NominationStatus, str]] = {
    "more information": (request_information, NominationStatus.MORE_INFORMATION_REQUESTED, "answer it"),
    "not accepted": (decline, NominationStatus.NOT_ACCEPTED, "which gives the reason"),
    "accepted": (accept_new_family, NominationStatus.ACCEPTED, "read the council's message"),
}


def assert_nothing_personal(received: Received) -> None:
    text = received.raw.decode("utf-8", "replace") + "\n" + received.body
    for secret in PERSONAL:
        assert secret.lower() not in text.lower(), secret


def the_link(body: str) -> str:
    links = re.findall(r"https?://\S+", body)
    assert len(links) == 1, body
    return links[0]


@pytest.mark.parametrize("change", CHANGES)
def test_each_change_the_council_shares_emails_the_nominator_once_with_the_reference_and_link_only(app, smtp, change):
    act, status, then = CHANGES[change]
    nomination_id = nominated(app)
    reference = reference_of(app, nomination_id)
    with session_of(app) as s:
        act(s, nomination_id)
        assert smtp.received == []  # queued, not sent: the transaction has not committed yet
    assert status_of(app, nomination_id) is status
    assert len(smtp.received) == 1
    [received] = smtp.received
    assert received.rcpt_to == (email_of(app, "school.practitioner"),)
    assert received.message["To"] == email_of(app, "school.practitioner")
    assert received.message["From"] == SENDER
    assert received.message["Subject"] == f"Nomination {reference}: {NOMINATOR_STATUS_LABELS[status].lower()}"
    assert received.message["Auto-Submitted"] == "auto-generated"
    assert received.message.get_content_type() == "text/plain"
    body = received.body
    assert reference in body and f"Status: {NOMINATOR_STATUS_LABELS[status]}" in body
    assert f"{then}:" in body.replace("\n", " ")
    assert the_link(body) == f"{app.config['BASE_URL']}/nominations/{nomination_id}"
    assert_nothing_personal(received)


def test_the_review_steps_and_what_the_nominator_does_send_nothing(app, smtp):
    """Matching, the nominator's answer and their own submission (even when linked to an existing
    record) are not e-mailed: only the council's changes that the nominator is told of."""
    school = context_of(app, "school.practitioner")
    framework = app.extensions["framework"]
    route = route_for(framework, "school", "education")
    person = a_person()
    draft, again = complete_draft(app, school, route, person), complete_draft(app, school, route, person)
    for each in (draft, again):
        with session_of(app) as s:
            journey.submit_nomination(
                s, context(s, "school.practitioner"), framework, each, version=version_in(s, each)
            )
    assert status_of(app, again) is NominationStatus.LINKED
    with session_of(app) as s:
        ctx = context(s)
        view = service.get_nomination_for(s, ctx, draft, framework)
        for person in view.people:
            choice = service.MatchChoice.NEW_PERSON
            service.review_match(s, ctx, draft, person.id, choice, version=version_in(s, draft))
    assert smtp.received == []
    with session_of(app) as s:
        request_information(s, draft)
    with session_of(app) as s:
        journey.give_information(
            s, context(s, "school.practitioner"), draft, version=version_in(s, draft), message="Yes, in October."
        )
    assert [r.message["Subject"].split(": ")[1] for r in smtp.received] == ["more information requested"]


def test_the_state_machines_council_moves_email_whoever_calls_them(app, smtp):
    """``referrals.states.council_move``, which every council decision goes through: same e-mail."""
    nomination_id = nominated(app)
    coordinator = context_of(app, "sf.coordinator")
    with session_of(app) as s:
        states.council_move(
            s,
            nomination_id,
            NominationStatus.MORE_INFORMATION_REQUESTED,
            decided_on=NominationStatus.SUBMITTED,
            version=version_in(s, nomination_id),
            actor_id=coordinator.user_id,
            at=coordinator.at,
            message=QUESTION,
        )
    with session_of(app) as s:
        states.council_move(
            s,
            nomination_id,
            NominationStatus.NOT_ACCEPTED,
            decided_on=NominationStatus.MORE_INFORMATION_REQUESTED,
            version=version_in(s, nomination_id),
            actor_id=coordinator.user_id,
            at=coordinator.at,
            message=REASON,
            values={"decision_reason": REASON, "decided_at": coordinator.at, "decided_by_id": coordinator.user_id},
        )
    assert [r.message["Subject"].split(": ")[1] for r in smtp.received] == [
        "more information requested",
        "not accepted",
    ]
    for received in smtp.received:
        assert_nothing_personal(received)


# ----------------------------------------------------------------------------------- only after commit


def test_a_rolled_back_change_sends_nothing_even_when_the_session_commits_later(app, smtp):
    nomination_id = nominated(app)
    with app.app_context():
        s = db.session()
        decline(s, nomination_id)
        s.rollback()
        s.execute(update(User).where(User.subject == "sf.coordinator").values(phone="01632 960999"))
        s.commit()  # a later commit of something else must not carry the discarded e-mail with it
    assert status_of(app, nomination_id) is NominationStatus.SUBMITTED
    assert smtp.received == [] and smtp.connections == 0


def test_a_session_closed_without_committing_sends_nothing(app, smtp):
    nomination_id = nominated(app)
    with app.app_context():
        s = db.session()
        request_information(s, nomination_id)
        s.close()
        s.execute(select(1))
        s.commit()
    assert status_of(app, nomination_id) is NominationStatus.SUBMITTED
    assert smtp.connections == 0


def test_a_rolled_back_savepoint_discards_what_was_queued(app, smtp):
    nomination_id = nominated(app)
    with session_of(app) as s:
        savepoint = s.begin_nested()
        decline(s, nomination_id)
        savepoint.rollback()
    assert status_of(app, nomination_id) is NominationStatus.SUBMITTED
    assert smtp.connections == 0


def test_a_refused_change_sends_nothing(app, smtp):
    nomination_id = nominated(app)
    with session_of(app) as s, pytest.raises(StaleNomination):
        service.decline_nomination(s, context(s), nomination_id, REASON, version=version_in(s, nomination_id) - 1)
    assert smtp.connections == 0


def test_two_changes_in_one_transaction_go_over_one_connection(app, smtp):
    first, second = nominated(app), nominated(app, nominator="gp.practitioner")
    with session_of(app) as s:
        decline(s, first)
        request_information(s, second)
    assert smtp.connections == 1
    assert [r.rcpt_to for r in smtp.received] == [
        (email_of(app, "school.practitioner"),),
        (email_of(app, "gp.practitioner"),),
    ]


# ------------------------------------------------------------------------------------------ over HTTP


def test_over_http_the_coordinators_decision_is_emailed_and_the_link_opens_the_nomination(database_url, tmp_path, smtp):
    port = free_port()
    with portal(database_url, tmp_path, mail_env(smtp.port), port) as app:
        server = LiveServer(app, port).start()
        try:
            nomination_id = nominated(app)
            http, _ = dev_sign_in(server.url, "sf.coordinator")
            path = f"{server.url}/triage/nominations/{nomination_id}/decline"
            form = http.get(path, timeout=10).text
            version = re.search(r'name="version"[^>]*value="(\d+)"', form).group(1)
            data = {"csrf_token": csrf_token(form), "version": version, "reason": REASON}
            assert http.post(path, data=data, timeout=10, allow_redirects=False).status_code == 302
            stale = http.post(path, data=data, timeout=10, allow_redirects=False)
            assert stale.status_code in (403, 409)  # decided: refused, and nothing more is sent
            assert len(smtp.received) == 1
            link = the_link(smtp.received[0].body)

            nominator, _ = dev_sign_in(server.url, "school.practitioner")
            page = nominator.get(link, timeout=10)
            assert page.status_code == 200
            assert reference_of(app, nomination_id) in page.text and REASON in page.text
        finally:
            server.stop()


# --------------------------------------------------------------------------------- off, and failures


def test_with_email_off_nothing_is_sent_and_no_connection_is_made(database_url, tmp_path, smtp):
    env = {k: v for k, v in mail_env(smtp.port).items() if k != "PORTAL_NOMINATION_EMAIL"}
    with portal(database_url, tmp_path, env) as app:
        assert "mail_outbox" not in app.extensions
        for act, status, _ in CHANGES.values():
            nomination_id = nominated(app)
            with session_of(app) as s:
                act(s, nomination_id)
            assert status_of(app, nomination_id) is status
    assert smtp.connections == 0 and smtp.received == []


def test_seeding_the_demo_with_email_on_sends_nothing(app, smtp):
    with session_of(app) as s:
        seeded_now = seed_demo_nominations(s, date.today())
    with app.app_context():
        statuses = set(db.session().scalars(select(Nomination.status).where(Nomination.reference.like("SFN-DEMO%"))))
    # the demo asks, accepts and declines through the triage services, which e-mail when not suppressed
    # (the demo seed may already have made them, with the receiver listening since before the app was built)
    assert seeded_now.nominations in (0, 5)
    assert {NominationStatus.MORE_INFORMATION_REQUESTED, NominationStatus.ACCEPTED, NominationStatus.NOT_ACCEPTED} <= (
        statuses
    )
    assert smtp.connections == 0


def test_when_the_mail_server_is_down_the_change_is_made_and_a_warning_logged(database_url, tmp_path, caplog):
    closed = free_port()  # nothing listens here: the connection is refused
    with portal(database_url, tmp_path, mail_env(closed)) as app:
        nomination_id = nominated(app)
        with caplog.at_level(logging.INFO, logger="portal.mail"), session_of(app) as s:
            decline(s, nomination_id)
        assert status_of(app, nomination_id) is NominationStatus.NOT_ACCEPTED
        reference = reference_of(app, nomination_id)
        address = email_of(app, "school.practitioner")
    [warning] = [r for r in caplog.records if r.name == "portal.mail" and r.levelno == logging.WARNING]
    said = warning.getMessage()
    assert f"127.0.0.1:{closed} failed" in said and "ConnectionRefusedError" in said
    assert f"nomination {reference} not_accepted" in said
    assert address not in caplog.text


def test_when_the_mail_server_is_down_the_coordinators_page_still_succeeds(database_url, tmp_path, caplog):
    port = free_port()
    with portal(database_url, tmp_path, mail_env(free_port()), port) as app:
        server = LiveServer(app, port).start()
        try:
            nomination_id = nominated(app)
            http, _ = dev_sign_in(server.url, "sf.coordinator")
            path = f"{server.url}/triage/nominations/{nomination_id}/request-information"
            form = http.get(path, timeout=10).text
            version = re.search(r'name="version"[^>]*value="(\d+)"', form).group(1)
            with caplog.at_level(logging.WARNING, logger="portal.mail"):
                sent = http.post(
                    path,
                    data={"csrf_token": csrf_token(form), "version": version, "message": QUESTION},
                    timeout=10,
                    allow_redirects=False,
                )
            assert sent.status_code == 302
            assert status_of(app, nomination_id) is NominationStatus.MORE_INFORMATION_REQUESTED
        finally:
            server.stop()
    assert any(r.name == "portal.mail" and r.levelno == logging.WARNING for r in caplog.records)


def test_a_mail_server_that_never_answers_costs_the_request_at_most_the_timeout(database_url, tmp_path, caplog):
    hung = SilentListener()
    try:
        with portal(database_url, tmp_path, mail_env(hung.port)) as app:
            nomination_id = nominated(app)
            with caplog.at_level(logging.WARNING, logger="portal.mail"), app.app_context():
                s = db.session()
                decline(s, nomination_id)
                started = time.monotonic()
                s.commit()
                took = time.monotonic() - started
            assert status_of(app, nomination_id) is NominationStatus.NOT_ACCEPTED
    finally:
        hung.close()
    assert 0.9 <= took < 3, took  # PORTAL_SMTP_TIMEOUT=1: one wait for the greeting, then given up
    assert "e-mail not sent (nomination SFN-" in caplog.text and "timed out" in caplog.text


def test_a_refused_recipient_is_a_warning_and_the_others_are_still_sent(app, smtp, caplog):
    smtp.refuse.add(email_of(app, "school.practitioner"))
    refused, delivered = nominated(app), nominated(app, nominator="gp.practitioner")
    with caplog.at_level(logging.WARNING, logger="portal.mail"), session_of(app) as s:
        decline(s, refused)
        decline(s, delivered)
    assert status_of(app, refused) is NominationStatus.NOT_ACCEPTED
    assert [r.rcpt_to for r in smtp.received] == [(email_of(app, "gp.practitioner"),)]
    assert f"nomination {reference_of(app, refused)} not_accepted" in caplog.text
    assert "refused the recipient" in caplog.text and email_of(app, "school.practitioner") not in caplog.text


def test_a_disabled_nominator_or_one_without_an_address_is_not_emailed(app, smtp):
    nomination_id = nominated(app)
    with session_of(app) as s:
        s.execute(update(User).where(User.subject == "school.practitioner").values(disabled=True))
    with session_of(app) as s:
        decline(s, nomination_id)
    other = nominated(app, nominator="gp.practitioner")
    with session_of(app) as s:
        s.execute(update(User).where(User.subject == "gp.practitioner").values(email=None))
    with session_of(app) as s:
        decline(s, other)
    assert smtp.connections == 0


# ------------------------------------------------------------------------------ the connection itself


def test_credentials_are_given_to_the_mail_server_when_configured(database_url, tmp_path):
    receiver = SmtpReceiver(credentials=("portal", "s3cret-for-tests")).start()
    env = mail_env(receiver.port, PORTAL_SMTP_USERNAME="portal", PORTAL_SMTP_PASSWORD="s3cret-for-tests")
    try:
        with portal(database_url, tmp_path, env) as app:
            nomination_id = nominated(app)
            with session_of(app) as s:
                decline(s, nomination_id)
    finally:
        receiver.stop()
    assert receiver.logins == [("portal", "s3cret-for-tests")]
    assert len(receiver.received) == 1


def test_with_starttls_on_a_server_without_it_gets_nothing_not_even_the_password(database_url, tmp_path, caplog):
    receiver = SmtpReceiver(credentials=("portal", "s3cret-for-tests")).start()
    env = mail_env(receiver.port, PORTAL_SMTP_USERNAME="portal", PORTAL_SMTP_PASSWORD="s3cret-for-tests")
    env["PORTAL_SMTP_STARTTLS"] = "1"
    try:
        with portal(database_url, tmp_path, env) as app:
            nomination_id = nominated(app)
            with caplog.at_level(logging.WARNING, logger="portal.mail"), session_of(app) as s:
                decline(s, nomination_id)
            assert status_of(app, nomination_id) is NominationStatus.NOT_ACCEPTED
    finally:
        receiver.stop()
    assert receiver.connections == 1 and receiver.logins == [] and receiver.received == []
    assert "STARTTLS extension not supported" in caplog.text
    assert "s3cret-for-tests" not in caplog.text
