"""The journey's way through the gate: a nomination's facts read alone, decided by the pure policy and
logged before anything is decrypted; and the views pages are built from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.gate import AccessContext, NominationAccess, Seen
from portal.organisations.models import Organisation, User
from referrals import states
from referrals.framework import Framework
from referrals.journey.records import (
    MessageView,
    NominationView,
    NotADraft,
    PersonView,
)
from referrals.labels import (
    FAMILY_TOLD_LABELS,
    NOMINATOR_EVENT_LABELS,
    NOMINATOR_STATUS_LABELS,
    ROLE_LABELS,
    event_label,
)
from referrals.models import (
    Nomination,
    NominationEvent,
    NominationStatus,
)
from sharing_protocols import policy

S = NominationStatus

# ------------------------------------------------------------------------------------ the gate


@dataclass(frozen=True)
class Facts:
    id: uuid.UUID
    organisation_id: uuid.UUID | None
    nominator_id: uuid.UUID | None
    status: NominationStatus | None
    reference: str | None
    family_id: uuid.UUID | None

    @property
    def policy(self) -> policy.NominationFacts:
        return policy.NominationFacts(
            nomination_id=str(self.id),
            organisation_id=str(self.organisation_id) if self.organisation_id else None,
            nominator_user_id=str(self.nominator_id) if self.nominator_id else None,
            draft=self.status is S.DRAFT,
        )


def nomination_facts(session: Session, nomination_id: uuid.UUID) -> Facts:
    """Whose the nomination is and its status: no personal data, nothing decrypted."""
    row = session.execute(
        select(
            Nomination.organisation_id,
            Nomination.nominator_id,
            Nomination.status,
            Nomination.reference,
            Nomination.family_id,
        ).where(Nomination.id == nomination_id)
    ).one_or_none()
    if row is None:
        return Facts(nomination_id, None, None, None, None, None)
    return Facts(nomination_id, row[0], row[1], row[2], row[3], row[4])


def family_seen(family_id: uuid.UUID | None) -> list[Seen]:
    """The family a linked or accepted nomination belongs to, so the DPO finds the access under it."""
    return [] if family_id is None else [Seen(family_id=family_id, tier=policy.Tier.NOTHING)]


def authorise_access(
    session: Session, ctx: AccessContext, facts: Facts, attempted: EventType, detail: dict[str, str]
) -> gate.Permit:
    """Pass the gate for reading or changing this nomination (the organisation's, a draft its author's)."""
    return gate.authorise(session, ctx, NominationAccess(facts.policy), attempted=attempted, detail=detail)


def check_nomination(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, page: str) -> None:
    """Pass the gate for one nomination before any page about it is drawn, even a blank question.

    A page that takes a nomination's id and shows nothing of it (add a household member, a form sent
    back with errors) must still refuse another organisation's nomination, a colleague's draft or an id
    that names nothing, as the page's POST would: the refusal is logged like any other. A pass logs
    nothing here; what the page then reads or changes is logged by the read or the change.
    """
    facts = nomination_facts(session, nomination_id)
    authorise_access(
        session, ctx, facts, EventType.NOMINATION_VIEWED, {"nomination_id": str(nomination_id), "page": page}
    )


def gate_read(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, page: str) -> Facts:
    """Gate a read of one nomination: authorise and log (NOMINATION_VIEWED), or refuse (403, logged)."""
    facts = nomination_facts(session, nomination_id)
    detail = {"nomination_id": str(nomination_id), "page": page}
    permit = authorise_access(session, ctx, facts, EventType.NOMINATION_VIEWED, detail)
    gate.record(session, ctx, EventType.NOMINATION_VIEWED, permit, family_seen(facts.family_id), detail=detail)
    return facts


def change_draft(session: Session, ctx: AccessContext, nomination_id: uuid.UUID, page: str) -> Nomination:
    """Gate a change to one's own draft: authorise (or refuse, logged), take the row, log, load it.

    Raises:
        AccessDenied: not this user's draft, or no such nomination (logged and committed).
        NotADraft: it has been sent already (a replayed page, or another tab sent it).
    """
    facts = nomination_facts(session, nomination_id)
    detail = {"nomination_id": str(nomination_id), "page": page}
    permit = authorise_access(session, ctx, facts, EventType.NOMINATION_DRAFT_SAVED, detail)
    if facts.status is not S.DRAFT:
        assert facts.status is not None
        raise NotADraft(nomination_id, facts.status, facts.reference)
    try:
        states.claim(session, nomination_id, statuses={S.DRAFT}, at=ctx.at)
    except states.NominationConflict as exc:  # sent by another tab between the two statements
        raise NotADraft(nomination_id, exc.found, exc.reference) from None
    gate.record(session, ctx, EventType.NOMINATION_DRAFT_SAVED, permit, detail=detail)
    nomination = session.get(Nomination, nomination_id, populate_existing=True)
    assert nomination is not None
    return nomination


# --------------------------------------------------------------------------------- loading views


def route_title(framework: Framework, framework_key: str, route_key: str) -> str:
    if not route_key:
        return ""
    if framework_key == framework.key:
        try:
            return framework.route(route_key).title
        except KeyError:
            pass
    return route_key.replace("_", " ").capitalize()


def _people(nomination: Nomination) -> tuple[PersonView, ...]:
    return tuple(
        PersonView(
            ordinal=p.ordinal,
            role=p.role.value,
            role_label=ROLE_LABELS[p.role],
            given_name=p.given_name,
            family_name=p.family_name,
            date_of_birth=p.date_of_birth,
            nhs_number=p.nhs_number,
            upn=p.upn,
            postcode=p.postcode,
        )
        for p in sorted(nomination.people, key=lambda p: p.ordinal)
    )


def _messages(session: Session, nomination: Nomination) -> tuple[MessageView, ...]:
    rows = session.execute(
        select(NominationEvent, User.display_name, User.organisation_id, Organisation.name)
        .join(User, User.id == NominationEvent.actor_id)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(NominationEvent.nomination_id == nomination.id, NominationEvent.shared_with_nominator.is_(True))
        .order_by(NominationEvent.at, NominationEvent.id)
    ).all()
    return tuple(
        MessageView(
            at=event.at,
            kind=event.kind.value,
            label=event_label(event.kind, NOMINATOR_EVENT_LABELS),
            message=event.message,
            author=f"{name}, {organisation}",
            from_council=organisation_id != nomination.organisation_id,
        )
        for event, name, organisation_id, organisation in rows
    )


def load_view(
    session: Session, ctx: AccessContext, framework: Framework, nomination: Nomination, *, messages: bool = False
) -> NominationView:
    nominator = session.scalar(select(User.display_name).where(User.id == nomination.nominator_id)) or ""
    return NominationView(
        id=nomination.id,
        reference=nomination.reference,
        status=nomination.status.value,
        status_label=NOMINATOR_STATUS_LABELS[nomination.status],
        version=nomination.version,
        route_key=nomination.route_key,
        route_title=route_title(framework, nomination.framework_key, nomination.route_key),
        no_immediate_risk=nomination.no_immediate_risk,
        concern=nomination.concern,
        tried=nomination.tried,
        family_told=nomination.family_told.value if nomination.family_told else None,
        family_told_label=FAMILY_TOLD_LABELS[nomination.family_told] if nomination.family_told else None,
        not_told_reason=nomination.not_told_reason,
        created_at=nomination.created_at,
        submitted_at=nomination.submitted_at,
        decided_at=nomination.decided_at,
        decision_reason=nomination.decision_reason,
        people=_people(nomination),
        nominator_name=nominator,
        mine=nomination.nominator_id == ctx.user_id,
        messages=_messages(session, nomination) if messages else (),
    )


def get_draft_for(
    session: Session, ctx: AccessContext, framework: Framework, nomination_id: uuid.UUID, *, page: str
) -> NominationView:
    """One of the user's own drafts, for a question page or check answers (the view is logged).

    Raises:
        AccessDenied: not this user's draft, or no such nomination (logged and committed).
        NotADraft: it has been sent: the page should show the nomination instead.
    """
    facts = gate_read(session, ctx, nomination_id, page)
    if facts.status is not S.DRAFT:
        assert facts.status is not None
        raise NotADraft(nomination_id, facts.status, facts.reference)
    nomination = session.get(Nomination, nomination_id)
    assert nomination is not None
    return load_view(session, ctx, framework, nomination)


def get_nomination_for(
    session: Session, ctx: AccessContext, framework: Framework, nomination_id: uuid.UUID, *, page: str = "detail"
) -> NominationView:
    """A nomination of the user's organisation (or their own draft): what was sent, its status and the
    messages shared with the nominator. Never the family's file. The view is logged.

    Raises:
        AccessDenied: another organisation's, a colleague's draft, or no such nomination (logged).
    """
    gate_read(session, ctx, nomination_id, page)
    nomination = session.get(Nomination, nomination_id)
    assert nomination is not None
    return load_view(session, ctx, framework, nomination, messages=True)
