"""Flags for partners: the people an organisation serves who are in a supported family, and the
emergency (break-glass) access to one person's flag.

Every function here goes through the gate (``portal.gate``): it builds the subjects (person,
family, lead professional, categories of concern: facts, not identities), asks the gate for a
decision per subject, loads and decrypts only what the decisions allow, has the access logged (the
last statement, so the chain head is locked for as short a time as possible) and only then returns it.
Categories the decision does not grant are never fetched.

The statements themselves are ``flags_sql`` (tuned, beside the plain queries they must agree with);
the data protection officer's review of emergency accesses is ``break_glass_review``, re-exported here
for the pages that call ``portal.families.service``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from portal import gate
from portal.access_log.events import EventType
from portal.crypto import blind_index, keyring
from portal.db import fetch
from portal.families import flags_sql
from portal.families.break_glass_review import (
    BreakGlassForReview,
    break_glass_accesses,
    break_glass_awaiting_review,
    break_glass_subjects,
    mark_break_glass_reviewed,
)
from portal.families.identifiers import clean_nhs_number, clean_upn, normalise_name
from portal.families.models import (
    BreakGlassAccess,
    Family,
    Person,
)
from portal.gate import AccessContext
from sharing_protocols import policy
from sharing_protocols.vocabulary import category_label

#: the review of emergency accesses, for the DPO's pages (which call them as ``service.<name>``)
__all__ = [
    "BREAK_GLASS_WINDOW",
    "BreakGlassForReview",
    "FlagPage",
    "FlaggedPerson",
    "GrantExpired",
    "InvalidSearch",
    "NotFlagged",
    "SubjectLabel",
    "break_glass_accesses",
    "break_glass_awaiting_review",
    "break_glass_subjects",
    "find_family_id",
    "find_person_ids",
    "get_flag_for",
    "list_flagged",
    "mark_break_glass_reviewed",
    "start_break_glass",
    "subject_labels",
    "view_break_glass",
]

PER_PAGE = 50
#: how long a break-glass grant lets its user look at the person's flag
BREAK_GLASS_WINDOW = timedelta(minutes=30)


@dataclass(frozen=True)
class LeadProfessional:
    name: str
    job_title: str | None
    organisation: str
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class Concern:
    category: str
    label: str
    detail: str | None


@dataclass(frozen=True)
class FlaggedPerson:
    person_id: uuid.UUID
    name: str
    date_of_birth: date | None
    nhs_number: str | None
    upn: str | None
    family_reference: str
    lead: LeadProfessional | None
    #: only the concerns the decision granted; what was withheld, and why, is in the log, not on the
    #: page, because naming a withheld category would disclose it
    concerns: tuple[Concern, ...]
    raised_on: date
    review_on: date | None
    ends_on: date | None
    family_told: bool
    tier: policy.Tier
    break_glass: bool

    @property
    def concern_labels(self) -> str:
        """The concerns shared, as a list page writes them ("Health, School attendance")."""
        return ", ".join(c.label for c in self.concerns)


@dataclass(frozen=True)
class FlagPage:
    people: list[FlaggedPerson]
    total: int
    page: int
    per_page: int
    query: str

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


class InvalidSearch(ValueError):
    """The search text is neither a valid NHS number, a valid UPN nor a usable name."""


class NotFlagged(LookupError):
    """The organisation serves this person, who has no live flag (the look-up was logged)."""


@dataclass(frozen=True)
class _Candidate:
    subject: policy.Subject
    flag_id: uuid.UUID
    raised_at: datetime


def _candidates(session: Session, statement: Executable, params: dict[str, Any]) -> list[_Candidate]:
    """Live flags from one of the candidate statements, one per person (the newest), as policy
    subjects: one query, the flag's categories comma-joined by the database beside it."""
    newest: dict[uuid.UUID, flags_sql.CandidateRow] = {}
    for row in flags_sql.candidate_rows(fetch(session, statement, params)):
        newest.setdefault(row.person_id, row)  # the rows come newest first
    return [
        _Candidate(
            subject=policy.Subject(
                str(row.person_id), str(row.family_id), str(row.lead_id) if row.lead_id else None, row.categories
            ),
            flag_id=row.flag_id,
            raised_at=row.raised_at,
        )
        for row in newest.values()
    ]


