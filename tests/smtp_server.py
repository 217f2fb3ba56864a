"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, started by the test, counting what it accepts.

`SmtpSink` keeps every message it accepted (Message-ID, recipient, the parsed message). It can refuse
some recipients with a 550, answer 451 to the first N messages, or hold its answer to the Nth message
(after having stored it) until released — the window between a send and its record that the crash
test kills the sender in.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class SmtpSink:
    refuse: set[str] = field(default_factory=set)  # recipients answered 550
    busy_first: int = 0  # the first N messages are answered 451
    hold_at: int | None = None  # the Nth accepted message's answer waits for `release`
    messages: list[EmailMessage] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            self.refused.append(address)
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import asyncio

        with self._lock:
            if self.busy_first > 0:
                self.busy_first -= 1
                return "451 4.3.0 Try again later"
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            count = len(self.messages)
        if self.hold_at is not None and count == self.hold_at:
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return f"250 2.0.0 Ok: queued as Q{count:05d}"

    @property
    def message_ids(self) -> Counter[str]:
        return Counter(str(m["Message-ID"]) for m in self.messages)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(sink: SmtpSink | None = None, *, login: tuple[str, str] | None = None,
                tls: ssl.SSLContext | None = None) -> Iterator[SmtpSink]:
    """An aiosmtpd server on 127.0.0.1 (a free port) for the duration of the block; with ``login``, it
    demands AUTH with that user and password (over plain text unless ``tls``); with ``tls``, it offers
    STARTTLS with that context and refuses mail (530) on a session that did not start it."""
    sink = sink or SmtpSink()
    sink.port = free_port()
    options: dict[str, Any] = {}
    if login is not None:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
            return AuthResult(success=ok)

        options = {"authenticator": authenticate, "auth_require_tls": tls is not None, "auth_required": True}
    if tls is not None:
        options.update(tls_context=tls, require_starttls=True)
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **options)
    controller.start()
    try:
        yield sink
    finally:
        sink.release.set()
        controller.stop()


def smtp_toml(port: int) -> str:
    return (f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nfrom = "Relances ACME <relances@acme.example>"\n'
            'reply_to = "compta@acme.example"\nretry_after = 0\ntimeout = 20\n')


def pdf_attachments(message: EmailMessage) -> list[str]:
    return [part.get_filename() or "" for part in message.iter_attachments()
            if part.get_content_type() == "application/pdf" and part.get_content().startswith(b"%PDF")]
