"""Sending a draft to the council, exactly once, through the sharing check, with duplicates linked."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.families import records
from portal.gate import AccessContext, NominationSending
from referrals import states
from referrals.duplicates import Described, Duplicate, MatchedBy, find_duplicate
from referrals.framework import Framework
from referrals.journey.drafts import missing_answers, route_facts
from referrals.journey.gate import authorise_access, family_seen, load_view, nomination_facts
from referrals.journey.records import LINKED_MESSAGE, AlreadySubmitted, Incomplete, StaleDraft, Submitted
from referrals.models import (
    Nomination,
    NominationEventKind,
    NominationStatus,
)

S = NominationStatus
#: references are SFN- and six of these (no vowels, so no words; no 0/O or 1/I)
_REFERENCE_ALPHABET = "23456789BCDFGHJKLMNPQRSTVWXZ"

# ------------------------------------------------------------------------------------ submitting


def _new_reference(session: Session) -> str:
    for _ in range(20):
        reference = "SFN-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))
        if session.scalar(select(Nomination.id).where(Nomination.reference == reference)) is None:
            return reference
    raise RuntimeError("could not find an unused nomination reference")  # 28^6 = 481 million: never


def _take_draft(
    session: Session, ctx: AccessContext, framework: Framework, nomination_id: uuid.UUID, version: int
) -> Nomination:
    """Take the draft at the version the check-answers page showed (compare-and-swap) and check that
    every answer is there.

    Raises:
        AlreadySubmitted: it was sent already (a double submit, a replayed POST).
        StaleDraft: it changed after the page was shown (another tab).
        Incomplete: an answer is missing.
    """
    try:
        states.claim(session, nomination_id, statuses={S.DRAFT}, at=ctx.at, version=version)
    except states.NominationConflict as exc:
        if exc.moved_on:
            raise AlreadySubmitted(nomination_id, exc.found, exc.reference) from None
        raise StaleDraft(nomination_id) from None
    nomination = session.get(Nomination, nomination_id, populate_existing=True)
    assert nomination is not None
    problems = missing_answers(load_view(session, ctx, framework, nomination), framework, ctx.organisation_kind)
    if problems:
        raise Incomplete(problems)
    return nomination


def _send(
    session: Session,
    ctx: AccessContext,
    framework: Framework,
    nomination_id: uuid.UUID,
    category: str,
    duplicate: Duplicate | None,
) -> str:
    """Move the draft to submitted (or linked, to the record its person is already known in) with its new
    reference, and add the history: "submitted", and for a duplicate the notes on both nominations.
    The draft is already taken (``_take_draft``), so this cannot conflict. Returns the reference."""
    reference = _new_reference(session)
    values = {
        "reference": reference,
        "submitted_at": ctx.at,
        "nominator_seen_at": ctx.at,  # the nominator sees the outcome on the confirmation page
        "category": category,
        "framework_key": framework.key,
        "framework_version": framework.version,
    }
    if duplicate is not None:
        values |= {"linked_to_id": duplicate.nomination_id, "family_id": duplicate.family_id}
    to = S.LINKED if duplicate else S.SUBMITTED
    states.move(session, nomination_id, to, at=ctx.at, sources={S.DRAFT}, values=values)
    states.add_event(
        session,
        nomination_id,
        NominationEventKind.SUBMITTED,
        actor_id=ctx.user_id,
        at=ctx.at,
        shared_with_nominator=True,
    )
    if duplicate is not None:
        _link(session, ctx, nomination_id, reference, duplicate)
    return reference


def submit_nomination(
    session: Session, ctx: AccessContext, framework: Framework, nomination_id: uuid.UUID, *, version: int
) -> Submitted:
    """Send the draft to the council, exactly once.

    1. Take the draft at the version the check-answers page showed (compare-and-swap): a double submit
       or a replayed POST finds it sent (``AlreadySubmitted``), a page from another tab finds it changed
       (``StaleDraft``); either way nothing is sent twice.
    2. Every answer must be there (``Incomplete``).
    3. The sharing check through the gate: the route must be open to the organisation's sector and a
       protocol in force must cover its category for identification, partner to council. If not, the
       refusal is logged and committed on its own, the draft stays a draft, and ``AccessDenied`` says why.
    4. Duplicates: a person already known (a member of an open family, or in another open nomination)
       makes the nomination ``linked`` to that record instead of a new one
       (``referrals.duplicates.find_duplicate``); the nominator is told only that the person is known.
    5. The reference, the status, the history, and NOMINATION_SUBMITTED in the access log, all in this
       transaction.

    Raises:
        AccessDenied: not the user's draft (logged), or the sharing check refused (logged).
        AlreadySubmitted, StaleDraft, Incomplete: nothing was changed.
    """
    facts = nomination_facts(session, nomination_id)
    authorise_access(
        session, ctx, facts, EventType.NOMINATION_SUBMITTED, {"nomination_id": str(nomination_id), "route": ""}
    )
    nomination = _take_draft(session, ctx, framework, nomination_id, version)
    route = framework.route(nomination.route_key)
    detail = {"nomination_id": str(nomination_id), "route": route.key}
    sharing = gate.authorise(
        session, ctx, NominationSending(route_facts(route)), attempted=EventType.NOMINATION_SUBMITTED, detail=detail
    )
    duplicate = find_duplicate(
        session, [Described.of(p) for p in nomination.people], on=ctx.today, exclude_nomination_id=nomination_id
    )
    reference = _send(session, ctx, framework, nomination_id, route.category, duplicate)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_SUBMITTED,
        sharing,
        family_seen(duplicate.family_id if duplicate else None),
        detail={**detail, "outcome": "linked" if duplicate else "submitted"},
    )
    return Submitted(nomination_id, reference, duplicate is not None, duplicate)


def _link(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, reference: str, duplicate: Duplicate) -> None:
    """Tell the nominator the person was known (in plain words, nothing more), tell the council on the
    earlier nomination, and record the nominator relationship when the person is certainly the one."""
    states.add_event(
        session,
        nomination_id,
        NominationEventKind.DUPLICATE_LINKED,
        actor_id=ctx.user_id,
        at=ctx.at,
        message=LINKED_MESSAGE,
        shared_with_nominator=True,
    )
    if duplicate.nomination_id is not None:
        # for the coordinator only: the earlier nominator must not learn that someone else nominated
        states.add_event(
            session,
            duplicate.nomination_id,
            NominationEventKind.DUPLICATE_LINKED,
            actor_id=ctx.user_id,
            at=ctx.at,
            message=f"Nomination {reference} was added to this one (matched on {_matched_words(duplicate)}).",
            shared_with_nominator=False,
        )
    if duplicate.person_id is not None and duplicate.matched_by.exact:
        records.record_relationship(
            session, organisation_id=ctx.organisation_id, person_id=duplicate.person_id, on=ctx.today
        )


def _matched_words(duplicate: Duplicate) -> str:
    return {
        MatchedBy.NHS_NUMBER: "NHS number",
        MatchedBy.UPN: "UPN",
        MatchedBy.NAME_AND_DATE_OF_BIRTH: "name and date of birth",
    }[duplicate.matched_by]
