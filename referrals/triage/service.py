"""Triage for the council's coordinators: a nomination with its candidate matches, match verdicts,
requests for more information, and declining. The queue is ``queue.py``; accepting is ``accept.py``
and what follows it ``family.py``; what they all share is ``core.py``.

Every function goes through the gate (``portal.gate.authorise``) before it reads anything
personal, logs what it showed or wrote (``gate.record``) before returning it, flushes and never
commits. Every change goes through ``core.advance``: a compare-and-swap on ``nomination.version`` (and
the status the decision was made on), so a stale page, a second tab or a replayed POST changes nothing.

Public for other parts of the portal: ``request_information(session, ctx, nomination_id, message)``.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from portal import gate
from portal.access_log.events import EventType
from portal.families.models import Family, FamilyMember, FamilyStatus, Person
from portal.gate import AccessContext, Seen
from portal.organisations.models import Organisation, User
from referrals import notifications
from referrals.framework import Framework
from referrals.matching import Candidate, Strength, find_candidates
from referrals.models import (
    HouseholdRole,
    MatchStatus,
    NominatedPerson,
    Nomination,
    NominationEvent,
    NominationEventKind,
    NominationStatus,
)
from referrals.triage.core import (
    CANDIDATES_SHOWN,
    MAX_MESSAGE,
    ROLE_LABELS,
    STATUS_LABELS,
    HistoryEntry,
    MatchProblem,
    NominationNotFound,
    State,
    TriageError,
    add_event,
    advance,
    authorise,
    aware,
    details_of,
    history_of,
    known_with_identifiers,
    nomination_for_update,
    route_title,
    thread_of,
)
from referrals.triage.models import MatchOutcome, MatchReview
from sharing_protocols import policy
from sharing_protocols.policy import TriageAction

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


FAMILY_TOLD_LABELS = {
    "told_and_notice_given": "Yes, and they have been given the fair processing notice",
    "told_no_notice": "Yes, but they have not been given the fair processing notice",
    "not_told": "No",
}


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


def latest_verdicts(
    session: Session, nominated_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, MatchOutcome]]:
    """nominated person -> known person -> the latest verdict on that pair."""
    verdicts: dict[uuid.UUID, dict[uuid.UUID, MatchOutcome]] = defaultdict(dict)
    if not nominated_ids:
        return verdicts
    for row in session.execute(
        select(MatchReview.nominated_person_id, MatchReview.person_id, MatchReview.outcome)
        .where(MatchReview.nominated_person_id.in_(sorted(nominated_ids)))
        .order_by(MatchReview.reviewed_at, MatchReview.id)
    ):
        verdicts[row.nominated_person_id][row.person_id] = row.outcome
    return verdicts


def rejected_by(verdicts: dict[uuid.UUID, dict[uuid.UUID, MatchOutcome]]) -> dict[uuid.UUID, set[uuid.UUID]]:
    return {
        np_id: {pid for pid, outcome in by_person.items() if outcome == MatchOutcome.REJECTED}
        for np_id, by_person in verdicts.items()
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
    nominator = aliased(User)
    nomination, organisation, nominator_row = session.execute(
        select(Nomination, Organisation.name, nominator)
        .join(Organisation, Organisation.id == Nomination.organisation_id)
        .join(nominator, nominator.id == Nomination.nominator_id)
        .where(Nomination.id == state.id)
    ).one()
    people = session.scalars(
        select(NominatedPerson).where(NominatedPerson.nomination_id == state.id).order_by(NominatedPerson.ordinal)
    ).all()
    open_ = state.status.value in policy.OPEN_FOR_TRIAGE
    verdicts = latest_verdicts(session, [p.id for p in people])
    rejected = rejected_by(verdicts)
    searching = {p.id: details_of(p) for p in people if open_ and p.match_status != MatchStatus.CONFIRMED}
    candidates = find_candidates(session, searching, limit=CANDIDATES_SHOWN, exclude=rejected) if searching else {}
    shown_ids = {c.key for found in candidates.values() for c in found} | {p.person_id for p in people if p.person_id}
    families = _known_families(session, shown_ids)
    known = _known_people(session, shown_ids, families)
    linked_to, linked_from = _linked(session, state)
    family = None
    if state.family_id is not None:
        row = session.execute(select(Family.reference, Family.status).where(Family.id == state.family_id)).one()
        family = KnownFamily(state.family_id, row.reference, row.status == FamilyStatus.OPEN)
    history = history_of(session, state)

    shown = [Seen(pid, families[pid][0].id if families.get(pid) else None) for pid in sorted(shown_ids)]
    if family is not None:
        shown.append(Seen(None, family.id, policy.Tier.DETAIL, permit.categories))
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_VIEWED,
        permit,
        shown,
        detail={"nomination_id": str(state.id), "page": page},
    )

    def view(p: NominatedPerson) -> NominatedPersonView:
        found: Sequence[Candidate[uuid.UUID]] = candidates.get(p.id, ())
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
            rejected=len(rejected.get(p.id, ())),
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
        organisation=organisation,
        nominator_name=nominator_row.display_name,
        nominator_email=nominator_row.email,
        nominator_phone=nominator_row.phone,
        submitted_at=aware(nomination.submitted_at),
        no_immediate_risk=nomination.no_immediate_risk,
        concern=nomination.concern,
        tried=nomination.tried,
        family_told=FAMILY_TOLD_LABELS.get(nomination.family_told.value) if nomination.family_told else None,
        not_told_reason=nomination.not_told_reason,
        decided_at=aware(nomination.decided_at),
        decision_reason=nomination.decision_reason,
        people=tuple(view(p) for p in people),
        linked_to=linked_to,
        linked_from=linked_from,
        family=family,
        history=history,
        thread=thread_of(history),
    )


# -------------------------------------------------------------------------------------- matching


class MatchChoice(enum.StrEnum):
    CONFIRM = "confirm"  #: this candidate is the nominated person
    REJECT = "reject"  #: this candidate is not the nominated person
    NEW_PERSON = "new-person"  #: nobody known is the nominated person: a new person will be created


def review_match(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    nominated_person_id: uuid.UUID,
    choice: MatchChoice,
    *,
    version: int,
    person_id: uuid.UUID | None = None,
) -> None:
    """Record a coordinator's verdict on a match; flush, never commit. Nothing is ever merged silently.

    - CONFIRM: ``person_id`` (one of the candidates matching suggests) is the nominated person.
    - REJECT: ``person_id`` is not; it is not suggested again (a confirmed match can be rejected too).
    - NEW_PERSON: nobody known is; accepting will create a new person. Refused when someone known has
      the same NHS number or UPN: that is the same person, or one of the identifiers is wrong.

    Raises:
        AccessDenied: not a coordinator, or the nomination is decided (logged).
        NominationNotFound: no such nomination or person in it.
        MatchProblem: not a candidate, already matched to another person in the nomination, or an
            identifier already known.
        StaleNomination: the nomination changed since the page was opened.
    """
    state, permit = authorise(
        session, ctx, TriageAction.REVIEW_MATCH, nomination_id, EventType.NOMINATION_MATCH_REVIEWED
    )
    people = session.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == state.id)).all()
    nominated = next((p for p in people if p.id == nominated_person_id), None)
    if nominated is None:
        raise NominationNotFound("That person is not in this nomination.")
    name = f"{nominated.given_name} {nominated.family_name}"
    if choice in (MatchChoice.CONFIRM, MatchChoice.REJECT):
        if person_id is None:
            raise MatchProblem("Choose a known person to confirm or reject.")
        if not (choice == MatchChoice.REJECT and nominated.person_id == person_id):
            verdicts = rejected_by(latest_verdicts(session, [nominated.id]))
            found = find_candidates(session, {nominated.id: details_of(nominated)}, limit=None, exclude=verdicts)
            if person_id not in {c.key for c in found[nominated.id]}:
                raise MatchProblem(f"That person is not a candidate match for {name}.")
        if choice == MatchChoice.CONFIRM and any(p.person_id == person_id and p.id != nominated.id for p in people):
            raise MatchProblem("That person is already matched to someone else in this nomination.")
    else:
        person_id = None
        if nominated.id in known_with_identifiers(session, [nominated]):
            raise MatchProblem(
                f"Someone already known has the same NHS number or UPN as {name}: confirm that match, or ask the "
                "nominator to check the number."
            )
    advance(session, ctx, state, version)

    if choice == MatchChoice.CONFIRM:
        assert person_id is not None
        nominated.person_id = person_id
        nominated.match_status = MatchStatus.CONFIRMED
        session.add(
            MatchReview(
                nominated_person_id=nominated.id,
                person_id=person_id,
                outcome=MatchOutcome.CONFIRMED,
                reviewed_by_id=ctx.user_id,
                reviewed_at=ctx.at,
            )
        )
        add_event(session, ctx, state, NominationEventKind.MATCH_CONFIRMED, f"{name} is a person already known.")
        outcome = "confirmed"
    elif choice == MatchChoice.REJECT:
        assert person_id is not None
        if nominated.person_id == person_id:
            nominated.person_id = None
            nominated.match_status = MatchStatus.UNREVIEWED
        session.add(
            MatchReview(
                nominated_person_id=nominated.id,
                person_id=person_id,
                outcome=MatchOutcome.REJECTED,
                reviewed_by_id=ctx.user_id,
                reviewed_at=ctx.at,
            )
        )
        add_event(session, ctx, state, NominationEventKind.MATCH_REJECTED, f"A suggested match for {name} is not them.")
        outcome = "rejected"
    else:
        nominated.person_id = None
        nominated.match_status = MatchStatus.NEW_PERSON
        add_event(
            session,
            ctx,
            state,
            NominationEventKind.MATCH_REJECTED,
            f"Nobody already known is {name}: a new person will be recorded.",
        )
        outcome = "new_person"
    session.flush()
    shown = [Seen(person_id, None)] if person_id else []
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_MATCH_REVIEWED,
        permit,
        shown,
        detail={"nomination_id": str(state.id), "nominated_person_id": str(nominated.id), "outcome": outcome},
    )


# ------------------------------------------------------------------------- information, declining


def _message(text: str | None, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise TriageError(f"Enter {what}", field="message")
    if len(cleaned) > MAX_MESSAGE:
        raise TriageError(f"{what.capitalize()} must be {MAX_MESSAGE} characters or fewer", field="message")
    return cleaned


def request_information(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, message: str, *, version: int | None = None
) -> NominationEvent:
    """Ask the nominator for more information; flush, never commit.

    The message is shared with the nominator (``shared_with_nominator``), and the status becomes "more
    information requested" until they answer (the journey's answer form records ``information_given``).
    ``version``, when given, must be the version the coordinator's page showed.

    Raises:
        AccessDenied: not a coordinator, or the nomination is decided (logged).
        NominationNotFound, StaleNomination, TriageError (an empty or too long message).
    """
    state, permit = authorise(
        session, ctx, TriageAction.REQUEST_INFORMATION, nomination_id, EventType.NOMINATION_INFORMATION_REQUESTED
    )
    text = _message(message, "what you need to know")
    advance(session, ctx, state, version)
    nomination = nomination_for_update(session, state)
    nomination.status = NominationStatus.MORE_INFORMATION_REQUESTED
    event = add_event(session, ctx, state, NominationEventKind.INFORMATION_REQUESTED, text, shared=True)
    session.flush()
    notifications.status_changed(session, state.id, NominationStatus.MORE_INFORMATION_REQUESTED)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_INFORMATION_REQUESTED,
        permit,
        detail={"nomination_id": str(state.id)},
    )
    return event


def decline_nomination(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, reason: str, *, version: int
) -> None:
    """Decide not to accept a nomination; the reason is shown to the nominator. Flush, never commit.

    Raises:
        AccessDenied: not a coordinator, or already decided (logged).
        NominationNotFound, StaleNomination, TriageError (no reason, or too long).
    """
    state, permit = authorise(
        session, ctx, TriageAction.DECLINE_NOMINATION, nomination_id, EventType.NOMINATION_DECIDED
    )
    text = _message(reason, "the reason, which the nominator will see")
    advance(session, ctx, state, version)
    nomination = nomination_for_update(session, state)
    nomination.status = NominationStatus.NOT_ACCEPTED
    nomination.decided_at = ctx.at
    nomination.decided_by_id = ctx.user_id
    nomination.decision_reason = text
    add_event(session, ctx, state, NominationEventKind.NOT_ACCEPTED, text, shared=True)
    session.flush()
    notifications.status_changed(session, state.id, NominationStatus.NOT_ACCEPTED)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_DECIDED,
        permit,
        detail={"nomination_id": str(state.id), "decision": NominationStatus.NOT_ACCEPTED.value},
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
