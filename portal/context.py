"""Build the gate's ``AccessContext`` from the current request (views only; services never read it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import g, request
from flask_login import current_user

from portal.access import AccessContext

#: user agents are stored in the log; beyond this they are noise (and a way to bloat it)
MAX_USER_AGENT = 300


def request_id() -> str:
    """One id per request, shared by every log entry the request writes (and its log lines)."""
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex
    return g.request_id


def access_context() -> AccessContext:
    user = current_user._get_current_object()
    return AccessContext(
        user_id=user.id,
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation.kind.value,
        roles=frozenset(r.value for r in user.roles),
        request_id=request_id(),
        ip=request.remote_addr,
        user_agent=(request.user_agent.string or "")[:MAX_USER_AGENT] or None,
        at=datetime.now(UTC),
    )
