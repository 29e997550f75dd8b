"""The DPO's queries on the access log: filtered search, newest first, and one entry by number.

These functions read the log; they do not decide who may. Callers pass the gate first (the DPO's
search is itself an access, logged as ACCESS_LOG_SEARCHED by ``portal.access``).

Dates are the council's calendar days (Europe/London), so "1 to 7 July" means what the DPO means in
summer time too. Results are ordered by the time of the access, newest first, with the sequence
number breaking ties; every filter has an index ending in (at_us, seq), and the person and family
filters use the subject table's (person_id, entry_seq) and (family_id, entry_seq) indexes.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from portal.audit.chain import from_us, to_us
from portal.audit.events import EventType, Outcome
from portal.audit.models import AccessLogEntry, AccessLogSubject

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
    found: dict[int, list[LoggedSubject]] = defaultdict(list)
    if not seqs:
        return found
    rows = session.execute(
        select(_SUBJECT).where(_SUBJECT.c.entry_seq.in_(seqs)).order_by(_SUBJECT.c.entry_seq, _SUBJECT.c.ordinal)
    )
    for row in rows:
        found[row.entry_seq].append(
            LoggedSubject(row.ordinal, row.person_id, row.family_id, row.tier, _split(row.categories))
        )
    return found


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
        person = _uuid(filters.person_id, "person_id")
        query = query.where(e.seq.in_(select(_SUBJECT.c.entry_seq).where(_SUBJECT.c.person_id == person)))
    if filters.family_id is not None:
        family = _uuid(filters.family_id, "family_id")
        query = query.where(e.seq.in_(select(_SUBJECT.c.entry_seq).where(_SUBJECT.c.family_id == family)))
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
