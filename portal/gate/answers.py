"""How the gate answers each question: gather the facts it needs, and have the pure policy decide.

This is the only module that calls the policy's ``decide*`` functions (an architecture test keeps it
so). Nothing here writes: the door (``portal.gate.door``) logs the refusal or hands back the permit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from portal.gate import facts_sql, register
from portal.gate.context import AccessContext
from portal.gate.facts import Gathered
from portal.gate.questions import (
    BreakGlassGrant,
    FlagOf,
    FlagsOf,
    LogAction,
    NominationAccess,
    NominationRoute,
    NominationSending,
    NominationsList,
    Question,
    ServedPerson,
    Triage,
)
from sharing_protocols import policy


@dataclass(frozen=True)
class Answer:
    """A question's decision, and what goes into the log whichever way it went."""

    #: the request's own decision; None for a list, where each subject is decided alone
    decision: policy.Decision | None
    #: person id -> decision, for questions about flagged people
    decisions: Mapping[str, policy.Decision] = field(default_factory=dict)
    #: the request decided (its purpose is logged); None for a decision without one
    request: policy.Request | None = None
    #: the purpose logged when there is no request
    purpose: str | None = None
    #: the subject a refusal names in the log
    refused_subject: policy.Subject | None = None
    #: whose access-log entries the actor may read: None for every organisation's
    log_scope: str | None = None

    @property
    def refused(self) -> bool:
        return self.decision is not None and not self.decision.permitted


def view_request(on: date, break_glass_reason: str | None = None) -> policy.Request:
    """Seeing flags: the council shares with a partner, for coordinating support."""
    return policy.Request(
        action=policy.Action.VIEW_FLAGS,
        purpose=policy.SUPPORT_COORDINATION,
        direction=policy.TO_PARTNER,
        on=on,
        break_glass=break_glass_reason is not None,
        break_glass_reason=break_glass_reason or "",
    )


def nomination_request(on: date) -> policy.Request:
    """A nomination is a share from the partner to the council, for identifying families."""
    return policy.Request(
        action=policy.Action.NOMINATE, purpose=policy.IDENTIFICATION, direction=policy.TO_COUNCIL, on=on
    )


def _notices(gathered: Gathered, reg: register.Register) -> dict[str, tuple[policy.NoticeGiven, ...]]:
    """The notices given to each family, with what their version covers (from the register)."""
    versions = reg.notice_versions
    return {
        family: tuple(
            policy.NoticeGiven(
                id=notice_id,
                version_ref=versions[n.version_id][0] if n.version_id in versions else "",
                family_id=family,
                member_person_ids=n.members,
                given_on=n.given_on,
                coverage=versions[n.version_id][1] if n.version_id in versions else frozenset(),
            )
            for notice_id, n in given.items()
        )
        for family, given in gathered.notices.items()
    }


def decide_flags(
    session: Session, ctx: AccessContext, request: policy.Request, subjects: Sequence[policy.Subject]
) -> dict[str, policy.Decision]:
    """Decide, for each subject, what this actor may see: the facts in one statement, the register from
    memory, and one call of the policy for the whole list (so a hundred people cost what one does)."""
    if not subjects:
        return {}
    person_ids = list(dict.fromkeys(uuid.UUID(s.person_id) for s in subjects))
    family_ids = list(dict.fromkeys(uuid.UUID(s.family_id) for s in subjects if s.family_id))
    gathered = facts_sql.gather(session, ctx.organisation_id, person_ids, family_ids)
    reg = register.at_version(session, gathered.register_version)
    notices = _notices(gathered, reg)
    actor = ctx.actor
    decisions = policy.decide_many(
        actor,
        request,
        reg.protocols_for(actor.organisation_id, actor.organisation_kind),
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


def answer(session: Session, ctx: AccessContext, question: Question) -> Answer:
    """Decide a question. Reads facts; writes nothing."""
    actor, today = ctx.actor, ctx.today
    match question:
        case FlagOf(subject=subject, break_glass_reason=reason):
            request = view_request(today, reason)
            decision = decide_flags(session, ctx, request, [subject])[subject.person_id]
            return Answer(decision, {subject.person_id: decision}, request, refused_subject=subject)
        case FlagsOf(subjects=subjects):
            request = view_request(today)
            return Answer(None, decide_flags(session, ctx, request, subjects), request)
        case ServedPerson(person_id=person_id):
            request = view_request(today)
            subject = policy.Subject(str(person_id), "", None, frozenset())
            relationships = facts_sql.gather(session, ctx.organisation_id, [person_id], []).relationships
            decision = policy.decide_served(actor, request, subject, tuple(relationships.get(subject.person_id, ())))
            return Answer(decision, {subject.person_id: decision}, request, refused_subject=subject)
        case BreakGlassGrant(person_id=person_id, reason=reason):
            request = view_request(today, reason)
            subject = policy.Subject(str(person_id or ""), "", None, frozenset())
            decision = policy.decide_break_glass_grant(actor, request)
            return Answer(decision, {subject.person_id: decision}, request)
        case LogAction(action=action, organisation_id=organisation_id, about_one=about_one):
            if about_one:
                decision = policy.decide_log_record(actor, action, organisation_id)
            else:
                decision = policy.decide_action(actor, action)
            return Answer(decision, log_scope=policy.log_scope(actor))
        case NominationRoute(route=route):
            decision = policy.decide_nomination_route(actor, route)
            return Answer(decision, request=nomination_request(today))
        case NominationSending(route=route):
            protocols = register.current(session).protocols_for(actor.organisation_id, actor.organisation_kind)
            decision = policy.decide_nomination(actor, route, today, protocols)
            return Answer(decision, request=nomination_request(today))
        case NominationAccess(nomination=nomination):
            decision = policy.decide_nomination_access(actor, nomination)
            return Answer(decision, request=nomination_request(today))
        case NominationsList():
            return Answer(policy.decide_nominations_list(actor), request=nomination_request(today))
        case Triage(action=action, nomination=nomination):
            decision = policy.decide_triage(actor, action, nomination)
            return Answer(decision, purpose=policy.TRIAGE_PURPOSES[action])
    raise TypeError(f"the gate has no answer for {question!r}")
