"""The door: ``authorise`` a question, ``record`` the access, ``commit`` before serving.

Every service that reads or writes personal data asks ``authorise`` first. A refusal is written to the
access log on its own (anything else the request did is rolled back first) and committed, then raised
as ``AccessDenied``, whose decision the 403 page explains. A permit is not logged yet: the service loads
only what it allows, then ``record``s the access (the log append, in the same transaction, as the
request's last statement) before returning anything; read pages then ``commit`` before rendering, so the
chain head's lock is held from the append to the commit and no longer. If the log cannot be written,
``AuditUnavailable``: nothing is served.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from portal.access_log import chain
from portal.access_log.events import EventType, Outcome
from portal.gate.answers import Answer, answer
from portal.gate.context import AccessContext
from portal.gate.questions import Question
from sharing_protocols import policy

log = logging.getLogger(__name__)


class AccessDenied(Exception):
    """The policy refused; the refusal is already in the log (and committed)."""

    def __init__(self, decision: policy.Decision, entry_seq: int | None = None) -> None:
        super().__init__(", ".join(r.code for r in decision.failed) or "denied")
        self.decision = decision
        self.entry_seq = entry_seq


class AuditUnavailable(Exception):
    """The access log could not be written, so nothing may be served."""


@dataclass(frozen=True)
class Seen:
    """A person and/or family an access showed or wrote, and how much of them: a subject of its entry."""

    person_id: str | uuid.UUID | None = None
    family_id: str | uuid.UUID | None = None
    tier: policy.Tier = policy.Tier.EXISTENCE_AND_CONTACT
    categories: Collection[str] = ()
    #: the decision that let the actor see them, whose reasons and grants the entry carries
    decision: policy.Decision | None = None


@dataclass(frozen=True)
class Permit:
    """What ``authorise`` allowed: hand it to ``record`` with what was shown."""

    answer: Answer = field(repr=False)

    @property
    def decision(self) -> policy.Decision | None:
        """The request's decision (None for a list, where each person is decided alone)."""
        return self.answer.decision

    @property
    def categories(self) -> frozenset[str]:
        """The detail categories the request's decision granted (what a coordinator reads about)."""
        return self.answer.decision.categories if self.answer.decision else frozenset()

    @property
    def log_scope(self) -> str | None:
        """Whose access-log entries the actor may read: None for every organisation's, else their own's."""
        return self.answer.log_scope

    def decision_for(self, subject: policy.Subject) -> policy.Decision:
        """The decision about one subject (for a request with one decision, that decision)."""
        found = self.answer.decisions.get(subject.person_id) or self.answer.decision
        if found is None:
            raise KeyError(subject.person_id)
        return found

    def seen(self, subject: policy.Subject) -> Seen:
        """A subject as shown, at the tier and with the categories its decision granted."""
        decision = self.decision_for(subject)
        return Seen(subject.person_id, subject.family_id, decision.tier, decision.categories, decision)


def authorise(
    session: Session,
    ctx: AccessContext,
    question: Question,
    *,
    attempted: EventType,
    detail: Mapping[str, str] | None = None,
) -> Permit:
    """Decide ``question`` for this actor; refuse it (logged, committed, raised) or permit it.

    Args:
        attempted: what the access would be logged as; a refusal records it in its detail.
        detail: the refusal's detail besides ``attempted`` (which nomination, which page...).

    Returns:
        The permit, for ``record`` once the service knows what it shows. Nothing is logged yet.

    Raises:
        AccessDenied: refused; the refusal is logged and committed, and anything else the request
            had written is rolled back.
        AuditUnavailable: the refusal could not be logged.
    """
    found = answer(session, ctx, question)
    if found.refused:
        assert found.decision is not None
        _deny(session, ctx, found, attempted, detail)
    return Permit(found)


def record(
    session: Session,
    ctx: AccessContext,
    event: EventType,
    permit: Permit,
    shown: Sequence[Seen] = (),
    *,
    detail: Mapping[str, str] | None = None,
) -> int:
    """Append the entry for a permitted access, in the caller's transaction; returns its number.

    Call it last, after loading what the permit allows and before returning any of it: the append takes
    the chain head's lock until the commit (see ``commit``). The entry carries the request's decision
    and each subject shown with its own.

    Raises:
        AuditUnavailable: the entry could not be written (the caller must serve nothing).
    """
    found = permit.answer
    decisions = [d for d in (found.decision, *(s.decision for s in shown)) if d is not None]
    request = found.request
    marked = any(d.break_glass for d in decisions) or (request is not None and request.break_glass)
    outcome = Outcome.BREAK_GLASS if marked else Outcome.PERMITTED
    return _append(session, lambda: _entry(ctx, event, outcome, found, decisions, shown, detail))


def commit(session: Session) -> None:
    """Commit the request's access-log entry before its page is rendered, or serve nothing.

    Read pages commit here, straight after the service returned (its last statement is the log append),
    rather than after rendering: the chain head stays locked from the append to the commit, and every
    request of every process queues on it, so it must not wait for a template. The data is only handed
    to the template once the entry is durable; if the commit fails, ``AuditUnavailable``.
    """
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.exception("access log commit failed")
        raise AuditUnavailable(str(exc)) from exc


