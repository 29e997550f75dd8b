"""Validation and normalisation of the identifiers people are found by.

Normalise before validating, storing or computing a blind index, and normalise the same way when
searching: the blind index of "943 476 5919" must equal that of "9434765919".
"""

from __future__ import annotations

import re

from nhs_number import is_valid, standardise_format

UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # I, O and S are never used
_UPN = re.compile(r"^[A-HJ-NP-RT-Z]\d{11}[\dA-HJ-NP-RT-Z]$")
# BS7666 shapes, from the GOV.UK bulk-data rules: letters allowed per position, GIR 0AA, and no
# C/I/K/M/O/V in the inward unit
_POSTCODE = re.compile(
    r"^(GIR ?0AA|[A-PR-UWYZ](\d{1,2}|[A-HK-Y]\d{1,2}|\d[A-HJKPSTUW]|[A-HK-Y]\d[ABEHMNPRV-Y]) ?\d[ABD-HJLNP-UW-Z]{2})$"
)


def clean_nhs_number(raw: str | None) -> str | None:
    """Ten digits with a valid modulus-11 check digit, or None (spaces and dashes are allowed in)."""
    if not raw:
        return None
    digits = standardise_format(raw.strip())
    return digits if digits and is_valid(digits) else None


def upn_check_letter(body12: str) -> str:
    """The check letter of a UPN from its other twelve characters (DfE: weights 2-13, mod 23)."""
    total = sum(w * (int(c) if c.isdigit() else UPN_LETTERS.index(c)) for w, c in enumerate(body12, start=2))
    return UPN_LETTERS[total % 23]


def clean_upn(raw: str | None) -> str | None:
    """A 13-character UPN, upper-case, with a correct check letter, or None."""
    if not raw:
        return None
    upn = re.sub(r"\s+", "", raw).upper()
    if not _UPN.match(upn):
        return None
    return upn if upn[0] == upn_check_letter(upn[1:]) else None


def clean_postcode(raw: str | None) -> str | None:
    """A UK postcode in its standard form ("SW1A 1AA"), or None if it is not a valid shape."""
    if not raw:
        return None
    s = re.sub(r"\s+", "", raw).upper()
    if not 5 <= len(s) <= 7:
        return None
    s = f"{s[:-3]} {s[-3:]}"
    return s if _POSTCODE.match(s) else None


def normalise_name(raw: str) -> str:
    """Case-folded, with runs of spaces, hyphens and apostrophes made single spaces, for comparing."""
    return " ".join(re.sub(r"[-'\u2019.]", " ", raw).casefold().split())


def indexed_identifiers(nhs_number: str | None, upn: str | None) -> dict[str, str | None]:
    """A person's NHS number and UPN with their blind indexes, as the columns of ``Person`` and
    ``NominatedPerson`` hold them (both already normalised; either may be None).

    A value stored without its index is a person no search or duplicate check can find, so they are
    computed together here: by ``portal.families.records.add_person`` for a person, and by the
    nomination's writers for a nominated person.
    """
    from portal.crypto import blind_index  # the key ring: needs an app context, unlike the checks above

    return {
        "nhs_number": nhs_number,
        "nhs_number_index": blind_index("nhs_number", nhs_number) if nhs_number else None,
        "upn": upn,
        "upn_index": blind_index("upn", upn) if upn else None,
    }


def synthetic_nhs_number(n: int) -> str:
    """The n-th valid NHS number in the never-issued 999 range."""
    while True:
        body = f"999{n:06d}"
        total = sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True))
        check = 11 - total % 11
        n += 1
        if check == 10:
            continue
        return body + str(0 if check == 11 else check)


def synthetic_upn(n: int) -> str:
    """The n-th valid UPN in a never-issued range (local authority 999), for demo and test people."""
    body = f"999{1010 + n // 1000:04d}{25:02d}{n % 1000:03d}"  # unique for n below 8,990,000
    return upn_check_letter(body) + body
