"""The access gateway: the one way personal data is read or written.

Every service that touches a person, family, flag, nomination or notice calls ``check`` (gather the
facts in bulk, ask the pure policy), loads only what the decisions allow, and then ``record`` (append
the access-log entry in the same transaction) before it returns any of it; read pages then ``commit``
before rendering, so the chain head's lock is held from the append to the commit and no longer. A
denial is written and committed on its own, after rolling back anything else the request did, and raised
as ``AccessDenied`` so the 403 page can say which condition failed. If the log cannot be written,
``AuditUnavailable`` is raised and nothing is served: fail closed.

Facts are gathered in one statement whatever the number of subjects (relationships, notices given,
objections, and the sharing register's counter), the register itself (protocols, notice versions) is
held in memory per process and reloaded when that counter moves, and the policy decides a whole list
in one call: so a list page costs the same few round trips as a single flag.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NoReturn

from sqlalchemy import Date, Select, String, Text, bindparam, cast, literal_column, null, select, union_all
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, Objection, ObjectionStatus
from consent.service import notice_version_facts
from portal.access_log import chain
from portal.access_log.events import EventType
from portal.crypto import keyring, raw
from portal.db import any_of, fetch, prebuilt
from portal.families.models import ServiceRelationship
from sharing_protocols import policy
from sharing_protocols.models import SharingRegisterState
from sharing_protocols.service import all_protocol_facts, register_version

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
        _relationship_statement(session), {"organisation": organisation_id, "people": list(person_ids)}
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


_SR = ServiceRelationship.__table__


@prebuilt
def _relationship_statement(dialect: str) -> Select:
    return select(_SR.c.person_id, _SR.c.kind, _SR.c.valid_from, _SR.c.valid_to).where(
        _SR.c.organisation_id == bindparam("organisation"), any_of(_SR.c.person_id, "people", dialect)
    )


# -------------------------------------------------------------------------------- the sharing register


@dataclass(frozen=True)
class _Register:
    """The sharing register as the policy reads it, at one version of the database's counter."""

    version: int
    protocols: tuple[policy.Protocol, ...]
    #: notice version id -> (reference quoted to users, coverage as (recipient kind, category) pairs)
    notice_versions: Mapping[str, tuple[str, frozenset[tuple[str, str]]]]
    #: (organisation id, kind) -> the protocols naming it, filled as organisations ask
    naming: dict[tuple[str, str], tuple[policy.Protocol, ...]] = field(default_factory=dict)

    def protocols_for(self, organisation_id: str, kind: str) -> tuple[policy.Protocol, ...]:
        found = self.naming.get((organisation_id, kind))
        if found is None:
            found = self.naming[(organisation_id, kind)] = tuple(
                p for p in self.protocols if organisation_id in p.party_organisation_ids or kind in p.party_kinds
            )
        return found


#: one register per database (an engine), per process; replaced whole when the counter moves
_registers: weakref.WeakKeyDictionary[Engine, _Register] = weakref.WeakKeyDictionary()
_registers_lock = threading.Lock()


def _register(session: Session, version: int) -> _Register:
    """The in-memory register, reloaded when the database's counter is not the one it was read at.

    The counter is read before the register's rows, so a copy is never older than the counter it is
    labelled with: an import committed in between only makes the next request reload again.
    """
    engine = session.get_bind().engine
    current = _registers.get(engine)
    if current is not None and current.version == version:
        return current
    loaded = _Register(register_version(session), all_protocol_facts(session), notice_version_facts(session))
    with _registers_lock:
        _registers[engine] = loaded
    return loaded


# ------------------------------------------------------------------------------------------ facts

_NG, _NGM, _OBJ = NoticeGiven.__table__, NoticeGivenMember.__table__, Objection.__table__
_STATE = SharingRegisterState.__table__


def _text(column: object) -> object:
    return cast(column, String)