def _deny(
    session: Session, ctx: AccessContext, found: Answer, attempted: EventType, detail: Mapping[str, str] | None
) -> None:
    """Roll back, record the refusal on its own and commit it, then raise ``AccessDenied``."""
    assert found.decision is not None
    session.rollback()
    refused = found.refused_subject
    shown = (
        [Seen(refused.person_id, refused.family_id, found.decision.tier, found.decision.categories)] if refused else []
    )
    seq = _append(
        session,
        lambda: _entry(
            ctx,
            EventType.ACCESS_DENIED,
            Outcome.DENIED,
            found,
            [found.decision],
            shown,
            {"attempted": attempted.value, **(detail or {})},
        ),
    )
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise AuditUnavailable(str(exc)) from exc
    raise AccessDenied(found.decision, seq)


def _entry(
    ctx: AccessContext,
    event: EventType,
    outcome: Outcome,
    found: Answer,
    decisions: Sequence[policy.Decision],
    shown: Sequence[Seen],
    detail: Mapping[str, str] | None,
) -> chain.NewEntry:
    """The log entry: the decisions' reasons (failed ones marked ``!``), the protocols and notices they
    relied on, the categories seen, and each subject with its tier."""
    reasons: dict[str, None] = {}
    protocols: dict[str, None] = {}
    notices: dict[str, None] = {}
    categories: set[str] = set()
    for decision in decisions:
        for r in decision.reasons:
            reasons[r.code if r.passed else f"!{r.code}"] = None
        for g in decision.grants:
            protocols[g.protocol_ref] = None
            if g.notice_ref:
                notices[g.notice_ref] = None
        categories.update(decision.categories)
    for s in shown:
        categories.update(s.categories)
    request = found.request
    return chain.NewEntry(
        event=event,
        outcome=outcome,
        occurred_at=ctx.at,
        actor_user_id=str(ctx.user_id),
        actor_organisation_id=str(ctx.organisation_id),
        actor_roles=tuple(sorted(ctx.roles)),
        purpose=request.purpose if request else found.purpose,
        categories=tuple(sorted(categories)),
        reasons=tuple(reasons),
        protocol_refs=tuple(protocols),
        notice_refs=tuple(notices),
        request_id=ctx.request_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        detail=dict(detail or {}),
        subjects=tuple(
            chain.SubjectRef(s.person_id or None, s.family_id or None, int(s.tier), tuple(sorted(s.categories)))
            for s in shown
        ),
    )


def _append(session: Session, build: Callable[[], chain.NewEntry]) -> int:
    """Build and append an entry; any failure (a refused write, a malformed entry) serves nothing."""
    try:
        return chain.append(session, build())
    except (SQLAlchemyError, OSError, ValueError, chain.ChainError) as exc:
        log.exception("access log append failed")
        raise AuditUnavailable(str(exc)) from exc


#: the actor of an entry written by a command-line task (an import, the demo seed): no user, no organisation
SYSTEM_ROLES = ("system",)
#: why a command-line task wrote personal data
SYSTEM_PURPOSE = "administration"
#: at most this many people or families per entry of a command-line task; a larger write takes several
SYSTEM_SUBJECTS_PER_ENTRY = 1000


def record_system(
    session: Session,
    event: EventType,
    subjects: Sequence[chain.SubjectRef],
    detail: Mapping[str, str],
    *,
    at: datetime | None = None,
) -> list[int]:
    """Append the entries for personal data written by a command-line task, in the caller's transaction.

    Nobody signed in did it: the entries carry no user and no organisation, the role ``system``, the
    purpose ``administration`` and the outcome permitted. The subjects (the people and families
    written) are split into entries of at most ``SYSTEM_SUBJECTS_PER_ENTRY``, in the order given; each
    carries ``detail``, the categories of its own subjects, and when there are several, ``part`` and
    ``parts`` ("2" of "3") in its detail. The entries of one call share a request id, so the parts can
    be found together. With no subjects, one entry without subjects is written: the caller decides
    whether there was anything to record (a run that wrote nothing writes no entry).

    Returns:
        The entries' sequence numbers.

    Raises:
        AuditUnavailable: an entry could not be written (the caller must roll back its writes).
    """
    moment = at or datetime.now(UTC)
    run_id = uuid.uuid4().hex
    refs = list(subjects)
    size = SYSTEM_SUBJECTS_PER_ENTRY
    chunks = [refs[start : start + size] for start in range(0, len(refs), size)] or [[]]

    def build(chunk: Sequence[chain.SubjectRef], part: int) -> chain.NewEntry:
        extra = {"part": str(part), "parts": str(len(chunks))} if len(chunks) > 1 else {}
        return chain.NewEntry(
            event=event,
            outcome=Outcome.PERMITTED,
            occurred_at=moment,
            actor_roles=SYSTEM_ROLES,
            purpose=SYSTEM_PURPOSE,
            categories=tuple(sorted({c for s in chunk for c in s.categories})),
            request_id=run_id,
            detail={**detail, **extra},
            subjects=tuple(chunk),
        )

    return [
        _append(session, lambda chunk=chunk, part=part: build(chunk, part))
        for part, chunk in enumerate(chunks, start=1)
    ]
