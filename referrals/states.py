"""A nomination's status and the moves between them: the one state machine of the partner's journey
and the council's triage.

``TRANSITIONS`` governs every change of status, whoever makes it: ``move`` refuses a move it does not
list, and nothing else in the portal writes ``nomination.status``. Every change is a compare-and-swap:
one ``UPDATE nomination ... WHERE id = :id AND status IN (...) [AND version = :v] RETURNING version``
that also increments ``version``. A page carries the version it was drawn from, so a double submit, a
replayed POST or a stale page in another tab matches no row, changes nothing and is told so with one
error, ``NominationConflict`` (``moved_on``: its status no longer allows the change; otherwise it
changed since the page was shown). Two concurrent requests cannot both win: on PostgreSQL the second
waits for the first's row lock and then finds the version moved; on SQLite the write lock serialises them.

A change the nominator should know about adds a ``NominationEvent`` shared with the nominator
(``add_event``, the one writer of the history); the "updated since you last looked" banner is the
shared events, by someone else, after ``nominator_seen_at``. The council's moves (``council_move``:
asking for more information, accepting, declining) also queue the nominator's e-mail when that is
switched on (``referrals.notifications``); it is sent only if the transaction commits.

These functions flush and never commit, read no request and write no access-log entry: callers go
through the gate (``portal.gate``) first, in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from referrals import notifications
from referrals.models import Nomination, NominationEvent, NominationEventKind, NominationStatus

S = NominationStatus

#: status -> the statuses it may move to. Accepted and not accepted are final. A linked nomination (its
#: people already known) is still the council's to decide: it may be asked about, accepted into the
#: family it is linked to, or declined. Asking again while an answer is awaited is a move too (the
#: coordinator's second question), so more information requested may move to itself.
TRANSITIONS: Mapping[NominationStatus, frozenset[NominationStatus]] = MappingProxyType(
    {
        S.DRAFT: frozenset({S.SUBMITTED, S.LINKED}),
        S.SUBMITTED: frozenset({S.MORE_INFORMATION_REQUESTED, S.ACCEPTED, S.NOT_ACCEPTED, S.LINKED}),
        S.MORE_INFORMATION_REQUESTED: frozenset(
            {S.MORE_INFORMATION_REQUESTED, S.SUBMITTED, S.ACCEPTED, S.NOT_ACCEPTED, S.LINKED}
        ),
        S.ACCEPTED: frozenset(),
        S.NOT_ACCEPTED: frozenset(),
        S.LINKED: frozenset({S.MORE_INFORMATION_REQUESTED, S.ACCEPTED, S.NOT_ACCEPTED}),
    }
)

#: the council's moves, with the history entry each adds (shared with the nominator, who may be e-mailed)
COUNCIL_EVENTS: Mapping[NominationStatus, NominationEventKind] = MappingProxyType(
    {
        S.MORE_INFORMATION_REQUESTED: NominationEventKind.INFORMATION_REQUESTED,
        S.ACCEPTED: NominationEventKind.ACCEPTED,
        S.NOT_ACCEPTED: NominationEventKind.NOT_ACCEPTED,
    }
)


def may_move(current: NominationStatus, to: NominationStatus) -> bool:
    """Whether a nomination in ``current`` may move to ``to``."""
    return to in TRANSITIONS[current]


class NominationError(Exception):
    """A change to a nomination that cannot be made as asked, in words for whoever asked (``message``).

    Both sides' pages show it the same way: ``field`` names the form field it is about, when there is
    one (the message goes beside it and the error summary links to it), and ``status`` is the HTTP
    status the page answers with. Triage's refusals are this class (``referrals.triage.core.TriageError``),
    so a conflict from the state machine reaches the coordinator like any other refusal.
    """

    field: str | None = None
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class NominationConflict(NominationError):
    """The change was not made: the nomination is not as the page that asked for it showed it.

    ``moved_on`` is True when its status does not allow the change (already submitted, decided, or
    nothing was asked), False when only its version moved (it changed after the page was shown: another
    tab, another person). Either way nothing was written. ``found`` is the status it is in now.
    """

    status = 409

    def __init__(
        self, nomination_id: uuid.UUID, found: NominationStatus, reference: str | None, *, moved_on: bool
    ) -> None:
        super().__init__(
            "This nomination has changed since you opened the page. Check what has changed, then try again."
        )
        self.nomination_id = nomination_id
        self.found = found
        self.reference = reference
        self.moved_on = moved_on


def _expire(session: Session, nomination_id: uuid.UUID) -> None:
    """Forget loaded copies after a Core UPDATE, so the next read sees the row as it now is."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Nomination) and obj.id == nomination_id:
            session.expire(obj)


