"""Matching nominated people to people the programme already knows, explained, never merged silently.

Two layers:

- **Pure** (comparison, ranking, the keys a nominated person is looked up by): plain values in, plain
  values out, no database and no clock, so every rule is unit-tested and property-tested
  (``tests/unit/test_matching*``). How alike two names are is ``referrals.name_similarity``.
- **A thin query layer** (``find_candidates``): names, dates of birth and postcodes are encrypted at
  rest, so SQL cannot compare them. Each known person therefore carries three *blocking keys*, keyed
  blind indexes (HMAC, like the NHS number's) of the date of birth, of the postcode, and of the
  normalised family name with the year of birth, written with the person by ``portal.families``
  (``portal.families.matching_keys``, whose normalisation this module shares). A nomination's people
  are looked up by NHS number, UPN and those keys in one query that reads only index columns; only the
  blocked candidates (a handful, at most ``MAX_DECRYPTED`` per nominated person) are decrypted and scored.

A candidate is only ever a suggestion: a coordinator confirms or rejects each one (``referrals.triage``).
Like the NHS number index, the keys let someone holding the database (but not the index key) see that
two rows share a birthday, a postcode or a surname-and-year, never what it is.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import or_, select

from portal.crypto import blind_index
from portal.families.matching_keys import (
    DOB_KIND,
    NAME_YEAR_KIND,
    POSTCODE_KIND,
    BlockingValues,
    blocking_indexes,
    fill_blocking_keys,
    name_key,
    name_tokens,
    name_year,
    normalise_postcode,
    stored_blocking_values,
)
from portal.families.models import Person
from referrals.name_similarity import SIMILAR_FAMILY_NAME, SIMILAR_GIVEN_NAME, jaro_winkler, same_given_name_forms

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: re-exported: the normalisation and keys are shared with how known people are written, and callers
#: (the tests, the bench) find them here with the rest of matching
__all__ = [
    "DOB_KIND",
    "MAX_DECRYPTED",
    "NAME_YEAR_KIND",
    "POSTCODE_KIND",
    "SIMILAR_FAMILY_NAME",
    "SIMILAR_GIVEN_NAME",
    "BlockingValues",
    "Candidate",
    "Comparison",
    "PersonDetails",
    "Strength",
    "blocking_indexes",
    "compare",
    "fill_blocking_keys",
    "find_candidates",
    "jaro_winkler",
    "lookup_blocking_values",
    "name_key",
    "name_tokens",
    "normalise_name",
    "normalise_postcode",
    "postcode_sector",
    "rank",
    "rank_key",
    "same_given_name_forms",
    "stored_blocking_values",
]

K = TypeVar("K", bound=Hashable)

# --------------------------------------------------------------------------------- normalisation


def normalise_name(raw: str | None) -> str:
    """The name's words joined by single spaces (``"  Ó'Brien-SMITH "`` -> ``"obrien smith"``)."""
    return " ".join(name_tokens(raw))


def postcode_sector(raw: str | None) -> str | None:
    """The outward code and the inward code's digit ("SW1A1AA" -> "SW1A1"): neighbouring streets."""
    compact = normalise_postcode(raw)
    if compact is None or len(compact) < 5:
        return None
    return compact[:-2]


# ------------------------------------------------------------------------------------ comparison


@dataclass(frozen=True)
class PersonDetails:
    """What matching compares: one person's identifying details, in plain text (decrypted)."""

    given_name: str
    family_name: str
    date_of_birth: date | None = None
    postcode: str | None = None
    nhs_number: str | None = None  #: standardised 10 digits
    upn: str | None = None  #: upper-case 13 characters


class Strength(enum.IntEnum):
    """How strongly a candidate matches; higher is stronger. The value orders, the label explains."""

    WEAK = 1
    POSSIBLE = 2
    STRONG = 3
    EXACT = 4  #: the same NHS number or UPN

    @property
    def label(self) -> str:
        return {1: "Weak match", 2: "Possible match", 3: "Strong match", 4: "Same identifier"}[self.value]


