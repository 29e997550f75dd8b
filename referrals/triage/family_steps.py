"""The council's three steps after accepting a nomination: the lead professional, the fair processing
notice given, and the flags partners will see. Apart from the family's page (``family.py``, which
re-exports them for the views) because these write, each through the domain whose rows they are
(``portal.families.records``, ``consent.records``), and the page only reads.

Same rules as ``service.py``: through the gate first, logged before anything is returned, every change
a compare-and-swap on the nomination's version, flush and never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import records as consent_records
from consent.models import NOTICE_METHOD_LABELS, NoticeMethod, NoticeVersion
from portal import gate
from portal.access_log.events import EventType
from portal.families import records
from portal.families.models import Family, FamilyMember, Flag
from portal.gate import AccessContext, Seen
from portal.kit.formatting import govuk_date
from portal.organisations.models import Organisation, OrganisationKind, Role, User, UserRole
from referrals.models import NominatedPerson, NominationEventKind
from referrals.triage.core import NoFamilyYet, State, TriageError, add_event, advance, authorise
from referrals.triage.models import CriterionMet
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

#: flag defaults: reviewed after about three months, seen by partners for a year unless renewed
FLAG_REVIEW_AFTER = timedelta(days=91)
FLAG_ENDS_AFTER = timedelta(days=365)
#: the longest a flag may be raised for in one go
FLAG_LONGEST = timedelta(days=3 * 366)


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


def lead_choices(session: Session) -> tuple[Choice, ...]:
    """Practitioners who can lead a family: the council's own first, then partners', by name."""
    rows = session.execute(
        select(User.id, User.display_name, User.job_title, Organisation.name, Organisation.kind)
        .join(Organisation, Organisation.id == User.organisation_id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.PRACTITIONER, User.disabled.is_(False), Organisation.active.is_(True))
    ).all()
    rows = sorted(rows, key=lambda r: (r.kind != OrganisationKind.COUNCIL_TEAM, r.name, r.display_name, str(r.id)))
    return tuple(
        Choice(str(r.id), f"{r.display_name}{', ' + r.job_title if r.job_title else ''} ({r.name})") for r in rows
    )


def _accepted(
    session: Session, ctx: AccessContext, action: TriageAction, nomination_id: uuid.UUID, event: EventType
) -> tuple[State, gate.Permit, Family]:
    state, permit = authorise(session, ctx, action, nomination_id, event)
    if state.family_id is None:  # accepted always sets it; a row edited by hand might not
        raise NoFamilyYet(state.reference)
    family = session.get(Family, state.family_id)
    assert family is not None
    return state, permit, family


# ------------------------------------------------------------------------------ lead professional


def assign_lead_professional(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, lead_id: uuid.UUID, *, version: int
) -> None:
    """Make an active practitioner the accepted family's lead professional; flush, never commit.

    Partners who serve the family see the lead's name and contact on the flag, and the lead sees the
    family's flags as its lead professional.

    Raises:
        AccessDenied (logged), NominationNotFound, StaleNomination, TriageError (not a practitioner).
    """
    state, permit, family = _accepted(
        session, ctx, TriageAction.ASSIGN_LEAD_PROFESSIONAL, nomination_id, EventType.LEAD_PROFESSIONAL_ASSIGNED
    )
    if lead_id.hex not in {uuid.UUID(c.value).hex for c in lead_choices(session)}:
        raise TriageError("Choose a practitioner whose account is active.", field="lead")
    advance(session, ctx, state, version)
    lead = session.get(User, lead_id)
    assert lead is not None
    records.set_lead_professional(session, family.id, lead_id)
    add_event(
        session,
        ctx,
        state,
        NominationEventKind.LEAD_PROFESSIONAL_ASSIGNED,
        f"{lead.display_name} leads family {family.reference}.",
    )
    gate.record(
        session,
        ctx,
        EventType.LEAD_PROFESSIONAL_ASSIGNED,
        permit,
        [Seen(None, family.id)],
        detail={"nomination_id": str(state.id), "lead_professional_id": str(lead_id)},
    )


# ----------------------------------------------------------------------------------- the notice


def _check_notice(
    session: Session,
    ctx: AccessContext,
    family: Family,
    notice_version: NoticeVersion | None,
    chosen: set[uuid.UUID],
    given_on: date,
    given_by_id: uuid.UUID,
) -> NoticeVersion:
    """The notice as the coordinator recorded it, checked before anything is written.

    Raises:
        TriageError: an unknown version, no member or one not in the family, a date in the future or
            before the version was published, or a giver who is neither the lead nor the coordinator.
    """
    if notice_version is None:
        raise TriageError("Choose the version of the notice the family was given.", field="notice_version")
    members = set(session.scalars(select(FamilyMember.person_id).where(FamilyMember.family_id == family.id)))
    if not chosen:
        raise TriageError("Select the family members the notice was given to.", field="members")
    if chosen - members:
        raise TriageError("Select only members of this family.", field="members")
    if given_on > ctx.today:
        raise TriageError("The date the notice was given must be today or in the past.", field="given_on")
    if given_on < notice_version.published_on:
        raise TriageError(
            f"{notice_version.label} was published on {govuk_date(notice_version.published_on)}: "
            "the date it was given must be on or after that.",
            field="given_on",
        )
    if given_by_id not in {ctx.user_id, family.lead_professional_id}:
        raise TriageError("Say who gave the notice.", field="given_by")
    return notice_version


def record_notice(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    *,
    version: int,
    notice_version_id: uuid.UUID,
    member_ids: Collection[uuid.UUID],
    given_on: date,
    method: NoticeMethod,
    given_by_id: uuid.UUID,
) -> uuid.UUID:
    """Record the fair processing notice given to the accepted family; flush, never commit.

    ``given_by_id`` is who gave it: the family's lead professional or the coordinator recording it.
    What partners may then see follows from the version's coverage (``portal.gate``).

    Returns:
        The notice-given record's id.

    Raises:
        AccessDenied (logged), NominationNotFound, StaleNomination, TriageError (an unknown version, a
        member not in the family, a date in the future or before the version was published).
    """
    state, permit, family = _accepted(
        session, ctx, TriageAction.RECORD_NOTICE, nomination_id, EventType.NOTICE_GIVEN_RECORDED
    )
    chosen = set(member_ids)
    notice_version = _check_notice(
        session, ctx, family, session.get(NoticeVersion, notice_version_id), chosen, given_on, given_by_id
    )
    advance(session, ctx, state, version)
    notice = consent_records.give_notice(
        session,
        family_id=family.id,
        version_id=notice_version.id,
        member_ids=chosen,
        given_on=given_on,
        given_by_id=given_by_id,
        method=method,
        recorded_at=ctx.at,
    )
    given = f"{NOTICE_METHOD_LABELS[method].lower()} on {govuk_date(given_on)}"
    members = f"{len(chosen)} {'member' if len(chosen) == 1 else 'members'}"
    message = f"{notice_version.label} given {given} to {members} of family {family.reference}."
    add_event(session, ctx, state, NominationEventKind.NOTICE_RECORDED, message)
    gate.record(
        session,
        ctx,
        EventType.NOTICE_GIVEN_RECORDED,
        permit,
        [Seen(pid, family.id) for pid in sorted(chosen)],
        detail={
            "nomination_id": str(state.id),
            "notice_given_id": str(notice.id),
            "notice_version": notice_version.label,
        },
    )
    return notice.id


# ------------------------------------------------------------------------------------------ flags


def _check_flag(ctx: AccessContext, family: Family, review_on: date, ends_on: date) -> None:
    """Raises TriageError: no lead professional yet (partners must be told whom to contact), or dates
    out of order or too far ahead."""
    if family.lead_professional_id is None:
        raise TriageError(
            "Assign a lead professional before raising flags: partners will be told whom to contact.", field="review_on"
        )
    if review_on <= ctx.today:
        raise TriageError("The review date must be in the future.", field="review_on")
    if ends_on < review_on:
        raise TriageError("The end date must be on or after the review date.", field="ends_on")
    if ends_on > ctx.today + FLAG_LONGEST:
        raise TriageError("The end date must be within 3 years.", field="ends_on")


def _wanted(session: Session, state: State, family: Family) -> dict[uuid.UUID, set[str]]:
    """The nomination's people in the family, in its order, with the categories of the criteria they meet."""
    people = list(
        session.scalars(
            select(NominatedPerson.person_id)
            .where(NominatedPerson.nomination_id == state.id, NominatedPerson.person_id.is_not(None))
            .order_by(NominatedPerson.ordinal)
        )
    )
    categories: dict[uuid.UUID, set[str]] = defaultdict(set)
    for person_id, category in session.execute(
        select(CriterionMet.person_id, CriterionMet.category).where(
            CriterionMet.family_id == family.id, CriterionMet.person_id.in_(people)
        )
    ):
        categories[person_id].add(category)
    return {person_id: categories.get(person_id, set()) for person_id in people}


