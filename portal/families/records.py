"""The writers of this domain's tables: people, families and their members, flags with their concerns,
lead professionals and service relationships.

Every other part of the portal (triage, the imports, the demo seed) writes these rows by calling these
functions, never by building the rows itself, because a row here carries rules its writer must not
forget: a person is stored with the blind indexes of their identifiers and their matching keys (else no
search, duplicate check or match can find them), a member who already has a live flag gains concerns
rather than a second flag, and a nominator relationship is recorded once while it lasts.
``tests/architecture/test_table_owners.py`` fails if another domain writes these tables.

None of them commits or logs: the caller has passed the gate (or is a command-line task that logs its
writes as system entries) and owns the transaction.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection, Mapping
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.families.identifiers import indexed_identifiers
from portal.families.matching_keys import fill_blocking_keys
from portal.families.models import (
    Family,
    FamilyMember,
    FamilyStatus,
    Flag,
    FlagConcern,
    MemberRole,
    Person,
    RelationshipKind,
    RelationshipSource,
    ServiceRelationship,
)


def add_person(
    session: Session,
    *,
    given_name: str,
    family_name: str,
    date_of_birth: date | None = None,
    postcode: str | None = None,
    nhs_number: str | None = None,
    upn: str | None = None,
) -> Person:
    """Record a person (encrypted), with the blind indexes of their NHS number and UPN and their
    matching keys; flush, so that the id is known and a clash is raised here.

    ``nhs_number`` and ``upn`` must already be normalised (``portal.families.identifiers``).

    Raises:
        sqlalchemy.exc.IntegrityError: someone with the same NHS number or UPN is already recorded (the
            indexes are unique); the session must be rolled back.
    """
    person = Person(
        **indexed_identifiers(nhs_number, upn),
        given_name=given_name,
        family_name=family_name,
        date_of_birth=date_of_birth,
        postcode=postcode,
    )
    fill_blocking_keys(person)
    session.add(person)
    session.flush()
    return person


def backfill_blocking_keys(session: Session, *, batch_size: int = 1000) -> list[uuid.UUID]:
    """Fill the blocking keys of people who have none yet (written before migration 0007); flush only.

    Reads each such person's family name, date of birth and postcode (decrypting them), so the caller
    logs the people returned. Safe to re-run: a person whose keys are set is not read again.

    Returns:
        The ids of the people whose keys were filled.
    """
    filled: list[uuid.UUID] = []
    last: uuid.UUID | None = None
    while True:
        query = select(Person).where(Person.name_year_block_index.is_(None)).order_by(Person.id).limit(batch_size)
        if last is not None:
            query = query.where(Person.id > last)
        batch = session.scalars(query).all()
        if not batch:
            return filled
        for person in batch:
            fill_blocking_keys(person)
            filled.append(person.id)
        session.flush()
        last = batch[-1].id


def new_family_reference(session: Session) -> str:
    """A family reference no family has yet (SF- and six digits, as partners quote them)."""
    for _ in range(20):
        reference = f"SF-{secrets.randbelow(900_000) + 100_000:06d}"
        if session.scalar(select(Family.id).where(Family.reference == reference)) is None:
            return reference
    raise RuntimeError("could not find a free family reference")  # 20 collisions in a million: not by chance


def create_family(
    session: Session, *, reference: str, attached_on: date, lead_professional_id: uuid.UUID | None = None
) -> Family:
    """Attach a new family to the programme (open); flush, so that its id is known."""
    family = Family(
        reference=reference,
        attached_on=attached_on,
        status=FamilyStatus.OPEN,
        lead_professional_id=lead_professional_id,
    )
    session.add(family)
    session.flush()
    return family


def add_member(
    session: Session, *, family_id: uuid.UUID, person_id: uuid.UUID, role: MemberRole, joined_on: date
) -> FamilyMember:
    """Make a person a member of a family from ``joined_on``; written with the caller's next flush."""
    member = FamilyMember(family_id=family_id, person_id=person_id, role=role, joined_on=joined_on)
    session.add(member)
    return member


