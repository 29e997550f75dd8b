"""Flags for partners: the people an organisation serves who are in a supported family.

Every function here goes through the gate (``portal.gate``): it builds the subjects (person,
family, lead professional, categories of concern: facts, not identities), asks the gate for a
decision per subject, loads and decrypts only what the decisions allow, has the access logged (the
last statement, so the chain head is locked for as short a time as possible) and only then returns it.
Categories the decision does not grant are never fetched.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Select,
    Text,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    union,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Executable

from portal import gate
from portal.access_log.events import EventType
from portal.crypto import blind_index, keyring, raw
from portal.db import any_of, comma_joined, fetch, prebuilt
from portal.families.identifiers import clean_nhs_number, clean_upn, normalise_name
from portal.families.models import (
    BreakGlassAccess,
    Family,
    FamilyStatus,
    Flag,
    FlagConcern,
    Person,
    RelationshipKind,
    ServiceRelationship,
)
from portal.gate import AccessContext
from portal.organisations.models import Organisation, User
from sharing_protocols import policy
from sharing_protocols.vocabulary import category_label

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


_F, _FAM, _FC = Flag.__table__, Family.__table__, FlagConcern.__table__
_SR, _P = ServiceRelationship.__table__, Person.__table__
_U, _O = User.__table__, Organisation.__table__


def _live(on: Any) -> ColumnElement[bool]:
    """Flags partners may see on ``on``: not removed, not ended, in an open family."""
    return and_(
        _F.c.removed_at.is_(None), or_(_F.c.ends_on.is_(None), _F.c.ends_on >= on), _FAM.c.status == FamilyStatus.OPEN
    )


def _candidate_select() -> Select[Any]:
    categories = select(comma_joined(_FC.c.category)).where(_FC.c.flag_id == _F.c.id).correlate(_F).scalar_subquery()
    return select(
        _F.c.id,
        _F.c.person_id,
        _F.c.family_id,
        _F.c.raised_at,
        _FAM.c.lead_professional_id,
        categories.label("categories"),
    ).select_from(_F.join(_FAM, _FAM.c.id == _F.c.family_id))


@prebuilt
def _candidates_of_person(dialect: str) -> Select[Any]:
    """The live flags of one person (a flag page)."""
    return (
        _candidate_select()
        .where(_live(bindparam("on")), _F.c.person_id == bindparam("person"))
        .order_by(_F.c.raised_at.desc(), _F.c.person_id)
    )


def _served_selects(dialect: str, only_people: bool) -> CompoundSelect:
    """Live flags of the people the organisation serves on ``on``, and of families the user leads.

    Two selects unioned rather than one ``OR``: with the OR, PostgreSQL joined every live flag with
    every open family (bench/README.md); as a union each half uses its own index. With ``only_people``,
    both halves are narrowed to the people found by an NHS number or UPN search.
    """
    served = (
        _candidate_select()
        .join(_SR, _SR.c.person_id == _F.c.person_id)
        .where(
            _live(bindparam("on")),
            _SR.c.organisation_id == bindparam("organisation"),
            # a nominator follows its own nominations, never the family's flags (NO_FLAG_RELATIONSHIPS)
            *(_SR.c.kind != RelationshipKind(k) for k in sorted(policy.NO_FLAG_RELATIONSHIPS)),
            _SR.c.valid_from <= bindparam("on"),
            or_(_SR.c.valid_to.is_(None), _SR.c.valid_to >= bindparam("on")),
        )
    )
    led = _candidate_select().where(_live(bindparam("on")), _FAM.c.lead_professional_id == bindparam("user"))
    if only_people:
        served = served.where(any_of(_F.c.person_id, "people", dialect))
        led = led.where(any_of(_F.c.person_id, "people", dialect))
    both = union(served, led)
    return both.order_by(both.selected_columns.raised_at.desc(), both.selected_columns.person_id)


@prebuilt
def _candidates_served(dialect: str) -> CompoundSelect:
    return _served_selects(dialect, only_people=False)


@prebuilt
def _candidates_served_among(dialect: str) -> CompoundSelect:
    return _served_selects(dialect, only_people=True)


_NONE: frozenset[str] = frozenset()


def _candidates(session: Session, statement: Executable, params: dict[str, Any]) -> list[_Candidate]:
    """Live flags from one of the candidate statements, one per person (the newest), as policy
    subjects: one query, the flag's categories comma-joined by the database beside it."""
    newest: dict[uuid.UUID, Any] = {}
    for row in fetch(session, statement, params):
        newest.setdefault(row[1], row)  # person_id: the rows come newest first
    return [
        _Candidate(
            subject=policy.Subject(
                str(person), str(family), str(lead) if lead else None, frozenset(cats.split(",")) if cats else _NONE
            ),
            flag_id=flag,
            raised_at=raised,
        )
        for flag, person, family, raised, lead, cats in newest.values()
    ]


