"""Accepting a nomination: the family (new, existing, or the one a linked nomination belongs to), the
people (known people reused, new people recorded by ``portal.families.records``) and the criteria each
meets. The move to accepted is the state machine's (``core.council_move``); the family's rows are
written by their own domain's writers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.families import records
from portal.families.models import Family, FamilyMember, FamilyStatus, MemberRole, Person
from portal.gate import AccessContext, Seen
from referrals.framework import Criterion, Framework
from referrals.models import HouseholdRole, MatchStatus, NominatedPerson, Nomination, NominationStatus
from referrals.triage.core import (
    FamilyProblem,
    State,
    TriageError,
    authorise,
    council_move,
    known_with_identifiers,
    load_state,
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


def _resolve_family(session: Session, state: State, choice: FamilyChoice, today: date) -> uuid.UUID:
    """The family the people will join: an open one chosen (or the one a linked nomination must join),
    or a new one attached today. Nothing is written before every check has passed.

    Raises:
        FamilyProblem: a new family for people already known, no family chosen, no such family, a
            closed one, or not the family a linked nomination belongs to.
    """
    linked = linked_family_id(session, state)
    if choice.new:
        if linked is not None or state.linked:
            raise FamilyProblem(
                "These people are already known to the programme: add them to their existing family, not a new one.",
                field="family",
            )
        return records.create_family(session, reference=records.new_family_reference(session), attached_on=today).id
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
    return family.id


def _nominated(session: Session, state: State) -> Sequence[NominatedPerson]:
    return session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == state.id).order_by(NominatedPerson.ordinal)
    ).all()


def _chosen_criteria(
    framework: Framework, people: Sequence[NominatedPerson], criteria: Mapping[uuid.UUID, Collection[str]]
) -> dict[uuid.UUID, set[str]]:
    """The criteria ticked per nominated person, checked against the people and the framework.

    Raises:
        TriageError: a match not reviewed, criteria for someone not in the nomination, a key that is not
            the framework's, or no criterion at all.
    """
    unreviewed = [f"{p.given_name} {p.family_name}" for p in people if p.match_status == MatchStatus.UNREVIEWED]
    if unreviewed:
        raise TriageError(
            f"Confirm or reject the matches for {', '.join(unreviewed)} before accepting the nomination.",
            field="family",
        )
    chosen = {pid: set(keys) for pid, keys in criteria.items() if keys}
    if set(chosen) - {p.id for p in people}:
        raise TriageError("Criteria were given for someone who is not in this nomination.", field="family")
    unknown = set().union(*chosen.values()) - {c.key for c in framework.criteria} if chosen else set()
    if unknown:
        raise TriageError(f"Not criteria of {framework.name}: {', '.join(sorted(unknown))}.", field="family")
    if not chosen:
        first = people[0].id.hex if people else "family"
        raise TriageError(
            "Choose at least one criterion the nomination shows someone meets.", field=f"criteria_{first}"
        )
    return chosen


def _check_people(session: Session, people: Sequence[NominatedPerson]) -> None:
    """Nobody known twice, and no new person with an identifier someone known already has.

    Raises:
        TriageError: two people matched to one known person, or a new person's NHS number or UPN known.
    """
    confirmed = [p.person_id for p in people if p.person_id]
    if len(confirmed) != len(set(confirmed)):
        raise TriageError("Two people in the nomination are matched to the same known person.", field="family")
    if known_with_identifiers(session, [p for p in people if p.match_status == MatchStatus.NEW_PERSON]):
        raise TriageError(
            "Someone already known has the same NHS number or UPN as a person marked as new: review that match.",
            field="family",
        )


def _new_person(session: Session, nominated: NominatedPerson) -> uuid.UUID:
    """Record a nominated person nobody known matches, as ``portal.families`` writes people."""
    try:
        person = records.add_person(
            session,
            given_name=nominated.given_name,
            family_name=nominated.family_name,
            date_of_birth=nominated.date_of_birth,
            postcode=nominated.postcode,
            nhs_number=nominated.nhs_number,
            upn=nominated.upn,
        )
    except IntegrityError:
        # someone with the same NHS number or UPN was recorded by another request meanwhile; the view
        # rolls the whole acceptance back
        raise TriageError(
            "Someone with the same NHS number or UPN has just been recorded: review the matches again.",
            field="family",
        ) from None
    return person.id


def _record_criteria(
    session: Session,
    ctx: AccessContext,
    state: State,
    framework: Framework,
    family_id: uuid.UUID,
    nominated: NominatedPerson,
    keys: Collection[str],
) -> set[str]:
    """Record the criteria this person meets (the route's own, for the person the concern is about, as
    evidenced by the nomination); returns their data categories."""
    route = next((r for r in framework.routes if r.key == state.route_key), None)
    categories = set()
    for key in sorted(keys):
        criterion = framework.criterion(key)
        from_route = route is not None and key == route.criterion and nominated.ordinal == 0
        session.add(
            CriterionMet(
                family_id=family_id,
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
    return categories


def _attach(
    session: Session,
    ctx: AccessContext,
    state: State,
    framework: Framework,
    family_id: uuid.UUID,
    people: Sequence[NominatedPerson],
    chosen: Mapping[uuid.UUID, Collection[str]],
) -> tuple[list[Seen], int]:
    """Make each nominated person a member of the family (a new person where nobody known matched),
    with the criteria they meet; returns what the log records as shown, and how many people are new."""
    members = set(session.scalars(select(FamilyMember.person_id).where(FamilyMember.family_id == family_id)))
    new_people = 0
    shown = []
    for nominated in people:
        if nominated.person_id is None:
            nominated.person_id = _new_person(session, nominated)
            new_people += 1
        if nominated.person_id not in members:
            role = member_role(nominated, ctx.today)
            records.add_member(
                session, family_id=family_id, person_id=nominated.person_id, role=role, joined_on=ctx.today
            )
            members.add(nominated.person_id)
        keys = chosen.get(nominated.id, ())
        categories = _record_criteria(session, ctx, state, framework, family_id, nominated, keys)
        shown.append(Seen(nominated.person_id, family_id, policy.Tier.DETAIL, categories))
    # the nominating organisation follows what became of its nomination (never the family's flags:
    # policy.NO_FLAG_RELATIONSHIPS), so each person it nominated is recorded as nominated by it
    for nominated in people:
        if nominated.person_id is not None:
            records.record_relationship(
                session, organisation_id=state.organisation_id, person_id=nominated.person_id, on=ctx.today
            )
    return shown, new_people


#: what the nominator is told (their banner and "Your nominations" say so), in words that name no family
ACCEPTED_MESSAGE = "The council has accepted this nomination: the family will be offered support."


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
    known person, "no match" creates a new person (``portal.families.records.add_person``: encrypted,
    with blind indexes and blocking keys). ``criteria`` maps nominated person ids to the framework's
    criterion keys the coordinator ticked; the route's own criterion for the person the concern is about
    is recorded as evidenced by the nomination.

    Returns:
        The family's id.

    Raises:
        AccessDenied: not a coordinator, or already decided (logged).
        NominationNotFound, StaleNomination.
        TriageError: matches not all reviewed, no criterion, unknown criterion, the family cannot take
            them (FamilyProblem), or an identifier already known.
    """
    state, permit = authorise(session, ctx, TriageAction.ACCEPT_NOMINATION, nomination_id, EventType.NOMINATION_DECIDED)
    people = _nominated(session, state)
    chosen = _chosen_criteria(framework, people, criteria)
    _check_people(session, people)
    family_id = _resolve_family(session, state, family, ctx.today)
    decided = {"family_id": family_id, "decided_at": ctx.at, "decided_by_id": ctx.user_id}
    council_move(session, ctx, state, NominationStatus.ACCEPTED, version, ACCEPTED_MESSAGE, **decided)
    shown, new_people = _attach(session, ctx, state, framework, family_id, people, chosen)
    session.flush()
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_DECIDED,
        permit,
        shown,
        detail={
            "nomination_id": str(state.id),
            "decision": NominationStatus.ACCEPTED.value,
            "family_id": str(family_id),
            "new_family": "yes" if family.new else "no",
            "new_people": str(new_people),
        },
    )
    return family_id


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


