"""The statements behind the partners' flag pages, tuned, and beside them the plain queries they must
agree with.

Why tuned: the flag list and the flag page run on every partner's visit, and building a ``select()``
costs more Python than running it, so each statement is built once per dialect (``portal.db.prebuilt``)
and run through ``portal.db.fetch`` (PostgreSQL: the driver's own prepared statement, no ORM); the
served flags are two selects unioned rather than one ``OR`` (with the OR, PostgreSQL joined every live
flag with every open family: ``bench/README.md``); a flag's categories, and its granted concerns with
their encrypted detail, come back comma-joined beside it, so a page is one statement whatever its size
and a withheld concern's detail is never fetched. That is hard to read, so ``reference_candidates`` and
``reference_flags`` say the same thing the plain way (ORM, an ``OR``, relationships), and
``tests/integration/test_flag_statements.py`` holds the two equal on the demo data on both backends.

Columns are named and rows are read by name (``CandidateRow``, ``LoadedFlag``), on both paths.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

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
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from portal.crypto import KeyRing, raw
from portal.db import any_of, comma_joined, prebuilt
from portal.families.models import (
    Family,
    FamilyStatus,
    Flag,
    FlagConcern,
    Person,
    RelationshipKind,
    ServiceRelationship,
)
from portal.organisations.models import Organisation, User
from sharing_protocols import policy

_F, _FAM, _FC = Flag.__table__, Family.__table__, FlagConcern.__table__
_SR, _P = ServiceRelationship.__table__, Person.__table__
_U, _O = User.__table__, Organisation.__table__

#: which identifiers each page loads: the flag page shows both; a list shows a school the UPN and
#: everyone else the NHS number
IDENTIFIERS = {"both": ("nhs_number", "upn"), "nhs_number": ("nhs_number",), "upn": ("upn",)}

# ------------------------------------------------------------------------------------- candidates


class CandidateRow(NamedTuple):
    """A live flag someone may be shown, before any decision: ids, facts, nothing decrypted.

    A named tuple, not a frozen dataclass: a list page builds one a candidate (about 100), and a frozen
    dataclass sets each field through ``object.__setattr__``, several times the cost of a tuple."""

    flag_id: uuid.UUID
    person_id: uuid.UUID
    family_id: uuid.UUID
    raised_at: datetime
    lead_id: uuid.UUID | None
    categories: frozenset[str]


def _live(on: Any) -> ColumnElement[bool]:
    """Flags partners may see on ``on``: not removed, not ended, in an open family."""
    return and_(
        _F.c.removed_at.is_(None), or_(_F.c.ends_on.is_(None), _F.c.ends_on >= on), _FAM.c.status == FamilyStatus.OPEN
    )


def _candidate_select() -> Select[Any]:
    categories = select(comma_joined(_FC.c.category)).where(_FC.c.flag_id == _F.c.id).correlate(_F).scalar_subquery()
    return select(
        _F.c.id.label("flag_id"),
        _F.c.person_id,
        _F.c.family_id,
        _F.c.raised_at,
        _FAM.c.lead_professional_id.label("lead_id"),
        categories.label("categories"),
    ).select_from(_F.join(_FAM, _FAM.c.id == _F.c.family_id))


@prebuilt
def candidates_of_person(dialect: str) -> Select[Any]:
    """The live flags of one person (a flag page), newest first: ``:on``, ``:person``."""
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
def candidates_served(dialect: str) -> CompoundSelect:
    """Flags the organisation's users may be shown, newest first: ``:on``, ``:organisation``, ``:user``."""
    return _served_selects(dialect, only_people=False)


@prebuilt
def candidates_served_among(dialect: str) -> CompoundSelect:
    """``candidates_served`` narrowed to ``:people`` (a search by NHS number or UPN)."""
    return _served_selects(dialect, only_people=True)


def candidate_rows(rows: Sequence[Any]) -> list[CandidateRow]:
    """The candidate statements' rows, read by name (the categories split back into a set)."""
    return [
        CandidateRow(
            r.flag_id,
            r.person_id,
            r.family_id,
            r.raised_at,
            r.lead_id,
            frozenset(r.categories.split(",")) if r.categories else frozenset(),
        )
        for r in rows
    ]


def reference_candidates(
    session: Session,
    *,
    on: date,
    person_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    among: Collection[uuid.UUID] | None = None,
) -> list[CandidateRow]:
    """What the candidate statements return, the plain way: one person's live flags (``person_id``), or
    those of the people the organisation serves or whose family the user leads (``among`` narrows it)."""
    query = (
        select(Flag, Family.lead_professional_id)
        .join(Family, Family.id == Flag.family_id)
        .where(
            Flag.removed_at.is_(None),
            or_(Flag.ends_on.is_(None), Flag.ends_on >= on),
            Family.status == FamilyStatus.OPEN,
        )
    )
    if person_id is not None:
        query = query.where(Flag.person_id == person_id)
    else:
        served = select(ServiceRelationship.person_id).where(
            ServiceRelationship.organisation_id == organisation_id,
            ServiceRelationship.kind.not_in([RelationshipKind(k) for k in policy.NO_FLAG_RELATIONSHIPS]),
            ServiceRelationship.valid_from <= on,
            or_(ServiceRelationship.valid_to.is_(None), ServiceRelationship.valid_to >= on),
        )
        query = query.where(or_(Flag.person_id.in_(served), Family.lead_professional_id == user_id))
        if among is not None:
            query = query.where(Flag.person_id.in_(list(among)))
    return [
        CandidateRow(
            flag.id, flag.person_id, flag.family_id, flag.raised_at, lead, frozenset(c.category for c in flag.concerns)
        )
        for flag, lead in session.execute(query.order_by(Flag.raised_at.desc(), Flag.person_id))
    ]


