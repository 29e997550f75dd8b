"""The access log's entry format (v1): the canonical bytes of an entry, its hash, and the typed input
that builds them.

Canonical encoding (format v1), so that an auditor can recompute every hash with nothing but this text
---------------------------------------------------------------------------------------------------------
Each entry's *payload* is a Unicode string, encoded as UTF-8 for hashing:

    payload = F(seq) US F(at_us) US F(event) US F(outcome) US F(actor_user_id) US F(actor_organisation_id)
              US F(actor_roles) US F(purpose) US F(categories) US F(reasons) US F(protocol_refs)
              US F(notice_refs) US F(request_id) US F(ip) US F(user_agent) US F(detail) US F(subject_count)
              then, for each subject row in ordinal order (0, 1, 2...):
              RS F(ordinal) US F(person_id) US F(family_id) US F(tier) US F(categories)

    hash    = lowercase hex SHA-256( prev_hash || payload )

- ``US`` is U+001F (unit separator) and ``RS`` is U+001E (record separator). ``||`` is concatenation:
  prev_hash is the previous entry's hash as 64 lowercase ASCII hex digits, directly followed by the
  payload. Entry 1's prev_hash is 64 zeros ("0" * 64).
- ``F(value)`` is the column's value exactly as stored: integers as decimal ASCII digits (no leading
  zeros), text as is, and NULL (only the four id columns may be NULL) as the empty string. An id column
  never holds the empty string; verification treats one that does as changed.
- No value contains a control character (U+0000-U+001F, U+007F-U+009F): they are stripped from free
  text (IP address, user agent), escaped in ``detail`` (JSON), and refused in codes when the entry is
  built. So separators occur only between values; the number of fields and records is fixed by the
  schema and ``subject_count``, and the encoding is unambiguous.
- List columns (roles, categories, reasons, references) are comma-joined; their items may not contain
  commas. ``detail`` is JSON: an object of string values, keys sorted, separators "," and ":", ASCII
  only (``json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``).
- ``at_us`` is the time of the access in microseconds since 1970-01-01T00:00:00Z.

A worked example is in ``tests/unit/test_audit_chain.py``.

Storage
-------
An entry's own fields are columns of ``access_log_entry``. Its subject records (everything after
``F(subject_count)``: RS + fields joined by US, per subject, in ordinal order) are stored as they are
hashed, as one text in one ``access_log_subject`` row (``records``); an entry without subjects has no
row there. So the payload is the entry's fields joined by US, followed by ``records``, and verification
reads one subject row per entry instead of aggregating one per subject. ``parse_records`` splits
``records`` back into subject values.

Appending (``appending``) writes what ``NewEntry`` prepared; verifying (``verification``) recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from portal.access_log.events import EventType, Outcome

GENESIS = "0" * 64
US = "\x1f"
RS = "\x1e"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)

#: the payload's fields, in order (see the module docstring)
ENTRY_FIELDS = (
    "seq",
    "at_us",
    "event",
    "outcome",
    "actor_user_id",
    "actor_organisation_id",
    "actor_roles",
    "purpose",
    "categories",
    "reasons",
    "protocol_refs",
    "notice_refs",
    "request_id",
    "ip",
    "user_agent",
    "detail",
    "subject_count",
)
SUBJECT_FIELDS = ("ordinal", "person_id", "family_id", "tier", "categories")

#: column lengths: codes longer than these are refused; free text (ip, user agent) is cut short
LIMITS = {"event": 64, "outcome": 16, "purpose": 64, "request_id": 64, "ip": 64, "user_agent": 300}
MAX_DETAIL = 4000

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
#: one stored subject record, after its RS: integers in canonical form, no separators inside a value
_RECORD = re.compile("(0|[1-9][0-9]*)\x1f([^\x1e\x1f]*)\x1f([^\x1e\x1f]*)\x1f(0|[1-9][0-9]*)\x1f([^\x1e\x1f]*)")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


# -- canonical encoding --------------------------------------------------------------------------------


def field_text(value: object) -> str:
    """``F(value)``: one definition (NULL as ""), so append, both verifiers and auditors' tests encode alike."""
    return "" if value is None else str(value)