def _open_families_of(
    session: Session, known: Mapping[uuid.UUID, str]
) -> tuple[dict[uuid.UUID, tuple[str, list[str]]], dict[uuid.UUID, list[str]]]:
    """The open families the confirmed people belong to: family -> (reference, members' names), and
    person -> the references of their families."""
    families: dict[uuid.UUID, tuple[str, list[str]]] = {}
    belongs: dict[uuid.UUID, list[str]] = defaultdict(list)
    for row in session.execute(
        select(FamilyMember.person_id, Family.id, Family.reference)
        .join(Family, Family.id == FamilyMember.family_id)
        .where(
            FamilyMember.person_id.in_(sorted(known)),
            FamilyMember.left_on.is_(None),
            Family.status == FamilyStatus.OPEN,
        )
        .order_by(Family.reference)
    ):
        families.setdefault(row.id, (row.reference, []))[1].append(known[row.person_id])
        belongs[row.person_id].append(row.reference)
    return families, belongs


def _linked_family(session: Session, state: State) -> tuple[tuple[uuid.UUID, str] | None, str | None]:
    """The family a linked nomination must join, labelled, or the reference of the earlier nomination
    it waits for (when that one has no family yet)."""
    try:
        linked_id = linked_family_id(session, state)
    except FamilyProblem:
        waiting = session.scalar(select(Nomination.reference).where(Nomination.id == state.linked_to_id))
        return None, waiting or "the earlier nomination"
    if linked_id is None:
        return None, None
    reference = session.scalar(select(Family.reference).where(Family.id == linked_id)) or ""
    return (linked_id, f"Family {reference}"), None