def _facts_select(dialect: str, one: bool) -> Select:
    """Every fact about the subjects in one statement: the organisation's relationships with them, the
    notices given to their families (a row per member who is one of the subjects: whether a notice
    names anyone else never matters to a decision about these subjects), their objections, and the
    register's counter.

    One round trip instead of four, whatever the number of subjects. A union needs one type per column,
    so rows are tagged by kind (``k``), ids and words come back as text (ids in their text form), dates
    stay dates (never text, whose format would depend on the server's settings), and the objection's
    basis comes back as its stored token and is decrypted by the caller (``portal.db.fetch``).
    """
    text_null, date_null = cast(null(), String), cast(null(), Date)
    secret = cast(null(), Text)
    relationships = select(
        literal_column("'r'").label("k"),
        _text(_SR.c.person_id).label("a"),
        _text(_SR.c.kind).label("b"),
        text_null.label("c"),
        text_null.label("f"),
        text_null.label("g"),
        _SR.c.valid_from.label("d"),
        _SR.c.valid_to.label("e"),
        secret.label("secret"),
    ).where(_SR.c.organisation_id == bindparam("organisation"), any_of(_SR.c.person_id, "people", dialect, one))
    notices = (
        select(
            literal_column("'n'"),
            _text(_NG.c.family_id),
            _text(_NG.c.id),
            _text(_NG.c.version_id),
            _text(_NGM.c.person_id),
            text_null,
            _NG.c.given_on,
            date_null,
            cast(null(), Text),
        )
        .select_from(_NG.join(_NGM, _NGM.c.notice_id == _NG.c.id))
        .where(any_of(_NG.c.family_id, "families", dialect, one), any_of(_NGM.c.person_id, "people", dialect, one))
    )
    objections = select(
        literal_column("'o'"),
        _text(_OBJ.c.person_id),
        _text(_OBJ.c.id),
        _text(_OBJ.c.category),
        _text(_OBJ.c.purpose),
        _text(_OBJ.c.status),
        date_null,
        date_null,
        raw(_OBJ.c.basis),
    ).where(any_of(_OBJ.c.person_id, "people", dialect, one))
    version = select(
        literal_column("'v'"),
        _text(_STATE.c.version),
        text_null,
        text_null,
        text_null,
        text_null,
        date_null,
        date_null,
        cast(null(), Text),
    ).where(_STATE.c.id == 1)
    return union_all(relationships, notices, objections, version)


#: for one person in at most one family (a flag page), and for any number (a list)
_FACTS_ONE = prebuilt(lambda dialect: _facts_select(dialect, one=True))
_FACTS_MANY = prebuilt(lambda dialect: _facts_select(dialect, one=False))


def _id(text: str) -> str:
    """An id as ``str(uuid)`` gives it: PostgreSQL's text form already is; SQLite keeps 32 hex digits."""
    return text if len(text) == 36 else str(uuid.UUID(text))


@dataclass
class _Gathered:
    relationships: dict[str, list[policy.Relationship]] = field(default_factory=dict)
    #: family id -> notice id -> [version id, given on, member ids]
    notices: dict[str, dict[str, tuple[str, date, set[str]]]] = field(default_factory=dict)
    objections: dict[str, list[policy.Objection]] = field(default_factory=dict)
    version: int = 0


def _gather(
    session: Session, organisation_id: uuid.UUID, person_ids: list[uuid.UUID], family_ids: list[uuid.UUID]
) -> _Gathered:
    found = _Gathered()
    organisation = str(organisation_id)
    if len(person_ids) == 1 and len(family_ids) <= 1:
        person, family = person_ids[0], family_ids[0] if family_ids else None
        statement = _FACTS_ONE(session)
        params = {"organisation": organisation_id, "people": person, "families": family}
    else:
        statement = _FACTS_MANY(session)
        params = {
            "organisation": organisation_id,
            "people": person_ids,
            "families": family_ids,
        }
    ring = keyring()
    basis_of = _OBJ.c.basis.type.decode
    for k, a, b, c, f, g, d, e, secret in fetch(session, statement, params):
        if k == "r":
            person = _id(a)
            found.relationships.setdefault(person, []).append(policy.Relationship(organisation, person, b, d, e))
        elif k == "n":
            found.notices.setdefault(_id(a), {}).setdefault(_id(b), (_id(c), d, set()))[2].add(_id(f))
        elif k == "o":
            person = _id(a)
            found.objections.setdefault(person, []).append(
                policy.Objection(_id(b), person, c, f, g == ObjectionStatus.UPHELD.value, basis_of(ring, secret) or "")
            )
        else:
            found.version = int(a)
    return found