def _candidates_for(session: Session, person_id: uuid.UUID, on: date) -> list[_Candidate]:
    return _candidates(session, flags_sql.candidates_of_person(session), {"on": on, "person": person_id})


def _served_candidates(
    session: Session, ctx: AccessContext, on: date, among: list[uuid.UUID] | None = None
) -> list[_Candidate]:
    params: dict[str, Any] = {"on": on, "organisation": ctx.organisation_id, "user": ctx.user_id}
    if among is None:
        return _candidates(session, flags_sql.candidates_served(session), params)
    return _candidates(session, flags_sql.candidates_served_among(session), {**params, "people": among})


def _flagged_person(candidate: _Candidate, decision: policy.Decision, flag: flags_sql.LoadedFlag) -> FlaggedPerson:
    """A loaded flag as this decision lets it be shown: only granted concerns, the lead only if any."""
    has_lead = candidate.subject.lead_professional_user_id is not None and flag.lead_name is not None
    lead = (
        LeadProfessional(flag.lead_name, flag.lead_job_title, flag.lead_organisation, flag.lead_email, flag.lead_phone)
        if has_lead
        else None
    )
    return FlaggedPerson(
        person_id=flag.person_id,
        name=f"{flag.given_name} {flag.family_name}",
        date_of_birth=flag.date_of_birth,
        nhs_number=flag.nhs_number,
        upn=flag.upn,
        family_reference=flag.family_reference,
        lead=lead,
        concerns=tuple(
            Concern(category, category_label(category), detail)
            for category, detail in flag.concerns
            if category in decision.categories
        ),
        raised_on=flag.raised_at.date(),
        review_on=flag.review_on,
        ends_on=flag.ends_on,
        family_told=flag.family_told,
        tier=decision.tier,
        break_glass=decision.break_glass,
    )


def _load(
    session: Session, chosen: Sequence[tuple[_Candidate, policy.Decision]], identifiers: str = "both"
) -> list[FlaggedPerson]:
    """Decrypt and assemble what each decision allows, in one statement whatever the page size.

    Only granted concerns are fetched, so a withheld concern's detail is never even decrypted.
    """
    if not chosen:
        return []
    flag_ids = [c.flag_id for c, _ in chosen]
    granted = set().union(*(d.categories for _, d in chosen))
    one = len(flag_ids) == 1
    statement = flags_sql.FLAG_STATEMENTS[identifiers, one](session)
    params = {"flags": flag_ids[0] if one else flag_ids, "categories": sorted(granted)}
    ring = keyring()
    loaded = {r.flag_id: flags_sql.loaded_flag(ring, r, identifiers) for r in fetch(session, statement, params)}
    return [_flagged_person(candidate, decision, loaded[candidate.flag_id]) for candidate, decision in chosen]


def find_person_ids(session: Session, text: str) -> tuple[str, list[uuid.UUID]] | None:
    """Resolve an NHS number or UPN to person ids by blind index; None when the text is neither."""
    nhs = clean_nhs_number(text)
    if nhs:
        ids = session.scalars(select(Person.id).where(Person.nhs_number_index == blind_index("nhs_number", nhs))).all()
        return "nhs_number", list(ids)
    upn = clean_upn(text)
    if upn:
        return "upn", list(session.scalars(select(Person.id).where(Person.upn_index == blind_index("upn", upn))).all())
    return None


