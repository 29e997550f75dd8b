"""Matching nominated people to people the programme already knows, explained, never merged silently.

Two layers:

- **Pure** (normalisation, blocking keys, comparison, ranking): plain values in, plain values out, no
  database and no clock, so every rule is unit-tested and property-tested (``tests/unit/test_matching*``).
- **A thin query layer** (``find_candidates``, ``fill_blocking_keys``): names, dates of birth and
  postcodes are encrypted at rest, so SQL cannot compare them. Each known person therefore carries three
  *blocking keys*, stored as keyed blind indexes (HMAC, like the NHS number's): of the date of birth, of
  the postcode, and of the normalised family name with the year of birth. A nomination's people are
  looked up by NHS number, UPN and those keys in one query that reads only index columns; only the
  blocked candidates (a handful, at most ``MAX_DECRYPTED`` per nominated person) are decrypted and scored.

A candidate is only ever a suggestion: a coordinator confirms or rejects each one (``referrals.triage``).
Like the NHS number index, the keys let someone holding the database (but not the index key) see that
two rows share a birthday, a postcode or a surname-and-year, never what it is.
"""

from __future__ import annotations

import enum
import re
import unicodedata
import uuid
from collections.abc import Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # the query layer's types; the pure layer never needs them
    from sqlalchemy.orm import Session

    from portal.families.models import Person

K = TypeVar("K", bound=Hashable)

# --------------------------------------------------------------------------------- normalisation

#: apostrophes join (O'Brien -> obrien); every other non-alphanumeric character separates words
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u02bc]")
_SEPARATORS = re.compile(r"[\W_]+")  # letters of any script stay; accents are gone by then
#: letters NFKD does not decompose into a base letter and an accent
_FOLD = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d", "\u0131": "i"})


