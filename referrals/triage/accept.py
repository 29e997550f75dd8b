"""Accepting a nomination: the family (new, existing, or the one a linked nomination belongs to), the
people (known people reused, new people created encrypted with their keys) and the criteria each meets."""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.families.identifiers import indexed_identifiers
from portal.families.models import Family, FamilyMember, FamilyStatus, MemberRole, Person
from portal.gate import AccessContext, Seen
from referrals import notifications
from referrals.framework import Criterion, Framework
from referrals.matching import fill_blocking_keys
from referrals.models import (
    HouseholdRole,
    MatchStatus,
    NominatedPerson,
    Nomination,
    NominationEventKind,
    NominationStatus,
)
from referrals.states import record_nominator_relationship
from referrals.triage.core import (
    FamilyProblem,
    State,
    TriageError,
    add_event,
    advance,
    authorise,
    known_with_identifiers,
    load_state,
    nomination_for_update,
)
from referrals.triage.models import CriterionMet, EvidenceSource
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

ADULT_AGE = 18

# ------------------------------------------------------------------------------------- accepting


@dataclass(frozen=True)
class FamilyChoice:
    """Where accepted people go: a new family, or an existing one by id (or by the reference typed)."""

    new: bool = False
    family_id: uuid.UUID | None = None
    reference: str | None = None


def linked_family_id(session: Session, state: State) -> uuid.UUID | None:
    """The family a linked nomination must join: the one it was linked to, or the earlier nomination's.

    Raises:
        FamilyProblem: linked to an earlier nomination that has no family yet (decide that one first).
    """
    if state.family_id is not None:
        return state.family_id
    if state.linked_to_id is None:
        return None
    earlier = load_state(session, state.linked_to_id)
    if earlier is None or earlier.family_id is None:
        reference = earlier.reference if earlier else "the earlier nomination"
        raise FamilyProblem(
            f"This nomination was added to {reference}, which has no family yet: decide {reference} first.",
            field="family",
        )
    return earlier.family_id


def member_role(person: NominatedPerson, today: date) -> MemberRole:
    """The family role of a nominated person. The person the concern is about is a child or a parent or
    carer by their age when it is known; without a date of birth, a child if they have a UPN."""
    if person.role == HouseholdRole.PARENT_CARER:
        return MemberRole.PARENT_CARER
    if person.role == HouseholdRole.CHILD:
        return MemberRole.CHILD
    if person.role == HouseholdRole.OTHER_ADULT:
        return MemberRole.OTHER_ADULT
    dob = person.date_of_birth
    if dob is not None:
        age = today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
        return MemberRole.CHILD if age < ADULT_AGE else MemberRole.PARENT_CARER
    return MemberRole.CHILD if person.upn else MemberRole.PARENT_CARER


def new_family_reference(session: Session) -> str:
    """A family reference no family has yet (SF- and six digits, as partners quote them)."""
    for _ in range(20):
        reference = f"SF-{secrets.randbelow(900_000) + 100_000:06d}"
        if session.scalar(select(Family.id).where(Family.reference == reference)) is None:
            return reference
    raise RuntimeError("could not find a free family reference")  # 20 collisions in a million: not by chance


def _resolve_family(session: Session, state: State, choice: FamilyChoice, today: date) -> Family:
    linked = linked_family_id(session, state)
    if choice.new:
        if linked is not None or state.linked:
            raise FamilyProblem(
                "These people are already known to the programme: add them to their existing family, not a new one.",
                field="family",
            )
        family = Family(reference=new_family_reference(session), attached_on=today, status=FamilyStatus.OPEN)
        session.add(family)
        return family
    if choice.family_id is not None:
        family = session.get(Family, choice.family_id)
    elif choice.reference:
        family = session.scalar(select(Family).where(Family.reference == choice.reference.strip().upper()))
    else:
        raise FamilyProblem("Choose the family to add these people to.", field="family")
    if family is None:
        raise FamilyProblem("There is no family with that reference.", field="family_reference")
    if family.status != FamilyStatus.OPEN:
        raise FamilyProblem(f"Family {family.reference} is closed: choose an open family.", field="family")
    if linked is not None and family.id != linked:
        raise FamilyProblem("This nomination is linked to an existing family: add the people to it.", field="family")
    return family


