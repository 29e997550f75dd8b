"""A draft, page by page: the first question creates it, every later page saves into it, and the
check-answers page knows what is still missing."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.crypto import blind_index
from portal.gate import AccessContext, NominationAccess, NominationRoute
from referrals.framework import Framework, Route
from referrals.journey.gate import change_draft, nomination_facts
from referrals.journey.records import (
    CHECK_ANSWERS,
    MAX_MEMBERS,
    MEMBER_ROLES,
    MemberNotFound,
    NominationView,
    PersonAnswers,
    Problem,
    TooManyMembers,
    UnknownRoute,
)
from referrals.models import (
    FamilyTold,
    HouseholdRole,
    NominatedPerson,
    Nomination,
    NominationStatus,
)
from sharing_protocols import policy

S = NominationStatus

# --------------------------------------------------------------------------------- the journey


def next_page(view: NominationView) -> str:
    """The first question page not yet answered, else check answers (where to continue a draft)."""
    if not view.no_immediate_risk:
        return "immediate-risk"
    if not view.route_key:
        return "route"
    if view.subject is None:
        return "person"
    if not view.concern:
        return "concern"
    if not view.tried:
        return "tried"
    if view.family_told is None:
        return "family-told"
    if view.needs_reason and not view.not_told_reason:
        return "why-not-told"
    return CHECK_ANSWERS


def missing_answers(view: NominationView, framework: Framework, organisation_kind: str) -> list[Problem]:
    """What the draft still needs before it can be sent, in page order (pure)."""
    problems = []
    if not view.no_immediate_risk:
        problems.append(Problem("immediate-risk", "Answer whether anyone is at immediate risk of harm"))
    if view.route_key not in {r.key for r in framework.routes_for(organisation_kind)}:
        problems.append(Problem("route", "Select what your concern is about"))
    if view.subject is None:
        problems.append(Problem("person", "Enter the details of the person your concern is about"))
    if not view.concern:
        problems.append(Problem("concern", "Enter what you are worried about"))
    if not view.tried:
        problems.append(Problem("tried", "Enter what your organisation has already tried"))
    if view.family_told is None:
        problems.append(Problem("family-told", "Select whether the family knows about this nomination"))
    elif view.needs_reason and not view.not_told_reason:
        problems.append(Problem("why-not-told", "Enter why the family has not been told or given the notice"))
    return problems


def start_draft(
    session: Session, ctx: AccessContext, framework: Framework, draft_id: uuid.UUID, *, immediate_risk: bool
) -> uuid.UUID | None:
    """Answer the first question. "No" creates the draft (its id chosen by the page, so a repeated or
    replayed POST finds the same draft instead of making a second); "yes" creates nothing.

    Returns:
        The draft's id, or None when someone is at immediate risk (the user must not continue).

    Raises:
        AccessDenied: the id is another user's nomination (logged).
        NotADraft: the id is a nomination already sent.
    """
    facts = nomination_facts(session, draft_id)
    if facts.status is not None:
        save_immediate_risk(session, ctx, draft_id, immediate_risk=immediate_risk)
        return None if immediate_risk else draft_id
    if immediate_risk:
        return None
    detail = {"nomination_id": str(draft_id), "page": "immediate-risk"}
    own_draft = policy.NominationFacts(str(draft_id), str(ctx.organisation_id), str(ctx.user_id), True)
    permit = gate.authorise(
        session, ctx, NominationAccess(own_draft), attempted=EventType.NOMINATION_DRAFT_SAVED, detail=detail
    )
    session.add(
        Nomination(
            id=draft_id,
            status=S.DRAFT,
            version=1,
            framework_key=framework.key,
            framework_version=framework.version,
            route_key="",
            category="",
            organisation_id=ctx.organisation_id,
            nominator_id=ctx.user_id,
            no_immediate_risk=True,
            created_at=ctx.at,
            updated_at=ctx.at,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        # the same page posted twice at once: the other request made the draft; this one adds nothing
        session.rollback()
        return draft_id
    gate.record(session, ctx, EventType.NOMINATION_DRAFT_SAVED, permit, detail=detail)
    return draft_id


def save_immediate_risk(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, *, immediate_risk: bool
) -> None:
    """Change the answer to "is anyone at immediate risk?": "yes" stops the draft from being sent."""
    nomination = change_draft(session, ctx, nomination_id, "immediate-risk")
    nomination.no_immediate_risk = not immediate_risk
    session.flush()


def route_facts(route: Route) -> policy.RouteFacts:
    return policy.RouteFacts(key=route.key, title=route.title, category=route.category, sectors=route.sectors)


def choose_route(
    session: Session, ctx: AccessContext, framework: Framework, nomination_id: uuid.UUID, route_key: str
) -> None:
    """Record the route. A route the organisation's sector may not use is refused by the policy and
    logged, however the request was made (the page offers only the sector's routes).

    Raises:
        UnknownRoute: not a route of the framework.
        AccessDenied: a route not open to the sector, or not the user's draft (logged).
    """
    try:
        route = framework.route(route_key)
    except KeyError:
        raise UnknownRoute(route_key) from None
    # role and sector only: whether a protocol covers the route is decided when the nomination is sent
    gate.authorise(
        session,
        ctx,
        NominationRoute(route_facts(route)),
        attempted=EventType.NOMINATION_DRAFT_SAVED,
        detail={"nomination_id": str(nomination_id), "page": "route", "route": route.key},
    )
    nomination = change_draft(session, ctx, nomination_id, "route")
    nomination.route_key = route.key
    nomination.category = route.category
    nomination.framework_key = framework.key
    nomination.framework_version = framework.version
    session.flush()


def _apply(person: NominatedPerson, answers: PersonAnswers) -> None:
    person.given_name = answers.given_name
    person.family_name = answers.family_name
    person.date_of_birth = answers.date_of_birth
    person.nhs_number = answers.nhs_number or None
    person.nhs_number_index = blind_index("nhs_number", answers.nhs_number) if answers.nhs_number else None
    person.upn = answers.upn or None
    person.upn_index = blind_index("upn", answers.upn) if answers.upn else None
    person.postcode = answers.postcode or None


def save_person(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, answers: PersonAnswers) -> None:
    """Record the person the concern is about (household number 0)."""
    nomination = change_draft(session, ctx, nomination_id, "person")
    subject = next((p for p in nomination.people if p.ordinal == 0), None)
    if subject is None:
        subject = NominatedPerson(ordinal=0, role=HouseholdRole.SUBJECT)
        nomination.people.append(subject)
    _apply(subject, answers)
    subject.role = HouseholdRole.SUBJECT
    session.flush()


def _member_role(answers: PersonAnswers) -> HouseholdRole:
    role = HouseholdRole(answers.role)
    if role not in MEMBER_ROLES:
        raise ValueError(f"{role} is not a household member's role")
    return role


def add_member(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, answers: PersonAnswers) -> int:
    """Add a household member; returns their number (1, 2, ...; numbers are never reused in a draft)."""
    role = _member_role(answers)
    nomination = change_draft(session, ctx, nomination_id, "household")
    members = [p for p in nomination.people if p.ordinal > 0]
    if len(members) >= MAX_MEMBERS:
        raise TooManyMembers(str(MAX_MEMBERS))
    ordinal = max((p.ordinal for p in nomination.people), default=0) + 1
    person = NominatedPerson(ordinal=ordinal, role=role)
    _apply(person, answers)
    nomination.people.append(person)
    session.flush()
    return ordinal


def change_member(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, ordinal: int, answers: PersonAnswers
) -> None:
    role = _member_role(answers)
    nomination = change_draft(session, ctx, nomination_id, "household")
    person = next((p for p in nomination.people if p.ordinal == ordinal and ordinal > 0), None)
    if person is None:
        raise MemberNotFound(str(ordinal))
    _apply(person, answers)
    person.role = role
    session.flush()


def remove_member(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, ordinal: int) -> None:
    nomination = change_draft(session, ctx, nomination_id, "household")
    person = next((p for p in nomination.people if p.ordinal == ordinal and ordinal > 0), None)
    if person is None:
        raise MemberNotFound(str(ordinal))
    nomination.people.remove(person)
    session.flush()


def save_concern(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, concern: str) -> None:
    change_draft(session, ctx, nomination_id, "concern").concern = concern
    session.flush()


def save_tried(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, tried: str) -> None:
    change_draft(session, ctx, nomination_id, "tried").tried = tried
    session.flush()


def save_family_told(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, told: str) -> bool:
    """Record whether the family knows; returns whether the "why not" page applies.

    When the family has been told and given the notice, a reason given earlier is no longer needed and
    is removed (keep no more than the nomination needs).
    """
    answer = FamilyTold(told)
    nomination = change_draft(session, ctx, nomination_id, "family-told")
    nomination.family_told = answer
    if answer is FamilyTold.TOLD_AND_NOTICE_GIVEN:
        nomination.not_told_reason = None
    session.flush()
    return answer is not FamilyTold.TOLD_AND_NOTICE_GIVEN


def save_not_told_reason(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, reason: str) -> None:
    change_draft(session, ctx, nomination_id, "why-not-told").not_told_reason = reason
    session.flush()