def _live_flags(
    session: Session, family_id: uuid.UUID, people: Collection[uuid.UUID], today: date
) -> dict[uuid.UUID, Flag]:
    """The live flags these people already have in the family (read before the nomination is claimed)."""
    return {
        f.person_id: f
        for f in session.scalars(
            select(Flag).where(Flag.family_id == family_id, Flag.person_id.in_(list(people)), Flag.removed_at.is_(None))
        )
        if f.live_on(today)
    }


def raise_flags(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    *,
    version: int,
    review_on: date,
    ends_on: date,
    family_told: bool,
) -> list[uuid.UUID]:
    """Raise a flag for each person of this nomination in the family, with a concern per category of the
    criteria recorded for them; flush, never commit. A member who already has a live flag in the family
    gains the missing concerns instead of a second flag (``portal.families.records.add_concerns``).

    Partners see a flag only through the gate (``portal.families.service``): when they serve the person,
    a protocol in force covers the category for them, and the notice given to the family covers it.

    Returns:
        The ids of the flags raised or added to.

    Raises:
        AccessDenied (logged), NominationNotFound, StaleNomination, TriageError (no lead professional
        yet, or dates out of order).
    """
    state, permit, family = _accepted(session, ctx, TriageAction.RAISE_FLAGS, nomination_id, EventType.FLAG_RAISED)
    _check_flag(ctx, family, review_on, ends_on)
    wanted = _wanted(session, state, family)
    live = _live_flags(session, family.id, wanted, ctx.today)
    advance(session, ctx, state, version)
    raised = [
        records.add_concerns(session, live[person_id], categories, family_told=family_told)
        if person_id in live
        else records.raise_flag(
            session,
            person_id=person_id,
            family_id=family.id,
            raised_by_id=ctx.user_id,
            raised_at=ctx.at,
            review_on=review_on,
            ends_on=ends_on,
            family_told=family_told,
            concerns=dict.fromkeys(categories),
        )
        for person_id, categories in wanted.items()
    ]
    people = f"{len(raised)} {'person' if len(raised) == 1 else 'people'}"
    message = f"Flags raised for {people} in family {family.reference}, for review on {govuk_date(review_on)}."
    add_event(session, ctx, state, NominationEventKind.FLAGS_RAISED, message)
    shown = [Seen(person_id, family.id, policy.Tier.DETAIL, categories) for person_id, categories in wanted.items()]
    gate.record(
        session,
        ctx,
        EventType.FLAG_RAISED,
        permit,
        shown or [Seen(None, family.id)],
        detail={"nomination_id": str(state.id), "flags": str(len(raised)), "family_id": str(family.id)},
    )
    return [f.id for f in raised]
