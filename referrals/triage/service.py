"""Triage for the council's coordinators: a nomination as the coordinator reads it, with its
candidate matches, and the summary above each form page. The verdicts on matches are ``matches.py``,
asking for information and declining ``decisions.py`` (both re-exported here, as the views call them);
the queue is ``queue.py``; accepting is ``accept.py`` and what follows it ``family.py``; what they all
share is ``core.py``.

Every function goes through the gate (``portal.gate.authorise``) before it reads anything
personal, logs what it showed or wrote (``gate.record``) before returning it, flushes and never
commits. Every change is a compare-and-swap of the state machine (``referrals.states``) on
``nomination.version`` and the status the decision was made on, so a stale page, a second tab or a
replayed POST changes nothing.

Public for other parts of the portal: ``request_information(session, ctx, nomination_id, message)``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from portal import gate
from portal.access_log.events import EventType
from portal.families.models import Family, FamilyMember, FamilyStatus, Person
from portal.gate import AccessContext, Seen
from portal.organisations.models import Organisation, User
from referrals.framework import Framework
from referrals.labels import FAMILY_TOLD_LABELS, ROLE_LABELS, STATUS_LABELS
from referrals.matching import Candidate, Strength, find_candidates
from referrals.models import (
    HouseholdRole,
    MatchStatus,
    NominatedPerson,
    Nomination,
    NominationEventKind,
    NominationStatus,
)
from referrals.triage.core import (
    CANDIDATES_SHOWN,
    HistoryEntry,
    MatchProblem,
    NominationNotFound,
    State,
    TriageError,
    authorise,
    details_of,
    history_of,
    route_title,
    thread_of,
)
from referrals.triage.decisions import decline_nomination, request_information
from referrals.triage.matches import MatchChoice, latest_verdicts, rejected_by, review_match
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

#: the verdicts and decisions, and the errors they raise, for the views and tests (which use them as
#: ``service.<name>``)
__all__ = [
    "MatchChoice",
    "MatchProblem",
    "NominationEventKind",
    "NominationNotFound",
    "NominationSummary",
    "NominationView",
    "TriageError",
    "decline_nomination",
    "get_nomination_for",
    "get_nomination_summary_for",
    "latest_verdicts",
    "rejected_by",
    "request_information",
    "review_match",
]

# ------------------------------------------------------------------------------------ nomination


@dataclass(frozen=True)
class KnownFamily:
    id: uuid.UUID
    reference: str
    open: bool


@dataclass(frozen=True)
class KnownPerson:
    """A person the programme already knows, as the coordinator sees them beside a nominated person."""

    id: uuid.UUID
    name: str
    date_of_birth: date | None
    nhs_number: str | None
    upn: str | None
    postcode: str | None
    families: tuple[KnownFamily, ...]


@dataclass(frozen=True)
class CandidateView:
    person: KnownPerson
    strength: Strength
    score: int
    reasons: tuple[str, ...]
    differences: tuple[str, ...]


@dataclass(frozen=True)
class NominatedPersonView:
    id: uuid.UUID
    ordinal: int
    role: HouseholdRole
    role_label: str
    name: str
    date_of_birth: date | None
    nhs_number: str | None
    upn: str | None
    postcode: str | None
    match_status: MatchStatus
    #: the known person a coordinator confirmed this is
    confirmed: KnownPerson | None
    candidates: tuple[CandidateView, ...]
    #: how many candidates a coordinator has rejected (they are not suggested again)
    rejected: int


@dataclass(frozen=True)
class LinkedNomination:
    id: uuid.UUID
    reference: str
    status_label: str


@dataclass(frozen=True)
class NominationView:
    id: uuid.UUID
    reference: str
    status: NominationStatus
    status_label: str
    version: int
    route_title: str
    category_label: str
    framework_key: str
    framework_version: str
    #: the framework the nomination was made under is not the one the portal runs now
    other_framework: bool
    organisation: str
    nominator_name: str
    nominator_email: str | None
    nominator_phone: str | None
    submitted_at: datetime | None
    no_immediate_risk: bool
    concern: str | None
    tried: str | None
    family_told: str | None
    not_told_reason: str | None
    decided_at: datetime | None
    decision_reason: str | None
    people: tuple[NominatedPersonView, ...]
    #: the earlier nomination this one was added to, if any
    linked_to: LinkedNomination | None
    #: later nominations added to this one
    linked_from: tuple[LinkedNomination, ...]
    #: the family: the one the people were attached to (accepted) or already belong to (linked)
    family: KnownFamily | None
    history: tuple[HistoryEntry, ...]
    #: the messages exchanged with the nominator (what the nominator sees too), oldest first
    thread: tuple[HistoryEntry, ...]

    @property
    def open(self) -> bool:
        return self.status.value in policy.OPEN_FOR_TRIAGE

    @property
    def accepted(self) -> bool:
        return self.status == NominationStatus.ACCEPTED

    @property
    def linked(self) -> bool:
        return self.status == NominationStatus.LINKED or self.linked_to is not None

    @property
    def all_reviewed(self) -> bool:
        return all(p.match_status != MatchStatus.UNREVIEWED for p in self.people)


def _known_families(session: Session, person_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[KnownFamily]]:
    if not person_ids:
        return {}
    found: dict[uuid.UUID, list[KnownFamily]] = defaultdict(list)
    for row in session.execute(
        select(FamilyMember.person_id, Family.id, Family.reference, Family.status)
        .join(Family, Family.id == FamilyMember.family_id)
        .where(FamilyMember.person_id.in_(sorted(person_ids)), FamilyMember.left_on.is_(None))
        .order_by(Family.reference)
    ):
        found[row.person_id].append(KnownFamily(row.id, row.reference, row.status == FamilyStatus.OPEN))
    return found


def _known_people(
    session: Session, person_ids: Collection[uuid.UUID], families: dict[uuid.UUID, list[KnownFamily]]
) -> dict[uuid.UUID, KnownPerson]:
    if not person_ids:
        return {}
    return {
        p.id: KnownPerson(
            p.id, p.full_name, p.date_of_birth, p.nhs_number, p.upn, p.postcode, tuple(families.get(p.id, ()))
        )
        for p in session.scalars(select(Person).where(Person.id.in_(sorted(person_ids))))
    }


def _linked(session: Session, state: State) -> tuple[LinkedNomination | None, tuple[LinkedNomination, ...]]:
    rows = session.execute(
        select(Nomination.id, Nomination.reference, Nomination.status, Nomination.linked_to_id).where(
            (Nomination.id == state.linked_to_id) | (Nomination.linked_to_id == state.id),
            Nomination.status != NominationStatus.DRAFT,
        )
    ).all()
    to = next(
        (
            LinkedNomination(r.id, r.reference or "", STATUS_LABELS[r.status])
            for r in rows
            if r.id == state.linked_to_id
        ),
        None,
    )
    from_ = tuple(
        LinkedNomination(r.id, r.reference or "", STATUS_LABELS[r.status])
        for r in sorted(rows, key=lambda r: r.reference or "")
        if r.linked_to_id == state.id
    )
    return to, from_


def _candidates(
    session: Session, state: State, people: Sequence[NominatedPerson]
) -> tuple[dict[uuid.UUID, list[Candidate[uuid.UUID]]], dict[uuid.UUID, set[uuid.UUID]]]:
    """The ranked candidates of each person not yet confirmed (while the nomination is open, never the
    ones a coordinator rejected), and the rejected ones per person."""
    rejected = rejected_by(latest_verdicts(session, [p.id for p in people]))
    if state.status.value not in policy.OPEN_FOR_TRIAGE:
        return {}, rejected
    searching = {p.id: details_of(p) for p in people if p.match_status != MatchStatus.CONFIRMED}
    if not searching:
        return {}, rejected
    return find_candidates(session, searching, limit=CANDIDATES_SHOWN, exclude=rejected), rejected


def _person_view(
    p: NominatedPerson,
    found: Sequence[Candidate[uuid.UUID]],
    known: dict[uuid.UUID, KnownPerson],
    rejected: int,
) -> NominatedPersonView:
    return NominatedPersonView(
        id=p.id,
        ordinal=p.ordinal,
        role=p.role,
        role_label=ROLE_LABELS[p.role],
        name=f"{p.given_name} {p.family_name}",
        date_of_birth=p.date_of_birth,
        nhs_number=p.nhs_number,
        upn=p.upn,
        postcode=p.postcode,
        match_status=p.match_status,
        confirmed=known.get(p.person_id) if p.person_id else None,
        candidates=tuple(
            CandidateView(known[c.key], c.strength, c.score, c.comparison.reasons, c.comparison.differences)
            for c in found
            if c.key in known
        ),
        rejected=rejected,
    )


def _family_of(session: Session, state: State) -> KnownFamily | None:
    if state.family_id is None:
        return None
    row = session.execute(select(Family.reference, Family.status).where(Family.id == state.family_id)).one()
    return KnownFamily(state.family_id, row.reference, row.status == FamilyStatus.OPEN)


def _as_sent(session: Session, state: State) -> dict[str, Any]:
    """What the nominator sent and who they are, and the decision, as the coordinator's view holds them
    (the answers decrypted)."""
    nominator = aliased(User)
    nomination, organisation, by = session.execute(
        select(Nomination, Organisation.name, nominator)
        .join(Organisation, Organisation.id == Nomination.organisation_id)
        .join(nominator, nominator.id == Nomination.nominator_id)
        .where(Nomination.id == state.id)
    ).one()
    told = nomination.family_told
    return {
        "organisation": organisation,
        "nominator_name": by.display_name,
        "nominator_email": by.email,
        "nominator_phone": by.phone,
        "submitted_at": nomination.submitted_at,
        "no_immediate_risk": nomination.no_immediate_risk,
        "concern": nomination.concern,
        "tried": nomination.tried,
        "family_told": FAMILY_TOLD_LABELS.get(told) if told else None,
        "not_told_reason": nomination.not_told_reason,
        "decided_at": nomination.decided_at,
        "decision_reason": nomination.decision_reason,
    }


def get_nomination_for(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, framework: Framework, *, page: str = "nomination"
) -> NominationView:
    """A nomination for the coordinator: what was submitted, the people with their ranked and explained
    candidate matches (while it is open), linked nominations, the history and the thread with the
    nominator. A fixed number of queries whatever the number of people or candidates.

    The access is logged with every known person shown (candidates and confirmed matches) and the
    family, so the DPO's "who has seen this person?" finds the coordinator too.

    Raises:
        AccessDenied: not a coordinator of the council, or a draft (logged).
        NominationNotFound: no such nomination.
    """
    state, permit = authorise(session, ctx, TriageAction.VIEW_NOMINATION, nomination_id, EventType.NOMINATION_VIEWED)
    sent = _as_sent(session, state)
    people = session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == state.id).order_by(NominatedPerson.ordinal)
    ).all()
    candidates, rejected = _candidates(session, state, people)
    shown_ids = {c.key for found in candidates.values() for c in found} | {p.person_id for p in people if p.person_id}
    families = _known_families(session, shown_ids)
    known = _known_people(session, shown_ids, families)
    linked_to, linked_from = _linked(session, state)
    family = _family_of(session, state)
    history = history_of(session, state)
    shown = [Seen(pid, families[pid][0].id if families.get(pid) else None) for pid in sorted(shown_ids)]
    if family is not None:
        shown.append(Seen(None, family.id, policy.Tier.DETAIL, permit.categories))
    gate.record(
        session, ctx, EventType.NOMINATION_VIEWED, permit, shown, detail={"nomination_id": str(state.id), "page": page}
    )
    return NominationView(
        id=state.id,
        reference=state.reference,
        status=state.status,
        status_label=STATUS_LABELS[state.status],
        version=state.version,
        route_title=route_title(framework, state.route_key),
        category_label=framework.category_label(state.category),
        framework_key=state.framework_key,
        framework_version=state.framework_version,
        other_framework=state.framework_key != framework.key,
        **sent,
        people=tuple(_person_view(p, candidates.get(p.id, ()), known, len(rejected.get(p.id, ()))) for p in people),
        linked_to=linked_to,
        linked_from=linked_from,
        family=family,
        history=history,
        thread=thread_of(history),
    )


# ------------------------------------------------------------------------------ form page summaries


@dataclass(frozen=True)
class NominationSummary:
    """What a form page about a nomination shows above the form: which nomination, whom it is about."""

    id: uuid.UUID
    reference: str
    status: NominationStatus
    status_label: str
    version: int
    route_title: str
    organisation: str
    nominator_name: str
    people: tuple[str, ...]
    thread: tuple[HistoryEntry, ...]


def get_nomination_summary_for(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    framework: Framework,
    *,
    action: TriageAction,
    page: str,
) -> NominationSummary:
    """The nomination for a form page, passing the gate for the action the form will take (so a decided
    nomination's decline page is refused with the reason before anything is filled in), logged.

    Raises:
        AccessDenied (logged), NominationNotFound.
    """
    state, permit = authorise(session, ctx, action, nomination_id, EventType.NOMINATION_VIEWED)
    organisation, nominator = session.execute(
        select(Organisation.name, User.display_name)
        .join(User, User.organisation_id == Organisation.id)
        .where(User.id == state.nominator_id)
    ).one()
    names = session.execute(
        select(NominatedPerson.given_name, NominatedPerson.family_name)
        .where(NominatedPerson.nomination_id == state.id)
        .order_by(NominatedPerson.ordinal)
    ).all()
    history = history_of(session, state)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_VIEWED,
        permit,
        [Seen(None, state.family_id)] if state.family_id else [],
        detail={"nomination_id": str(state.id), "page": page},
    )
    return NominationSummary(
        id=state.id,
        reference=state.reference,
        status=state.status,
        status_label=STATUS_LABELS[state.status],
        version=state.version,
        route_title=route_title(framework, state.route_key),
        organisation=organisation,
        nominator_name=nominator,
        people=tuple(f"{g} {f}" for g, f in names),
        thread=thread_of(history),
    )
