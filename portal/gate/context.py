"""Who is asking, for which organisation, and from where: the gate's view of a request.

Views build it from the signed-in user and the request (``access_context``); services take it as an
argument and never read the request themselves, so they run the same under a test or a command.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from flask_login import current_user

from portal.access_log.events import request_origin
from sharing_protocols import policy

#: user agents are stored in the log; beyond this they are noise (and a way to bloat it)
MAX_USER_AGENT = 300


@dataclass(frozen=True)
class AccessContext:
    """The actor of an access and where it came from, as the access log records it."""

    user_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_kind: str
    roles: frozenset[str]
    request_id: str
    ip: str | None = None
    user_agent: str | None = None
    #: when the request is made; a fact for the policy, never read from a clock inside it
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def actor(self) -> policy.Actor:
        return policy.Actor(
            user_id=str(self.user_id),
            organisation_id=str(self.organisation_id),
            organisation_kind=self.organisation_kind,
            roles=self.roles,
        )

    @property
    def today(self) -> date:
        return self.at.date()


def access_context() -> AccessContext:
    """The signed-in user's context for this request (views only; services are given it)."""
    user = current_user._get_current_object()
    origin = request_origin()
    return AccessContext(
        user_id=user.id,
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation.kind.value,
        roles=frozenset(r.value for r in user.roles),
        request_id=origin["request_id"],
        ip=origin["ip"],
        user_agent=(origin["user_agent"] or "")[:MAX_USER_AGENT] or None,
        at=datetime.now(UTC),
    )
