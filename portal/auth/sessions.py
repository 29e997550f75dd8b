"""A Flask ``SessionInterface`` that keeps session data in the database.

Why not Flask's signed cookie: it cannot be revoked, so signing out would leave a copied cookie
working. Here the cookie carries only an opaque token; sign-out deletes the row, sign-in issues a new
token (session fixation), and every load enforces the idle timeout and the absolute lifetime.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.datastructures import CallbackDict

from portal import db
from portal.auth import current
from portal.auth.current import SignedInUser
from portal.auth.models import ServerSession
from portal.organisations.models import Organisation, User

#: write last_seen_at at most this often, so reading pages does not write on every request
TOUCH_INTERVAL = timedelta(seconds=60)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@db.prebuilt
def _session_statement(dialect: str) -> Select[Any]:
    """The session row, its user, their organisation and roles: every signed-in request runs it."""
    return (
        select(
            ServerSession.data,
            ServerSession.created_at,
            ServerSession.last_seen_at,
            ServerSession.expires_at,
            *current.USER_COLUMNS,
        )
        .outerjoin(User, User.id == ServerSession.user_id)
        .outerjoin(Organisation, Organisation.id == User.organisation_id)
        .where(ServerSession.token_hash == bindparam("token_hash"))
    )


class DatabaseSession(CallbackDict, SessionMixin):
    def __init__(
        self, initial: dict[str, Any] | None = None, token: str | None = None, created_at: datetime | None = None
    ) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.created_at = created_at
        self.modified = False
        self.rotate = False
        self.destroy = False
        self.touch = False
        #: true when the cookie named a session that had timed out, so the page can say so
        self.expired = False
        #: the user the row names, read with it (the user loader checks it is the session's user)
        self.user: SignedInUser | None = None

    def regenerate(self) -> None:
        """Issue a new token at the next save and drop the old row (call at sign-in)."""
        self.rotate = True
        self.modified = True

    def invalidate(self) -> None:
        """Delete the server-side row and clear the cookie (call at sign-out)."""
        self.clear()
        self.destroy = True


class DatabaseSessionInterface(SessionInterface):
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def _limits(self, app: Flask) -> tuple[timedelta, timedelta]:
        return (
            timedelta(minutes=int(app.config["SESSION_IDLE_MINUTES"])),
            timedelta(hours=int(app.config["SESSION_ABSOLUTE_HOURS"])),
        )

    def open_session(self, app: Flask, request: Request) -> DatabaseSession:
        """Read the session row and its signed-in user in one statement, on the request's own session.

        Every signed-in page pays for this, so it is one round trip (see ``portal.auth.current``); the
        user comes back beside the row and the Flask-Login user loader takes it from there.
        """
        token = request.cookies.get(self.get_cookie_name(app))
        if not token or len(token) > 100:
            return DatabaseSession()
        now = datetime.now(UTC)
        idle, _absolute = self._limits(app)
        request_session = db.session()
        rows = db.fetch(request_session, _session_statement(request_session), {"token_hash": _hash(token)})
        row = rows[0] if rows else None
        if row is None:
            return DatabaseSession()
        if row.expires_at <= now or row.last_seen_at + idle <= now:
            with self.factory() as writer:
                writer.execute(delete(ServerSession).where(ServerSession.token_hash == _hash(token)))
                writer.commit()
            result = DatabaseSession()
            result.expired = True
            return result
        result = DatabaseSession(dict(row.data or {}), token=token, created_at=row.created_at)
        result.touch = row.last_seen_at + TOUCH_INTERVAL <= now
        result.user = current.from_row(row)
        return result

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, DatabaseSession)
        _idle, absolute = self._limits(app)
        if session.destroy or (not session and session.token and session.modified):
            self._destroy(app, session, response)
            return
        if not session and not session.token:
            return  # never create a row for an empty anonymous session
        if not self._write(session, datetime.now(UTC), absolute):
            return
        response.set_cookie(
            self.get_cookie_name(app),
            session.token,
            max_age=int(absolute.total_seconds()),
            path=self.get_cookie_path(app),
            domain=self.get_cookie_domain(app),
            secure=self.get_cookie_secure(app),
            httponly=True,
            samesite=self.get_cookie_samesite(app),
        )
        response.vary.add("Cookie")

    def _destroy(self, app: Flask, session: DatabaseSession, response: Response) -> None:
        """Sign-out, or a session emptied: the row goes first, so a copied cookie stops working."""
        if session.token:
            with self.factory() as writer:
                writer.execute(delete(ServerSession).where(ServerSession.token_hash == _hash(session.token)))
                writer.commit()
        response.delete_cookie(
            self.get_cookie_name(app),
            domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app),
            httponly=True,
            samesite=self.get_cookie_samesite(app),
        )

    def _write(self, session: DatabaseSession, now: datetime, absolute: timedelta) -> bool:
        """Store the session's row: a new token (a new session, or one rotated at sign-in, whose old
        row goes) or the same row updated. False when there is nothing to send the browser: nothing
        changed, or the row was deleted (signed out elsewhere) while this request ran."""
        with self.factory() as writer:
            if session.token is None or session.rotate:
                if session.token is not None:
                    writer.execute(delete(ServerSession).where(ServerSession.token_hash == _hash(session.token)))
                token = secrets.token_urlsafe(32)
                created = now if session.rotate or session.created_at is None else session.created_at
                writer.add(
                    ServerSession(
                        token_hash=_hash(token),
                        user_id=_user_id(session),
                        data=dict(session),
                        created_at=created,
                        last_seen_at=now,
                        expires_at=created + absolute,
                    )
                )
                writer.commit()
                session.token, session.rotate = token, False
                return True
            if not (session.modified or session.touch):
                return False
            row = writer.get(ServerSession, _hash(session.token))
            if row is None:
                return False
            row.data = dict(session)
            row.user_id = _user_id(session)
            row.last_seen_at = now
            writer.commit()
            return True


def _user_id(session: DatabaseSession) -> Any:
    import uuid

    raw = session.get("_user_id")
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


def purge_expired(db: Session, idle: timedelta) -> int:
    """Delete sessions past their absolute or idle limit; returns how many went."""
    now = datetime.now(UTC)
    result = db.execute(
        delete(ServerSession).where((ServerSession.expires_at <= now) | (ServerSession.last_seen_at <= now - idle))
    )
    return result.rowcount or 0
