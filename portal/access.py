"""The access gateway: the one way personal data is read or written.

Every service that touches a person, family, flag, nomination or notice calls ``check`` (gather the
facts in bulk, ask the pure policy) and then ``record`` (append the access-log entry in the same
transaction) before it loads the personal data it will return. A denial is written and committed on
its own, after rolling back anything else the request did, and raised as ``AccessDenied`` so the 403
page can say which condition failed. If the log cannot be written, ``AuditUnavailable`` is raised and
nothing is served: fail closed.

Facts are gathered with a fixed number of queries whatever the number of subjects (relationships,
protocols, notices, objections: one or two queries each), so a list page costs the same few round
trips as a single flag.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from consent.service import notice_facts, objection_facts
from portal.audit import chain
from portal.audit.events import EventType
from portal.families.models import ServiceRelationship
from sharing_protocols import policy
from sharing_protocols.service import protocol_facts

log = logging.getLogger(__name__)

PERMITTED = "permitted"
DENIED = "denied"
BREAK_GLASS = "break_glass"


@dataclass(frozen=True)
class AccessContext:
    """Who is asking, for which organisation, and from where: built by the view from the request."""

    user_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_kind: str
    roles: frozenset[str]
    request_id: str
    ip: str | None = None
    user_agent: str | None = None
    #: when the request is made; a fact for the policy, never read from a clock inside it
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def actor(self) -> policy.Actor:
        return policy.Actor(
            user_id=str(self.user_id),
            organisation_id=str(self.organisation_id),
            organisation_kind=self.organisation_kind,
            roles=self.roles,
        )

    @property
    def today(self) -> date:
        return self.at.date()


class AccessDenied(Exception):
    """The policy refused; the denial is already in the log."""

    def __init__(self, decision: policy.Decision, entry_seq: int | None = None) -> None:
        super().__init__(", ".join(r.code for r in decision.failed) or "denied")
        self.decision = decision
        self.entry_seq = entry_seq


class AuditUnavailable(Exception):
    """The access log could not be written, so nothing may be served."""


def relationship_facts(
    session: Session, organisation_id: uuid.UUID, person_ids: Collection[uuid.UUID]
) -> tuple[policy.Relationship, ...]:
    """The acting organisation's relationships with these people (all dates: the policy judges them)."""
    if not person_ids:
        return ()
    rows = session.execute(
        select(
            ServiceRelationship.person_id,
            ServiceRelationship.kind,
            ServiceRelationship.valid_from,
            ServiceRelationship.valid_to,
        ).where(ServiceRelationship.organisation_id == organisation_id, ServiceRelationship.person_id.in_(person_ids))
    ).all()
    return tuple(
        policy.Relationship(
            organisation_id=str(organisation_id),
            person_id=str(r.person_id),
            kind=r.kind.value,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
        )
        for r in rows
    )


def check(
    session: Session, ctx: AccessContext, request: policy.Request, subjects: Sequence[policy.Subject]
) -> dict[str, policy.Decision]:
    """Decide, for each subject, what this actor may see for this request.

    Args:
        subjects: the people the request concerns, with their family, lead professional and the
            categories of concern on their flag (facts, not personal data).

    Returns:
        person id -> Decision. Nothing is logged yet: call ``record`` (or ``deny``) before serving.
    """
    if not subjects:
        return {}
    person_ids = [uuid.UUID(s.person_id) for s in subjects]
    family_ids = {uuid.UUID(s.family_id) for s in subjects}
    relationships = relationship_facts(session, ctx.organisation_id, person_ids)
    protocols = protocol_facts(session, ctx.organisation_id, ctx.organisation_kind)
    notices = notice_facts(session, family_ids)
    objections = objection_facts(session, person_ids)
    by_person_rel: dict[str, list[policy.Relationship]] = {}
    for r in relationships:
        by_person_rel.setdefault(r.person_id, []).append(r)
    by_family_notice: dict[str, list[policy.NoticeGiven]] = {}
    for n in notices:
        by_family_notice.setdefault(n.family_id, []).append(n)
    by_person_obj: dict[str, list[policy.Objection]] = {}
    for o in objections:
        by_person_obj.setdefault(o.person_id, []).append(o)
    actor = ctx.actor
    return {
        s.person_id: policy.decide(
            policy.Facts(
                actor=actor,
                request=request,
                subject=s,
                relationships=tuple(by_person_rel.get(s.person_id, ())),
                protocols=protocols,
                notices=tuple(by_family_notice.get(s.family_id, ())),
                objections=tuple(by_person_obj.get(s.person_id, ())),
            )
        )
        for s in subjects
    }


