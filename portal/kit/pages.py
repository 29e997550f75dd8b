"""One pattern for "a failed page is still an access: keep its log entry".

Views run under ``portal.db.commits``, which commits a 2xx or 3xx answer and rolls back a 4xx one, so a
refused change leaves nothing half-written. But a 4xx page can still show personal data (a form to
correct beside the nomination it is about, a flag look-up that found nothing), and reading it passed
the gate, which appended an access-log entry in the request's transaction: rolling that back would hide
the access from the data protection officer. ``failed_page`` ends the transaction itself, before the
answer goes out, and before anything else writes: on SQLite the uncommitted entry holds the database's
write lock, and the session store, writing on its own connection after the view, would wait for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from portal import db

Body = TypeVar("Body")


def failed_page(render: Callable[[], Body], status: int, *, undo_changes: bool = False) -> tuple[Body, int]:
    """Answer ``status`` with the page ``render`` draws, its log entries committed.

    ``undo_changes``: the request may have written more than its log entries before it failed (a change
    refused half-way, a stale version found at the swap), so roll all of it back first; ``render`` then
    reads the page afresh, through the gate, which logs that access. Without it, the request has written
    nothing but its entries (it failed before changing anything), and they are kept as they stand.
    """
    session = db.session()
    if undo_changes:
        session.rollback()
    body = render()
    session.commit()
    return body, status
