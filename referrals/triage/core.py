"""What every triage service shares: labels, errors, the nomination's state, the gate, the version
compare-and-swap, history and events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.crypto import blind_index
from portal.families.models import Person
from portal.gate import AccessContext, Triage
from portal.organisations.models import Organisation, User
from referrals import states
from referrals.framework import Framework
from referrals.labels import event_label
from referrals.matching import PersonDetails
from referrals.models import (
    NominatedPerson,
    Nomination,
    NominationEvent,
    NominationEventKind,
    NominationStatus,
)
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

PER_PAGE = 25
MAX_MESSAGE = 2000
#: candidates shown per nominated person
CANDIDATES_SHOWN = 5

#: the queue's statuses by default: everything still with the council
QUEUE_STATUSES = (
    NominationStatus.SUBMITTED,
    NominationStatus.MORE_INFORMATION_REQUESTED,
    NominationStatus.LINKED,
)
#: what the status filter offers: the queue, and decided nominations to look back at
STATUS_CHOICES = (*QUEUE_STATUSES, NominationStatus.ACCEPTED, NominationStatus.NOT_ACCEPTED)

# ---------------------------------------------------------------------------------------- errors


#: a triage request that cannot be carried out as asked; the message is for the coordinator, ``field``
#: names the form field it belongs to (so the page shows it beside the field and links to it from the
#: error summary) and ``status`` is the page's HTTP status. It is the state machine's own error class, so
#: that a conflict (``StaleNomination``) reaches the coordinator like any other refusal.
TriageError = states.NominationError

#: someone (or another tab) changed the nomination after this page was opened, or it has moved on: the
#: state machine's one conflict error (409), by the name the triage pages and their tests know it by
StaleNomination = states.NominationConflict


class NominationNotFound(TriageError, LookupError):
    status = 404


class MatchProblem(TriageError):
    """A match verdict that cannot be recorded (not a candidate, already matched, identifier known)."""

    status = 409


class FamilyProblem(TriageError):
    """The family chosen cannot take these people (not found, closed, or not the linked family)."""


class NoFamilyYet(TriageError):
    status = 404

    def __init__(self, reference: str) -> None:
        super().__init__(f"Nomination {reference} has not been accepted, so it has no family yet.")


# ----------------------------------------------------------------------------------------- state


@dataclass(frozen=True)
class State:
    """A nomination's columns that triage decides on, read without decrypting anything."""

    id: uuid.UUID
    reference: str
    status: NominationStatus
    version: int
    category: str
    route_key: str
    framework_key: str
    framework_version: str
    organisation_id: uuid.UUID
    nominator_id: uuid.UUID
    family_id: uuid.UUID | None
    linked_to_id: uuid.UUID | None
    submitted_at: datetime | None

    @property
    def facts(self) -> policy.NominationState:
        return policy.NominationState(str(self.id), self.reference, self.status.value, self.category)

    @property
    def linked(self) -> bool:
        """Marked by the nominator's side as already known: to add to an earlier nomination or a family."""
        return self.status == NominationStatus.LINKED or self.linked_to_id is not None


def load_state(session: Session, nomination_id: uuid.UUID) -> State | None:
    row = session.execute(
        select(
            Nomination.id,
            Nomination.reference,
            Nomination.status,
            Nomination.version,
            Nomination.category,
            Nomination.route_key,
            Nomination.framework_key,
            Nomination.framework_version,
            Nomination.organisation_id,
            Nomination.nominator_id,
            Nomination.family_id,
            Nomination.linked_to_id,
            Nomination.submitted_at,
        ).where(Nomination.id == nomination_id)
    ).one_or_none()
    if row is None:
        return None
    return State(**{**row._asdict(), "reference": row.reference or ""})


def authorise(
    session: Session, ctx: AccessContext, action: TriageAction, nomination_id: uuid.UUID, attempted: EventType
) -> tuple[State, gate.Permit]:
    """Load the nomination's state and pass the gate for this action; refusals are logged and raised.

    A nomination that does not exist is ``NominationNotFound`` for someone who may triage at all, and a
    refusal of their role or organisation for anyone else (so ids cannot be probed by partners).
    """
    state = load_state(session, nomination_id)
    detail = {"nomination_id": str(nomination_id)}
    if state is None:
        gate.authorise(session, ctx, Triage(TriageAction.LIST_NOMINATIONS), attempted=attempted, detail=detail)
        raise NominationNotFound("There is no nomination at this address.")
    permit = gate.authorise(session, ctx, Triage(action, state.facts), attempted=attempted, detail=detail)
    return state, permit


