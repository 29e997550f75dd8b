"""E-mailing a nominator when the council changes their nomination's status (``PORTAL_NOMINATION_EMAIL``).

The portal itself is how a nominator learns what happened: the banner and "Your nominations" show every
update shared with them, by someone else, since they last looked (``referrals.journey.following``). The
e-mail is an optional nudge to come and look, for the changes that ask something of them or end the
matter: the council asks for more information, accepts, or does not accept. Not for what the nominator
did themselves (submitting, answering, or a submission linked to an existing record, which the
confirmation page tells them as they send it), and not for the council's own steps after accepting
(lead professional, notice, flags), which are not shared with the nominator at all.

The message carries no personal data: the nomination's reference, its new status in words and the link
to sign in. Never the people's names, dates of birth or identifiers, the concern, the council's message
or the reason (the e-mail says to sign in to read it): mail leaves the portal's control, may be
forwarded or read on a shared screen, and the nominator's access to the rest goes through the gate.
Because it holds no personal data, sending it is not an access to be recorded in the access log; a log
line says what was sent (reference, status, the user's id).

Call ``status_changed`` in the transaction that makes the change; the message goes only if and when it
commits (``portal.mail``).
"""

from __future__ import annotations

import logging
import textwrap
import uuid
from collections.abc import Mapping
from types import MappingProxyType

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import mail
from portal.organisations.models import User
from referrals.labels import NOMINATOR_STATUS_LABELS
from referrals.models import Nomination, NominationStatus

log = logging.getLogger(__name__)

S = NominationStatus

#: the statuses the nominator is e-mailed about: what happened, and what signing in lets them do
EMAILED: Mapping[NominationStatus, tuple[str, str]] = MappingProxyType(
    {
        S.MORE_INFORMATION_REQUESTED: (
            "The Supporting Families team has asked you for more information.",
            "read the council's message and answer it",
        ),
        S.ACCEPTED: (
            "The Supporting Families team has accepted the nomination.",
            "read the council's message",
        ),
        S.NOT_ACCEPTED: (
            "The Supporting Families team has decided not to accept the nomination.",
            "read the council's message, which gives the reason",
        ),
    }
)

#: the nominator's page, where the status and the council's messages are (through the gate)
NOMINATION_PAGE = "nominations.show_nomination"


def status_changed(session: Session, nomination_id: uuid.UUID, status: NominationStatus) -> None:
    """Queue the e-mail telling the nominator their nomination is now ``status``; flush nothing.

    Does nothing (not even a query) when e-mail is off, and nothing for a status not in ``EMAILED``, a
    nominator with no e-mail address or a disabled account (who cannot sign in to look).
    """
    box = mail.outbox(session)
    if box is None or status not in EMAILED:
        return
    row = session.execute(
        select(Nomination.reference, User.id, User.email, User.disabled)
        .join(User, User.id == Nomination.nominator_id)
        .where(Nomination.id == nomination_id)
    ).one_or_none()
    if row is None or not row.reference:
        return
    about = f"nomination {row.reference} {status.value}, to user {row.id}"
    if not row.email or row.disabled:
        log.info("e-mail not queued (%s): the nominator has no address or is disabled", about)
        return
    happened, then = EMAILED[status]
    paragraphs = [
        f"{box.council_name} has updated nomination {row.reference}.",
        f"Status: {NOMINATOR_STATUS_LABELS[status]}",
        happened,
        f"Sign in to the {box.service_name} to {then}:",
        "For the family's privacy, this e-mail does not say who the nomination is about or what the council wrote.",
        "This e-mail was sent automatically. Please do not reply to it: answer the council in the portal.",
    ]
    # lines short enough to travel as plain 7-bit text; the link on a line of its own, never wrapped
    text = [textwrap.fill(p, width=72) for p in paragraphs]
    text[3] += f"\n{box.url(NOMINATION_PAGE, nomination_id=nomination_id)}"
    body = "\n\n".join(text) + "\n"
    mail.queue(
        session,
        to=row.email,
        subject=f"Nomination {row.reference}: {NOMINATOR_STATUS_LABELS[status].lower()}",
        body=body,
        about=about,
    )