def accept_nomination(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    framework: Framework,
    *,
    version: int,
    family: FamilyChoice,
    criteria: Mapping[uuid.UUID, Collection[str]],
) -> uuid.UUID:
    """Accept a nomination: attach its people to a family and record the criteria each meets; flush only.

    Every nominated person's match must have been reviewed: a confirmed match joins the family as the
    known person, "no match" creates a new person (encrypted, with blind indexes and blocking keys).
    ``criteria`` maps nominated person ids to the framework's criterion keys the coordinator ticked; the
    route's own criterion for the person the concern is about is recorded as evidenced by the nomination.

    Returns:
        The family's id.

    Raises:
        AccessDenied: not a coordinator, or already decided (logged).
        NominationNotFound, StaleNomination.
        TriageError: matches not all reviewed, no criterion, unknown criterion, the family cannot take
            them (FamilyProblem), or an identifier already known.
    """
    state, permit = authorise(session, ctx, TriageAction.ACCEPT_NOMINATION, nomination_id, EventType.NOMINATION_DECIDED)
    people = session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == state.id).order_by(NominatedPerson.ordinal)
    ).all()
    unreviewed = [f"{p.given_name} {p.family_name}" for p in people if p.match_status == MatchStatus.UNREVIEWED]
    if unreviewed:
        raise TriageError(
            f"Confirm or reject the matches for {', '.join(unreviewed)} before accepting the nomination.",
            field="family",
        )
    known_keys = {c.key for c in framework.criteria}
    chosen = {pid: set(keys) for pid, keys in criteria.items() if keys}
    if set(chosen) - {p.id for p in people}:
        raise TriageError("Criteria were given for someone who is not in this nomination.", field="family")
    unknown = set().union(*chosen.values()) - known_keys if chosen else set()
    if unknown:
        raise TriageError(f"Not criteria of {framework.name}: {', '.join(sorted(unknown))}.", field="family")
    if not chosen:
        first = people[0].id.hex if people else "family"
        raise TriageError(
            "Choose at least one criterion the nomination shows someone meets.", field=f"criteria_{first}"
        )
    confirmed = [p.person_id for p in people if p.person_id]
    if len(confirmed) != len(set(confirmed)):
        raise TriageError("Two people in the nomination are matched to the same known person.", field="family")
    clash = known_with_identifiers(session, [p for p in people if p.match_status == MatchStatus.NEW_PERSON])
    if clash:
        raise TriageError(
            "Someone already known has the same NHS number or UPN as a person marked as new: review that match.",
            field="family",
        )
    target = _resolve_family(session, state, family, ctx.today)
    advance(session, ctx, state, version)

    session.flush()  # the family's id
    route = next((r for r in framework.routes if r.key == state.route_key), None)
    members = set(session.scalars(select(FamilyMember.person_id).where(FamilyMember.family_id == target.id)))
    new_people = 0
    shown = []
    for nominated in people:
        if nominated.person_id is None:
            person = Person(
                **indexed_identifiers(nominated.nhs_number, nominated.upn),
                given_name=nominated.given_name,
                family_name=nominated.family_name,
                date_of_birth=nominated.date_of_birth,
                postcode=nominated.postcode,
            )
            fill_blocking_keys(person)
            session.add(person)
            try:
                session.flush()
            except IntegrityError:
                # someone with the same NHS number or UPN was recorded by another request meanwhile; the
                # view rolls the whole acceptance back
                raise TriageError(
                    "Someone with the same NHS number or UPN has just been recorded: review the matches again.",
                    field="family",
                ) from None
            nominated.person_id = person.id
            new_people += 1
        if nominated.person_id not in members:
            session.add(
                FamilyMember(
                    family_id=target.id,
                    person_id=nominated.person_id,
                    role=member_role(nominated, ctx.today),
                    joined_on=ctx.today,
                )
            )
            members.add(nominated.person_id)
        categories = set()
        for key in sorted(chosen.get(nominated.id, ())):
            criterion = framework.criterion(key)
            from_route = route is not None and key == route.criterion and nominated.ordinal == 0
            session.add(
                CriterionMet(
                    family_id=target.id,
                    person_id=nominated.person_id,
                    framework_key=framework.key,
                    framework_version=framework.version,
                    criterion_key=key,
                    category=criterion.category,
                    indicator_key=route.indicator if from_route and route else None,
                    source=EvidenceSource.NOMINATION if from_route else EvidenceSource.COORDINATOR,
                    nomination_id=state.id,
                    recorded_by_id=ctx.user_id,
                    recorded_at=ctx.at,
                )
            )
            categories.add(criterion.category)
        shown.append(Seen(nominated.person_id, target.id, policy.Tier.DETAIL, categories))
    nomination = nomination_for_update(session, state)
    # the nominating organisation follows what became of its nomination (never the family's flags:
    # policy.NO_FLAG_RELATIONSHIPS), so each person it nominated is recorded as nominated by it
    for nominated in people:
        if nominated.person_id is not None:
            record_nominator_relationship(
                session, organisation_id=nomination.organisation_id, person_id=nominated.person_id, on=ctx.today
            )
    nomination.status = NominationStatus.ACCEPTED
    nomination.decided_at = ctx.at
    nomination.decided_by_id = ctx.user_id
    nomination.family_id = target.id
    # shared with the nominator (their banner and "Your nominations" say so), in words that name no family
    add_event(
        session,
        ctx,
        state,
        NominationEventKind.ACCEPTED,
        "The council has accepted this nomination: the family will be offered support.",
        shared=True,
    )
    session.flush()
    notifications.status_changed(session, state.id, NominationStatus.ACCEPTED)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_DECIDED,
        permit,
        shown,
        detail={
            "nomination_id": str(state.id),
            "decision": NominationStatus.ACCEPTED.value,
            "family_id": str(target.id),
            "new_family": "yes" if family.new else "no",
            "new_people": str(new_people),
        },
    )
    return target.id