def encode_records(subjects: Sequence[Mapping[str, Any]]) -> str:
    """The subject records of an entry as hashed and stored: per subject, in ordinal order, RS and then
    its ``SUBJECT_FIELDS`` joined by US ("" when there are no subjects)."""
    return "".join(RS + US.join(field_text(s[name]) for name in SUBJECT_FIELDS) for s in subjects)


def canonical_payload(entry: Mapping[str, Any], subjects: Sequence[Mapping[str, Any]] = ()) -> str:
    """The payload string of an entry (see the module docstring), from column values.

    ``canonical_payload(entry) + records`` is the payload of an entry whose stored subject records
    are ``records``.

    Args:
        entry: the entry's columns by name (at least ``ENTRY_FIELDS``).
        subjects: its subject rows in ordinal order (at least ``SUBJECT_FIELDS`` each).
    """
    return US.join(field_text(entry[name]) for name in ENTRY_FIELDS) + encode_records(subjects)


def parse_records(records: str | None) -> tuple[dict[str, Any], ...]:
    """Split stored subject records back into subject rows: ``SUBJECT_FIELDS`` by name, ordinal and
    tier as ints, an empty id as None. ``encode_records`` of the result gives ``records`` back.

    Raises:
        ValueError: ``records`` is not a sequence of well-formed records (only tampering makes one).
    """
    if not records:
        return ()
    if records[0] != RS:
        raise ValueError("subject records must start with a record separator")
    rows = []
    for record in records[1:].split(RS):
        match = _RECORD.fullmatch(record)
        if match is None:
            raise ValueError(f"malformed subject record {record!r}")
        ordinal, person_id, family_id, tier, categories = match.groups()
        rows.append(
            {
                "ordinal": int(ordinal),
                "person_id": person_id or None,
                "family_id": family_id or None,
                "tier": int(tier),
                "categories": categories,
            }
        )
    return tuple(rows)


def chain_hash(prev_hash: str, payload: str) -> str:
    """SHA-256, in lowercase hex, of the previous hash followed by the payload (UTF-8)."""
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime, computed exactly (no floats)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    return (moment - EPOCH) // ONE_MICROSECOND


def from_us(at_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=at_us)


def clean_text(value: object, limit: int) -> str:
    """Free text from outside (a user agent): control characters removed, unencodable characters
    replaced, cut to ``limit`` characters."""
    text = _CONTROL.sub("", field_text(value))
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def _code(value: object, what: str) -> str:
    text = field_text(value)
    if not text or text != text.strip() or "," in text or _CONTROL.search(text):
        raise ValueError(f"{what} {text!r} must be a non-empty code without commas, spaces or control characters")
    return text


def _codes(values: Sequence[object] | None, what: str, *, sort: bool) -> str:
    if values is None:
        return ""
    if isinstance(values, str):
        raise ValueError(f"{what} must be a sequence of codes, not a string")
    items = [_code(v, what) for v in values]
    return ",".join(sorted(set(items)) if sort else items)


def _scalar_code(value: object, what: str) -> str:
    text = "" if value is None else _code(value, what)
    if len(text) > LIMITS[what]:
        raise ValueError(f"{what} is longer than {LIMITS[what]} characters")
    return text


def _uuid(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError as exc:
        raise ValueError(f"{what} must be a UUID, not {value!r}") from exc


def canonical_detail(detail: Mapping[str, object]) -> str:
    """The stored form of ``detail``: canonical JSON of string values (ints are written as strings)."""
    values: dict[str, str] = {}
    for key, value in detail.items():
        if not isinstance(key, str) or not _DETAIL_KEY.match(key):
            raise ValueError(f"detail key {key!r} must be snake_case")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"detail {key!r} must be a string, not {type(value).__name__}")
        values[key] = str(value)
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if len(text) > MAX_DETAIL:
        raise ValueError(f"detail is longer than {MAX_DETAIL} characters; log references, not content")
    return text


