"""Duplicates at submission: is someone in this nomination already known to the Supporting Families team?

A person is already known when they are a current member of an open (attached) family, or are in
another open nomination (submitted, or waiting for more information). Found by the NHS number or UPN
blind index (exact, no decryption), or else by a strong match: the same normalised first and last
name and the same date of birth, with no identifier that contradicts it (two different NHS numbers
are two people, whatever their names).

What is found is used to add the nomination to the existing record (status ``linked``), never to
merge people: whether a nominated person is a known person is still for a coordinator to confirm.
Nothing here decides what the nominator may be told; the caller tells them only that the person is
already known.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from portal.families.identifiers import normalise_name
from portal.families.models import Family, FamilyMember, FamilyStatus, Person
from referrals.models import NominatedPerson, Nomination, NominationStatus

#: nominations still with the council (or the nominator): a new nomination for the same person joins them
OPEN_STATUSES = tuple(s for s in NominationStatus if s.open)


class MatchedBy(enum.StrEnum):
    NHS_NUMBER = "nhs_number"
    UPN = "upn"
    NAME_AND_DATE_OF_BIRTH = "name_and_date_of_birth"

    @property
    def exact(self) -> bool:
        """Matched on an identifier (a blind index), not on a name and a date of birth."""
        return self is not MatchedBy.NAME_AND_DATE_OF_BIRTH


@dataclass(frozen=True)
class Described:
    """A person as a nominator described them: what duplicate detection compares (no database row)."""

    ordinal: int  #: 0 is the person the concern is about
    given_name: str
    family_name: str
    date_of_birth: date | None
    nhs_number_index: str | None
    upn_index: str | None

    @classmethod
    def of(cls, person: NominatedPerson) -> Described:
        return cls(
            person.ordinal,
            person.given_name,
            person.family_name,
            person.date_of_birth,
            person.nhs_number_index,
            person.upn_index,
        )


@dataclass(frozen=True)
class Duplicate:
    """Where a nominated person is already known, and how that was found."""

    ordinal: int  #: which person of the new nomination matched
    matched_by: MatchedBy
    family_id: uuid.UUID | None  #: the open family they are a member of (or the open nomination's family)
    person_id: uuid.UUID | None  #: the known person, when matched to a family member
    nomination_id: uuid.UUID | None  #: the open nomination they are in, when matched to one


@dataclass(frozen=True)
class _Known:
    """A known person (family member) or a person in an open nomination, with what matching compares."""

    family_id: uuid.UUID | None
    person_id: uuid.UUID | None
    nomination_id: uuid.UUID | None
    given_name: str
    family_name: str
    date_of_birth: date | None
    nhs_number_index: str | None
    upn_index: str | None


def _identifiers_agree(a: Described, b: _Known) -> bool:
    """No identifier known on both sides differs."""
    return not (
        (a.nhs_number_index and b.nhs_number_index and a.nhs_number_index != b.nhs_number_index)
        or (a.upn_index and b.upn_index and a.upn_index != b.upn_index)
    )


def _match(person: Described, known: _Known) -> MatchedBy | None:
    if person.nhs_number_index and person.nhs_number_index == known.nhs_number_index:
        return MatchedBy.NHS_NUMBER
    if person.upn_index and person.upn_index == known.upn_index:
        return MatchedBy.UPN
    if (
        person.date_of_birth is not None
        and person.date_of_birth == known.date_of_birth
        and normalise_name(person.given_name) == normalise_name(known.given_name)
        and normalise_name(person.family_name) == normalise_name(known.family_name)
        and _identifiers_agree(person, known)
    ):
        return MatchedBy.NAME_AND_DATE_OF_BIRTH
    return None


def best_duplicate(people: Iterable[Described], known: Iterable[_Known]) -> Duplicate | None:
    """The strongest match of any of ``people`` among ``known``: an identifier before a name and date of
    birth, an attached family before an open nomination, the person the concern is about first. Pure."""
    found: list[tuple[tuple[int, int, int], Duplicate]] = []
    candidates = list(known)
    for person in people:
        for k in candidates:
            how = _match(person, k)
            if how is None:
                continue
            rank = (0 if how.exact else 1, 0 if k.person_id is not None else 1, person.ordinal)
            found.append((rank, Duplicate(person.ordinal, how, k.family_id, k.person_id, k.nomination_id)))
    return min(found, key=lambda pair: pair[0])[1] if found else None


def _members(session: Session, on: date, where: object | None) -> list[_Known]:
    """Current members of open families (those whose identifiers match ``where``, or all of them)."""
    query = (
        select(
            FamilyMember.family_id,
            Person.id,
            Person.given_name,
            Person.family_name,
            Person.date_of_birth,
            Person.nhs_number_index,
            Person.upn_index,
        )
        .join(Person, Person.id == FamilyMember.person_id)
        .join(Family, Family.id == FamilyMember.family_id)
        .where(
            Family.status == FamilyStatus.OPEN,
            FamilyMember.joined_on <= on,
            or_(FamilyMember.left_on.is_(None), FamilyMember.left_on >= on),
        )
    )
    if where is not None:
        query = query.where(where)
    return [_Known(r[0], r[1], None, r[2], r[3], r[4], r[5], r[6]) for r in session.execute(query)]


def _in_open_nominations(session: Session, exclude: uuid.UUID | None, where: object | None) -> list[_Known]:
    """People in other open nominations (those whose identifiers match ``where``, or all of them)."""
    query = (
        select(
            Nomination.family_id,
            Nomination.id,
            NominatedPerson.given_name,
            NominatedPerson.family_name,
            NominatedPerson.date_of_birth,
            NominatedPerson.nhs_number_index,
            NominatedPerson.upn_index,
        )
        .join(Nomination, Nomination.id == NominatedPerson.nomination_id)
        .where(Nomination.status.in_(OPEN_STATUSES))
    )
    if exclude is not None:
        query = query.where(Nomination.id != exclude)
    if where is not None:
        query = query.where(where)
    return [_Known(r[0], None, r[1], r[2], r[3], r[4], r[5], r[6]) for r in session.execute(query)]


def find_duplicate(
    session: Session, people: Sequence[Described], *, on: date, exclude_nomination_id: uuid.UUID | None = None
) -> Duplicate | None:
    """Find where any of these nominated people is already known: a current member of an open family,
    or in another open nomination. Reads only; writes nothing and logs nothing (the caller, which is
    inside the gate, decides what to tell whom).

    Identifiers first, by blind index (two indexed queries, nothing decrypted). Only when no identifier
    matches are names and dates of birth compared, which means decrypting the members of open families
    and the people in open nominations (a county holds about 10,000 people); people with no date of
    birth are never matched on their name alone.

    Args:
        people: the nominated people (``Described.of(nominated_person)``).
        on: the day, for family membership.
        exclude_nomination_id: the nomination being submitted, which must not match itself.

    Returns:
        The strongest match (see ``best_duplicate``), or None.
    """
    if not people:
        return None
    nhs = sorted({p.nhs_number_index for p in people if p.nhs_number_index})
    upn = sorted({p.upn_index for p in people if p.upn_index})
    if nhs or upn:
        by_person = or_(
            and_(Person.nhs_number_index.is_not(None), Person.nhs_number_index.in_(nhs)),
            and_(Person.upn_index.is_not(None), Person.upn_index.in_(upn)),
        )
        by_nominated = or_(
            and_(NominatedPerson.nhs_number_index.is_not(None), NominatedPerson.nhs_number_index.in_(nhs)),
            and_(NominatedPerson.upn_index.is_not(None), NominatedPerson.upn_index.in_(upn)),
        )
        known = _members(session, on, by_person) + _in_open_nominations(session, exclude_nomination_id, by_nominated)
        exact = best_duplicate(people, known)
        if exact is not None:
            return exact
    if not any(p.date_of_birth for p in people):
        return None
    known = _members(session, on, None) + _in_open_nominations(session, exclude_nomination_id, None)
    return best_duplicate([p for p in people if p.date_of_birth], known)
