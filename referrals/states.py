"""A nomination's status and the moves between them, shared by the partner's journey and the council's triage.

Every change is a compare-and-swap: one ``UPDATE nomination ... WHERE id = :id AND status IN (...)
[AND version = :v] RETURNING version`` that also increments ``version``. A page carries the version it
was drawn from, so a double submit, a replayed POST or a stale page in another tab matches no row,
changes nothing and is told why (``WrongStatus``: it has moved on; ``StaleNomination``: it changed since
the page was shown). Two concurrent requests cannot both win: on PostgreSQL the second waits for the
first's row lock and then finds the version moved; on SQLite the write lock serialises them.

A change the nominator should know about adds a ``NominationEvent`` shared with the nominator; the
"updated since you last looked" banner is the shared events, by someone else, after
``nominator_seen_at``. So the council's side tells the nominator by calling these helpers, never by
setting ``status`` itself.

These functions flush and never commit, read no request and write no access-log entry: callers go
through the gate (``portal.gate``) first, in the same transaction. The council's changes (asking for
more information, accepting, declining) also queue the nominator's e-mail when that is switched on
(``referrals.notifications``); it is sent only if the transaction commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal.families.models import RelationshipKind, RelationshipSource, ServiceRelationship
from referrals import notifications
from referrals.models import Nomination, NominationEvent, NominationEventKind, NominationStatus

S = NominationStatus

#: status -> the statuses it may move to. Decided nominations (accepted, not accepted, linked) stay so.
TRANSITIONS: Mapping[NominationStatus, frozenset[NominationStatus]] = MappingProxyType(
    {
        S.DRAFT: frozenset({S.SUBMITTED, S.LINKED}),
        S.SUBMITTED: frozenset({S.MORE_INFORMATION_REQUESTED, S.ACCEPTED, S.NOT_ACCEPTED, S.LINKED}),
        S.MORE_INFORMATION_REQUESTED: frozenset({S.SUBMITTED, S.ACCEPTED, S.NOT_ACCEPTED, S.LINKED}),
        S.ACCEPTED: frozenset(),
        S.NOT_ACCEPTED: frozenset(),
        S.LINKED: frozenset(),
    }
)


def may_move(current: NominationStatus, to: NominationStatus) -> bool:
    """Whether a nomination in ``current`` may move to ``to``."""
    return to in TRANSITIONS[current]


class NominationConflict(Exception):
    """The change was not made: the nomination is not as the page that asked for it showed it."""

    def __init__(self, nomination_id: uuid.UUID, status: NominationStatus, reference: str | None) -> None:
        super().__init__(f"nomination {nomination_id} is {status.value}")
        self.nomination_id = nomination_id
        self.status = status
        self.reference = reference


class WrongStatus(NominationConflict):
    """Its status does not allow the change (it was already submitted, decided, or not asked about)."""


class StaleNomination(NominationConflict):
    """It changed after the page was shown (another tab, another person): nothing was changed."""


def _expire(session: Session, nomination_id: uuid.UUID) -> None:
    """Forget loaded copies after a Core UPDATE, so the next read sees the row as it now is."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Nomination) and obj.id == nomination_id:
            session.expire(obj)


def _conflict(session: Session, nomination_id: uuid.UUID, to: NominationStatus | None) -> NominationConflict:
    row = session.execute(
        select(Nomination.status, Nomination.reference).where(Nomination.id == nomination_id)
    ).one_or_none()
    if row is None:
        raise LookupError(f"no nomination {nomination_id}")
    if to is not None and not may_move(row.status, to):
        return WrongStatus(nomination_id, row.status, row.reference)
    return StaleNomination(nomination_id, row.status, row.reference)


