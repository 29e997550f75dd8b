"""After submission: "Your nominations", the banner of updates, and answering the council's questions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.db import prebuilt
from portal.gate import AccessContext, NominationsList
from referrals import states
from referrals.framework import Framework
from referrals.journey.gate import authorise_access, family_seen, nomination_facts, route_title
from referrals.journey.records import CHECK_ANSWERS, ListItem, StalePage, Update
from referrals.labels import NOMINATOR_STATUS_LABELS
from referrals.models import (
    FamilyTold,
    NominatedPerson,
    Nomination,
    NominationEvent,
    NominationStatus,
)

S = NominationStatus

# ------------------------------------------------------------------- after submission: following it


def give_information(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, *, version: int, message: str
) -> None:
    """Answer the council's request for more information: the answer joins the nomination's history
    (shared with the nominator) and the nomination goes back to the council as submitted.

    Raises:
        AccessDenied: not the organisation's nomination (logged).
        StalePage: nothing is waiting for an answer any more, or the page is out of date.
    """
    facts = nomination_facts(session, nomination_id)
    detail = {"nomination_id": str(nomination_id)}
    permit = authorise_access(session, ctx, facts, EventType.NOMINATION_ANSWERED, detail)
    try:
        states.give_information(
            session, nomination_id, version=version, actor_id=ctx.user_id, message=message, at=ctx.at
        )
    except states.NominationConflict as exc:
        raise StalePage(nomination_id, exc.found) from None
    gate.record(session, ctx, EventType.NOMINATION_ANSWERED, permit, family_seen(facts.family_id), detail=detail)
    _mark_seen(session, ctx, nomination_id)


def _mark_seen(session: Session, ctx: AccessContext, nomination_id: uuid.UUID) -> None:
    nomination = session.get(Nomination, nomination_id)
    if nomination is not None and nomination.nominator_id == ctx.user_id:
        nomination.nominator_seen_at = ctx.at
        session.flush()


def mark_seen(session: Session, ctx: AccessContext, nomination_id: uuid.UUID) -> bool:
    """The nominator opens their nomination: its updates are no longer news (the banner goes).

    A POST, because a GET changes nothing: the links that open an updated nomination are buttons.
    Only the nominator's own marker moves; for anyone else (or no such nomination) nothing changes, and
    the page they are sent to goes through the gate. Nothing personal is read, so nothing is logged here.

    Returns:
        Whether anything changed.
    """
    facts = nomination_facts(session, nomination_id)
    if facts.nominator_id != ctx.user_id or facts.status is S.DRAFT:
        return False
    _mark_seen(session, ctx, nomination_id)
    return True


def _updated_ids(session: Session, user_id: uuid.UUID, among: Sequence[uuid.UUID] | None = None) -> set[uuid.UUID]:
    """The user's own nominations with an update shared with them, by someone else, since they looked."""
    seen = func.coalesce(Nomination.nominator_seen_at, Nomination.submitted_at, Nomination.created_at)
    query = (
        select(Nomination.id)
        .join(NominationEvent, NominationEvent.nomination_id == Nomination.id)
        .where(
            Nomination.nominator_id == user_id,
            Nomination.status != S.DRAFT,
            NominationEvent.shared_with_nominator.is_(True),
            NominationEvent.actor_id != user_id,
            NominationEvent.at > seen,
        )
        .distinct()
    )
    if among is not None:
        query = query.where(Nomination.id.in_(among))
    return set(session.scalars(query))


@prebuilt
def _unseen_statement(dialect: str) -> Select[Any]:
    """``_updated_ids`` for one user with what the banner shows, built once: every practitioner's home
    page runs it."""
    seen = func.coalesce(Nomination.nominator_seen_at, Nomination.submitted_at, Nomination.created_at)
    updated = (
        select(NominationEvent.nomination_id)
        .where(
            NominationEvent.nomination_id == Nomination.id,
            NominationEvent.shared_with_nominator.is_(True),
            NominationEvent.actor_id != bindparam("user"),
            NominationEvent.at > seen,
        )
        .correlate(Nomination)
        .exists()
    )
    return (
        select(Nomination.id, Nomination.reference, Nomination.status)
        .where(Nomination.nominator_id == bindparam("user"), Nomination.status != S.DRAFT, updated)
        .order_by(Nomination.updated_at.desc())
    )