@dataclass(frozen=True)
class PersonToAttach:
    id: uuid.UUID
    ordinal: int
    name: str
    match_status: MatchStatus
    #: the known person confirmed, "Name (families SF-...)", or None for a new person or unreviewed
    known_as: str | None


@dataclass(frozen=True)
class Acceptance:
    """What the accept page offers: the people, the families they could join, the criteria."""

    id: uuid.UUID
    reference: str
    version: int
    route_title: str
    people: tuple[PersonToAttach, ...]
    #: (family id, label) of the open families the confirmed people belong to
    families: tuple[tuple[uuid.UUID, str], ...]
    #: the family a linked nomination must join (the only choice offered), if linked
    linked_family: tuple[uuid.UUID, str] | None
    #: True when linked to an earlier nomination that has no family yet (accepting is not possible)
    waiting_for_earlier: str | None
    criteria: tuple[Criterion, ...]
    #: the criterion the route evidences, ticked for the person the concern is about
    route_criterion: str | None
    threshold: int
    framework_name: str

    @property
    def all_reviewed(self) -> bool:
        return all(p.match_status != MatchStatus.UNREVIEWED for p in self.people)


def get_acceptance_for(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, framework: Framework
) -> Acceptance:
    """The accept page's content, passing the gate for accepting and logging the known people shown.

    Raises:
        AccessDenied (logged), NominationNotFound.
    """
    state, permit = authorise(session, ctx, TriageAction.ACCEPT_NOMINATION, nomination_id, EventType.NOMINATION_VIEWED)
    people = session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == state.id).order_by(NominatedPerson.ordinal)
    ).all()
    confirmed = sorted({p.person_id for p in people if p.person_id})
    known = {
        row.id: f"{row.given_name} {row.family_name}"
        for row in session.execute(
            select(Person.id, Person.given_name, Person.family_name).where(Person.id.in_(confirmed))
        )
    }
    families: dict[uuid.UUID, tuple[str, list[str]]] = {}
    belongs: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in session.execute(
        select(FamilyMember.person_id, Family.id, Family.reference)
        .join(Family, Family.id == FamilyMember.family_id)
        .where(
            FamilyMember.person_id.in_(confirmed), FamilyMember.left_on.is_(None), Family.status == FamilyStatus.OPEN
        )
        .order_by(Family.reference)
    ):
        families.setdefault(row.id, (row.reference, []))[1].append(known[row.person_id])
        belongs[row.person_id].append(row.reference)
    linked_family = None
    waiting = None
    try:
        linked_id = linked_family_id(session, state)
    except FamilyProblem:
        linked_id = None
        waiting = next(
            (r for r in session.scalars(select(Nomination.reference).where(Nomination.id == state.linked_to_id))),
            "the earlier nomination",
        )
    if linked_id is not None:
        reference = session.scalar(select(Family.reference).where(Family.id == linked_id)) or ""
        linked_family = (linked_id, f"Family {reference}")
    route = next((r for r in framework.routes if r.key == state.route_key), None)
    shown = [Seen(pid, None) for pid in confirmed] + ([Seen(None, linked_id)] if linked_id else [])
    shown += [Seen(None, fid) for fid in families if fid != linked_id]
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_VIEWED,
        permit,
        shown,
        detail={"nomination_id": str(state.id), "page": "accept"},
    )
    return Acceptance(
        id=state.id,
        reference=state.reference,
        version=state.version,
        route_title=route.title if route else state.route_key,
        people=tuple(
            PersonToAttach(
                p.id,
                p.ordinal,
                f"{p.given_name} {p.family_name}",
                p.match_status,
                (
                    f"{known[p.person_id]}"
                    + (f" (family {', '.join(belongs[p.person_id])})" if belongs.get(p.person_id) else "")
                )
                if p.person_id in known
                else None,
            )
            for p in people
        ),
        families=tuple((fid, f"Family {ref}, with {', '.join(names)}") for fid, (ref, names) in families.items()),
        linked_family=linked_family,
        waiting_for_earlier=waiting,
        criteria=framework.criteria,
        route_criterion=route.criterion if route else None,
        threshold=framework.threshold,
        framework_name=framework.name,
    )
