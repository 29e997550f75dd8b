"""What follows acceptance (``accept.py``): the family's page with the criteria met and eligibility, the
lead professional, the fair processing notice given, and the flags partners will see.

Same rules as ``service.py``: through the gate first, logged before anything is returned, every change
a compare-and-swap on the nomination's version, flush and never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, NoticeMethod, NoticeVersion
from portal import gate
from portal.access_log.events import EventType
from portal.families.models import Family, FamilyMember, Flag, FlagConcern, MemberRole, Person
from portal.gate import AccessContext, Seen
from portal.organisations.models import Organisation, OrganisationKind, Role, User, UserRole
from referrals.framework import Criterion, Framework
from referrals.models import (
    NominatedPerson,
    NominationEventKind,
    NominationStatus,
)
from referrals.triage.core import (
    NoFamilyYet,
    State,
    TriageError,
    add_event,
    advance,
    authorise,
    long_date,
)
from referrals.triage.eligibility import Eligibility, criteria_for_categories, eligibility
from referrals.triage.models import CriterionMet
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

#: flag defaults: reviewed after about three months, seen by partners for a year unless renewed
FLAG_REVIEW_AFTER = timedelta(days=91)
FLAG_ENDS_AFTER = timedelta(days=365)
#: the longest a flag may be raised for in one go
FLAG_LONGEST = timedelta(days=3 * 366)

NOTICE_METHOD_LABELS = {
    NoticeMethod.IN_PERSON: "In person",
    NoticeMethod.LETTER: "By letter",
    NoticeMethod.PHONE: "By phone",
    NoticeMethod.EMAIL: "By email",
}


# ------------------------------------------------------------------------------ the family's page


@dataclass(frozen=True)
class MetCriterion:
    criterion: Criterion
    #: where the evidence came from: the nomination, evidence the council holds, or an existing flag
    source: str


@dataclass(frozen=True)
class FlagSummary:
    raised_on: date
    review_on: date | None
    ends_on: date | None
    categories: tuple[str, ...]


@dataclass(frozen=True)
class MemberView:
    person_id: uuid.UUID
    name: str
    date_of_birth: date | None
    role: MemberRole
    #: nominated in this nomination (flags are raised for these)
    nominated_here: bool
    criteria: tuple[MetCriterion, ...]
    flag: FlagSummary | None
    #: a notice given to the family names this member
    notice_given: bool


@dataclass(frozen=True)
class NoticeView:
    label: str
    given_on: date
    method: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FamilySetup:
    nomination_id: uuid.UUID
    reference: str
    version: int
    family_id: uuid.UUID
    family_reference: str
    attached_on: date
    lead_id: uuid.UUID | None
    lead: str | None
    members: tuple[MemberView, ...]
    eligibility: Eligibility[uuid.UUID]
    #: criteria recorded under another framework than the one the portal runs now (not counted)
    other_framework_criteria: int
    notices: tuple[NoticeView, ...]
    lead_choices: tuple[Choice, ...]
    notice_versions: tuple[Choice, ...]
    default_review_on: date
    default_ends_on: date

    @property
    def flags_raised(self) -> bool:
        nominated = [m for m in self.members if m.nominated_here]
        return bool(nominated) and all(m.flag is not None for m in nominated)


def _lead_choices(session: Session) -> tuple[Choice, ...]:
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


def _notice_versions(session: Session) -> tuple[Choice, ...]:
    versions = session.scalars(
        select(NoticeVersion).order_by(NoticeVersion.published_on.desc(), NoticeVersion.reference)
    )
    return tuple(Choice(str(v.id), f"{v.label}: {v.title}") for v in versions)


def get_family_setup_for(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    framework: Framework,
    *,
    page: str = "family",
    action: TriageAction = TriageAction.VIEW_NOMINATION,
) -> FamilySetup:
    """The accepted family as triage leaves it: members, criteria met, eligibility, lead, notices, flags.

    Eligibility counts the criteria recorded under the framework the portal runs now, and those that
    members' live flags in the family already evidence (a family attached before nominations existed).

    Raises:
        AccessDenied (logged), NominationNotFound, NoFamilyYet.
    """
    state, permit = authorise(session, ctx, action, nomination_id, EventType.NOMINATION_VIEWED)
    if state.status != NominationStatus.ACCEPTED or state.family_id is None:
        raise NoFamilyYet(state.reference)
    lead_id, family_reference, attached_on, lead_name = session.execute(
        select(Family.lead_professional_id, Family.reference, Family.attached_on, User.display_name)
        .outerjoin(User, User.id == Family.lead_professional_id)
        .where(Family.id == state.family_id)
    ).one()
    rows = session.execute(
        select(FamilyMember.role, Person)
        .join(Person, Person.id == FamilyMember.person_id)
        .where(FamilyMember.family_id == state.family_id, FamilyMember.left_on.is_(None))
    ).all()
    nominated_here = set(
        session.scalars(
            select(NominatedPerson.person_id).where(
                NominatedPerson.nomination_id == state.id, NominatedPerson.person_id.is_not(None)
            )
        )
    )
    recorded: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    other_framework = 0
    for row in session.execute(
        select(CriterionMet.person_id, CriterionMet.framework_key, CriterionMet.criterion_key, CriterionMet.source)
        .where(CriterionMet.family_id == state.family_id)
        .order_by(CriterionMet.recorded_at)
    ):
        if row.framework_key != framework.key or row.criterion_key not in {c.key for c in framework.criteria}:
            other_framework += 1
            continue
        recorded[row.person_id].setdefault(row.criterion_key, row.source.label)
    flags: dict[uuid.UUID, FlagSummary] = {}
    for flag in session.scalars(
        select(Flag).where(Flag.family_id == state.family_id, Flag.removed_at.is_(None)).order_by(Flag.raised_at)
    ):
        if flag.live_on(ctx.today):
            flags[flag.person_id] = FlagSummary(
                flag.raised_at.date(), flag.review_on, flag.ends_on, tuple(c.category for c in flag.concerns)
            )
    notices = session.scalars(
        select(NoticeGiven).where(NoticeGiven.family_id == state.family_id).order_by(NoticeGiven.given_on)
    ).all()
    names = {person.id: person.full_name for _, person in rows}
    covered = {m.person_id for n in notices for m in n.members}
    member_criteria: dict[uuid.UUID, set[str]] = {}
    members = []
    for role, person in sorted(rows, key=lambda r: (r[1].id not in nominated_here, r[1].full_name)):
        met = dict(recorded.get(person.id, {}))
        if person.id in flags:
            for key in criteria_for_categories(framework, flags[person.id].categories):
                met.setdefault(key, "An existing flag")
        member_criteria[person.id] = set(met)
        members.append(
            MemberView(
                person_id=person.id,
                name=person.full_name,
                date_of_birth=person.date_of_birth,
                role=role,
                nominated_here=person.id in nominated_here,
                criteria=tuple(MetCriterion(c, met[c.key]) for c in framework.criteria if c.key in met),
                flag=flags.get(person.id),
                notice_given=person.id in covered,
            )
        )
    judged = eligibility(framework, member_criteria)
    shown = [
        Seen(m.person_id, state.family_id, policy.Tier.DETAIL, {c.criterion.category for c in m.criteria})
        for m in members
    ] or [Seen(None, state.family_id)]
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_VIEWED,
        permit,
        shown,
        detail={"nomination_id": str(state.id), "page": page},
    )
    return FamilySetup(
        nomination_id=state.id,
        reference=state.reference,
        version=state.version,
        family_id=state.family_id,
        family_reference=family_reference,
        attached_on=attached_on,
        lead_id=lead_id,
        lead=lead_name,
        members=tuple(members),
        eligibility=judged,
        other_framework_criteria=other_framework,
        notices=tuple(
            NoticeView(
                n.version.label,
                n.given_on,
                NOTICE_METHOD_LABELS[n.method],
                tuple(sorted(names.get(m.person_id, "A former member") for m in n.members)),
            )
            for n in notices
        ),
        lead_choices=_lead_choices(session),
        notice_versions=_notice_versions(session),
        default_review_on=ctx.today + FLAG_REVIEW_AFTER,
        default_ends_on=ctx.today + FLAG_ENDS_AFTER,
    )


# ------------------------------------------------------------------------- after acceptance


def _accepted(
    session: Session, ctx: AccessContext, action: TriageAction, nomination_id: uuid.UUID, event: EventType
) -> tuple[State, gate.Permit, Family]:
    state, permit = authorise(session, ctx, action, nomination_id, event)
    if state.family_id is None:  # accepted always sets it; a row edited by hand might not
        raise NoFamilyYet(state.reference)
    family = session.get(Family, state.family_id)
    assert family is not None
    return state, permit, family


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
    if lead_id.hex not in {uuid.UUID(c.value).hex for c in _lead_choices(session)}:
        raise TriageError("Choose a practitioner whose account is active.", field="lead")
    advance(session, ctx, state, version)
    lead = session.get(User, lead_id)
    assert lead is not None
    family.lead_professional_id = lead_id
    add_event(
        session,
        ctx,
        state,
        NominationEventKind.LEAD_PROFESSIONAL_ASSIGNED,
        f"{lead.display_name} leads family {family.reference}.",
    )
    session.flush()
    gate.record(
        session,
        ctx,
        EventType.LEAD_PROFESSIONAL_ASSIGNED,
        permit,
        [Seen(None, family.id)],
        detail={"nomination_id": str(state.id), "lead_professional_id": str(lead_id)},
    )


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
    notice_version = session.get(NoticeVersion, notice_version_id)
    if notice_version is None:
        raise TriageError("Choose the version of the notice the family was given.", field="notice_version")
    members = set(session.scalars(select(FamilyMember.person_id).where(FamilyMember.family_id == family.id)))
    chosen = set(member_ids)
    if not chosen:
        raise TriageError("Select the family members the notice was given to.", field="members")
    if chosen - members:
        raise TriageError("Select only members of this family.", field="members")
    if given_on > ctx.today:
        raise TriageError("The date the notice was given must be today or in the past.", field="given_on")
    if given_on < notice_version.published_on:
        raise TriageError(
            f"{notice_version.label} was published on {long_date(notice_version.published_on)}: "
            "the date it was given must be on or after that.",
            field="given_on",
        )
    if given_by_id not in {ctx.user_id, family.lead_professional_id}:
        raise TriageError("Say who gave the notice.", field="given_by")
    advance(session, ctx, state, version)
    notice = NoticeGiven(
        family_id=family.id,
        version_id=notice_version.id,
        given_on=given_on,
        given_by_id=given_by_id,
        method=method,
        recorded_at=ctx.at,
        members=[NoticeGivenMember(person_id=pid) for pid in sorted(chosen)],
    )
    session.add(notice)
    session.flush()
    add_event(
        session,
        ctx,
        state,
        NominationEventKind.NOTICE_RECORDED,
        f"{notice_version.label} given {NOTICE_METHOD_LABELS[method].lower()} on {long_date(given_on)} "
        f"to {len(chosen)} {'member' if len(chosen) == 1 else 'members'} of family {family.reference}.",
    )
    session.flush()
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
    gains the missing concerns instead of a second flag.

    Partners see a flag only through the gate (``portal.families.service``): when they serve the person,
    a protocol in force covers the category for them, and the notice given to the family covers it.

    Returns:
        The ids of the flags raised or added to.

    Raises:
        AccessDenied (logged), NominationNotFound, StaleNomination, TriageError (no lead professional
        yet, or dates out of order).
    """
    state, permit, family = _accepted(session, ctx, TriageAction.RAISE_FLAGS, nomination_id, EventType.FLAG_RAISED)
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
    people = [
        pid
        for pid in session.scalars(
            select(NominatedPerson.person_id)
            .where(NominatedPerson.nomination_id == state.id, NominatedPerson.person_id.is_not(None))
            .order_by(NominatedPerson.ordinal)
        )
    ]
    categories: dict[uuid.UUID, set[str]] = defaultdict(set)
    for person_id, category in session.execute(
        select(CriterionMet.person_id, CriterionMet.category).where(
            CriterionMet.family_id == family.id, CriterionMet.person_id.in_(people)
        )
    ):
        categories[person_id].add(category)
    live = {
        f.person_id: f
        for f in session.scalars(
            select(Flag).where(Flag.family_id == family.id, Flag.person_id.in_(people), Flag.removed_at.is_(None))
        )
        if f.live_on(ctx.today)
    }
    advance(session, ctx, state, version)
    raised = []
    shown = []
    for person_id in people:
        flag = live.get(person_id)
        wanted = categories.get(person_id, set())
        if flag is None:
            flag = Flag(
                person_id=person_id,
                family_id=family.id,
                raised_by_id=ctx.user_id,
                raised_at=ctx.at,
                review_on=review_on,
                ends_on=ends_on,
                family_told=family_told,
                concerns=[FlagConcern(category=c) for c in sorted(wanted)],
            )
            session.add(flag)
        else:
            have = {c.category for c in flag.concerns}
            flag.concerns.extend(FlagConcern(category=c) for c in sorted(wanted - have))
            flag.family_told = flag.family_told or family_told
        raised.append(flag)
        shown.append(Seen(person_id, family.id, policy.Tier.DETAIL, wanted))
    session.flush()
    add_event(
        session,
        ctx,
        state,
        NominationEventKind.FLAGS_RAISED,
        f"Flags raised for {len(raised)} {'person' if len(raised) == 1 else 'people'} in family {family.reference}, "
        f"for review on {long_date(review_on)}.",
    )
    session.flush()
    gate.record(
        session,
        ctx,
        EventType.FLAG_RAISED,
        permit,
        shown or [Seen(None, family.id)],
        detail={"nomination_id": str(state.id), "flags": str(len(raised)), "family_id": str(family.id)},
    )
    return [f.id for f in raised]


def lead_and_coordinator(setup: FamilySetup, ctx: AccessContext) -> Sequence[Choice]:
    """Who may have given the notice: the family's lead professional, or the coordinator recording it."""
    choices = [Choice(str(ctx.user_id), "I gave it")]
    if setup.lead_id is not None and setup.lead_id != ctx.user_id:
        choices.insert(0, Choice(str(setup.lead_id), f"{setup.lead}, the lead professional"))
    return choices