#: points per kind of agreement (Fellegi-Sunter in spirit: agreement on a rarer value is worth more)
SAME_IDENTIFIER = 60
DIFFERENT_IDENTIFIER = -40
SAME_DOB, SWAPPED_DOB, SAME_MONTH_YEAR, SAME_YEAR, DIFFERENT_DOB = 35, 20, 12, 6, -25
SAME_FAMILY, FAMILY_PART, SIMILAR_FAMILY, DIFFERENT_FAMILY = 25, 18, 14, -15
SAME_GIVEN, GIVEN_FORM, SIMILAR_GIVEN, GIVEN_INITIAL, DIFFERENT_GIVEN = 20, 15, 12, 8, -15
SWAPPED_NAMES = 35
SAME_POSTCODE, SAME_SECTOR = 15, 5
#: thresholds on the score for a candidate without a shared identifier
STRONG_SCORE, POSSIBLE_SCORE, MINIMUM_SCORE = 70, 40, 20


@dataclass(frozen=True)
class Comparison:
    """How one known person compares with one nominated person."""

    score: int
    same_nhs_number: bool
    same_upn: bool
    #: what agrees, in plain words ("same date of birth", "family name matches, given name similar")
    reasons: tuple[str, ...]
    #: what disagrees ("different date of birth"), shown beside the reasons so nothing is hidden
    differences: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return self.same_nhs_number or self.same_upn

    @property
    def strength(self) -> Strength:
        if self.exact:
            return Strength.EXACT
        if self.score >= STRONG_SCORE:
            return Strength.STRONG
        if self.score >= POSSIBLE_SCORE:
            return Strength.POSSIBLE
        return Strength.WEAK


def _compare_identifier(a: str | None, b: str | None) -> bool | None:
    """True when both are given and equal, False when both are given and differ, None otherwise."""
    if not a or not b:
        return None
    return a == b


def _compare_dob(a: date | None, b: date | None) -> tuple[int, str | None, str | None]:
    if a is None or b is None:
        return 0, None, None
    if a == b:
        return SAME_DOB, "same date of birth", None
    if a.year == b.year and a.day == b.month and a.month == b.day:
        return SWAPPED_DOB, "same date of birth with day and month swapped", None
    if (a.year, a.month) == (b.year, b.month):
        return SAME_MONTH_YEAR, "same month and year of birth", "different day of birth"
    if a.year == b.year:
        return SAME_YEAR, "same year of birth", "different day and month of birth"
    return DIFFERENT_DOB, None, "different date of birth"


def _compare_family(a: str | None, b: str | None) -> tuple[int, str | None, str | None]:
    ka, kb = name_key(a), name_key(b)
    if not ka or not kb:
        return 0, None, None
    if ka == kb:
        return SAME_FAMILY, "family name matches", None
    ta, tb = name_tokens(a), name_tokens(b)
    if (len(ta) > 1 and kb in ta) or (len(tb) > 1 and ka in tb):
        return FAMILY_PART, "family name matches part of a double-barrelled name", None
    if jaro_winkler(ka, kb) >= SIMILAR_FAMILY_NAME:
        return SIMILAR_FAMILY, "family name similar", None
    return DIFFERENT_FAMILY, None, "different family name"


def _compare_given(a: str | None, b: str | None) -> tuple[int, str | None, str | None]:
    ta, tb = name_tokens(a), name_tokens(b)
    if not ta or not tb:
        return 0, None, None
    first_a, first_b = ta[0], tb[0]
    if name_key(a) == name_key(b) or first_a == first_b:
        return SAME_GIVEN, "given name matches", None
    if same_given_name_forms(first_a, first_b):
        return GIVEN_FORM, "given name is another form of the same name", None
    if jaro_winkler(first_a, first_b) >= SIMILAR_GIVEN_NAME:
        return SIMILAR_GIVEN, "given name similar", None
    if (len(first_a) == 1 and first_b.startswith(first_a)) or (len(first_b) == 1 and first_a.startswith(first_b)):
        return GIVEN_INITIAL, "given name matches the initial", None
    if set(ta) & set(tb):
        return SIMILAR_GIVEN, "given names share a name", None
    return DIFFERENT_GIVEN, None, "different given name"


def _names_swapped(a: PersonDetails, b: PersonDetails) -> bool:
    ga, fa, gb, fb = (name_key(x) for x in (a.given_name, a.family_name, b.given_name, b.family_name))
    return bool(ga and fa) and ga != fa and ga == fb and fa == gb


def _compare_postcode(a: str | None, b: str | None) -> tuple[int, str | None]:
    pa, pb = normalise_postcode(a), normalise_postcode(b)
    if pa is None or pb is None:
        return 0, None
    if pa == pb:
        return SAME_POSTCODE, "same postcode"
    sector = postcode_sector(pa)
    if sector is not None and sector == postcode_sector(pb):
        return SAME_SECTOR, "postcode in the same sector"
    return 0, None  # people move: a different postcode is not evidence against