def unseen_updates(session: Session, user_id: uuid.UUID) -> list[Update]:
    """The user's nominations whose status changed since they last looked, for the home page banner.

    References and statuses only, no personal data, so nothing is logged (the list and the nomination
    pages, which show names, go through the gate).
    """
    rows = session.execute(_unseen_statement(session), {"user": user_id}).all()
    return [Update(r.id, r.reference, NOMINATOR_STATUS_LABELS[r.status]) for r in rows]


#: the most nominations "Your nominations" lists (newest first)
LIST_LIMIT = 500


def _list_columns(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The listed nominations' columns: the answers (concern, what was tried...) only as whether they are
    there, so a list decrypts none of them."""
    return {
        r.id: r
        for r in session.execute(
            select(
                Nomination.id,
                Nomination.reference,
                Nomination.status,
                Nomination.framework_key,
                Nomination.route_key,
                Nomination.submitted_at,
                Nomination.created_at,
                Nomination.decision_reason,
                Nomination.nominator_id,
                Nomination.no_immediate_risk,
                Nomination.concern.is_not(None).label("has_concern"),
                Nomination.tried.is_not(None).label("has_tried"),
                Nomination.family_told,
                Nomination.not_told_reason.is_not(None).label("has_reason"),
            ).where(Nomination.id.in_(ids))
        )
    }


def _subject_names(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """nomination -> the name of the person the concern is about (the only names a list shows)."""
    return {
        nomination_id: f"{given} {family}"
        for nomination_id, given, family in session.execute(
            select(NominatedPerson.nomination_id, NominatedPerson.given_name, NominatedPerson.family_name).where(
                NominatedPerson.nomination_id.in_(ids), NominatedPerson.ordinal == 0
            )
        )
    }


def list_nominations(session: Session, ctx: AccessContext, framework: Framework) -> list[ListItem]:
    """ "Your nominations": the organisation's nominations that have been sent, and the user's own drafts,
    newest first, with whether each of the user's own has changed since they last looked.

    The access is logged (NOMINATIONS_LISTED) before any name is decrypted.

    Raises:
        AccessDenied: the user's role may not nominate (logged).
    """
    permit = gate.authorise(session, ctx, NominationsList(), attempted=EventType.NOMINATIONS_LISTED)
    newest = func.coalesce(Nomination.submitted_at, Nomination.created_at)
    ids = list(
        session.scalars(
            select(Nomination.id)
            .where(
                Nomination.organisation_id == ctx.organisation_id,
                or_(Nomination.status != S.DRAFT, Nomination.nominator_id == ctx.user_id),
            )
            .order_by(newest.desc(), Nomination.id)
            .limit(LIST_LIMIT)
        )
    )
    gate.record(session, ctx, EventType.NOMINATIONS_LISTED, permit, detail={"results": str(len(ids))})
    if not ids:
        return []
    updated = _updated_ids(session, ctx.user_id, ids)
    rows = _list_columns(session, ids)
    subjects = _subject_names(session, ids)
    return [
        ListItem(
            id=r.id,
            reference=r.reference,
            person_name=subjects.get(r.id),
            route_title=route_title(framework, r.framework_key, r.route_key),
            on=(r.submitted_at or r.created_at).date(),
            status=r.status.value,
            status_label=NOMINATOR_STATUS_LABELS[r.status],
            decision_reason=r.decision_reason if r.status is S.NOT_ACCEPTED else None,
            mine=r.nominator_id == ctx.user_id,
            updated=r.id in updated,
            continue_page=_continue_page(r, r.id in subjects) if r.status is S.DRAFT else "",
        )
        for r in (rows[nomination_id] for nomination_id in ids)
    ]


def _continue_page(row: Any, has_subject: bool) -> str:
    """Where to continue a draft, from its columns (the list does not decrypt every draft's answers)."""
    if not row.no_immediate_risk:
        return "immediate-risk"
    if not row.route_key:
        return "route"
    if not has_subject:
        return "person"
    if not row.has_concern:
        return "household"  # the page after the person: members may still be added
    if not row.has_tried:
        return "tried"
    if row.family_told is None:
        return "family-told"
    if row.family_told is not FamilyTold.TOLD_AND_NOTICE_GIVEN and not row.has_reason:
        return "why-not-told"
    return CHECK_ANSWERS
