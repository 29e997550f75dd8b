"""A real SMTP server on 127.0.0.1, in the test process: enough of RFC 5321 for ``smtplib`` to deliver
to it (EHLO/HELO, optional AUTH PLAIN, MAIL FROM, RCPT TO, DATA, RSET, NOOP, QUIT; no STARTTLS), keeping
every message it accepts and counting every connection, so a test can tell "nothing sent" from "never
tried". Also a listener that accepts connections and never answers, for timeouts."""

from __future__ import annotations

import base64
import email
import email.policy
import socket
import socketserver
import threading
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_to: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def body(self) -> str:
        """The text as written (the wire's CRLF line ends back to newlines)."""
        return self.message.get_content().replace("\r\n", "\n")


class _Handler(socketserver.StreamRequestHandler):
    server: SmtpReceiver

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        server = self.server
        with server.lock:
            server.connections += 1
        self.reply("220 127.0.0.1 test SMTP receiver")
        mail_from: str | None = None
        rcpt_to: list[str] = []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, argument = command.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-127.0.0.1" if server.credentials else "250 127.0.0.1")
                if server.credentials:
                    self.reply("250 AUTH PLAIN")
            elif verb == "HELO":
                self.reply("250 127.0.0.1")
            elif verb == "AUTH" and server.credentials:
                mechanism, _, initial = argument.partition(" ")
                if mechanism.upper() != "PLAIN":
                    self.reply("504 unsupported mechanism")
                    continue
                _zid, user, password = base64.b64decode(initial).decode().split("\0")
                with server.lock:
                    server.logins.append((user, password))
                self.reply("235 ok" if (user, password) == server.credentials else "535 bad credentials")
            elif verb == "MAIL":
                mail_from, rcpt_to = argument.partition(":")[2].strip().strip("<>"), []
                self.reply("250 ok")
            elif verb == "RCPT":
                address = argument.partition(":")[2].strip().strip("<>")
                if address in server.refuse:
                    self.reply("550 no such mailbox")
                    continue
                rcpt_to.append(address)
                self.reply("250 ok")
            elif verb == "DATA":
                if mail_from is None or not rcpt_to:
                    self.reply("503 bad sequence of commands")
                    continue
                self.reply("354 end with <CRLF>.<CRLF>")
                raw = self._data()
                message = email.message_from_bytes(raw, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                with server.lock:
                    server.received.append(Received(mail_from, tuple(rcpt_to), message, raw))
                mail_from, rcpt_to = None, []
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                if verb == "RSET":
                    mail_from, rcpt_to = None, []
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply(f"502 {verb} not implemented")

    def _data(self) -> bytes:
        lines = []
        while True:
            line = self.rfile.readline()
            if line in (b".\r\n", b""):
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b"..") else line)


class SmtpReceiver(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.connections = 0
        self.logins: list[tuple[str, str]] = []
        self.credentials = credentials
        #: addresses RCPT TO refuses with 550
        self.refuse: set[str] = set()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> SmtpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(5)


class SilentListener:
    """Accepts TCP connections (the kernel's backlog does) and never says a word: a hung mail server."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)

    @property
    def port(self) -> int:
        return self._socket.getsockname()[1]

    def close(self) -> None:
        self._socket.close()
