"""What a service may ask the gate: one type per kind of decision, plain data.

A service says what it wants to do (see a person's flag, list the people it serves, send a nomination,
take a triage step, read the access log) and the gate (``portal.gate.authorise``) gathers the facts the
question needs, has the pure policy decide, and either permits it or refuses it (logged, committed and
raised). Services never call the policy themselves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sharing_protocols import policy


@dataclass(frozen=True)
class FlagOf:
    """See one person's flag (a flag page), optionally through an emergency (break-glass) grant."""

    subject: policy.Subject
    break_glass_reason: str | None = None


@dataclass(frozen=True)
class FlagsOf:
    """See a list of flagged people (the people an organisation serves): each is decided on its own,
    and the request as a whole is never refused (the list shows the permitted ones)."""

    subjects: tuple[policy.Subject, ...]


@dataclass(frozen=True)
class ServedPerson:
    """Look a person up who has no live flag: allowed only if the organisation serves them (or the user
    leads their family); nothing about a family is disclosed."""

    person_id: uuid.UUID


@dataclass(frozen=True)
class BreakGlassGrant:
    """Make (or use) an emergency access grant for a person, or for an identifier that matched nobody."""

    person_id: uuid.UUID | None
    reason: str


@dataclass(frozen=True)
class LogAction:
    """Read, search or verify the access log; with ``organisation_id``, one entry or emergency access
    made by that organisation (None for one made by nobody signed in)."""

    action: policy.Action
    organisation_id: str | None = None
    about_one: bool = False


@dataclass(frozen=True)
class NominationRoute:
    """Choose a route for a draft nomination (role and sector: the protocol is checked on sending)."""

    route: policy.RouteFacts


@dataclass(frozen=True)
class NominationSending:
    """Send a nomination to the council under a route: a share from the partner, so a protocol must cover it."""

    route: policy.RouteFacts


@dataclass(frozen=True)
class NominationAccess:
    """Read or change one nomination (or draft) of the partner's own."""

    nomination: policy.NominationFacts


@dataclass(frozen=True)
class NominationsList:
    """List the organisation's nominations ("Your nominations")."""


@dataclass(frozen=True)
class Triage:
    """A coordinator's triage action, on one nomination or (listing the queue) on none."""

    action: policy.TriageAction
    nomination: policy.NominationState | None = None


Question = (
    FlagOf
    | FlagsOf
    | ServedPerson
    | BreakGlassGrant
    | LogAction
    | NominationRoute
    | NominationSending
    | NominationAccess
    | NominationsList
    | Triage
)
