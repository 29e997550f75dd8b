"""The data protection officer's review of emergency (break-glass) accesses: which were made, by whom,
about whom and why, and marking each reviewed.

Apart from the partners' flag pages (``service.py``, which makes the accesses and re-exports these)
because it is another reader with another duty: the officer sees every access of their scope, with the
reason decrypted, and the gate decides that scope (``portal.dpo``) before any of it is read.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.families.models import BreakGlassAccess, Flag, Person
from portal.organisations.models import Organisation, User


@dataclass(frozen=True)
class BreakGlassForReview:
    id: uuid.UUID
    user_name: str
    organisation_name: str
    person_id: uuid.UUID | None
    family_id: uuid.UUID | None
    person_name: str | None
    reason: str
    accessed_at: datetime
    reviewed_at: datetime | None


def break_glass_accesses(
    session: Session, *, include_reviewed: bool = False, organisation_id: uuid.UUID | None = None
) -> list[BreakGlassForReview]:
    """Emergency accesses for the data protection officer, oldest unreviewed first; with
    ``organisation_id``, only those made by that organisation's users (the officer's log scope).

    Decrypts names and reasons: the caller must have logged the DPO's access first.
    """
    query = (
        select(BreakGlassAccess, User.display_name, Organisation.name)
        .join(User, User.id == BreakGlassAccess.user_id)
        .join(Organisation, Organisation.id == BreakGlassAccess.organisation_id)
    )
    if not include_reviewed:
        query = query.where(BreakGlassAccess.reviewed_at.is_(None))
    if organisation_id is not None:
        query = query.where(BreakGlassAccess.organisation_id == organisation_id)
    rows = session.execute(query.order_by(BreakGlassAccess.accessed_at)).all()
    person_ids = {g.person_id for g, _, _ in rows if g.person_id}
    names = {p.id: p.full_name for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
    families = dict(session.execute(select(Flag.person_id, Flag.family_id).where(Flag.person_id.in_(person_ids))).all())
    return [
        BreakGlassForReview(
            id=g.id,
            user_name=user_name,
            organisation_name=organisation_name,
            person_id=g.person_id,
            family_id=families.get(g.person_id) if g.person_id else None,
            person_name=names.get(g.person_id) if g.person_id else None,
            reason=g.reason,
            accessed_at=g.accessed_at,
            reviewed_at=g.reviewed_at,
        )
        for g, user_name, organisation_name in rows
    ]


def break_glass_awaiting_review(session: Session, grant_id: uuid.UUID) -> uuid.UUID | None:
    """The organisation whose user made this emergency access, if it is waiting for review; else None.

    A fact for the gate (whose officer may review it), read before anything is written.
    """
    return session.scalar(
        select(BreakGlassAccess.organisation_id).where(
            BreakGlassAccess.id == grant_id, BreakGlassAccess.reviewed_at.is_(None)
        )
    )


def mark_break_glass_reviewed(session: Session, grant_id: uuid.UUID, reviewer_id: uuid.UUID, at: datetime) -> bool:
    """Record that the data protection officer has reviewed an emergency access; flush, never commit.

    Returns False when there is no such access or it was already reviewed (nothing changes).
    """
    grant = session.get(BreakGlassAccess, grant_id)
    if grant is None or grant.reviewed_at is not None:
        return False
    grant.reviewed_at = at
    grant.reviewed_by_id = reviewer_id
    session.flush()
    return True


def break_glass_subjects(
    session: Session, *, include_reviewed: bool = False, organisation_id: uuid.UUID | None = None
) -> list[tuple[str, str]]:
    """(person id, family id) of the people emergency accesses touched (with ``organisation_id``, the
    accesses of that organisation's users): facts to log before decrypting."""
    query = select(BreakGlassAccess.person_id).where(BreakGlassAccess.person_id.is_not(None))
    if not include_reviewed:
        query = query.where(BreakGlassAccess.reviewed_at.is_(None))
    if organisation_id is not None:
        query = query.where(BreakGlassAccess.organisation_id == organisation_id)
    person_ids = set(session.scalars(query))
    families = dict(session.execute(select(Flag.person_id, Flag.family_id).where(Flag.person_id.in_(person_ids))).all())
    return [(str(p), str(families.get(p) or "")) for p in sorted(person_ids)]