def list_flagged(session: Session, ctx: AccessContext, *, page: int = 1, query: str = "") -> FlagPage:
    """The flagged people this organisation serves (or whose family this user leads), newest first.

    A search narrows the list by NHS number or UPN (exact, by blind index) or by name (among the
    people the list would show anyway, so a search never reaches anyone the list could not).

    Raises:
        InvalidSearch: the search text is unusable.
        AuditUnavailable: the access could not be logged; nothing is returned.
    """
    on = ctx.today
    query = query.strip()
    kind = ""
    among: list[uuid.UUID] | None = None
    if query:
        found = find_person_ids(session, query)
        if found:
            kind, among = found
        elif any(ch.isdigit() for ch in query):
            raise InvalidSearch("Enter a valid NHS number (10 digits) or UPN (13 characters), or a name")
        elif len(normalise_name(query)) < 2:
            raise InvalidSearch("Enter at least 2 letters of a name")
        else:
            kind = "name"
    candidates = _served_candidates(session, ctx, on, among)
    event = EventType.FLAGS_SEARCHED if query else EventType.FLAGS_LISTED
    permit = gate.authorise(session, ctx, gate.FlagsOf(tuple(c.subject for c in candidates)), attempted=event)
    visible = [(c, d) for c in candidates if (d := permit.decision_for(c.subject)).permitted]
    if kind == "name":
        wanted = normalise_name(query)
        # only the names of people the policy has just permitted this user to see, to filter them
        names = {
            person: normalise_name(f"{given} {family}")
            for person, given, family in session.execute(
                flags_sql.names_statement(session), {"people": [uuid.UUID(c.subject.person_id) for c, _ in visible]}
            )
        }
        visible = [(c, d) for c, d in visible if wanted in names[uuid.UUID(c.subject.person_id)]]
    page = max(1, page)
    chosen = visible[(page - 1) * PER_PAGE : page * PER_PAGE]
    detail = {"page": str(page), "results": str(len(visible))}
    if query:
        detail["search_by"] = kind
    people = _load(session, chosen, "upn" if ctx.organisation_kind == "school" else "nhs_number")
    gate.record(session, ctx, event, permit, [permit.seen(c.subject) for c, _ in chosen], detail=detail)
    return FlagPage(people=people, total=len(visible), page=page, per_page=PER_PAGE, query=query)


def get_flag_for(session: Session, ctx: AccessContext, person_id: uuid.UUID) -> FlaggedPerson:
    """One person's flag, as far as this organisation may see it.

    A person the organisation does not serve is refused in exactly the same way whether or not they
    exist or are flagged, so a guessed id reveals nothing.

    Raises:
        AccessDenied: the policy refused (already logged and committed).
        NotFlagged: served, but no live flag (logged).
    """
    candidates = _candidates_for(session, person_id, ctx.today)
    if not candidates:
        served = gate.authorise(session, ctx, gate.ServedPerson(person_id), attempted=EventType.FLAG_VIEWED)
        unflagged = policy.Subject(str(person_id), "", None, frozenset())
        gate.record(session, ctx, EventType.FLAG_VIEWED, served, [served.seen(unflagged)], detail={"found": "no"})
        raise NotFlagged(str(person_id))
    candidate = candidates[0]
    permit = gate.authorise(session, ctx, gate.FlagOf(candidate.subject), attempted=EventType.FLAG_VIEWED)
    person = _load(session, [(candidate, permit.decision_for(candidate.subject))])[0]
    gate.record(session, ctx, EventType.FLAG_VIEWED, permit, [permit.seen(candidate.subject)])
    return person


def start_break_glass(session: Session, ctx: AccessContext, identifier: str, reason: str) -> BreakGlassAccess:
    """Record an emergency access grant for the person with this NHS number or UPN; flush, never commit.

    The grant discloses nothing about a family and is logged as a break-glass grant; each view through
    it (``view_break_glass``) is logged again, and both are marked for the data protection officer.

    Raises:
        InvalidSearch: the identifier is not a valid NHS number or UPN.
    """
    found = find_person_ids(session, identifier)
    if not found:
        raise InvalidSearch("Enter a valid NHS number or UPN")
    _, ids = found
    person_id = ids[0] if ids else None
    reason = reason.strip()
    permit = gate.authorise(
        session,
        ctx,
        gate.BreakGlassGrant(person_id, reason),
        attempted=EventType.BREAK_GLASS_GRANTED,
        detail={"break_glass_id": ""},
    )
    grant = BreakGlassAccess(
        user_id=ctx.user_id,
        organisation_id=ctx.organisation_id,
        person_id=person_id,
        reason=reason,
        accessed_at=ctx.at,
    )
    session.add(grant)
    session.flush()
    # the grant writes personal data (who was looked up, and why), so it is logged like any access
    shown = [permit.seen(_unflagged(person_id))] if person_id else []
    gate.record(session, ctx, EventType.BREAK_GLASS_GRANTED, permit, shown, detail={"break_glass_id": str(grant.id)})
    return grant