def _fold(raw: str) -> str:
    """Case-folded, without accents, with letters NFKD leaves whole spelled out (ø -> o, æ -> ae)."""
    decomposed = unicodedata.normalize("NFKD", raw.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", plain).translate(_FOLD)


def name_tokens(raw: str | None) -> tuple[str, ...]:
    """The words of a name, compared as people mean them: case, accents and punctuation ignored,
    apostrophes joined, hyphens and spaces both separating ("Smith-Jones" -> ("smith", "jones"))."""
    if not raw:
        return ()
    return tuple(t for t in _SEPARATORS.split(_APOSTROPHES.sub("", _fold(raw))) if t)


def normalise_name(raw: str | None) -> str:
    """The name's words joined by single spaces (``"  Ó'Brien-SMITH "`` -> ``"obrien smith"``)."""
    return " ".join(name_tokens(raw))


def name_key(raw: str | None) -> str:
    """The name's words run together, so "Smith-Jones", "Smith Jones" and "SmithJones" agree."""
    return "".join(name_tokens(raw))


def normalise_postcode(raw: str | None) -> str | None:
    """Upper-case letters and digits only ("sw1a 1aa" -> "SW1A1AA"); None when nothing is left."""
    if not raw:
        return None
    compact = re.sub(r"[^0-9A-Z]", "", _fold(raw).upper())
    return compact or None


def postcode_sector(raw: str | None) -> str | None:
    """The outward code and the inward code's digit ("SW1A1AA" -> "SW1A1"): neighbouring streets."""
    compact = normalise_postcode(raw)
    if compact is None or len(compact) < 5:
        return None
    return compact[:-2]


# ------------------------------------------------------------------------------ given-name forms

#: common English short forms and spellings of given names; a name's group is every form it is in
_NAME_FORMS = (
    ("william", "bill", "billy", "will", "willy", "liam"),
    ("robert", "bob", "bobby", "rob", "robbie", "bert"),
    ("richard", "rick", "ricky", "dick", "richie"),
    ("james", "jim", "jimmy", "jamie"),
    ("john", "jack", "johnny", "jon"),
    ("jonathan", "jon", "jonny"),
    ("michael", "mike", "mick", "mickey", "micky"),
    ("thomas", "tom", "tommy"),
    ("anthony", "tony", "antony"),
    ("alexander", "alex", "alec", "sandy", "xander"),
    ("alexandra", "alex", "alexa", "sandra", "lexi"),
    ("christopher", "chris", "kit"),
    ("christine", "chris", "chrissie", "christina"),
    ("daniel", "dan", "danny"),
    ("david", "dave", "davey", "dai"),
    ("edward", "ed", "eddie", "ted", "teddy", "ned"),
    ("joseph", "joe", "joey"),
    ("samuel", "sam", "sammy"),
    ("samantha", "sam", "sammie"),
    ("benjamin", "ben", "benny"),
    ("matthew", "matt", "mat"),
    ("nicholas", "nick", "nicky", "nico"),
    ("patrick", "pat", "paddy"),
    ("patricia", "pat", "patsy", "trish", "tricia"),
    ("stephen", "steven", "steve", "stevie"),
    ("andrew", "andy", "drew"),
    ("peter", "pete"),
    ("charles", "charlie", "chas", "chuck"),
    ("charlotte", "charlie", "lottie"),
    ("henry", "harry", "hal"),
    ("frederick", "fred", "freddie"),
    ("elizabeth", "liz", "lizzie", "beth", "betty", "eliza", "libby", "elisabeth"),
    ("margaret", "maggie", "meg", "peggy", "megan"),
    ("catherine", "katherine", "kathryn", "kate", "katie", "kathy", "cathy", "kat", "kitty"),
    ("jennifer", "jen", "jenny", "jenna"),
    ("rebecca", "becky", "becca"),
    ("susan", "sue", "susie", "suzanne"),
    ("deborah", "debbie", "debra", "deb"),
    ("victoria", "vicky", "vicki", "tori"),
    ("jessica", "jess", "jessie"),
    ("abigail", "abbie", "abby", "gail"),
    ("isabella", "isabel", "izzy", "bella", "isobel"),
    ("olivia", "liv", "livvy"),
    ("amelia", "millie", "amy"),
    ("emily", "emmy", "em"),
    ("emma", "em"),
    ("eleanor", "ellie", "nell", "elle"),
    ("mohammed", "muhammad", "mohammad", "mohamed", "muhammed", "mohamad"),
    ("ahmed", "ahmad"),
    ("yusuf", "yousef", "youssef", "joseph"),
    ("zachary", "zach", "zack"),
    ("joshua", "josh"),
    ("nathan", "nate", "nathaniel"),
    ("oliver", "ollie"),
    ("theodore", "theo", "ted"),
    ("kieran", "ciaran"),
    ("sean", "shaun", "shawn"),
)
_FORMS: dict[str, frozenset[str]] = {}
for _group in _NAME_FORMS:
    for _name in _group:
        _FORMS[_name] = _FORMS.get(_name, frozenset()) | frozenset(_group)


def same_given_name_forms(a: str, b: str) -> bool:
    """Whether two normalised given names are forms of the same name (Bill and William); symmetric."""
    return a != b and (b in _FORMS.get(a, ()) or a in _FORMS.get(b, ()))


# ------------------------------------------------------------------------------------ similarity


def jaro_winkler(a: str, b: str) -> float:
    """The Jaro-Winkler similarity of two strings (1.0 identical, 0.0 nothing in common); symmetric."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    if (len(a), a) > (len(b), b):
        a, b = b, a  # the greedy matching depends on which string leads: fixing the order makes it symmetric
    window = max(max(len(a), len(b)) // 2 - 1, 0)
    taken = [False] * len(b)
    matched_a: list[str] = []
    for i, ch in enumerate(a):
        for j in range(max(0, i - window), min(len(b), i + window + 1)):
            if not taken[j] and b[j] == ch:
                taken[j] = True
                matched_a.append(ch)
                break
    if not matched_a:
        return 0.0
    matched_b = [b[j] for j in range(len(b)) if taken[j]]
    transpositions = sum(x != y for x, y in zip(matched_a, matched_b, strict=True)) / 2
    m = len(matched_a)
    jaro = (m / len(a) + m / len(b) + (m - transpositions) / m) / 3
    prefix = 0
    for x, y in zip(a[:4], b[:4], strict=False):
        if x != y:
            break
        prefix += 1
    return jaro + prefix * 0.1 * (1 - jaro)


#: at or above this, two names count as "similar" (Thomson/Thompson 0.97, Smith/Smyth 0.89)
SIMILAR_FAMILY_NAME = 0.88
SIMILAR_GIVEN_NAME = 0.88


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

#: blind-index kinds of the blocking keys (domain-separated from each other and from identifiers)
DOB_KIND = "match_dob"
POSTCODE_KIND = "match_postcode"
NAME_YEAR_KIND = "match_name_year"


@dataclass(frozen=True)
class BlockingValues:
    """The normalised values blocking keys are made from (before the keyed hash)."""

    dob: str | None
    postcode: str | None
    #: the normalised family name with the year of birth; several when looking up (each part of a
    #: double-barrelled name), exactly one when stored (the whole name)
    name_years: tuple[str, ...]


def _name_year(key: str, dob: date | None) -> str:
    return f"{key}|{dob.year if dob else '?'}"


def stored_blocking_values(family_name: str | None, date_of_birth: date | None, postcode: str | None) -> BlockingValues:
    """What a known person's blocking keys are made of: the whole family name run together."""
    key = name_key(family_name)
    return BlockingValues(
        dob=date_of_birth.isoformat() if date_of_birth else None,
        postcode=normalise_postcode(postcode),
        name_years=(_name_year(key, date_of_birth),) if key else (),
    )


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
        dob=stored.dob, postcode=stored.postcode, name_years=tuple(_name_year(k, details.date_of_birth) for k in keys)
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


def blocking_indexes(
    family_name: str | None, date_of_birth: date | None, postcode: str | None
) -> dict[str, str | None]:
    """The blocking-key column values for a person with these details (needs the app's key ring)."""
    from portal.crypto import blind_index

    values = stored_blocking_values(family_name, date_of_birth, postcode)
    return {
        "dob_block_index": blind_index(DOB_KIND, values.dob) if values.dob else None,
        "postcode_block_index": blind_index(POSTCODE_KIND, values.postcode) if values.postcode else None,
        "name_year_block_index": blind_index(NAME_YEAR_KIND, values.name_years[0]) if values.name_years else None,
    }


def fill_blocking_keys(person: Person) -> None:
    """Set a person's blocking keys from their details; call wherever a person is written or changed."""
    for column, value in blocking_indexes(person.family_name, person.date_of_birth, person.postcode).items():
        setattr(person, column, value)


def _lookup_keys(details: PersonDetails) -> _Keys:
    from portal.crypto import blind_index

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
    from sqlalchemy import or_, select

    from portal.families.models import Person

    keys = {key: _lookup_keys(details) for key, details in people.items()}
    nhs = {k.nhs for k in keys.values() if k.nhs}
    upn = {k.upn for k in keys.values() if k.upn}
    dob = {k.dob for k in keys.values() if k.dob}
    postcode = {k.postcode for k in keys.values() if k.postcode}
    name_years = set().union(*(k.name_years for k in keys.values())) if keys else set()
    conditions = [
        column.in_(sorted(values))
        for column, values in (
            (Person.nhs_number_index, nhs),
            (Person.upn_index, upn),
            (Person.dob_block_index, dob),
            (Person.postcode_block_index, postcode),
            (Person.name_year_block_index, name_years),
        )
        if values
    ]
    if not conditions:
        return {key: [] for key in people}
    rows = session.execute(
        select(
            Person.id,
            Person.nhs_number_index,
            Person.upn_index,
            Person.dob_block_index,
            Person.postcode_block_index,
            Person.name_year_block_index,
        ).where(or_(*conditions))
    ).all()
    chosen: dict[K, list[uuid.UUID]] = {}
    for key, k in keys.items():
        skip = set((exclude or {}).get(key, ()))
        weighed = [(_block_weight(k, row), row.id) for row in rows if row.id not in skip]
        weighed = [(w, pid) for w, pid in weighed if w != (0, 0)]
        weighed.sort(key=lambda item: (-item[0][0], -item[0][1], str(item[1])))
        chosen[key] = [pid for _, pid in weighed[:MAX_DECRYPTED]]
    wanted = set().union(*chosen.values()) if chosen else set()
    details: dict[uuid.UUID, PersonDetails] = {}
    if wanted:
        for row in session.execute(
            select(
                Person.id,
                Person.given_name,
                Person.family_name,
                Person.date_of_birth,
                Person.postcode,
                Person.nhs_number,
                Person.upn,
            ).where(Person.id.in_(sorted(wanted)))
        ):
            details[row.id] = PersonDetails(
                row.given_name, row.family_name, row.date_of_birth, row.postcode, row.nhs_number, row.upn
            )
    return {
        key: rank(people[key], [(pid, details[pid]) for pid in chosen[key] if pid in details], limit=limit)
        for key in people
    }


def backfill_blocking_keys(session: Session, *, batch_size: int = 1000) -> list[uuid.UUID]:
    """Fill the blocking keys of people who have none yet (written before migration 0007); flush only.

    Reads each such person's family name, date of birth and postcode (decrypting them), so the caller
    logs the people returned. Safe to re-run: a person whose keys are set is not read again.

    Returns:
        The ids of the people whose keys were filled.
    """
    from sqlalchemy import select

    from portal.families.models import Person

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
