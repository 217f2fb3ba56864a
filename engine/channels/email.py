"""One e-mail as the standard library builds it: headers, text and HTML bodies, the letter attached.

The Message-ID is derived from the case and the step (`message_id`), never drawn at random: sending a
step's e-mail again after a crash produces the very same message, which a mail server, the debtor's
client and a count per Message-ID all recognise as one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from engine.errors import RelanceError

MIME_TYPES = {".pdf": ("application", "pdf"),
              ".docx": ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")}


class AddressError(RelanceError):
    """An e-mail address that cannot be used (empty, or not one address)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes

    @property
    def mime(self) -> tuple[str, str]:
        suffix = self.filename[self.filename.rfind("."):].lower() if "." in self.filename else ""
        return MIME_TYPES.get(suffix, ("application", "octet-stream"))


@dataclass(frozen=True)
class Email:
    """Everything a transport needs; ``to`` is one address."""

    message_id: str
    sender: str
    to: str
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    attachments: Sequence[Attachment] = field(default_factory=tuple)
    headers: Sequence[tuple[str, str]] = field(default_factory=tuple)


def message_id(case_ref: str, step_key: str, domain: str) -> str:
    """``<relance.CASE.STEP.HASH@domain>``: readable, and the same for the same (case, step) forever."""
    digest = hashlib.sha256(f"{case_ref}\x00{step_key}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{case_ref}.{step_key}").strip("-.")[:120]
    return f"<relance.{readable}.{digest}@{domain or 'relance.invalid'}>"


def domain_of(address: str | None) -> str:
    _name, addr = parseaddr(address or "")
    return addr.rpartition("@")[2].strip().lower() if "@" in addr else ""


def check_address(address: str | None) -> str:
    """The bare address, or AddressError saying why it cannot receive mail."""
    if not address or not address.strip():
        raise AddressError("no e-mail address", french="pas d'adresse électronique")
    _name, addr = parseaddr(address.strip())
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in addr):
        raise AddressError(f"not an e-mail address: {address!r}", french=f"adresse électronique invalide : {address!r}")
    return addr


def build(email: Email, *, now: datetime | None = None) -> EmailMessage:
    """The MIME message: multipart/alternative (text, HTML) inside multipart/mixed with the attachments."""
    message = EmailMessage()
    message["Message-ID"] = email.message_id
    message["From"] = email.sender
    message["To"] = _address(email.to)
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message["Subject"] = email.subject
    message["Date"] = format_datetime((now or datetime.now()).astimezone())
    for name, value in email.headers:
        message[name] = value
    message.set_content(email.text, subtype="plain", charset="utf-8")
    if email.html:
        message.add_alternative(email.html, subtype="html", charset="utf-8")
    for attachment in email.attachments:
        maintype, subtype = attachment.mime
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


def _address(value: str) -> Address | str:
    addr = check_address(value)
    user, _, domain = addr.rpartition("@")
    return Address(addr_spec=addr) if user and domain else value


__all__ = ["AddressError", "Attachment", "Email", "build", "check_address", "domain_of", "message_id"]
