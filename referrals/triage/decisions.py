"""The coordinator's decisions short of accepting: asking the nominator for more information, and not
accepting. Each is one move of the state machine (``core.council_move``: the compare-and-swap, the
message shared with the nominator, the e-mail) and one access-log entry. Accepting, which also attaches
a family, is ``accept.py``; ``service.py`` re-exports these for the views.

Public for other parts of the portal: ``request_information(session, ctx, nomination_id, message)``.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.gate import AccessContext
from referrals.models import NominationEvent, NominationStatus
from referrals.triage.core import MAX_MESSAGE, TriageError, authorise, council_move
from sharing_protocols.policy import TriageAction


def _message(text: str | None, what: str) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise TriageError(f"Enter {what}", field="message")
    if len(cleaned) > MAX_MESSAGE:
        raise TriageError(f"{what.capitalize()} must be {MAX_MESSAGE} characters or fewer", field="message")
    return cleaned


def request_information(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, message: str, *, version: int | None = None
) -> NominationEvent:
    """Ask the nominator for more information; flush, never commit.

    The message is shared with the nominator (``shared_with_nominator``), and the status becomes "more
    information requested" until they answer (the journey's answer form records ``information_given``).
    ``version``, when given, must be the version the coordinator's page showed.

    Raises:
        AccessDenied: not a coordinator, or the nomination is decided (logged).
        NominationNotFound, StaleNomination, TriageError (an empty or too long message).
    """
    state, permit = authorise(
        session, ctx, TriageAction.REQUEST_INFORMATION, nomination_id, EventType.NOMINATION_INFORMATION_REQUESTED
    )
    text = _message(message, "what you need to know")
    event = council_move(session, ctx, state, NominationStatus.MORE_INFORMATION_REQUESTED, version, text)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_INFORMATION_REQUESTED,
        permit,
        detail={"nomination_id": str(state.id)},
    )
    return event


def decline_nomination(
    session: Session, ctx: AccessContext, nomination_id: uuid.UUID, reason: str, *, version: int
) -> None:
    """Decide not to accept a nomination; the reason is shown to the nominator. Flush, never commit.

    Raises:
        AccessDenied: not a coordinator, or already decided (logged).
        NominationNotFound, StaleNomination, TriageError (no reason, or too long).
    """
    state, permit = authorise(
        session, ctx, TriageAction.DECLINE_NOMINATION, nomination_id, EventType.NOMINATION_DECIDED
    )
    text = _message(reason, "the reason, which the nominator will see")
    council_move(
        session,
        ctx,
        state,
        NominationStatus.NOT_ACCEPTED,
        version,
        text,
        decided_at=ctx.at,
        decided_by_id=ctx.user_id,
        decision_reason=text,
    )
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_DECIDED,
        permit,
        detail={"nomination_id": str(state.id), "decision": NominationStatus.NOT_ACCEPTED.value},
    )