def compare(nominated: PersonDetails, known: PersonDetails) -> Comparison:
    """Compare two people's details; symmetric (``compare(a, b)`` and ``compare(b, a)`` agree).

    The name reason reads as one phrase ("family name matches, given name similar"), the way a
    coordinator would say it, and what disagrees is listed separately.
    """
    score = 0
    reasons: list[str] = []
    differences: list[str] = []

    same_nhs = _compare_identifier(nominated.nhs_number, known.nhs_number)
    same_upn = _compare_identifier(nominated.upn, known.upn)
    for same, label in ((same_nhs, "NHS number"), (same_upn, "UPN")):
        if same is True:
            score += SAME_IDENTIFIER
            reasons.append(f"same {label}")
        elif same is False:
            score += DIFFERENT_IDENTIFIER
            differences.append(f"different {label}")

    points, agree, disagree = _compare_dob(nominated.date_of_birth, known.date_of_birth)
    score += points
    reasons += [agree] if agree else []
    differences += [disagree] if disagree else []

    if _names_swapped(nominated, known):
        score += SWAPPED_NAMES
        reasons.append("given and family names swapped")
    else:
        name_parts = []
        for compare_part in (
            _compare_family(nominated.family_name, known.family_name),
            _compare_given(nominated.given_name, known.given_name),
        ):
            points, agree, disagree = compare_part
            score += points
            name_parts += [agree] if agree else []
            differences += [disagree] if disagree else []
        if name_parts:
            reasons.append(", ".join(name_parts))

    points, agree = _compare_postcode(nominated.postcode, known.postcode)
    score += points
    reasons += [agree] if agree else []
    return Comparison(score, same_nhs is True, same_upn is True, tuple(reasons), tuple(differences))


@dataclass(frozen=True)
class Candidate(Generic[K]):
    """A known person who may be the nominated one, with the comparison that says why."""

    key: K  #: the known person's id
    details: PersonDetails
    comparison: Comparison

    @property
    def score(self) -> int:
        return self.comparison.score

    @property
    def strength(self) -> Strength:
        return self.comparison.strength


def rank_key(candidate: Candidate[K]) -> tuple[bool, bool, int, str]:
    """Same NHS number first, then same UPN, then by score; ties by id, so the order is stable."""
    c = candidate.comparison
    return (not c.same_nhs_number, not c.same_upn, -c.score, str(candidate.key))


def rank(
    nominated: PersonDetails,
    known: Iterable[tuple[K, PersonDetails]],
    *,
    limit: int | None = 5,
    minimum: int = MINIMUM_SCORE,
) -> list[Candidate[K]]:
    """The known people worth showing for a nominated person, best first.

    A shared NHS number or UPN is always shown and always ranks above every other candidate, whatever
    else differs (the differences are shown with it); any other candidate needs ``minimum`` points.
    """
    candidates = []
    for key, details in known:
        comparison = compare(nominated, details)
        if comparison.exact or comparison.score >= minimum:
            candidates.append(Candidate(key, details, comparison))
    candidates.sort(key=rank_key)
    return candidates if limit is None else candidates[:limit]


# ----------------------------------------------------------------------------------- blocking keys


def lookup_blocking_values(details: PersonDetails) -> BlockingValues:
    """What to look a nominated person up by: also each part of a double-barrelled family name, so a
    nominated "Smith-Jones" finds a known "Smith" (a known "Smith-Jones" is found through the date of
    birth or postcode when the nominator wrote only "Smith")."""
    whole = name_key(details.family_name)
    parts = [t for t in name_tokens(details.family_name) if len(t) > 1]
    keys = list(dict.fromkeys([whole, *parts])) if whole else []
    if details.date_of_birth is None:
        keys = []  # without a year of birth the name alone would block every namesake
    stored = stored_blocking_values(details.family_name, details.date_of_birth, details.postcode)
    return BlockingValues(
        dob=stored.dob, postcode=stored.postcode, name_years=tuple(name_year(k, details.date_of_birth) for k in keys)
    )


# ------------------------------------------------------------------------------------ query layer

#: at most this many blocked candidates per nominated person are decrypted and scored
MAX_DECRYPTED = 60


@dataclass(frozen=True)
class _Keys:
    nhs: str | None
    upn: str | None
    dob: str | None
    postcode: str | None
    name_years: frozenset[str]