def _candidates_for(session: Session, person_id: uuid.UUID, on: date) -> list[_Candidate]:
    return _candidates(session, _candidates_of_person(session), {"on": on, "person": person_id})


def _served_candidates(
    session: Session, ctx: AccessContext, on: date, among: list[uuid.UUID] | None = None
) -> list[_Candidate]:
    params: dict[str, Any] = {"on": on, "organisation": ctx.organisation_id, "user": ctx.user_id}
    if among is None:
        return _candidates(session, _candidates_served(session), params)
    return _candidates(session, _candidates_served_among(session), {**params, "people": among})


def _people_select(dialect: str, identifiers: tuple[str, ...], one: bool) -> Select[Any]:
    """Person, flag, family and lead professional, for the flags a decision permitted; of the
    identifiers only those the page shows (a list shows one: nothing else is decrypted); and the flag's
    concerns in the categories some decision granted, as ``category=token`` pairs joined by commas
    (neither a category nor an encrypted token contains either character), so that a withheld concern's
    detail is never fetched and the page needs no second statement."""
    lead = _U.alias("lead")
    concerns = (
        select(
            comma_joined(_FC.c.category + "=" + func.coalesce(type_coerce(_FC.c.detail, Text), literal_column("''")))
        )
        .where(_FC.c.flag_id == _F.c.id, any_of(_FC.c.category, "categories", dialect))
        .correlate(_F)
        .scalar_subquery()
    )
    return (
        select(
            _F.c.id.label("flag_id"),
            _F.c.raised_at,
            _F.c.review_on,
            _F.c.ends_on,
            _F.c.family_told,
            _FAM.c.reference,
            _P.c.id,
            raw(_P.c.given_name),
            raw(_P.c.family_name),
            raw(_P.c.date_of_birth),
            *(raw(_P.c[name]) for name in identifiers),
            lead.c.display_name.label("lead_name"),
            lead.c.job_title.label("lead_job_title"),
            lead.c.email.label("lead_email"),
            lead.c.phone.label("lead_phone"),
            _O.c.name.label("lead_organisation"),
            type_coerce(concerns, Text).label("concerns"),
        )
        .select_from(
            _F.join(_FAM, _FAM.c.id == _F.c.family_id)
            .join(_P, _P.c.id == _F.c.person_id)
            .outerjoin(lead, lead.c.id == _FAM.c.lead_professional_id)
            .outerjoin(_O, _O.c.id == lead.c.organisation_id)
        )
        .where(any_of(_F.c.id, "flags", dialect, one))
    )


#: which identifiers each page loads: the flag page shows both; a list shows a school the UPN and
#: everyone else the NHS number
_IDENTIFIERS = {"both": ("nhs_number", "upn"), "nhs_number": ("nhs_number",), "upn": ("upn",)}
_PEOPLE_STATEMENTS = {
    (shown, one): prebuilt(lambda dialect, names=names, one=one: _people_select(dialect, names, one))
    for shown, names in _IDENTIFIERS.items()
    for one in (True, False)
}


@prebuilt
def _names_statement(dialect: str) -> Select[Any]:
    return select(_P.c.id, _P.c.given_name, _P.c.family_name).where(any_of(_P.c.id, "people", dialect))


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
    flags: Any = flag_ids[0] if one else flag_ids
    names = _IDENTIFIERS[identifiers]
    rows = {
        r.flag_id: r
        for r in fetch(
            session, _PEOPLE_STATEMENTS[identifiers, one](session), {"flags": flags, "categories": sorted(granted)}
        )
    }
    ring = keyring()
    # each column decrypts under its own context (a token copied into another column never decrypts)
    given, family, born = _P.c.given_name.type.decode, _P.c.family_name.type.decode, _P.c.date_of_birth.type.decode
    detail_of = _FC.c.detail.type.decode
    concerns: dict[uuid.UUID, list[tuple[str, str | None]]] = {}
    for flag_id, row in rows.items():
        pairs = (pair.split("=", 1) for pair in row.concerns.split(",")) if row.concerns else ()
        concerns[flag_id] = sorted((category, detail_of(ring, token or None)) for category, token in pairs)
    result = []
    for candidate, decision in chosen:
        row = rows[candidate.flag_id]
        has_lead = candidate.subject.lead_professional_user_id is not None and row.lead_name is not None
        result.append(
            FlaggedPerson(
                person_id=row.id,
                name=f"{given(ring, row.given_name)} {family(ring, row.family_name)}",
                date_of_birth=born(ring, row.date_of_birth),
                nhs_number=_P.c.nhs_number.type.decode(ring, row.nhs_number) if "nhs_number" in names else None,
                upn=_P.c.upn.type.decode(ring, row.upn) if "upn" in names else None,
                family_reference=row.reference,
                lead=LeadProfessional(
                    row.lead_name, row.lead_job_title, row.lead_organisation, row.lead_email, row.lead_phone
                )
                if has_lead
                else None,
                concerns=tuple(
                    Concern(category, category_label(category), detail)
                    for category, detail in concerns[candidate.flag_id]
                    if category in decision.categories
                ),
                raised_on=row.raised_at.date(),
                review_on=row.review_on,
                ends_on=row.ends_on,
                family_told=row.family_told,
                tier=decision.tier,
                break_glass=decision.break_glass,
            )
        )
    return result


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
                _names_statement(session), {"people": [uuid.UUID(c.subject.person_id) for c, _ in visible]}
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
    accessed_at = grant.accessed_at if grant else None
    if accessed_at is not None and accessed_at.tzinfo is None:
        accessed_at = accessed_at.replace(tzinfo=UTC)
    if (
        grant is None
        or grant.user_id != ctx.user_id
        or accessed_at is None
        or ctx.at - accessed_at > BREAK_GLASS_WINDOW
    ):
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