def _swap(
    session: Session,
    nomination_id: uuid.UUID,
    statuses: Collection[NominationStatus],
    version: int | None,
    values: Mapping[str, Any],
) -> int:
    """The compare-and-swap itself: one UPDATE ... RETURNING, or the conflict saying why nothing changed.

    Raises:
        NominationConflict: its status is not one of ``statuses`` (``moved_on``), or its version is
            not ``version``.
        LookupError: there is no such nomination.
    """
    stmt = update(Nomination).where(Nomination.id == nomination_id, Nomination.status.in_(list(statuses)))
    if version is not None:
        stmt = stmt.where(Nomination.version == version)
    new = session.execute(
        stmt.values(version=Nomination.version + 1, **values)
        .returning(Nomination.version)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if new is None:
        row = session.execute(
            select(Nomination.status, Nomination.reference).where(Nomination.id == nomination_id)
        ).one_or_none()
        if row is None:
            raise LookupError(f"no nomination {nomination_id}")
        raise NominationConflict(nomination_id, row.status, row.reference, moved_on=row.status not in statuses)
    _expire(session, nomination_id)
    return new


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
        NominationConflict: it is in none of ``statuses`` (``moved_on``), or its version is not ``version``.
        LookupError: there is no such nomination.
    """
    return _swap(session, nomination_id, statuses, version, {"updated_at": at})


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
        sources: the statuses it may move from (default: every status ``TRANSITIONS`` lets move to ``to``).
        values: other columns to set (``reference``, ``decision_reason``, ...), by attribute name.

    Returns:
        The new version.

    Raises:
        ValueError: a source from which ``TRANSITIONS`` has no move to ``to`` (asked for by mistake:
            nothing is run).
        NominationConflict: its status does not allow the move (a double submit, a replay, already
            decided: ``moved_on``), or its version is not ``version`` (changed since the page was shown).
        LookupError: there is no such nomination.
    """
    if sources is None:
        sources = [s for s in NominationStatus if may_move(s, to)]
    refused = sorted(s.value for s in sources if not may_move(s, to))
    if refused:
        raise ValueError(f"no move from {', '.join(refused)} to {to.value}: TRANSITIONS does not allow it")
    return _swap(session, nomination_id, sources, version, {"status": to, "updated_at": at, **dict(values or {})})


def add_event(
    session: Session,
    nomination_id: uuid.UUID,
    kind: NominationEventKind,
    *,
    actor_id: uuid.UUID,
    at: datetime | None = None,
    message: str | None = None,
    shared_with_nominator: bool = False,
) -> NominationEvent:
    """Append an entry to the nomination's history (never edited); flush.

    Args:
        at: when it happened; None stamps it as it is written (the column default), which keeps the order
            of several steps a coordinator takes under one request's moment.
    """
    event = NominationEvent(
        nomination_id=nomination_id,
        kind=kind,
        actor_id=actor_id,
        message=message,
        shared_with_nominator=shared_with_nominator,
    )
    if at is not None:
        event.at = at
    session.add(event)
    session.flush()
    return event


def council_move(
    session: Session,
    nomination_id: uuid.UUID,
    to: NominationStatus,
    *,
    decided_on: NominationStatus,
    version: int | None,
    actor_id: uuid.UUID,
    at: datetime,
    message: str | None,
    values: Mapping[str, Any] | None = None,
) -> NominationEvent:
    """The council moves the nomination (asks for more information, accepts, declines) and tells the
    nominator: the compare-and-swap from the status the coordinator's page showed (``decided_on``), the
    history entry shared with the nominator (``message``: never the family's details), and the e-mail.

    Returns:
        The history entry.

    Raises:
        NominationConflict, LookupError: as ``move``; nothing was written.
        KeyError: ``to`` is not one of the council's moves (``COUNCIL_EVENTS``).
    """
    kind = COUNCIL_EVENTS[to]
    move(session, nomination_id, to, at=at, version=version, sources={decided_on}, values=values)
    event = add_event(session, nomination_id, kind, actor_id=actor_id, message=message, shared_with_nominator=True)
    notifications.status_changed(session, nomination_id, to)
    return event


def give_information(
    session: Session, nomination_id: uuid.UUID, *, version: int, actor_id: uuid.UUID, message: str, at: datetime
) -> int:
    """The nominator answers: the message is added (shared with the nominator) and the status goes back
    to ``submitted``, into the council's queue. Only from ``more_information_requested``.

    Returns the new version. Raises ``NominationConflict`` (nothing was asked, or already answered:
    ``moved_on``; or the page is out of date).
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