def _lookup_keys(details: PersonDetails) -> _Keys:
    values = lookup_blocking_values(details)
    return _Keys(
        nhs=blind_index("nhs_number", details.nhs_number) if details.nhs_number else None,
        upn=blind_index("upn", details.upn) if details.upn else None,
        dob=blind_index(DOB_KIND, values.dob) if values.dob else None,
        postcode=blind_index(POSTCODE_KIND, values.postcode) if values.postcode else None,
        name_years=frozenset(blind_index(NAME_YEAR_KIND, v) for v in values.name_years),
    )


def _block_weight(keys: _Keys, row: Any) -> tuple[int, int]:
    """How promising a blocked row is before decrypting it: identifiers first, then keys shared."""
    identifier = 2 * bool(keys.nhs and row.nhs_number_index == keys.nhs) + bool(keys.upn and row.upn_index == keys.upn)
    shared = (
        bool(keys.dob and row.dob_block_index == keys.dob)
        + bool(keys.postcode and row.postcode_block_index == keys.postcode)
        + (row.name_year_block_index in keys.name_years)
    )
    return int(identifier), int(shared)


def _blocked(session: Session, keys: Collection[_Keys]) -> Sequence[Any]:
    """Every known person sharing an identifier or a blocking key with any of these people: one query
    over the index columns only (each has its own index; PostgreSQL ORs the bitmaps), nothing decrypted."""
    name_years = set().union(*(k.name_years for k in keys))
    conditions = [
        column.in_(sorted(values))
        for column, values in (
            (Person.nhs_number_index, {k.nhs for k in keys if k.nhs}),
            (Person.upn_index, {k.upn for k in keys if k.upn}),
            (Person.dob_block_index, {k.dob for k in keys if k.dob}),
            (Person.postcode_block_index, {k.postcode for k in keys if k.postcode}),
            (Person.name_year_block_index, name_years),
        )
        if values
    ]
    if not conditions:
        return []
    return session.execute(
        select(
            Person.id,
            Person.nhs_number_index,
            Person.upn_index,
            Person.dob_block_index,
            Person.postcode_block_index,
            Person.name_year_block_index,
        ).where(or_(*conditions))
    ).all()


def _most_promising(keys: _Keys, rows: Sequence[Any], skip: Collection[uuid.UUID]) -> list[uuid.UUID]:
    """The blocked people worth decrypting for one nominated person, most promising first, at most
    ``MAX_DECRYPTED`` (a common birthday or postcode must not decrypt a whole county)."""
    weighed = [(_block_weight(keys, row), row.id) for row in rows if row.id not in skip]
    weighed = [(w, pid) for w, pid in weighed if w != (0, 0)]
    weighed.sort(key=lambda item: (-item[0][0], -item[0][1], str(item[1])))
    return [pid for _, pid in weighed[:MAX_DECRYPTED]]


def _details(session: Session, person_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, PersonDetails]:
    """The chosen people's details, decrypted: the second and last query."""
    if not person_ids:
        return {}
    return {
        row.id: PersonDetails(row.given_name, row.family_name, row.date_of_birth, row.postcode, row.nhs_number, row.upn)
        for row in session.execute(
            select(
                Person.id,
                Person.given_name,
                Person.family_name,
                Person.date_of_birth,
                Person.postcode,
                Person.nhs_number,
                Person.upn,
            ).where(Person.id.in_(sorted(person_ids)))
        )
    }


def find_candidates(
    session: Session,
    people: Mapping[K, PersonDetails],
    *,
    limit: int = 5,
    exclude: Mapping[K, Collection[uuid.UUID]] | None = None,
) -> dict[K, list[Candidate[uuid.UUID]]]:
    """Candidate known people for each nominated person, ranked and explained.

    Two queries whatever the number of people: one over the index columns only (NHS number, UPN and
    the three blocking keys, each with its own index), then one decrypting the chosen candidates.
    The caller must be allowed to see the candidates and must log them before showing them.

    Args:
        people: nominated person key -> their details as the nominator gave them.
        exclude: known person ids not to suggest again for a nominated person (matches rejected).
    """
    keys = {key: _lookup_keys(details) for key, details in people.items()}
    rows = _blocked(session, list(keys.values()))
    chosen = {key: _most_promising(k, rows, set((exclude or {}).get(key, ()))) for key, k in keys.items()}
    details = _details(session, set().union(*chosen.values()) if chosen else set())
    return {
        key: rank(people[key], [(pid, details[pid]) for pid in chosen[key] if pid in details], limit=limit)
        for key in people
    }