@dataclass(frozen=True)
class BreakGlassForReview:
    id: uuid.UUID
    user_name: str
    organisation_name: str
    person_id: uuid.UUID | None
    family_id: uuid.UUID | None
    person_name: str | None
    reason: str
    accessed_at: datetime
    reviewed_at: datetime | None


def break_glass_accesses(
    session: Session, *, include_reviewed: bool = False, organisation_id: uuid.UUID | None = None
) -> list[BreakGlassForReview]:
    """Emergency accesses for the data protection officer, oldest unreviewed first; with
    ``organisation_id``, only those made by that organisation's users (the officer's log scope).

    Decrypts names and reasons: the caller must have logged the DPO's access first.
    """
    query = (
        select(BreakGlassAccess, User.display_name, Organisation.name)
        .join(User, User.id == BreakGlassAccess.user_id)
        .join(Organisation, Organisation.id == BreakGlassAccess.organisation_id)
    )
    if not include_reviewed:
        query = query.where(BreakGlassAccess.reviewed_at.is_(None))
    if organisation_id is not None:
        query = query.where(BreakGlassAccess.organisation_id == organisation_id)
    rows = session.execute(query.order_by(BreakGlassAccess.accessed_at)).all()
    person_ids = {g.person_id for g, _, _ in rows if g.person_id}
    names = {p.id: p.full_name for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
    families = dict(session.execute(select(Flag.person_id, Flag.family_id).where(Flag.person_id.in_(person_ids))).all())
    return [
        BreakGlassForReview(
            id=g.id,
            user_name=user_name,
            organisation_name=organisation_name,
            person_id=g.person_id,
            family_id=families.get(g.person_id) if g.person_id else None,
            person_name=names.get(g.person_id) if g.person_id else None,
            reason=g.reason,
            accessed_at=g.accessed_at,
            reviewed_at=g.reviewed_at,
        )
        for g, user_name, organisation_name in rows
    ]


def break_glass_awaiting_review(session: Session, grant_id: uuid.UUID) -> uuid.UUID | None:
    """The organisation whose user made this emergency access, if it is waiting for review; else None.

    A fact for the gate (whose officer may review it), read before anything is written.
    """
    return session.scalar(
        select(BreakGlassAccess.organisation_id).where(
            BreakGlassAccess.id == grant_id, BreakGlassAccess.reviewed_at.is_(None)
        )
    )


def mark_break_glass_reviewed(session: Session, grant_id: uuid.UUID, reviewer_id: uuid.UUID, at: datetime) -> bool:
    """Record that the data protection officer has reviewed an emergency access; flush, never commit.

    Returns False when there is no such access or it was already reviewed (nothing changes).
    """
    grant = session.get(BreakGlassAccess, grant_id)
    if grant is None or grant.reviewed_at is not None:
        return False
    grant.reviewed_at = at
    grant.reviewed_by_id = reviewer_id
    session.flush()
    return True


def break_glass_subjects(
    session: Session, *, include_reviewed: bool = False, organisation_id: uuid.UUID | None = None
) -> list[tuple[str, str]]:
    """(person id, family id) of the people emergency accesses touched (with ``organisation_id``, the
    accesses of that organisation's users): facts to log before decrypting."""
    query = select(BreakGlassAccess.person_id).where(BreakGlassAccess.person_id.is_not(None))
    if not include_reviewed:
        query = query.where(BreakGlassAccess.reviewed_at.is_(None))
    if organisation_id is not None:
        query = query.where(BreakGlassAccess.organisation_id == organisation_id)
    person_ids = set(session.scalars(query))
    families = dict(session.execute(select(Flag.person_id, Flag.family_id).where(Flag.person_id.in_(person_ids))).all())
    return [(str(p), str(families.get(p) or "")) for p in sorted(person_ids)]