def advance(session: Session, ctx: AccessContext, state: State, version: int | None) -> int:
    """Claim the right to change the nomination without moving its status (a match verdict, a step
    after acceptance): bump its version if it is still as the page saw it.

    The compare-and-swap of ``referrals.states.claim``: one UPDATE that changes the row only if its
    version is the one the page showed (when given) and its status is the one the decision was made on,
    so of two concurrent requests exactly one proceeds (PostgreSQL re-checks the condition after waiting
    for the row lock). Moves of status go through ``referrals.states.council_move`` the same way.

    Raises:
        StaleNomination: the nomination changed since the page was opened; nothing was written.
        NominationNotFound: it no longer exists.
    """
    try:
        return states.claim(session, state.id, statuses=(state.status,), at=ctx.at, version=version)
    except LookupError:
        raise NominationNotFound("There is no nomination at this address.") from None


def council_move(
    session: Session,
    ctx: AccessContext,
    state: State,
    to: NominationStatus,
    version: int | None,
    message: str | None,
    **values: object,
) -> NominationEvent:
    """Move the nomination as the coordinator decided, from the status their page showed
    (``referrals.states.council_move``: the compare-and-swap, the history entry shared with the nominator
    and the nominator's e-mail).

    Raises:
        StaleNomination: it changed since the page was opened, or has moved on; nothing was written.
        NominationNotFound: it no longer exists.
    """
    try:
        return states.council_move(
            session,
            state.id,
            to,
            decided_on=state.status,
            version=version,
            actor_id=ctx.user_id,
            at=ctx.at,
            message=message,
            values=values,
        )
    except LookupError:
        raise NominationNotFound("There is no nomination at this address.") from None


def add_event(
    session: Session, ctx: AccessContext, state: State, kind: NominationEventKind, message: str | None = None
) -> NominationEvent:
    """A history entry by this coordinator, for the council only (``referrals.states.add_event``),
    stamped as it is written so that several steps under one request keep their order."""
    return states.add_event(session, state.id, kind, actor_id=ctx.user_id, message=message)


def route_title(framework: Framework, route_key: str) -> str:
    try:
        return framework.route(route_key).title
    except KeyError:
        return route_key.replace("_", " ").capitalize()


def details_of(person: NominatedPerson) -> PersonDetails:
    return PersonDetails(
        person.given_name,
        person.family_name,
        person.date_of_birth,
        person.postcode,
        person.nhs_number,
        person.upn,
    )


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: NominationEventKind
    label: str
    actor: str
    organisation: str
    message: str | None
    shared_with_nominator: bool


def history_of(session: Session, state: State) -> tuple[HistoryEntry, ...]:
    rows = session.execute(
        select(NominationEvent, User.display_name, Organisation.name)
        .join(User, User.id == NominationEvent.actor_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(NominationEvent.nomination_id == state.id)
        .order_by(NominationEvent.at, NominationEvent.id)
    ).all()
    return tuple(
        HistoryEntry(
            at=e.at,
            kind=e.kind,
            label=event_label(e.kind),
            actor=name,
            organisation=organisation,
            message=e.message,
            shared_with_nominator=e.shared_with_nominator,
        )
        for e, name, organisation in rows
    )


def thread_of(history: Sequence[HistoryEntry]) -> tuple[HistoryEntry, ...]:
    """The messages exchanged with the nominator: what they were shown, and what they wrote back."""
    return tuple(
        h for h in history if h.message and (h.shared_with_nominator or h.kind == NominationEventKind.INFORMATION_GIVEN)
    )


def known_with_identifiers(session: Session, people: Sequence[NominatedPerson]) -> dict[uuid.UUID, uuid.UUID]:
    """nominated person -> the known person with the same NHS number or UPN, if any (one query)."""
    nhs = {blind_index("nhs_number", p.nhs_number): p.id for p in people if p.nhs_number}
    upn = {blind_index("upn", p.upn): p.id for p in people if p.upn}
    if not nhs and not upn:
        return {}
    found: dict[uuid.UUID, uuid.UUID] = {}
    for row in session.execute(
        select(Person.id, Person.nhs_number_index, Person.upn_index).where(
            Person.nhs_number_index.in_(sorted(nhs)) | Person.upn_index.in_(sorted(upn))
        )
    ):
        for index, table in ((row.nhs_number_index, nhs), (row.upn_index, upn)):
            if index in table:
                found.setdefault(table[index], row.id)
    return found
