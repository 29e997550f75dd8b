"""E-mail, sent only after the transaction that caused it has committed, and only when switched on.

A service queues a message (``queue``) in the same transaction as the change it announces; nothing is
sent then. The message waits in memory on the session (``session.info``) and the session events
registered by ``init_app`` decide its fate:

- ``after_commit`` (the outermost transaction committed) sends everything that transaction queued, in
  one connection to the mail server;
- ``after_rollback`` (any rollback, even of a savepoint) and the end of a transaction that did not
  commit (``session.close()`` without a commit) discard it.

So an e-mail never announces a change that was rolled back. A savepoint's rollback discards everything
queued so far, not only what the savepoint queued: a message not sent is a small loss (the portal itself
shows the change on the next visit), a message about something that did not happen is not.

Sending happens in the request that committed, after the commit, so the change is already safe: a
failure (mail server down, refused, too slow: each step waits at most ``PORTAL_SMTP_TIMEOUT`` seconds) is
logged as a warning and never raised, and the message is dropped. There is no retry queue on purpose:
the e-mail only says "sign in and look", and what it points to is in the portal whether or not it
arrives.

When e-mail is off, ``init_app`` registers nothing: ``queue`` returns at once, no message is built and
no connection is ever made.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.errors import MessageError
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.routing import Map

log = logging.getLogger(__name__)

#: ``session.info`` keys. The outbox is put into every session's info by the sessionmaker (only when
#: e-mail is on), so services find it without reading the app or the request.
_OUTBOX = "portal.mail.outbox"
_PENDING = "portal.mail.pending"
_SUPPRESSED = "portal.mail.suppressed"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    starttls: bool
    username: str
    password: str = field(repr=False)
    timeout: int
    sender: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            host=str(config["SMTP_HOST"]),
            port=int(config["SMTP_PORT"]),
            starttls=bool(config["SMTP_STARTTLS"]),
            username=str(config.get("SMTP_USERNAME") or ""),
            password=str(config.get("SMTP_PASSWORD") or ""),
            timeout=int(config["SMTP_TIMEOUT"]),
            sender=str(config["MAIL_FROM"]),
        )


@dataclass(frozen=True)
class Pending:
    message: EmailMessage
    #: what the message is about, for the log line: references and ids only, never an address or a name
    about: str


class Outbox:
    """The app's mail server and public address, shared by every session of the app."""

    def __init__(
        self, settings: SmtpSettings, *, base_url: str, url_map: Map, service_name: str, council_name: str
    ) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")
        self.service_name = service_name
        self.council_name = council_name
        self._url_map = url_map
        # Message-IDs name the sender's domain: make_msgid's default asks DNS for this host's name
        self._domain = parseaddr(settings.sender)[1].rpartition("@")[2] or "localhost"
        # the portal's own name in EHLO: without one, smtplib asks DNS for this host's name in the request
        self._helo = urlsplit(self.base_url).hostname or "localhost"

    def url(self, endpoint: str, **values: Any) -> str:
        """A page's public address (``PORTAL_BASE_URL`` and the route's path), outside any request."""
        return self.base_url + self._url_map.bind("localhost").build(endpoint, values)

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=self._domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
        message.set_content(body)
        return message

    def send(self, pending: Sequence[Pending]) -> None:
        """Send what one commit queued over one connection; log what happened, raise nothing expected."""
        s = self.settings
        done = 0  # messages dealt with (sent, or refused on their own); the rest are lost if the server fails
        try:
            smtp = smtplib.SMTP(s.host, s.port, local_hostname=self._helo, timeout=s.timeout)
            try:
                if s.starttls:
                    # never falls back to plain: a server that does not offer STARTTLS is a failure
                    smtp.starttls(context=ssl.create_default_context())
                if s.username:
                    smtp.login(s.username, s.password)
                for item in pending:
                    try:
                        smtp.send_message(item.message)
                    except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                        log.warning("e-mail not sent (%s): %s", item.about, _why(exc))
                    else:
                        log.info("e-mail sent (%s)", item.about)
                    done += 1
            finally:
                _quit(smtp)
        except OSError as exc:  # smtplib's errors, ssl's, refused connections and timeouts are all OSError
            log.warning(
                "e-mail not sent (%s): the mail server %s:%d failed: %s",
                "; ".join(p.about for p in pending[done:]),
                s.host,
                s.port,
                _why(exc),
            )


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye, but a server that drops the line at QUIT has still taken what it acknowledged."""
    try:
        smtp.quit()
    except OSError:
        smtp.close()


def _why(exc: BaseException) -> str:
    """The failure in words fit for the log: the server's reply code, never the addresses it may echo."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "the server refused the recipient"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    return f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------------ for services


def outbox(session: Session) -> Outbox | None:
    """The app's outbox when e-mail is on and not suppressed for this session, else None.

    Services ask first, so with e-mail off they read nothing and build nothing for a message."""
    if session.info.get(_SUPPRESSED):
        return None
    return session.info.get(_OUTBOX)


def queue(session: Session, *, to: str, subject: str, body: str, about: str) -> None:
    """Send this plain-text message if and when the session's transaction commits; never raises.

    Args:
        about: for the log line (a reference, a status, a user id): never an address, a name or any
            personal data about the people the portal holds.
    """
    box = outbox(session)
    if box is None:
        return
    try:
        message = box.message(to, subject, body)
    except (ValueError, MessageError) as exc:  # an address that cannot go in a header: not worth a failed change
        log.warning("e-mail not queued (%s): %s", about, _why(exc))
        return
    session.info.setdefault(_PENDING, []).append(Pending(message, about))


@contextmanager
def suppressed(session: Session) -> Iterator[None]:
    """Queue nothing inside this block, whatever the configuration: the demo seed runs the real triage
    services, and must never e-mail the demo's invented addresses."""
    before = session.info.get(_SUPPRESSED, False)
    session.info[_SUPPRESSED] = True
    try:
        yield
    finally:
        session.info[_SUPPRESSED] = before


# ---------------------------------------------------------------------------------------- the app


def init_app(app: Flask) -> None:
    """When ``PORTAL_NOMINATION_EMAIL`` is on, give every session the outbox and the commit events."""
    if not app.config.get("NOMINATION_EMAIL"):
        return
    box = Outbox(
        SmtpSettings.from_config(app.config),
        base_url=str(app.config["BASE_URL"]),
        url_map=app.url_map,
        service_name=str(app.config["SERVICE_NAME"]),
        council_name=str(app.config["COUNCIL_NAME"]),
    )
    app.extensions["mail_outbox"] = box
    maker = app.extensions["db_sessionmaker"]
    maker.configure(info={_OUTBOX: box})
    event.listen(maker, "after_commit", _send_pending)
    event.listen(maker, "after_rollback", _discard_pending)
    event.listen(maker, "after_transaction_end", _discard_unsent)


def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    box = session.info.get(_OUTBOX)
    if not pending or box is None:
        return
    try:
        box.send(pending)
    except Exception:
        # the change has committed: an error page now would tell the user it had not
        log.warning("e-mail not sent (%d): unexpected failure", len(pending), exc_info=True)


def _discard_pending(session: Session) -> None:
    dropped = session.info.pop(_PENDING, None)
    if dropped:
        log.info("e-mail discarded with a rollback (%s)", "; ".join(p.about for p in dropped))


def _discard_unsent(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended without a commit (after a commit the list is already empty)."""
    if transaction.parent is None:
        _discard_pending(session)