def _entry(
    ctx: AccessContext,
    event: EventType,
    outcome: str,
    request: policy.Request | None,
    decisions: Sequence[tuple[policy.Subject | None, policy.Decision]],
    detail: Mapping[str, str] | None,
    purpose: str | None = None,
) -> chain.NewEntry:
    reasons: list[str] = []
    protocols: list[str] = []
    notices: list[str] = []
    categories: set[str] = set()
    subjects = []
    for subject, decision in decisions:
        for r in decision.reasons:
            code = r.code if r.passed else f"!{r.code}"
            if code not in reasons:
                reasons.append(code)
        for g in decision.grants:
            if g.protocol_ref not in protocols:
                protocols.append(g.protocol_ref)
            if g.notice_ref and g.notice_ref not in notices:
                notices.append(g.notice_ref)
        categories.update(decision.categories)
        if subject is not None:
            subjects.append(
                chain.SubjectRef(
                    person_id=subject.person_id,
                    family_id=subject.family_id,
                    tier=int(decision.tier),
                    categories=tuple(sorted(decision.categories)),
                )
            )
    return chain.NewEntry(
        event=event,
        outcome=outcome,
        occurred_at=ctx.at,
        actor_user_id=str(ctx.user_id),
        actor_organisation_id=str(ctx.organisation_id),
        actor_roles=tuple(sorted(ctx.roles)),
        purpose=request.purpose if request else purpose,
        categories=tuple(sorted(categories)),
        reasons=tuple(reasons),
        protocol_refs=tuple(protocols),
        notice_refs=tuple(notices),
        request_id=ctx.request_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        detail=dict(detail or {}),
        subjects=tuple(subjects),
    )


def _append(session: Session, build: Callable[[], chain.NewEntry]) -> int:
    """Build and append an entry; any failure (a refused write, a malformed entry) serves nothing."""
    try:
        return chain.append(session, build())
    except (SQLAlchemyError, OSError, ValueError, chain.ChainError) as exc:
        log.exception("access log append failed")
        raise AuditUnavailable(str(exc)) from exc


def record(
    session: Session,
    ctx: AccessContext,
    event: EventType,
    request: policy.Request | None,
    shown: Sequence[tuple[policy.Subject, policy.Decision]],
    *,
    detail: Mapping[str, str] | None = None,
) -> int:
    """Append the log entry for a permitted access to ``shown``, in the caller's transaction.

    Call it before loading the personal data to be returned; the caller's commit makes both durable.

    Raises:
        AuditUnavailable: the entry could not be written (the caller must serve nothing).
    """
    outcome = BREAK_GLASS if any(d.break_glass for _, d in shown) or (request and request.break_glass) else PERMITTED
    return _append(session, lambda: _entry(ctx, event, outcome, request, shown, detail))


def deny(
    session: Session,
    ctx: AccessContext,
    request: policy.Request | None,
    decision: policy.Decision,
    subject: policy.Subject | None = None,
    *,
    attempted: EventType,
    detail: Mapping[str, str] | None = None,
    purpose: str | None = None,
) -> NoReturn:
    """Record a denial on its own and commit it, then raise ``AccessDenied``.

    Anything else the request had written is rolled back first, so a denial never carries a
    half-done change with it into the database. ``purpose`` is logged when there is no ``request``.
    """
    session.rollback()
    seq = _append(
        session,
        lambda: _entry(
            ctx,
            EventType.ACCESS_DENIED,
            DENIED,
            request,
            [(subject, decision)],
            {"attempted": attempted.value, **(detail or {})},
            purpose,
        ),
    )
    try:
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise AuditUnavailable(str(exc)) from exc
    raise AccessDenied(decision, seq)


def authorise_action(
    session: Session,
    ctx: AccessContext,
    action: policy.Action,
    event: EventType,
    *,
    detail: Mapping[str, str] | None = None,
    subjects: Sequence[tuple[policy.Subject, policy.Decision]] = (),
) -> policy.Decision:
    """Check a role-only action (searching or verifying the access log) and log it, or deny."""
    decision = policy.decide_action(ctx.actor, action)
    if not decision.permitted:
        deny(session, ctx, None, decision, attempted=event, detail=detail)
    _append(session, lambda: _entry(ctx, event, PERMITTED, None, [(None, decision), *subjects], detail))
    return decision


def authorise_triage(
    session: Session,
    ctx: AccessContext,
    action: policy.TriageAction,
    nomination: policy.NominationState | None = None,
    *,
    attempted: EventType,
    detail: Mapping[str, str] | None = None,
) -> policy.Decision:
    """Decide a coordinator's triage action; a refusal is logged, committed and raised as ``AccessDenied``.

    A permitted decision is not logged yet: the service logs it with ``record_triage`` once it knows
    which people and families the action shows or writes, before returning any of them.
    """
    decision = policy.decide_triage(ctx.actor, action, nomination)
    if not decision.permitted:
        deny(session, ctx, None, decision, attempted=attempted, detail=detail, purpose=policy.TRIAGE_PURPOSES[action])
    return decision


def record_triage(
    session: Session,
    ctx: AccessContext,
    event: EventType,
    action: policy.TriageAction,
    decision: policy.Decision,
    shown: Sequence[tuple[policy.Subject, policy.Decision]] = (),
    *,
    detail: Mapping[str, str] | None = None,
) -> int:
    """Append the entry for a permitted triage action, in the caller's transaction.

    Args:
        decision: from ``authorise_triage``; its reasons and categories are logged.
        shown: the people and families the action showed or wrote, each with how much of them (tier,
            categories), so that the DPO's "who has seen this person?" finds the coordinator too.

    Raises:
        AuditUnavailable: the entry could not be written (the caller must serve nothing).
    """
    purpose = policy.TRIAGE_PURPOSES[action]
    return _append(session, lambda: _entry(ctx, event, PERMITTED, None, [(None, decision), *shown], detail, purpose))


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
            outcome=PERMITTED,
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
