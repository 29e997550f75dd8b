"""The DPO's queries on the access log: filtered search, newest first, and one entry by number.

These functions read the log; they do not decide who may. Callers pass the gate first (the DPO's
search is itself an access, logged as ACCESS_LOG_SEARCHED by ``portal.access``).

Dates are the council's calendar days (Europe/London), so "1 to 7 July" means what the DPO means in
summer time too. Results are ordered by the time of the access, newest first, with the sequence
number breaking ties; every filter has an index ending in (at_us, seq). An entry's subjects are one
``access_log_subject`` row of records (see ``portal.access_log.format``): on PostgreSQL the person and family
filters use GIN indexes on the ids extracted from them (``access_log_person_ids(records)`` and
``access_log_family_ids(records)``, created by migration 0004); on SQLite (development) they scan for
the id between separators and check its field with a function registered on the connection.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Row, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from portal.access_log.events import EventType, Outcome
from portal.access_log.format import RS, SUBJECT_FIELDS, US, from_us, parse_records, to_us
from portal.access_log.models import AccessLogEntry, AccessLogSubject

LOCAL = ZoneInfo("Europe/London")
MAX_PER_PAGE = 500

_ENTRY = AccessLogEntry.__table__
_SUBJECT = AccessLogSubject.__table__


class EntryNotFound(LookupError):
    """No entry has that sequence number."""


@dataclass(frozen=True)
class LogFilters:
    """What the DPO is looking for; every field is optional and they combine with AND."""

    person_id: str | uuid.UUID | None = None
    family_id: str | uuid.UUID | None = None
    actor_user_id: str | uuid.UUID | None = None
    actor_organisation_id: str | uuid.UUID | None = None
    date_from: date | None = None  #: first day included
    date_to: date | None = None  #: last day included
    outcome: Outcome | str | None = None
    event: EventType | str | None = None


@dataclass(frozen=True)
class LoggedSubject:
    ordinal: int
    person_id: str | None
    family_id: str | None
    tier: int
    categories: tuple[str, ...]


@dataclass(frozen=True)
class LoggedEntry:
    seq: int
    occurred_at: datetime  #: UTC
    event: str
    outcome: str
    actor_user_id: str | None
    actor_organisation_id: str | None
    actor_roles: tuple[str, ...]
    purpose: str
    categories: tuple[str, ...]
    reasons: tuple[str, ...]
    protocol_refs: tuple[str, ...]
    notice_refs: tuple[str, ...]
    request_id: str
    ip: str
    user_agent: str
    detail: dict[str, str]
    subjects: tuple[LoggedSubject, ...]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class LogPage:
    entries: tuple[LoggedEntry, ...]
    page: int
    per_page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def _split(value: str) -> tuple[str, ...]:
    return tuple(value.split(",")) if value else ()


def _uuid(value: str | uuid.UUID, what: str) -> str:
    try:
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
    except ValueError as exc:
        raise ValueError(f"{what} must be a UUID") from exc


def _day_start_us(day: date) -> int:
    return to_us(datetime.combine(day, time.min, tzinfo=LOCAL))


def _entries(rows: list[Row[Any]], subjects: dict[int, list[LoggedSubject]]) -> tuple[LoggedEntry, ...]:
    return tuple(
        LoggedEntry(
            seq=row.seq,
            occurred_at=from_us(row.at_us),
            event=row.event,
            outcome=row.outcome,
            actor_user_id=row.actor_user_id,
            actor_organisation_id=row.actor_organisation_id,
            actor_roles=_split(row.actor_roles),
            purpose=row.purpose,
            categories=_split(row.categories),
            reasons=_split(row.reasons),
            protocol_refs=_split(row.protocol_refs),
            notice_refs=_split(row.notice_refs),
            request_id=row.request_id,
            ip=row.ip,
            user_agent=row.user_agent,
            detail=json.loads(row.detail) if row.detail else {},
            subjects=tuple(subjects.get(row.seq, ())),
            prev_hash=row.prev_hash,
            hash=row.hash,
        )
        for row in rows
    )


def _subjects_of(session: Session, seqs: list[int]) -> dict[int, list[LoggedSubject]]:
    found: dict[int, list[LoggedSubject]] = {}
    if not seqs:
        return found
    rows = session.execute(select(_SUBJECT).where(_SUBJECT.c.entry_seq.in_(seqs)))
    for row in rows:
        try:
            subjects = parse_records(row.records)
        except ValueError:
            # only tampering makes a malformed row, and verification names its entry: show the text
            unreadable = str(row.records).replace(RS, " | ").replace(US, " ")
            subjects = ({"ordinal": 0, "person_id": None, "family_id": None, "tier": 0, "categories": unreadable},)
        found[row.entry_seq] = [
            LoggedSubject(s["ordinal"], s["person_id"], s["family_id"], s["tier"], _split(s["categories"]))
            for s in subjects
        ]
    return found


def _naming(session: Session, column: str, value: str) -> ColumnElement[bool]:
    """Entries whose subject records name ``value`` as a person_id or family_id (``column``)."""
    if session.get_bind().dialect.name == "postgresql":
        ids = func.access_log_person_ids if column == "person_id" else func.access_log_family_ids
        named = ids(_SUBJECT.c.records).op("@>", is_comparison=True)(bindparam(column, [value], type_=ARRAY(Text)))
    else:
        # SQLite (development): the id between separators narrows the scan, and a function registered
        # on this connection checks that it is in the right field
        session.connection().connection.driver_connection.create_function(
            "access_log_names", 3, _names, deterministic=True
        )
        field = SUBJECT_FIELDS.index(column)
        named = _SUBJECT.c.records.contains(US + value + US, autoescape=True) & (
            func.access_log_names(_SUBJECT.c.records, field, value) == 1
        )
    return _ENTRY.c.seq.in_(select(_SUBJECT.c.entry_seq).where(named))


def _names(records: str | None, field: int, value: str) -> int:
    """1 if a subject record in ``records`` has ``value`` as its field number ``field`` (0-based)."""
    return int(any(record.split(US)[field : field + 1] == [value] for record in (records or "").split(RS)[1:]))


def search_log(session: Session, filters: LogFilters, page: int = 1, per_page: int = 50) -> LogPage:
    """Find log entries matching ``filters``, newest first, one page at a time.

    Two queries whatever the page size: the entries, then their subjects.

    Args:
        session: an open session.
        filters: what to match (all optional).
        page: 1-based page number.
        per_page: entries per page, 1 to 500.

    Returns:
        The page's entries with their subjects, and whether another page follows.

    Raises:
        ValueError: a malformed id, an unknown outcome or event, or a bad page size.
    """
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")
    e = _ENTRY.c
    query = select(_ENTRY)
    if filters.person_id is not None:
        query = query.where(_naming(session, "person_id", _uuid(filters.person_id, "person_id")))
    if filters.family_id is not None:
        query = query.where(_naming(session, "family_id", _uuid(filters.family_id, "family_id")))
    if filters.actor_user_id is not None:
        query = query.where(e.actor_user_id == _uuid(filters.actor_user_id, "actor_user_id"))
    if filters.actor_organisation_id is not None:
        query = query.where(e.actor_organisation_id == _uuid(filters.actor_organisation_id, "actor_organisation_id"))
    if filters.date_from is not None:
        query = query.where(e.at_us >= _day_start_us(filters.date_from))
    if filters.date_to is not None:
        query = query.where(e.at_us < _day_start_us(filters.date_to + timedelta(days=1)))
    if filters.outcome is not None:
        query = query.where(e.outcome == Outcome(filters.outcome).value)
    if filters.event is not None:
        query = query.where(e.event == EventType(filters.event).value)
    query = query.order_by(e.at_us.desc(), e.seq.desc()).offset((page - 1) * per_page).limit(per_page + 1)
    rows = list(session.execute(query))
    has_next = len(rows) > per_page
    rows = rows[:per_page]
    entries = _entries(rows, _subjects_of(session, [row.seq for row in rows]))
    return LogPage(entries=entries, page=page, per_page=per_page, has_next=has_next)


def get_entry(session: Session, seq: int) -> LoggedEntry:
    """Return one entry with its subjects.

    Raises:
        EntryNotFound: no entry has that number.
    """
    row = session.execute(select(_ENTRY).where(_ENTRY.c.seq == seq)).one_or_none()
    if row is None:
        raise EntryNotFound(seq)
    return _entries([row], _subjects_of(session, [seq]))[0]
