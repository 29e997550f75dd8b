"""The hash-chained access log: append an entry, verify the whole chain.

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

Serialising appends
-------------------
One row, ``access_log_chain_head``, holds the last sequence number handed out and its hash. An append
runs ``UPDATE access_log_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`` in the caller's
transaction. On PostgreSQL the row lock makes concurrent appenders queue, and under READ COMMITTED a
waiter re-reads the row as committed by the holder, so it gets the next number and the holder's hash:
the chain cannot fork (unlike ``SELECT ... ORDER BY seq DESC LIMIT 1 FOR UPDATE``, where a waiter wakes
on the old tail). On SQLite the UPDATE takes the database write lock, which serialises writers across
processes the same way. The lock is held until the caller commits or rolls back, so callers append
last, just before committing; everything else about the entry is prepared before the lock is taken.
On PostgreSQL the same happens in one statement (``_PG_APPEND``): the head row is locked with
``SELECT ... FOR UPDATE`` (which, like the UPDATE, returns the row as its holder committed it), and the
entry, its subject row and the new head are written by data-modifying CTEs, with the hash computed by
the server and checked by Python against ``chain_hash``: one round trip instead of four, on every page.
A rolled-back transaction takes its entry and the head's advance with it, so sequence numbers have no
gaps. Appending needs READ COMMITTED (PostgreSQL's default): under REPEATABLE READ a waiter would fail
with a serialisation error instead of waiting its turn.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import struct
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import pq
from sqlalchemy import Connection, Engine, insert, text, update
from sqlalchemy.orm import Session

from portal.access_log import signing
from portal.access_log.events import EventType, Outcome
from portal.access_log.models import AccessLogChainHead, AccessLogCheckpoint, AccessLogEntry, AccessLogSubject
from portal.access_log.signing import Sealer
from portal.db import fetch

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

_ENTRY = AccessLogEntry.__table__
_SUBJECT = AccessLogSubject.__table__
_CHECKPOINT = AccessLogCheckpoint.__table__
_HEAD = AccessLogChainHead.__table__
_ADVANCE = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.hash)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_ENTRY = insert(_ENTRY)
_INSERT_SUBJECT = insert(_SUBJECT)
_INSERT_CHECKPOINT = insert(_CHECKPOINT)


_ROW_COLUMNS = tuple(c.name for c in _ENTRY.columns if c.name not in ("seq", "prev_hash", "hash"))
# PostgreSQL: the whole append in one round trip. The head row is locked (FOR UPDATE on the one-row
# head table, never on the entry table's tail), the next number and the hash are computed by the server
# (sha256 of prev_hash, seq, US and the body, UTF-8: what chain_hash computes), the entry, its subject
# row and the new head are written, and seq, prev_hash and hash come back for Python to check. Under READ
# COMMITTED a waiter's FOR UPDATE returns the head as its holder committed it, so the chain cannot fork.
# Built from this module's constant column names only.
_PG_PARAMS = ", ".join(
    f"CAST(:{name} AS {'bigint' if name == 'at_us' else 'integer' if name == 'subject_count' else 'text'})"
    for name in _ROW_COLUMNS
)
_PG_APPEND = text(
    "WITH head AS (SELECT seq + 1 AS seq, hash AS prev_hash FROM access_log_chain_head WHERE id = 1 FOR UPDATE),"  # noqa: S608
    " new AS (SELECT seq, prev_hash,"
    " encode(sha256(convert_to(prev_hash || seq::text || chr(31) || CAST(:body AS text), 'UTF8')), 'hex')"
    " AS hash FROM head),"
    f" entry AS (INSERT INTO access_log_entry (seq, prev_hash, hash, {', '.join(_ROW_COLUMNS)})"
    f" SELECT seq, prev_hash, hash, {_PG_PARAMS} FROM new RETURNING seq),"
    " subject AS (INSERT INTO access_log_subject (entry_seq, records)"
    " SELECT seq, CAST(:records AS text) FROM entry WHERE CAST(:records AS text) <> ''),"
    " moved AS (UPDATE access_log_chain_head SET seq = new.seq, hash = new.hash FROM new"
    " WHERE access_log_chain_head.id = 1)"
    " SELECT seq, prev_hash, hash FROM new"
)


class ChainError(RuntimeError):
    """The log cannot be appended to (its chain head row is missing): nothing may be served."""


# -- canonical encoding --------------------------------------------------------------------------------


def _text(value: object) -> str:
    return "" if value is None else str(value)


def encode_records(subjects: Sequence[Mapping[str, Any]]) -> str:
    """The subject records of an entry as hashed and stored: per subject, in ordinal order, RS and then
    its ``SUBJECT_FIELDS`` joined by US ("" when there are no subjects)."""
    return "".join(RS + US.join(_text(s[name]) for name in SUBJECT_FIELDS) for s in subjects)


def canonical_payload(entry: Mapping[str, Any], subjects: Sequence[Mapping[str, Any]] = ()) -> str:
    """The payload string of an entry (see the module docstring), from column values.

    ``canonical_payload(entry) + records`` is the payload of an entry whose stored subject records
    are ``records``.

    Args:
        entry: the entry's columns by name (at least ``ENTRY_FIELDS``).
        subjects: its subject rows in ordinal order (at least ``SUBJECT_FIELDS`` each).
    """
    return US.join(_text(entry[name]) for name in ENTRY_FIELDS) + encode_records(subjects)


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
    text = _CONTROL.sub("", _text(value))
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:limit]


def _code(value: object, what: str) -> str:
    text = _text(value)
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


# -- append --------------------------------------------------------------------------------------------


def append(session: Session, entry: NewEntry, *, sealer: Sealer | None = None) -> int:
    """Add ``entry`` to the end of the chain in the caller's transaction and return its sequence number.

    The caller commits (the entry becomes durable with the data it records) or rolls back (the entry
    goes with it). Call it last before committing: from here to the commit, other appenders wait.
    When the new entry completes a checkpoint interval, the signed checkpoint is written too.

    Args:
        session: the caller's session; its pending changes are flushed before the chain is locked.
        entry: the validated entry.
        sealer: the checkpoint key and interval (default: the current app's, see ``signing.init_app``).

    Raises:
        ChainError: the chain head row is missing.
        sqlalchemy.exc.SQLAlchemyError: the database refused the write.
    """
    sealer = sealer or signing.sealer()
    session.flush()  # the caller's own writes first, so they are not done while holding the chain lock
    if session.get_bind().dialect.name == "postgresql":
        seq, digest = _append_postgresql(session, entry)
    else:
        head = session.execute(_ADVANCE).one_or_none()
        if head is None:
            raise ChainError("the access log's chain head row is missing; run `flask audit-verify`")
        seq, prev_hash = int(head[0]), str(head[1])
        digest = chain_hash(prev_hash, f"{seq}{US}{entry.body}")
        session.execute(_INSERT_ENTRY, {**entry.row, "seq": seq, "prev_hash": prev_hash, "hash": digest})
        if entry.records:
            session.execute(_INSERT_SUBJECT, {"entry_seq": seq, "records": entry.records})
        session.execute(_SET_HEAD_HASH, {"hash": digest})
    if sealer.due(seq):
        session.execute(
            _INSERT_CHECKPOINT,
            {
                "seq": seq,
                "hash": digest,
                "signed_at_us": time.time_ns() // 1000,
                "key_id": sealer.key_id,
                "signature": sealer.sign(seq, digest),
            },
        )
    return seq


def _append_postgresql(session: Session, entry: NewEntry) -> tuple[int, str]:
    """One round trip (see ``_PG_APPEND``); the server's hash is checked against ``chain_hash``."""
    rows = fetch(session, _PG_APPEND, {**entry.row, "body": entry.body, "records": entry.records})
    head = rows[0] if rows else None
    if head is None:
        raise ChainError("the access log's chain head row is missing; run `flask audit-verify`")
    seq, prev_hash, digest = int(head[0]), str(head[1]), str(head[2])
    if digest != chain_hash(prev_hash, f"{seq}{US}{entry.body}"):
        # e.g. a database whose encoding is not UTF-8: refuse rather than write an unverifiable chain
        raise ChainError(f"the database computed a different hash for entry {seq}; nothing was appended")
    return seq, digest


# -- verify --------------------------------------------------------------------------------------------
#
# How verification reads the log. Its target is 400,000 entries a second on PostgreSQL, near the cost of
# merely streaming the rows, so no ORM objects and no per-row formatting in Python there:
#
# - PostgreSQL: one binary COPY ... TO STDOUT statement streams, per entry, seq, subject_count, the size
#   of its stored subject records, its hash, and the bytes to hash: prev_hash, the entry's fields joined
#   by US (concat_ws), then the records. The entry table is merge-joined 1:1 with its subject row on the
#   two primary keys, no aggregation. The server formats while Python hashes, on another core.
# - SQLite: the same join through a plain cursor, formatted in Python with the same encoding.
#
# Either way the bytes hashed are the canonical payload defined at the top of this module only if the
# stored columns split those bytes where the format does. Values that hold a separator (only tampering
# can put one there) could move bytes between columns and still hash alike: a subject's person id moved
# out of ``records`` into ``detail`` would hide the entry from a search by that person, a digit of the
# subject count moved into ``records`` would misstate it. The hash fixes the bytes to the ones append
# wrote, E + R: E the entry's fields (no RS in them, and ending with the subject count's digits) and R
# the records (empty, or starting with RS). So verification also checks that the stored fields hold no
# RS and that the stored records are empty or start with RS: stored fields longer than E would take in
# R's first RS, shorter ones would leave a byte of E, not an RS, at the start of the stored records. So
# the stored fields are E, the records R; E holds exactly the 16 US that join its 17 values (a NULL is
# written as "", never skipped), so no value holds one, and every column holds what append wrote, the
# subject count included: R then holds subject_count RS and 4 x subject_count US. NULL and "" encode
# alike in the entry's id columns, so ids stored as "" are found by an indexed query instead (inside
# ``records`` an absent id is "").


@dataclass(frozen=True)
class VerifyReport:
    """What verification found. ``first_bad_seq`` is None when the log is intact."""

    intact_up_to: int  #: the last entry checked and found good (0 when none)
    first_bad_seq: int | None
    problem: str | None  #: plain English, e.g. "entry 42 was changed"
    entries: int  #: entries read and recomputed
    subjects: int  #: subjects recorded in those entries (their subject records)
    checkpoints: int  #: checkpoints whose signature and hash were checked
    head_seq: int | None  #: the chain head's sequence number, if the row exists

    @property
    def intact(self) -> bool:
        return self.first_bad_seq is None

    def summary(self) -> str:
        if self.intact:
            return (
                f"Access log intact up to entry {self.intact_up_to} "
                f"({self.entries} entries, {self.checkpoints} checkpoints)"
            )
        return (
            f"Access log NOT intact: first bad entry {self.first_bad_seq}: {self.problem}. "
            f"Intact up to entry {self.intact_up_to}."
        )


FETCH = 20_000
_RS = b"\x1e"
_GENESIS = GENESIS.encode()

# The statements below are built from the constant names in this module and, for bounds, an int.
#: prev_hash followed by the entry's payload fields: the bytes hashed, up to the subject records
#: (concat_ws skips NULLs, so every value is coalesced: a NOT NULL constraint dropped by an attacker
#: must not remove a separator)
_PG_BODY = (
    "coalesce(e.prev_hash, '') || concat_ws(E'\\x1f', "
    + ", ".join(
        f"coalesce(e.{name}::text, '')" if name in ("seq", "at_us", "subject_count") else f"coalesce(e.{name}, '')"
        for name in ENTRY_FIELDS
    )
    + ")"
)
#: the entry's stored subject records ("" when it has no subject row)
_PG_RECORD = "coalesce(s.records, '')"
# Binary, so the server sends the text as it is (text format escapes it byte by byte, and the client
# would have to undo that): a third of the server's work. No field is NULL, so the head of each row has
# a fixed size: the records' size is -1 when the entry has no subject row, and a NULL forced into
# subject_count or hash (by altering the table) shows as -1 or as a hash that is not 64 bytes.
_PG_STREAM = (
    "COPY (SELECT e.seq, coalesce(e.subject_count, -1), coalesce(octet_length(s.records), -1),"
    " coalesce(e.hash, ''), {body} || {record}"
    " FROM access_log_entry e LEFT JOIN access_log_subject s ON s.entry_seq = e.seq{subject_bound}"
    "{entry_bound} ORDER BY e.seq) TO STDOUT (FORMAT binary)"
)
#: a row's head: field count, then length and value of seq, subject_count, records' size and hash, then
#: the length of the hashed bytes and their start, the prev_hash
_PG_ROW = struct.Struct(">2x4xq4xi4xii64s4x64s")
_PG_SEQ = struct.Struct(">2x4xq")
#: signature, flags (no OIDs), header extension length
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_SQLITE_ROWS = (
    f"SELECT {', '.join(('e.prev_hash', 'e.hash', *(f'e.{name}' for name in ENTRY_FIELDS)))}, s.records"  # noqa: S608
    " FROM access_log_entry e LEFT JOIN access_log_subject s ON s.entry_seq = e.seq"
)

_BLANK_ID_QUERIES = (
    ("SELECT seq FROM access_log_entry WHERE actor_user_id = ''", "seq"),
    ("SELECT seq FROM access_log_entry WHERE actor_organisation_id = ''", "seq"),
)


def _where(column: str, bound: int | None, joiner: str = "WHERE") -> str:
    return "" if bound is None else f" {joiner} {column} <= {int(bound)}"


def _bounded(sql: str, column: str, bound: int | None, joiner: str = "WHERE") -> str:
    """A constant statement limited to ``column <= bound`` when there is a bound (an int)."""
    return sql + _where(column, bound, joiner)


@contextmanager
def _reader(bind: Engine | Connection | Session) -> Iterator[tuple[Any, str, bool]]:
    """Yield (DBAPI connection, dialect name, whether all reads share one snapshot).

    Given an Engine, verification opens its own read-only snapshot (REPEATABLE READ on PostgreSQL, a
    read transaction on SQLite), so appends committed meanwhile cannot show it a half-state. Given a
    Connection or Session, it reads in the caller's transaction.
    """
    if isinstance(bind, Engine):
        raw = bind.raw_connection()
        try:
            dbapi = raw.driver_connection
            cursor = dbapi.cursor()
            if bind.dialect.name == "postgresql":
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            else:
                cursor.execute("BEGIN")
            cursor.close()
            yield dbapi, bind.dialect.name, True
        finally:
            raw.rollback()
            raw.close()
        return
    connection = bind.connection() if isinstance(bind, Session) else bind
    dbapi = connection.connection.driver_connection
    name = connection.dialect.name
    if name == "postgresql":
        cursor = dbapi.cursor()
        cursor.execute("SHOW transaction_isolation")
        snapshot = cursor.fetchone()[0] in {"repeatable read", "serializable"}
        cursor.close()
    else:
        snapshot = bool(dbapi.in_transaction)
    yield dbapi, name, snapshot


def _rows(dbapi: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _scalar(dbapi: Any, sql: str) -> Any:
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
        return None if row is None else row[0]
    finally:
        cursor.close()


class _Walk:
    """Where a verification walk has got to, and the plain-English report of what it found.

    The per-entry loops (``_walk_postgresql``, ``_walk_rows``) keep their counters in local variables
    for speed and hand them back here before calling anything else.
    """

    def __init__(
        self,
        checkpoints: Mapping[int, tuple[str, str, str]],
        head: tuple[Any, ...] | None,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        blank_seq: int | None,
        pool: Executor | None = None,
    ) -> None:
        self.checkpoints = checkpoints
        self.sealed = {seq: signed[0].encode() for seq, signed in checkpoints.items()}
        self.head = head
        self.head_seq = int(head[0]) if head is not None else None
        self.trusted_keys = trusted_keys
        #: an entry whose id column holds "" (found by an indexed query): treated as changed
        self.blank_seq = blank_seq if blank_seq is not None else -1
        self.expected = 1  #: the next sequence number due
        self.prev = _GENESIS  #: the hash the next entry must chain from
        self.subjects = 0  #: subject records in the entries checked
        self.checked_checkpoints = 0
        self.last_good_checkpoint = 0
        # The signatures do not depend on the walk: given a pool, they are checked on its thread, in
        # order, while the walk streams (the Ed25519 check releases the GIL), and read when reached.
        self._signatures = {seq: pool.submit(self._check_signature, seq) for seq in sorted(checkpoints)} if pool else {}

    def report(
        self, first_bad: int | None = None, problem: str | None = None, intact_up_to: int | None = None
    ) -> VerifyReport:
        if first_bad is not None and intact_up_to is None:
            intact_up_to = first_bad - 1
        return VerifyReport(
            intact_up_to=self.expected - 1 if intact_up_to is None else intact_up_to,
            first_bad_seq=first_bad,
            problem=problem,
            entries=self.expected - 1,
            subjects=self.subjects,
            checkpoints=self.checked_checkpoints,
            head_seq=self.head_seq,
        )

    def bad_entry(self, seq: int, linked_to: bytes) -> VerifyReport:
        """Explain why entry ``seq`` (chained to ``linked_to``) failed the quick checks."""
        expected = self.expected
        if seq != expected:
            if seq == expected + 1:
                return self.report(expected, f"entry {expected} is missing")
            return self.report(expected, f"entries {expected} to {seq - 1} are missing")
        if linked_to != self.prev:
            before = f"entry {seq - 1}" if seq > 1 else "the start of the log"
            return self.report(
                seq, f"entry {seq} is out of place: it does not follow {before} (inserted, removed or reordered)"
            )
        return self.report(seq, f"entry {seq} was changed")

    def _signature_problem(self, seq: int) -> str | None:
        pending = self._signatures.get(seq)
        return self._check_signature(seq) if pending is None else pending.result()

    def _check_signature(self, seq: int) -> str | None:
        signed_hash, signer, signature = self.checkpoints[seq]
        key = self.trusted_keys.get(signer)
        if key is None:
            return f"checkpoint at {seq} is signed with key {signer}, which is not a trusted key"
        if not signing.checkpoint_signature_valid(key, seq, signed_hash, signature):
            return f"checkpoint at {seq} has a bad signature"
        return None

    def checkpoint(self, seq: int, entry_hash: bytes) -> VerifyReport | None:
        """Check the checkpoint at ``seq`` (whose entry has just verified); a report if it fails."""
        problem = self._signature_problem(seq)
        if problem is not None:
            return self.report(seq, problem)
        if self.sealed[seq] != entry_hash:
            start = self.last_good_checkpoint + 1
            return self.report(
                start,
                f"entries {start} to {seq} were rewritten: entry {seq} does not match the signed checkpoint at {seq}",
                self.last_good_checkpoint,
            )
        self.last_good_checkpoint = seq
        self.checked_checkpoints += 1
        return None

    def end(self) -> VerifyReport:
        """After the last entry: checkpoints beyond it, and the chain head."""
        tail = self.expected - 1
        later = sorted(seq for seq in self.checkpoints if seq > tail)
        for seq in later:
            problem = self._signature_problem(seq)
            if problem is not None:
                return self.report(tail + 1, problem, tail)
        if later:
            return self.report(tail + 1, f"entries after {tail} were removed (signed checkpoint at {later[-1]})")
        if self.head is None:
            return self.report(tail + 1, "the chain head row is missing, so nothing can be appended")
        head_seq = self.head_seq
        if head_seq is not None and head_seq > tail:
            return self.report(tail + 1, f"entries after {tail} were removed (the chain head records {head_seq})")
        if head_seq is not None and head_seq < tail:
            return self.report(
                head_seq + 1, f"entry {head_seq + 1} was added outside the chain (the chain head records {head_seq})"
            )
        if str(self.head[1]).encode() != self.prev:
            return self.report(tail, f"entry {tail} was changed (it does not match the chain head)")
        return self.report()


def _expect(pgconn: Any, status: pq.ExecStatus) -> None:
    """Read the next result, which must have ``status``, and then (but for a COPY) the end of results."""
    result = pgconn.get_result()
    problem = None
    if result is None or result.status != status:
        problem = pgconn.get_error_message() if result is None else result.get_error_message()
    if status != pq.ExecStatus.COPY_OUT or problem is not None:
        while pgconn.get_result() is not None:
            pass
    if problem is not None:
        raise psycopg.OperationalError(f"access log verification query failed: {problem}")


def _walk_postgresql(dbapi: Any, bound: int | None, walk: _Walk) -> VerifyReport:
    """Stream the log with one binary COPY and check each entry as its row arrives.

    Each row is, in COPY's binary format (a field count, then per field a length and the raw bytes, no
    escapes): seq (int8), subject_count (int4), the length of the stored subject records (int4), hash
    (64 bytes), and the bytes hashed: prev_hash, the entry's fields joined by US, then the records. So
    from a fixed offset (``start``) the rest of the row is exactly what is hashed, starting with the
    prev_hash (``_PG_ROW`` reads the head up to there), and the records are its last bytes. Structure
    (see the comment above ``VerifyReport``): no RS before the records, and the records empty or
    starting with one. The loop is the hot path, kept flat on purpose: one unpack, one memchr and one
    SHA-256 per entry, and no copy but the row itself.
    """
    sql = _PG_STREAM.format(
        body=_PG_BODY,
        record=_PG_RECORD,
        subject_bound=_where("s.entry_seq", bound, "AND"),
        entry_bound=_where("e.seq", bound),
    )
    sha256, unpack, start = hashlib.sha256, _PG_ROW.unpack_from, _PG_ROW.size - 64
    rs, rs_byte = _RS, _RS[0]
    sealed, blank_seq = walk.sealed, walk.blank_seq
    expected, prev, subjects = walk.expected, walk.prev, walk.subjects
    cursor = dbapi.cursor()
    try:
        # JIT compilation costs more than it saves on one streaming pass, and a parallel plan gains
        # nothing on a merge join that must come out in seq order. Both settings last only to the end
        # of this transaction.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
        )
    finally:
        cursor.close()
    # The rows are read straight from libpq (psycopg's documented ``Connection.pgconn``): psycopg's own
    # COPY iterator costs about a fifth of the whole walk in per-row bookkeeping.
    pgconn = dbapi.pgconn
    pgconn.send_query(sql.encode())
    _expect(pgconn, pq.ExecStatus.COPY_OUT)
    get = pgconn.get_copy_data
    failed: VerifyReport | None = None
    size, data = get(0)
    try:
        # the first message starts with the binary format's header; the last is its two-byte trailer
        if size < 0 or bytes(data[: len(_PG_COPY_HEADER)]) != _PG_COPY_HEADER:
            raise psycopg.OperationalError("access log verification query returned no binary COPY header")
        data = data[len(_PG_COPY_HEADER) :]
        line = bytes(data)
        while len(line) > 2:
            try:
                seq, rows, records, hash_size, entry_hash, prev_hash = unpack(line)
            except struct.error:  # too short to hold a prev_hash: only tampering makes such a row
                seq, rows, records, hash_size, entry_hash, prev_hash = _PG_SEQ.unpack_from(line)[0], 0, -1, 0, b"", b""
            fields_end = len(line) - records  # past the end when there is no subject row (-1)
            if (
                seq != expected
                or hash_size != 64
                or prev_hash != prev
                or seq == blank_seq
                or line.find(rs, start, fields_end) >= 0
                or records == 0
                or (records > 0 and line[fields_end] != rs_byte)
                or sha256(data[start:]).hexdigest().encode() != entry_hash
            ):
                walk.expected, walk.prev, walk.subjects = expected, prev, subjects
                failed = walk.bad_entry(seq, prev_hash)
                break
            subjects += rows
            if seq in sealed:
                walk.expected, walk.prev, walk.subjects = expected, prev, subjects
                failed = walk.checkpoint(seq, entry_hash)
                if failed is not None:
                    break
            prev = entry_hash
            expected += 1
            size, data = get(0)
            line = bytes(data)
    finally:
        # Read any rest rather than cancel: a cancelled COPY would abort the caller's transaction.
        while size >= 0:
            size, _data = get(0)
        if size == -2:
            raise psycopg.OperationalError(pgconn.get_error_message())
        _expect(pgconn, pq.ExecStatus.COMMAND_OK)
    if failed is not None:
        return failed
    walk.expected, walk.prev, walk.subjects = expected, prev, subjects
    return walk.end()


def _walk_rows(dbapi: Any, bound: int | None, walk: _Walk) -> VerifyReport:
    """The same checks through a plain cursor (SQLite): each entry joined with its subject row, encoded
    in Python as PostgreSQL encodes it (a NULL as "")."""
    cursor = dbapi.cursor()
    try:
        cursor.execute(_bounded(_SQLITE_ROWS, "e.seq", bound) + " ORDER BY e.seq")
        for row in itertools.chain.from_iterable(iter(lambda: cursor.fetchmany(FETCH), [])):
            prev_hash, entry_hash, seq = _text(row[0]).encode(), _text(row[1]).encode(), row[2]
            fields = US.join(_text(v) for v in row[2:-1])
            records = _text(row[-1])
            if (
                seq != walk.expected
                or prev_hash != walk.prev
                or seq == walk.blank_seq
                or RS in fields
                or row[-1] == ""
                or records[:1] not in ("", RS)
                or chain_hash(prev_hash.decode(), fields + records).encode() != entry_hash
            ):
                return walk.bad_entry(seq, prev_hash)
            walk.subjects += int(row[-2])  # its text is in the hash: the digits append wrote
            if seq in walk.sealed:
                failed = walk.checkpoint(seq, entry_hash)
                if failed is not None:
                    return failed
            walk.prev = entry_hash
            walk.expected += 1
    finally:
        cursor.close()
    return walk.end()


def verify(bind: Engine | Connection | Session, trusted_keys: Mapping[str, Ed25519PublicKey]) -> VerifyReport:
    """Recompute the whole chain and check every checkpoint; name the first bad entry.

    Checks, in sequence order: numbering is 1, 2, 3... without gaps; each entry's prev_hash is the
    previous entry's hash; each hash recomputes from the stored values and subject records; each
    checkpoint is signed by a trusted key and seals the hash its entry has. Then: nothing was removed
    after the newest checkpoint, no subject rows belong to missing entries or to entries without
    subjects, and the chain head agrees with the newest entry.

    Args:
        bind: an Engine (verification takes its own snapshot: use this while the portal is running),
            or a Connection / Session (reads in that transaction; entries committed by others after the
            chain head was read are left for the next run).
        trusted_keys: key id -> Ed25519 public key, from configuration only (``signing.trusted_keys()``).

    Returns:
        A ``VerifyReport``; ``report.intact`` is False when anything was found.
    """
    with _reader(bind) as (dbapi, dialect, snapshot):
        cursor = dbapi.cursor()
        cursor.execute("SELECT seq, hash FROM access_log_chain_head WHERE id = 1")
        head = cursor.fetchone()
        # Without a snapshot each statement sees more commits than the last. Appends commit in sequence
        # order (the head lock is held to the commit), so bounding every read by the head read first
        # gives a consistent view; tampering beyond the head is then left to a snapshot run.
        bound = int(head[0]) if head is not None and not snapshot else None
        cursor.execute(_bounded("SELECT seq, hash, key_id, signature FROM access_log_checkpoint", "seq", bound))
        checkpoints = {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in cursor.fetchall()}
        cursor.close()
        # an id column never holds "" (absent is NULL), and "" would hash like NULL: find any directly,
        # one indexed equality per column (an OR, or min(), tempts the planner into a full scan)
        blank = [
            int(seq)
            for sql, column in _BLANK_ID_QUERIES
            for (seq,) in _rows(dbapi, _bounded(sql, column, bound, "AND"))
        ]
        blank_seq = min(blank, default=None)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="access-log-signatures")
        try:
            walk = _Walk(checkpoints, head, trusted_keys, blank_seq, pool)
            walk_rows = _walk_postgresql if dialect == "postgresql" else _walk_rows
            report = walk_rows(dbapi, bound, walk)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if report.intact:
            report = _check_subject_rows(dbapi, report, bound)
        return report


def _check_subject_rows(dbapi: Any, report: VerifyReport, bound: int | None) -> VerifyReport:
    """Subject rows that name no entry. The walk read the row of every entry from 1 to the last (an
    empty one, which append never writes, counts as a change), so only rows outside that range can
    be left: two index lookups find them."""
    tail = report.intact_up_to
    lowest = _scalar(dbapi, _bounded("SELECT min(entry_seq) FROM access_log_subject", "entry_seq", bound))
    if lowest is not None and int(lowest) < 1:
        problem = f"subject rows name entry {lowest}, which is not in the log"
    else:
        beyond = _scalar(
            dbapi,
            _bounded(
                f"SELECT min(entry_seq) FROM access_log_subject WHERE entry_seq > {int(tail)}",  # noqa: S608
                "entry_seq",
                bound,
                "AND",
            ),
        )
        if beyond is None:
            return report
        problem = f"entries after {tail} were removed (subject rows remain for entry {beyond})"
    return VerifyReport(tail, tail + 1, problem, report.entries, report.subjects, report.checkpoints, report.head_seq)
