"""Look-ups of organisations and users for other areas' pages (they never query these tables)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.organisations.models import Organisation, User


def list_organisations(session: Session) -> Sequence[Organisation]:
    return session.scalars(select(Organisation).order_by(Organisation.name)).all()


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def names(session: Session, user_ids: Collection[str], organisation_ids: Collection[str]) -> dict[str, str]:
    """Display names of users and organisations by id (as strings), for rendering log entries."""
    found: dict[str, str] = {}
    users = [uuid.UUID(u) for u in user_ids if u]
    orgs = [uuid.UUID(o) for o in organisation_ids if o]
    if users:
        found.update(
            {str(i): n for i, n in session.execute(select(User.id, User.display_name).where(User.id.in_(users)))}
        )
    if orgs:
        found.update(
            {
                str(i): n
                for i, n in session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(orgs)))
            }
        )
    return found
