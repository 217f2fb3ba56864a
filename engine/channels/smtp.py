"""Delivering a message: over SMTP (stdlib smtplib), or as an .eml file (the demo's and a test's backend).

A transport answers with the server's own words ("250 2.0.0 Ok: queued as 4F2A…") or raises
`TemporaryFailure` (4xx, connection refused, time-out: try again later) or `PermanentFailure` (5xx:
the server will never take it; a person must act). `[smtp]` in relance.toml configures it
(`SmtpSettings`, read by engine.workspace).
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from engine.errors import RelanceError

BACKENDS = ("smtp", "file")


class SmtpConfigError(RelanceError):
    """`[smtp]` cannot be used as written (a password variable not set, a bad backend)."""


class DeliveryFailure(Exception):
    """A message not delivered. ``french`` says why to the team (the timeline, the web app's task list),
    the server's own answer quoted as it came; the message itself is for the command line."""

    def __init__(self, message: str, *, french: str | None = None) -> None:
        super().__init__(message)
        self.french = french or message


class TemporaryFailure(DeliveryFailure):
    """The message may go later: a 4xx answer, a server that cannot be reached or hung up."""


class PermanentFailure(DeliveryFailure):
    """The message will never go as it is: a 5xx answer, an address the server refuses."""


@dataclass(frozen=True)
class SmtpSettings:
    """`[smtp]` of relance.toml; ``directory`` is the file backend's folder (absolute)."""

    sender: str
    backend: str = "smtp"
    host: str = "localhost"
    port: int = 25
    username: str | None = None
    password_env: str | None = None
    starttls: bool = False
    reply_to: str | None = None
    timeout: float = 30.0
    directory: Path | None = None
    max_attempts: int = 8  # temporary failures before the e-mail counts as failed
    retry_after: float = 300.0  # seconds before the first retry; doubled at each further one (6 h at most)
    attach: tuple[str, ...] | None = None  # formats that win over the workflows' `attach` (no LibreOffice: docx)

    def password(self) -> str | None:
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise SmtpConfigError(f"[smtp] password_env names ${self.password_env}, which is not set")
        return value


class Transport(Protocol):
    def send(self, message: EmailMessage, sender: str, to: str) -> str: ...

    def close(self) -> None: ...


def open_transport(settings: SmtpSettings) -> Transport:
    if settings.backend == "file":
        if settings.directory is None:
            raise SmtpConfigError("[smtp] backend = \"file\" needs a directory")
        return FileTransport(settings.directory)
    if settings.backend != "smtp":
        raise SmtpConfigError(f"[smtp] backend must be one of {', '.join(BACKENDS)}, not {settings.backend!r}")
    if settings.username:
        settings.password()  # a variable not set is said before any e-mail is tried, not as a failure of each
    return SmtpTransport(settings)


class SmtpTransport:
    """One connection, opened at the first message and kept for the batch; reopened after a failure."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, sender: str, to: str) -> str:
        try:
            smtp = self._connection()
            code, answer = smtp.mail(sender)
            # 530 (RFC 3207, 4954): STARTTLS or a login first. Every message would get it: the settings are at fault.
            if code == 530:
                self._drop()
                raise TemporaryFailure(f"MAIL FROM: {code} {_text(answer)} (the server wants STARTTLS or a login "
                                       "first: check starttls and username in [smtp])",
                                       french=f"MAIL FROM : {code} {_text(answer)} (le serveur exige STARTTLS ou "
                                       "une authentification : vérifiez starttls et username dans [smtp])")
            _check(code, answer, "MAIL FROM")
            _check(*smtp.rcpt(to), f"RCPT TO <{to}>")
            # SMTP lines end in CRLF (the library's default is LF: a server would read one endless line).
            code, answer = smtp.data(message.as_bytes(policy=message.policy.clone(linesep="\r\n")))
            _check(code, answer, "DATA")
            return f"{code} {_text(answer)}"
        except (TemporaryFailure, PermanentFailure):
            self._reset()
            raise
        except smtplib.SMTPAuthenticationError as exc:  # the team's settings, not this e-mail: try again later
            self._drop()
            refused = f"{exc.smtp_code} {_text(exc.smtp_error)}"
            raise TemporaryFailure(f"login refused: {refused}",
                                   french=f"identifiants refusés par le serveur : {refused}") from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise _classify(exc.smtp_code, exc.smtp_error, "SMTP") from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            self._drop()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}", french=f"serveur de courriel injoignable ou "
                                   f"connexion interrompue ({type(exc).__name__}: {exc})") from None

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
            smtp.ehlo()
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, settings.password() or "")
            self._smtp = smtp
        return self._smtp

    def _reset(self) -> None:
        """After a refused message, the session is reset for the next one (or dropped if that fails)."""
        if self._smtp is not None:
            try:
                self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None


class FileTransport:
    """Writes each message to ``<directory>/<Message-ID>.eml``: the same message twice is one file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage, sender: str, to: str) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9.@_-]+", "_", str(message["Message-ID"]).strip("<>")) + ".eml"
        target = self.directory / name
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_bytes(message.as_bytes())
        os.replace(tmp, target)
        return f"250 written to {target}"

    def close(self) -> None:
        return None


def _check(code: int, answer: bytes | str, what: str) -> None:
    if code >= 400 or code < 200:
        raise _classify(code, answer, what)


def _classify(code: int, answer: bytes | str, what: str) -> Exception:
    text = f"{what}: {code} {_text(answer)}"
    if 500 <= code < 600:
        return PermanentFailure(text, french=f"refusé par le serveur ({what} : {code} {_text(answer)})")
    return TemporaryFailure(text, french=f"refusé pour l'instant par le serveur ({what} : {code} {_text(answer)})")


def _text(answer: bytes | str) -> str:
    value = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
    return " ".join(value.split())


__all__ = ["BACKENDS", "DeliveryFailure", "FileTransport", "PermanentFailure", "SmtpConfigError", "SmtpSettings", "SmtpTransport",
           "TemporaryFailure", "Transport", "open_transport"]