def check(
    session: Session, ctx: AccessContext, request: policy.Request, subjects: Sequence[policy.Subject]
) -> dict[str, policy.Decision]:
    """Decide, for each subject, what this actor may see for this request.

    The facts come from one statement (``_facts_select``) and the in-memory register, and the
    decisions from one call of ``policy.decide_many``, so a list of a hundred people costs one round
    trip and one pass of the policy, like a single flag.

    Args:
        subjects: the people the request concerns, with their family, lead professional and the
            categories of concern on their flag (facts, not personal data).

    Returns:
        person id -> Decision. Nothing is logged yet: call ``record`` (or ``deny``) before serving.
    """
    if not subjects:
        return {}
    person_ids = list(dict.fromkeys(uuid.UUID(s.person_id) for s in subjects))
    family_ids = list(dict.fromkeys(uuid.UUID(s.family_id) for s in subjects if s.family_id))
    gathered = _gather(session, ctx.organisation_id, person_ids, family_ids)
    register = _register(session, gathered.version)
    versions = register.notice_versions
    notices: dict[str, tuple[policy.NoticeGiven, ...]] = {}
    for family, given in gathered.notices.items():
        notices[family] = tuple(
            policy.NoticeGiven(
                id=notice_id,
                version_ref=versions[version_id][0] if version_id in versions else "",
                family_id=family,
                member_person_ids=frozenset(members),
                given_on=given_on,
                coverage=versions[version_id][1] if version_id in versions else frozenset(),
            )
            for notice_id, (version_id, given_on, members) in given.items()
        )
    actor = ctx.actor
    decisions = policy.decide_many(
        actor,
        request,
        register.protocols_for(actor.organisation_id, actor.organisation_kind),
        [
            (
                s,
                tuple(gathered.relationships.get(s.person_id, ())),
                notices.get(s.family_id, ()),
                tuple(gathered.objections.get(s.person_id, ())),
            )
            for s in subjects
        ],
    )
    return {s.person_id: d for s, d in zip(subjects, decisions, strict=True)}


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

    Call it last, after loading what the decision allows and before returning any of it: the append
    takes the chain head's lock, which is held until the commit, so nothing should run between them
    (see ``commit``). If it fails, the caller returns nothing; the caller's commit makes it durable.

    Raises:
        AuditUnavailable: the entry could not be written (the caller must serve nothing).
    """
    outcome = BREAK_GLASS if any(d.break_glass for _, d in shown) or (request and request.break_glass) else PERMITTED
    return _append(session, lambda: _entry(ctx, event, outcome, request, shown, detail))


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


def authorise_decision(
    session: Session,
    ctx: AccessContext,
    decision: policy.Decision,
    event: EventType,
    *,
    request: policy.Request | None = None,
    detail: Mapping[str, str] | None = None,
    subjects: Sequence[tuple[policy.Subject, policy.Decision]] = (),
) -> int:
    """Log a decision that is not about a flag subject (a nomination read, saved or submitted), or deny it.

    The caller has decided with the pure policy (``decide_nomination``, ``decide_nomination_access``).
    A permitted decision is appended as ``event`` in the caller's transaction, with the protocol it
    relied on; a refused one goes to ``deny`` (rolled back, logged and committed on its own).

    Args:
        request: the request decided, for the purpose logged; None for a decision with no purpose.
        subjects: people or families the access touched, if any are known (a nomination linked to a
            family names the family), with their own decisions.

    Returns:
        The entry's sequence number.

    Raises:
        AccessDenied: the decision was a refusal (already logged and committed).
        AuditUnavailable: the entry could not be written (the caller must serve nothing).
    """
    if not decision.permitted:
        deny(session, ctx, request, decision, attempted=event, detail=detail)
    return _append(session, lambda: _entry(ctx, event, PERMITTED, request, [(None, decision), *subjects], detail))


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