# ------------------------------------------------------------------------------ loading the flags


class LoadedFlag(NamedTuple):
    """A permitted flag as the page shows it, decrypted: the identifiers not asked for are None, and the
    concerns are only those in the categories asked for, (category, detail) by category (a named tuple,
    as ``CandidateRow`` is, for the cost of building one a row)."""

    flag_id: uuid.UUID
    raised_at: datetime
    review_on: date | None
    ends_on: date | None
    family_told: bool
    family_reference: str
    person_id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: date | None
    nhs_number: str | None
    upn: str | None
    lead_name: str | None
    lead_job_title: str | None
    lead_email: str | None
    lead_phone: str | None
    lead_organisation: str | None
    concerns: tuple[tuple[str, str | None], ...]


def _flags_select(dialect: str, identifiers: tuple[str, ...], one: bool) -> Select[Any]:
    """Person, flag, family and lead professional, for the flags a decision permitted (``:flags``); of the
    identifiers only those the page shows (a list shows one: nothing else is decrypted); and the flag's
    concerns in the categories some decision granted (``:categories``), as ``category=token`` pairs joined
    by commas (neither a category nor an encrypted token contains either character), so that a withheld
    concern's detail is never fetched and the page needs no second statement."""
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
            _FAM.c.reference.label("family_reference"),
            _P.c.id.label("person_id"),
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


#: (identifiers shown, one flag or several) -> the statement, built once per dialect
FLAG_STATEMENTS = {
    (shown, one): prebuilt(lambda dialect, names=names, one=one: _flags_select(dialect, names, one))
    for shown, names in IDENTIFIERS.items()
    for one in (True, False)
}


@prebuilt
def names_statement(dialect: str) -> Select[Any]:
    """The names of ``:people`` (a search by name filters the people a list would show anyway)."""
    return select(_P.c.id, _P.c.given_name, _P.c.family_name).where(any_of(_P.c.id, "people", dialect))


#: each encrypted column's decoder, looked up once: a list page decodes five columns of up to 50 rows, and
#: ``table.c.name`` is an attribute lookup through SQLAlchemy's column collection every time
_GIVEN_NAME, _FAMILY_NAME, _BORN, _NHS_NUMBER, _UPN = (
    _P.c[name].type.decode for name in ("given_name", "family_name", "date_of_birth", "nhs_number", "upn")
)
_DETAIL = _FC.c.detail.type.decode


def loaded_flag(ring: KeyRing, row: Any, identifiers: str) -> LoadedFlag:
    """A row of ``FLAG_STATEMENTS``, read by name and decrypted, each column under its own context (a
    token copied into another column never decrypts)."""
    names = IDENTIFIERS[identifiers]
    pairs = (pair.split("=", 1) for pair in row.concerns.split(",")) if row.concerns else ()
    return LoadedFlag(
        flag_id=row.flag_id,
        raised_at=row.raised_at,
        review_on=row.review_on,
        ends_on=row.ends_on,
        family_told=row.family_told,
        family_reference=row.family_reference,
        person_id=row.person_id,
        given_name=_GIVEN_NAME(ring, row.given_name),
        family_name=_FAMILY_NAME(ring, row.family_name),
        date_of_birth=_BORN(ring, row.date_of_birth),
        nhs_number=_NHS_NUMBER(ring, row.nhs_number) if "nhs_number" in names else None,
        upn=_UPN(ring, row.upn) if "upn" in names else None,
        lead_name=row.lead_name,
        lead_job_title=row.lead_job_title,
        lead_email=row.lead_email,
        lead_phone=row.lead_phone,
        lead_organisation=row.lead_organisation,
        concerns=tuple(sorted((category, _DETAIL(ring, token or None)) for category, token in pairs)),
    )


def reference_flags(
    session: Session, flag_ids: Collection[uuid.UUID], categories: Collection[str], identifiers: str
) -> dict[uuid.UUID, LoadedFlag]:
    """What ``FLAG_STATEMENTS`` and ``loaded_flag`` give, the plain way (ORM objects, decrypted by the
    column types): flag id -> the flag as the page shows it."""
    names = IDENTIFIERS[identifiers]
    lead = aliased(User)
    rows = session.execute(
        select(Flag, Family.reference, Person, lead, Organisation.name)
        .join(Family, Family.id == Flag.family_id)
        .join(Person, Person.id == Flag.person_id)
        .outerjoin(lead, lead.id == Family.lead_professional_id)
        .outerjoin(Organisation, Organisation.id == lead.organisation_id)
        .where(Flag.id.in_(list(flag_ids)))
    )
    return {
        flag.id: LoadedFlag(
            flag_id=flag.id,
            raised_at=flag.raised_at,
            review_on=flag.review_on,
            ends_on=flag.ends_on,
            family_told=flag.family_told,
            family_reference=reference,
            person_id=person.id,
            given_name=person.given_name,
            family_name=person.family_name,
            date_of_birth=person.date_of_birth,
            nhs_number=person.nhs_number if "nhs_number" in names else None,
            upn=person.upn if "upn" in names else None,
            lead_name=by.display_name if by else None,
            lead_job_title=by.job_title if by else None,
            lead_email=by.email if by else None,
            lead_phone=by.phone if by else None,
            lead_organisation=organisation,
            concerns=tuple(sorted((c.category, c.detail) for c in flag.concerns if c.category in categories)),
        )
        for flag, reference, person, by, organisation in rows
    }
