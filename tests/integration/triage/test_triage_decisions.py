"""Triage through its services (SQLite and PostgreSQL, both framework files):
Requesting information, declining, stale pages and concurrent decisions.

Each test says what a step leaves in the database and the access log (the data from ``tests/builders.py``,
the reads from ``tests/integration/reads.py``).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from portal.gate import AccessDenied
from referrals.models import Nomination, NominationEvent, NominationStatus
from referrals.setup import current_framework
from referrals.triage import accept, service
from referrals.triage.core import StaleNomination, TriageError
from tests.builders import context, session_of, tyler_nomination, user
from tests.integration.reads import last_entry, log, raw_by_id


def test_requesting_information_shares_the_message_and_changes_the_status(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        service.request_information(s, context(s), nomination.id, "  Does the school know the older sibling?  ")
    with session_of(app) as s:
        row = s.get(Nomination, nomination.id)
        assert row.status == NominationStatus.MORE_INFORMATION_REQUESTED
        event = s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id)).all()[-1]
        assert (event.kind.value, event.message, event.shared_with_nominator) == (
            "information_requested",
            "Does the school know the older sibling?",
            True,
        )
        raw = s.execute(raw_by_id("nomination_event", "message"), {"i": event.id}).scalar()
        assert "sibling" not in raw  # encrypted at rest
        thread = service.get_nomination_for(s, context(s), nomination.id, current_framework()).thread
        assert [m.message for m in thread] == ["Does the school know the older sibling?"]
    assert last_entry(app).event in ("nomination_viewed",)
    assert log(app, "event = 'nomination_information_requested'")


def test_declining_needs_a_reason_which_the_nominator_sees(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s, pytest.raises(TriageError, match="Enter the reason"):
        service.decline_nomination(s, context(s), nomination.id, "   ", version=1)
    with session_of(app) as s:
        assert s.get(Nomination, nomination.id).status == NominationStatus.SUBMITTED
        service.decline_nomination(
            s, context(s), nomination.id, "The family already has an early help plan.", version=1
        )
    with session_of(app) as s:
        row = s.get(Nomination, nomination.id)
        assert (row.status, row.decision_reason) == (
            NominationStatus.NOT_ACCEPTED,
            "The family already has an early help plan.",
        )
        assert row.decided_by_id == user(s, "sf.coordinator").id and row.decided_at is not None
        event = s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id)).all()[-1]
        assert event.kind.value == "not_accepted" and event.shared_with_nominator
    entry = last_entry(app)
    assert entry.event == "nomination_decided" and '"decision":"not_accepted"' in entry.detail


def test_a_decided_nomination_cannot_be_decided_again_and_the_refusal_is_logged(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s, status=NominationStatus.NOT_ACCEPTED)
    with session_of(app) as s, pytest.raises(AccessDenied) as refused:
        service.decline_nomination(s, context(s), nomination.id, "Again", version=1)
    assert [r.code for r in refused.value.decision.failed] == ["nomination_already_decided"]
    entry = last_entry(app)
    assert (entry.event, entry.outcome) == ("access_denied", "denied")
    assert "!nomination_already_decided" in entry.reasons and '"attempted":"nomination_decided"' in entry.detail
    with session_of(app) as s:
        with pytest.raises(AccessDenied):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=1,
                family=accept.FamilyChoice(new=True),
                criteria={},
            )
        with pytest.raises(AccessDenied):
            service.request_information(s, context(s), nomination.id, "More?")


def test_a_stale_version_is_refused_and_writes_nothing(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        service.request_information(s, context(s), nomination.id, "First question", version=1)
    with session_of(app) as s:
        events = s.scalar(
            select(func.count()).select_from(NominationEvent).where(NominationEvent.nomination_id == nomination.id)
        )
        with pytest.raises(StaleNomination):
            service.decline_nomination(s, context(s), nomination.id, "From an old tab", version=1)
        s.rollback()
        assert s.get(Nomination, nomination.id).status == NominationStatus.MORE_INFORMATION_REQUESTED
        assert (
            s.scalar(
                select(func.count()).select_from(NominationEvent).where(NominationEvent.nomination_id == nomination.id)
            )
            == events
        )


def test_of_two_concurrent_decisions_exactly_one_wins(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    maker = app.extensions["db_sessionmaker"]
    outcomes: dict[str, object] = {}
    with app.app_context():
        first = maker()
        ctx = context(first)
        service.decline_nomination(first, ctx, nomination.id, "First coordinator", version=1)  # holds the row

        def second() -> None:
            with app.app_context():
                other = maker()
                try:
                    service.request_information(other, ctx, nomination.id, "Second coordinator", version=1)
                    other.commit()
                    outcomes["second"] = "applied"
                except StaleNomination:
                    outcomes["second"] = "stale"
                except AccessDenied as exc:  # saw the decision already made
                    outcomes["second"] = exc.decision.failed[0].code
                finally:
                    other.close()

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)  # it waits for the first transaction's lock
        first.commit()
        first.close()
        thread.join(30)
    assert outcomes["second"] in ("stale", "nomination_already_decided")
    with session_of(app) as s:
        assert s.get(Nomination, nomination.id).status == NominationStatus.NOT_ACCEPTED
        messages = [
            e.message for e in s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id))
        ]
        assert "Second coordinator" not in messages
