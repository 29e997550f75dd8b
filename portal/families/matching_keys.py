"""The blocking keys every person carries so that nominated people can be matched to them, and the
normalisation they are made from.

Names, dates of birth and postcodes are encrypted at rest, so SQL cannot compare them. Each person
therefore carries three keyed blind indexes (HMAC under the index key, like the NHS number's): of the
date of birth, of the postcode, and of the normalised family name with the year of birth. They live
here, with the person, because they are part of writing a person: a person stored without them is one
matching can never find (``portal.families.records.add_person`` fills them). Matching itself, which
looks people up by these keys and explains each candidate, is ``referrals.matching``.

Pure except ``blocking_indexes``, which needs the app's key ring.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from portal.crypto import blind_index

if TYPE_CHECKING:
    from portal.families.models import Person

#: apostrophes join (O'Brien -> obrien); every other non-alphanumeric character separates words
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u02bc]")
_SEPARATORS = re.compile(r"[\W_]+")  # letters of any script stay; accents are gone by then
#: letters NFKD does not decompose into a base letter and an accent
_FOLD = str.maketrans({"ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d", "\u0131": "i"})


def fold(raw: str) -> str:
    """Case-folded, without accents, with letters NFKD leaves whole spelled out (ø -> o, æ -> ae)."""
    decomposed = unicodedata.normalize("NFKD", raw.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", plain).translate(_FOLD)


def name_tokens(raw: str | None) -> tuple[str, ...]:
    """The words of a name, compared as people mean them: case, accents and punctuation ignored,
    apostrophes joined, hyphens and spaces both separating ("Smith-Jones" -> ("smith", "jones"))."""
    if not raw:
        return ()
    return tuple(t for t in _SEPARATORS.split(_APOSTROPHES.sub("", fold(raw))) if t)


def name_key(raw: str | None) -> str:
    """The name's words run together, so "Smith-Jones", "Smith Jones" and "SmithJones" agree."""
    return "".join(name_tokens(raw))


def normalise_postcode(raw: str | None) -> str | None:
    """Upper-case letters and digits only ("sw1a 1aa" -> "SW1A1AA"); None when nothing is left."""
    if not raw:
        return None
    compact = re.sub(r"[^0-9A-Z]", "", fold(raw).upper())
    return compact or None


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


def name_year(key: str, dob: date | None) -> str:
    """A family name key with the year of birth ("?" when unknown), as the name-and-year key holds it."""
    return f"{key}|{dob.year if dob else '?'}"


def stored_blocking_values(family_name: str | None, date_of_birth: date | None, postcode: str | None) -> BlockingValues:
    """What a known person's blocking keys are made of: the whole family name run together."""
    key = name_key(family_name)
    return BlockingValues(
        dob=date_of_birth.isoformat() if date_of_birth else None,
        postcode=normalise_postcode(postcode),
        name_years=(name_year(key, date_of_birth),) if key else (),
    )


def blocking_indexes(
    family_name: str | None, date_of_birth: date | None, postcode: str | None
) -> dict[str, str | None]:
    """The blocking-key column values for a person with these details (needs the app's key ring)."""
    values = stored_blocking_values(family_name, date_of_birth, postcode)
    return {
        "dob_block_index": blind_index(DOB_KIND, values.dob) if values.dob else None,
        "postcode_block_index": blind_index(POSTCODE_KIND, values.postcode) if values.postcode else None,
        "name_year_block_index": blind_index(NAME_YEAR_KIND, values.name_years[0]) if values.name_years else None,
    }


def fill_blocking_keys(person: Person) -> None:
    """Set a person's blocking keys from their details: part of writing or changing a person, so only
    this domain's writers (``portal.families.records``) call it."""
    for column, value in blocking_indexes(person.family_name, person.date_of_birth, person.postcode).items():
        setattr(person, column, value)
