"""What the integration tests read back: access-log entries, a nomination's row and version, the rows
as stored, and how many statements a call makes. Reads only; the data is built by ``tests/builders.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import Uuid, bindparam, event, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from portal import db
from referrals.models import Nomination
from referrals.triage import queue
from referrals.triage.demo import REFERENCES as DEMO_REFERENCES
from referrals.triage.demo import current_version


def log(app: Flask, where: str = "TRUE") -> list[Any]:
    """The access log's entries (every column) that match ``where``, oldest first."""
    with app.app_context():
        return db.session().execute(text(f"SELECT * FROM access_log_entry WHERE {where} ORDER BY seq")).all()


def log_entries(app: Flask, after: int = 0) -> list[Any]:
    """The entries after ``after``."""
    return log(app, f"seq > {int(after)}")


def last_entry(app: Flask) -> Any:
    return log(app)[-1]


def last_seq(app: Flask) -> int:
    with app.app_context():
        return db.session().execute(text("SELECT coalesce(max(seq), 0) FROM access_log_entry")).scalar_one()


def raw_by_id(table: str, columns: str) -> TextClause:
    """The stored row, as the database holds it (encrypted columns undecrypted)."""
    return text(f"SELECT {columns} FROM {table} WHERE id = :i").bindparams(bindparam("i", type_=Uuid))


def version_in(session: Session, nomination_id: uuid.UUID) -> int:
    return current_version(session, nomination_id)


def version_of(app: Flask, nomination_id: uuid.UUID) -> int:
    with app.app_context():
        return version_in(db.session(), nomination_id)


def nomination(app: Flask, nomination_id: uuid.UUID) -> Nomination:
    """The nomination's row, detached from its session."""
    with app.app_context():
        found = db.session().get(Nomination, nomination_id)
        assert found is not None
        db.session().expunge(found)
        return found


def count_nominations(app: Flask) -> int:
    with app.app_context():
        return db.session().execute(text("SELECT count(*) FROM nomination")).scalar_one()


def mine(rows: list[Any]) -> list[Any]:
    """Queue rows this test made (the demo seed may add its own nominations)."""
    return [r for r in rows if r.reference not in DEMO_REFERENCES]


def demo_open(session: Session) -> int:
    """The demo's nominations still waiting for triage, if the seed made any."""
    return session.scalar(
        select(func.count())
        .select_from(Nomination)
        .where(Nomination.reference.in_(DEMO_REFERENCES), Nomination.status.in_(queue.QUEUE_STATUSES))
    )


def statements(app: Flask, call: Callable[[], object]) -> int:
    """How many statements ``call`` sends to the database."""
    engine = app.extensions["db_engine"]
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counted)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count