def claim(
    session: Session,
    nomination_id: uuid.UUID,
    *,
    statuses: Collection[NominationStatus],
    at: datetime,
    version: int | None = None,
) -> int:
    """Take the nomination for a change without moving its status: bump its version if it is in one of
    ``statuses`` (and at ``version``, when given), which also locks the row until the transaction ends.

    Returns:
        The new version.

    Raises:
        WrongStatus: it is in none of ``statuses``.
        StaleNomination: its version is not ``version``.
        LookupError: there is no such nomination.
    """
    stmt = update(Nomination).where(Nomination.id == nomination_id, Nomination.status.in_(list(statuses)))
    if version is not None:
        stmt = stmt.where(Nomination.version == version)
    new = session.execute(
        stmt.values(version=Nomination.version + 1, updated_at=at)
        .returning(Nomination.version)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if new is None:
        row = session.execute(
            select(Nomination.status, Nomination.reference).where(Nomination.id == nomination_id)
        ).one_or_none()
        if row is None:
            raise LookupError(f"no nomination {nomination_id}")
        if row.status not in statuses:
            raise WrongStatus(nomination_id, row.status, row.reference)
        raise StaleNomination(nomination_id, row.status, row.reference)
    _expire(session, nomination_id)
    return new


def move(
    session: Session,
    nomination_id: uuid.UUID,
    to: NominationStatus,
    *,
    at: datetime,
    version: int | None = None,
    sources: Collection[NominationStatus] | None = None,
    values: Mapping[str, Any] | None = None,
) -> int:
    """Move the nomination to ``to`` (compare-and-swap), setting ``values`` on it in the same UPDATE.

    Args:
        version: the version the page was drawn from; None only where the caller already holds the row
            (after ``claim`` in the same transaction).
        sources: the statuses it may move from (default: every status that may move to ``to``); always
            narrowed to those ``TRANSITIONS`` allows.
        values: other columns to set (``reference``, ``decision_reason``, ...), by attribute name.

    Returns:
        The new version.

    Raises:
        WrongStatus: its status does not allow the move (a double submit, a replay, already decided).
        StaleNomination: its version is not ``version`` (changed since the page was shown).
        LookupError: there is no such nomination.
    """
    allowed = [s for s in NominationStatus if may_move(s, to) and (sources is None or s in sources)]
    stmt = update(Nomination).where(Nomination.id == nomination_id, Nomination.status.in_(allowed))
    if version is not None:
        stmt = stmt.where(Nomination.version == version)
    new = session.execute(
        stmt.values(status=to, version=Nomination.version + 1, updated_at=at, **dict(values or {}))
        .returning(Nomination.version)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if new is None:
        conflict = _conflict(session, nomination_id, to)
        if sources is not None and conflict.status not in sources:
            raise WrongStatus(conflict.nomination_id, conflict.status, conflict.reference)
        raise conflict
    _expire(session, nomination_id)
    return new


def add_event(
    session: Session,
    nomination_id: uuid.UUID,
    kind: NominationEventKind,
    *,
    actor_id: uuid.UUID,
    at: datetime,
    message: str | None = None,
    shared_with_nominator: bool = False,
) -> NominationEvent:
    """Append an entry to the nomination's history (never edited); flush."""
    event = NominationEvent(
        nomination_id=nomination_id,
        kind=kind,
        actor_id=actor_id,
        at=at,
        message=message,
        shared_with_nominator=shared_with_nominator,
    )
    session.add(event)
    session.flush()
    return event


# ------------------------------------------------------------------ the thread with the nominator


def request_more_information(
    session: Session, nomination_id: uuid.UUID, *, version: int, actor_id: uuid.UUID, message: str, at: datetime
) -> int:
    """The council asks the nominator a question: status ``more_information_requested`` and the message,
    shared with the nominator (who sees a banner on their next visit and answers on the nomination page).

    Returns the new version. Raises ``WrongStatus`` / ``StaleNomination`` as ``move`` does.
    """
    new = move(
        session,
        nomination_id,
        S.MORE_INFORMATION_REQUESTED,
        at=at,
        version=version,
        sources={S.SUBMITTED, S.MORE_INFORMATION_REQUESTED},
    )
    add_event(
        session,
        nomination_id,
        NominationEventKind.INFORMATION_REQUESTED,
        actor_id=actor_id,
        at=at,
        message=message,
        shared_with_nominator=True,
    )
    notifications.status_changed(session, nomination_id, S.MORE_INFORMATION_REQUESTED)
    return new


def give_information(
    session: Session, nomination_id: uuid.UUID, *, version: int, actor_id: uuid.UUID, message: str, at: datetime
) -> int:
    """The nominator answers: the message is added (shared with the nominator) and the status goes back
    to ``submitted``, into the council's queue. Only from ``more_information_requested``.

    Returns the new version. Raises ``WrongStatus`` (nothing was asked, or already answered) or
    ``StaleNomination`` (the page is out of date).
    """
    new = move(session, nomination_id, S.SUBMITTED, at=at, version=version, sources={S.MORE_INFORMATION_REQUESTED})
    add_event(
        session,
        nomination_id,
        NominationEventKind.INFORMATION_GIVEN,
        actor_id=actor_id,
        at=at,
        message=message,
        shared_with_nominator=True,
    )
    return new


def accept(
    session: Session,
    nomination_id: uuid.UUID,
    *,
    version: int,
    actor_id: uuid.UUID,
    family_id: uuid.UUID,
    at: datetime,
    message: str | None = None,
) -> int:
    """The council accepts the nomination, attaching its people to ``family_id``; the nominator is told
    (the message, if any, is shared with them: never the family's details)."""
    new = move(
        session,
        nomination_id,
        S.ACCEPTED,
        at=at,
        version=version,
        values={"family_id": family_id, "decided_at": at, "decided_by_id": actor_id},
    )
    add_event(
        session,
        nomination_id,
        NominationEventKind.ACCEPTED,
        actor_id=actor_id,
        at=at,
        message=message,
        shared_with_nominator=True,
    )
    notifications.status_changed(session, nomination_id, S.ACCEPTED)
    return new


def decline(
    session: Session, nomination_id: uuid.UUID, *, version: int, actor_id: uuid.UUID, reason: str, at: datetime
) -> int:
    """The council does not accept the nomination; the reason is stored and shared with the nominator."""
    new = move(
        session,
        nomination_id,
        S.NOT_ACCEPTED,
        at=at,
        version=version,
        values={"decision_reason": reason, "decided_at": at, "decided_by_id": actor_id},
    )
    add_event(
        session,
        nomination_id,
        NominationEventKind.NOT_ACCEPTED,
        actor_id=actor_id,
        at=at,
        message=reason,
        shared_with_nominator=True,
    )
    notifications.status_changed(session, nomination_id, S.NOT_ACCEPTED)
    return new


# ------------------------------------------------------------------ the nominator relationship


def record_nominator_relationship(
    session: Session, *, organisation_id: uuid.UUID, person_id: uuid.UUID, on: date
) -> ServiceRelationship | None:
    """Record that this organisation nominated this known person (kind ``nominator``); flush.

    The relationship is a record, not a key: the policy never counts it for flags
    (``sharing_protocols.policy.NO_FLAG_RELATIONSHIPS``), and the organisation follows its nominations
    through the nomination itself (``decide_nomination_access``). Call it when a nominated person is
    known to be this person (an exact NHS number or UPN match, or a coordinator's confirmed match).

    Returns:
        The new relationship, or None when a live one already records it.
    """
    live = session.scalar(
        select(ServiceRelationship.id).where(
            ServiceRelationship.organisation_id == organisation_id,
            ServiceRelationship.person_id == person_id,
            ServiceRelationship.kind == RelationshipKind.NOMINATOR,
            ServiceRelationship.valid_from <= on,
            or_(ServiceRelationship.valid_to.is_(None), ServiceRelationship.valid_to >= on),
        )
    )
    if live is not None:
        return None
    relationship = ServiceRelationship(
        organisation_id=organisation_id,
        person_id=person_id,
        kind=RelationshipKind.NOMINATOR,
        source=RelationshipSource.NOMINATION,
        valid_from=on,
    )
    session.add(relationship)
    session.flush()
    return relationship