# -- typed input ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectRef:
    """A person and/or family an entry touched, with how much of them the actor could see."""

    person_id: str | uuid.UUID | None = None
    family_id: str | uuid.UUID | None = None
    tier: int = 0
    categories: Sequence[str] = ()

    def row(self, ordinal: int) -> dict[str, Any]:
        """The subject's column values (without ``entry_seq``), validated."""
        person_id = _uuid(self.person_id, "person_id")
        family_id = _uuid(self.family_id, "family_id")
        if person_id is None and family_id is None:
            raise ValueError("a subject needs a person_id or a family_id")
        if isinstance(self.tier, bool) or not isinstance(self.tier, int) or self.tier < 0:
            raise ValueError(f"tier must be a whole number >= 0, not {self.tier!r}")
        return {
            "ordinal": ordinal,
            "person_id": person_id,
            "family_id": family_id,
            "tier": int(self.tier),
            "categories": _codes(self.categories, "category", sort=True),
        }


@dataclass(frozen=True)
class NewEntry:
    """What to record. Validated and encoded when built, so a bad entry fails in the caller's code,
    before the chain lock is taken.

    Raises:
        ValueError: an unknown event or outcome, a missing required detail key, a naive datetime, a
            code with a comma or control character, a malformed id, or a missing subject.
    """

    event: EventType | str
    outcome: Outcome | str
    occurred_at: datetime
    actor_user_id: str | uuid.UUID | None = None
    actor_organisation_id: str | uuid.UUID | None = None
    actor_roles: Sequence[str] = ()
    purpose: str | None = None
    categories: Sequence[str] = ()
    reasons: Sequence[str] = ()
    protocol_refs: Sequence[str] = ()
    notice_refs: Sequence[str] = ()
    request_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: Mapping[str, str] = field(default_factory=dict)
    subjects: Sequence[SubjectRef] = ()
    #: the entry's columns except seq, prev_hash and hash
    row: dict[str, Any] = field(init=False, repr=False, compare=False)
    #: the subject rows, except entry_seq
    subject_rows: tuple[dict[str, Any], ...] = field(init=False, repr=False, compare=False)
    #: the subject records as stored in ``access_log_subject.records`` ("" when there are none)
    records: str = field(init=False, repr=False, compare=False)
    #: the payload after "<seq>US": fixed before the lock is taken
    body: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            event = EventType(self.event)
        except ValueError as exc:
            raise ValueError(f"unknown access-log event {self.event!r}") from exc
        try:
            outcome = Outcome(self.outcome)
        except ValueError as exc:
            raise ValueError(f"outcome must be one of {[o.value for o in Outcome]}, not {self.outcome!r}") from exc
        spec = event.spec
        missing = [key for key in spec.required if key not in self.detail]
        if missing:
            raise ValueError(f"{event.name} entries need detail {', '.join(missing)}")
        if spec.needs_subjects and not self.subjects:
            raise ValueError(f"{event.name} entries must name the people or families they touched")
        subject_rows = tuple(subject.row(ordinal) for ordinal, subject in enumerate(self.subjects))
        row = {
            "at_us": to_us(self.occurred_at),
            "event": event.value,
            "outcome": outcome.value,
            "actor_user_id": _uuid(self.actor_user_id, "actor_user_id"),
            "actor_organisation_id": _uuid(self.actor_organisation_id, "actor_organisation_id"),
            "actor_roles": _codes(self.actor_roles, "role", sort=True),
            "purpose": _scalar_code(self.purpose, "purpose"),
            "categories": _codes(self.categories, "category", sort=True),
            "reasons": _codes(self.reasons, "reason", sort=False),
            "protocol_refs": _codes(self.protocol_refs, "protocol reference", sort=False),
            "notice_refs": _codes(self.notice_refs, "notice reference", sort=False),
            "request_id": _scalar_code(self.request_id, "request_id"),
            "ip": clean_text(self.ip, LIMITS["ip"]),
            "user_agent": clean_text(self.user_agent, LIMITS["user_agent"]),
            "detail": canonical_detail(self.detail),
            "subject_count": len(subject_rows),
        }
        records = encode_records(subject_rows)
        payload = canonical_payload({"seq": "", **row}) + records
        object.__setattr__(self, "row", row)
        object.__setattr__(self, "subject_rows", subject_rows)
        object.__setattr__(self, "records", records)
        object.__setattr__(self, "body", payload[1:])  # drop the separator after the empty seq