def set_lead_professional(session: Session, family_id: uuid.UUID, user_id: uuid.UUID) -> Family:
    """Make this practitioner the family's lead professional (partners who see its flags are told whom
    to contact, and the lead sees the family's flags); flush.

    Raises:
        LookupError: there is no such family.
    """
    family = session.get(Family, family_id)
    if family is None:
        raise LookupError(f"no family {family_id}")
    family.lead_professional_id = user_id
    session.flush()
    return family


def raise_flag(
    session: Session,
    *,
    person_id: uuid.UUID,
    family_id: uuid.UUID,
    raised_by_id: uuid.UUID | None,
    raised_at: datetime,
    review_on: date | None,
    ends_on: date | None,
    family_told: bool,
    concerns: Mapping[str, str | None],
) -> Flag:
    """Raise a flag telling the organisations that serve this person that they are in a supported
    family, with a concern per data category (category -> the detail a covered recipient may see, or
    None); flush, so that its id is known.

    Who sees it, and which concerns, is decided at each look through the gate, never here.
    """
    flag = Flag(
        person_id=person_id,
        family_id=family_id,
        raised_by_id=raised_by_id,
        raised_at=raised_at,
        review_on=review_on,
        ends_on=ends_on,
        family_told=family_told,
        concerns=[FlagConcern(category=c, detail=concerns[c]) for c in sorted(concerns)],
    )
    session.add(flag)
    session.flush()
    return flag


def add_concerns(session: Session, flag: Flag, categories: Collection[str], *, family_told: bool) -> Flag:
    """Give a live flag the concerns it does not have yet (a member flagged again gains concerns, never a
    second flag), and record that the family was told if it now has been; flush."""
    have = {c.category for c in flag.concerns}
    flag.concerns.extend(FlagConcern(category=c) for c in sorted(set(categories) - have))
    flag.family_told = flag.family_told or family_told
    session.flush()
    return flag


def add_relationship(
    session: Session,
    *,
    organisation_id: uuid.UUID,
    person_id: uuid.UUID,
    kind: RelationshipKind,
    source: RelationshipSource,
    valid_from: date,
) -> ServiceRelationship:
    """Record that an organisation serves a person from ``valid_from`` (a practice's patient, a pupil on
    a school's roll...); written with the caller's next flush. The caller knows it is not already live
    (an import compares with the live ones; the demo writes new people)."""
    relationship = ServiceRelationship(
        organisation_id=organisation_id, person_id=person_id, kind=kind, source=source, valid_from=valid_from
    )
    session.add(relationship)
    return relationship


def end_relationship(relationship: ServiceRelationship, *, last_day: date) -> None:
    """End a relationship after ``last_day`` (never before it began): a deregistered patient or a pupil
    who has left stops seeing the flag. Written with the caller's next flush."""
    relationship.valid_to = max(relationship.valid_from, last_day)


def record_relationship(
    session: Session,
    *,
    organisation_id: uuid.UUID,
    person_id: uuid.UUID,
    on: date,
    kind: RelationshipKind = RelationshipKind.NOMINATOR,
    source: RelationshipSource = RelationshipSource.NOMINATION,
) -> ServiceRelationship | None:
    """Record that this organisation nominated this known person (kind ``nominator``) unless a live
    relationship of the kind already records it on ``on``; flush.

    The nominator relationship is a record, not a key: the policy never counts it for flags
    (``sharing_protocols.policy.NO_FLAG_RELATIONSHIPS``), and the organisation follows its nominations
    through the nomination itself. Call it when a nominated person is known to be this person (an exact
    NHS number or UPN match, a coordinator's confirmed match, or their acceptance).

    Returns:
        The new relationship, or None when a live one already records it.
    """
    live = session.scalar(
        select(ServiceRelationship.id).where(
            ServiceRelationship.organisation_id == organisation_id,
            ServiceRelationship.person_id == person_id,
            ServiceRelationship.kind == kind,
            ServiceRelationship.valid_from <= on,
            or_(ServiceRelationship.valid_to.is_(None), ServiceRelationship.valid_to >= on),
        )
    )
    if live is not None:
        return None
    relationship = add_relationship(
        session, organisation_id=organisation_id, person_id=person_id, kind=kind, source=source, valid_from=on
    )
    session.flush()
    return relationship
