"""The fixes still only proposed in bench/README.md, applied by monkeypatching, so they can be measured
beside the unchanged app in the same run. Nothing here is imported by the portal.

Fixes (a)-(d) of the first run (the served-by UNION, one query each for protocol and notice facts,
column queries for the flag pages) have been adopted in the app itself; what is left:

- (e) The user loader (Flask-Login): one query with the user's roles joined instead of two.
- (f) ``portal.db.make_engine``: no ``pool_pre_ping`` (a ``SELECT 1`` round trip at each of the two
  pool checkouts per request); rely on ``pool_recycle`` and the pool's invalidation of a connection that
  fails instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from portal import db
from portal.organisations.models import User


# (e) ------------------------------------------------------------------------------------------------
def install_user_loader(app: Flask) -> None:
    from flask import session as flask_session

    def _load(user_id: str) -> User | None:
        try:
            wanted = uuid.UUID(user_id)
        except ValueError:
            return None
        user = (
            db.session()
            .scalars(select(User).options(joinedload(User.role_grants)).where(User.id == wanted))
            .unique()
            .first()
        )
        if user is None or not user.is_active:
            return None
        if flask_session.get("organisation_id") != str(user.organisation_id):
            return None
        return user

    app.login_manager.user_loader(_load)  # type: ignore[attr-defined]


# (f) ------------------------------------------------------------------------------------------------
def make_engine(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(url, pool_size=5, max_overflow=5, pool_recycle=3600)


def apply() -> None:
    """Patch the modules in place (call before ``create_app``; then ``install_user_loader(app)``)."""
    from portal import db as portal_db

    portal_db.make_engine = make_engine