def _to_attach(
    p: NominatedPerson, known: Mapping[uuid.UUID, str], belongs: Mapping[uuid.UUID, list[str]]
) -> PersonToAttach:
    known_as = None
    if p.person_id in known:
        families = belongs.get(p.person_id)
        known_as = known[p.person_id] + (f" (family {', '.join(families)})" if families else "")
    return PersonToAttach(p.id, p.ordinal, f"{p.given_name} {p.family_name}", p.match_status, known_as)


def get_acceptance_for(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, framework: Framework
) -> Acceptance:
    """The accept page's content, passing the gate for accepting and logging the known people shown.

    Raises:
        AccessDenied (logged), NominationNotFound.
    """
    state, permit = authorise(session, ctx, TriageAction.ACCEPT_NOMINATION, nomination_id, EventType.NOMINATION_VIEWED)
    people = _nominated(session, state)
    confirmed = sorted({p.person_id for p in people if p.person_id})
    known = {
        row.id: f"{row.given_name} {row.family_name}"
        for row in session.execute(
            select(Person.id, Person.given_name, Person.family_name).where(Person.id.in_(confirmed))
        )
    }
    families, belongs = _open_families_of(session, known)
    linked_family, waiting = _linked_family(session, state)
    linked_id = linked_family[0] if linked_family else None
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
    route = next((r for r in framework.routes if r.key == state.route_key), None)
    return Acceptance(
        id=state.id,
        reference=state.reference,
        version=state.version,
        route_title=route.title if route else state.route_key,
        people=tuple(_to_attach(p, known, belongs) for p in people),
        families=tuple((fid, f"Family {ref}, with {', '.join(names)}") for fid, (ref, names) in families.items()),
        linked_family=linked_family,
        waiting_for_earlier=waiting,
        criteria=framework.criteria,
        route_criterion=route.criterion if route else None,
        threshold=framework.threshold,
        framework_name=framework.name,
    )
