"""What follows acceptance (``accept.py``): the family's page with the criteria met and eligibility, and
(re-exported from ``family_steps``, which writes them) the lead professional, the fair processing notice
given, and the flags partners will see.

Same rules as ``service.py``: through the gate first, logged before anything is returned, never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NOTICE_METHOD_LABELS, NoticeGiven, NoticeMethod, NoticeVersion
from portal import gate
from portal.access_log.events import EventType
from portal.families.models import Family, FamilyMember, Flag, MemberRole, Person
from portal.gate import AccessContext, Seen
from portal.organisations.models import User
from referrals.framework import Criterion, Framework
from referrals.models import NominatedPerson, NominationStatus
from referrals.triage.core import NoFamilyYet, State, authorise
from referrals.triage.eligibility import Eligibility, criteria_for_categories, eligibility
from referrals.triage.family_steps import (
    FLAG_ENDS_AFTER,
    FLAG_LONGEST,
    FLAG_REVIEW_AFTER,
    Choice,
    assign_lead_professional,
    lead_choices,
    raise_flags,
    record_notice,
)
from referrals.triage.models import CriterionMet
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

#: the steps after acceptance, for the views (which call them as ``family.<name>``)
__all__ = [
    "FLAG_ENDS_AFTER",
    "FLAG_LONGEST",
    "FLAG_REVIEW_AFTER",
    "Choice",
    "FamilySetup",
    "MemberView",
    "NoticeMethod",
    "assign_lead_professional",
    "get_family_setup_for",
    "lead_and_coordinator",
    "raise_flags",
    "record_notice",
]

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


def _notice_versions(session: Session) -> tuple[Choice, ...]:
    versions = session.scalars(
        select(NoticeVersion).order_by(NoticeVersion.published_on.desc(), NoticeVersion.reference)
    )
    return tuple(Choice(str(v.id), f"{v.label}: {v.title}") for v in versions)


def _recorded_criteria(
    session: Session, family_id: uuid.UUID, framework: Framework
) -> tuple[dict[uuid.UUID, dict[str, str]], int]:
    """person -> criterion key -> where its evidence came from, under the framework the portal runs now;
    and how many criteria were recorded under another framework (shown, not counted)."""
    keys = {c.key for c in framework.criteria}
    recorded: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    other_framework = 0
    for row in session.execute(
        select(CriterionMet.person_id, CriterionMet.framework_key, CriterionMet.criterion_key, CriterionMet.source)
        .where(CriterionMet.family_id == family_id)
        .order_by(CriterionMet.recorded_at)
    ):
        if row.framework_key != framework.key or row.criterion_key not in keys:
            other_framework += 1
            continue
        recorded[row.person_id].setdefault(row.criterion_key, row.source.label)
    return recorded, other_framework


def _live_flags(session: Session, family_id: uuid.UUID, today: date) -> dict[uuid.UUID, FlagSummary]:
    flags: dict[uuid.UUID, FlagSummary] = {}
    for flag in session.scalars(
        select(Flag).where(Flag.family_id == family_id, Flag.removed_at.is_(None)).order_by(Flag.raised_at)
    ):
        if flag.live_on(today):
            flags[flag.person_id] = FlagSummary(
                flag.raised_at.date(), flag.review_on, flag.ends_on, tuple(c.category for c in flag.concerns)
            )
    return flags


def _members(
    session: Session, state: State, framework: Framework, today: date, covered: set[uuid.UUID]
) -> tuple[list[MemberView], int]:
    """The family's current members, this nomination's people first, with the criteria each meets (those
    recorded, and those their live flag evidences) and their flag; and the other framework's count."""
    assert state.family_id is not None
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
    recorded, other_framework = _recorded_criteria(session, state.family_id, framework)
    flags = _live_flags(session, state.family_id, today)
    members = []
    for role, person in sorted(rows, key=lambda r: (r[1].id not in nominated_here, r[1].full_name)):
        met = dict(recorded.get(person.id, {}))
        if person.id in flags:
            for key in criteria_for_categories(framework, flags[person.id].categories):
                met.setdefault(key, "An existing flag")
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
    return members, other_framework


def _notice_views(notices: Sequence[NoticeGiven], names: dict[uuid.UUID, str]) -> tuple[NoticeView, ...]:
    return tuple(
        NoticeView(
            n.version.label,
            n.given_on,
            NOTICE_METHOD_LABELS[n.method],
            tuple(sorted(names.get(m.person_id, "A former member") for m in n.members)),
        )
        for n in notices
    )


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
    notices = session.scalars(
        select(NoticeGiven).where(NoticeGiven.family_id == state.family_id).order_by(NoticeGiven.given_on)
    ).all()
    covered = {m.person_id for n in notices for m in n.members}
    members, other_framework = _members(session, state, framework, ctx.today, covered)
    judged = eligibility(framework, {m.person_id: {c.criterion.key for c in m.criteria} for m in members})
    shown = [
        Seen(m.person_id, state.family_id, policy.Tier.DETAIL, {c.criterion.category for c in m.criteria})
        for m in members
    ] or [Seen(None, state.family_id)]
    gate.record(
        session, ctx, EventType.NOMINATION_VIEWED, permit, shown, detail={"nomination_id": str(state.id), "page": page}
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
        notices=_notice_views(notices, {m.person_id: m.name for m in members}),
        lead_choices=lead_choices(session),
        notice_versions=_notice_versions(session),
        default_review_on=ctx.today + FLAG_REVIEW_AFTER,
        default_ends_on=ctx.today + FLAG_ENDS_AFTER,
    )


def lead_and_coordinator(setup: FamilySetup, ctx: AccessContext) -> Sequence[Choice]:
    """Who may have given the notice: the family's lead professional, or the coordinator recording it."""
    choices = [Choice(str(ctx.user_id), "I gave it")]
    if setup.lead_id is not None and setup.lead_id != ctx.user_id:
        choices.insert(0, Choice(str(setup.lead_id), f"{setup.lead}, the lead professional"))
    return choices