def _unflagged(person_id: uuid.UUID) -> policy.Subject:
    """A person as a subject with no family or concerns: what a look-up with no flag shows of them."""
    return policy.Subject(str(person_id), "", None, frozenset())


class GrantExpired(LookupError):
    """The break-glass grant is not this user's, or its window has passed."""


def view_break_glass(session: Session, ctx: AccessContext, grant_id: uuid.UUID) -> FlaggedPerson | None:
    """Show the flag a break-glass grant was made for; None if that person has no live flag.

    Break-glass widens only the relationship and notice conditions; the role, the protocol and any
    upheld objection still apply, and every view is logged with the break-glass outcome.

    Raises:
        GrantExpired: not this user's grant, or older than the window.
        AccessDenied: the policy refused even with break-glass (logged).
    """
    grant = session.get(BreakGlassAccess, grant_id)
    if grant is None or grant.user_id != ctx.user_id or ctx.at - grant.accessed_at > BREAK_GLASS_WINDOW:
        raise GrantExpired(str(grant_id))
    detail = {"break_glass_id": str(grant.id)}
    candidates = _candidates_for(session, grant.person_id, ctx.today) if grant.person_id else []
    if not candidates:
        # nobody with that identifier, or nobody flagged: nothing about a family is disclosed
        permit = gate.authorise(
            session,
            ctx,
            gate.BreakGlassGrant(grant.person_id, grant.reason),
            attempted=EventType.FLAG_BREAK_GLASS_VIEWED,
            detail=detail,
        )
        shown = [permit.seen(_unflagged(grant.person_id))] if grant.person_id else []
        gate.record(session, ctx, EventType.FLAG_BREAK_GLASS_VIEWED, permit, shown, detail={**detail, "found": "no"})
        return None
    candidate = candidates[0]
    permit = gate.authorise(
        session,
        ctx,
        gate.FlagOf(candidate.subject, break_glass_reason=grant.reason),
        attempted=EventType.FLAG_BREAK_GLASS_VIEWED,
        detail=detail,
    )
    person = _load(session, [(candidate, permit.decision_for(candidate.subject))])[0]
    gate.record(
        session, ctx, EventType.FLAG_BREAK_GLASS_VIEWED, permit, [permit.seen(candidate.subject)], detail=detail
    )
    return person


def find_family_id(session: Session, reference: str) -> uuid.UUID | None:
    return session.scalar(select(Family.id).where(Family.reference == reference.strip().upper()))


@dataclass(frozen=True)
class SubjectLabel:
    name: str
    nhs_number: str | None
    family_reference: str | None


def subject_labels(
    session: Session, person_ids: Sequence[str], family_ids: Sequence[str]
) -> tuple[dict[str, SubjectLabel], dict[str, str]]:
    """Names of the people and references of the families a log entry touched, for the DPO.

    The caller must have logged the DPO's access to the entry first (``gate.record``).
    """
    people = {
        str(p.id): SubjectLabel(p.full_name, p.nhs_number, None)
        for p in session.scalars(select(Person).where(Person.id.in_([uuid.UUID(i) for i in person_ids if i])))
    }
    families = {
        str(i): ref
        for i, ref in session.execute(
            select(Family.id, Family.reference).where(Family.id.in_([uuid.UUID(i) for i in family_ids if i]))
        )
    }
    return people, families
