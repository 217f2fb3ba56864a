"""What a letter recalls: only what the timeline recorded.

A letter's history lists the contacts already made (letters sent by post, e-mails the server took,
calls that reached someone, a registered letter's delivery), each read from an event; its notice
facts and the hand-off's enclosures come from the same records. A planned action that was not
recorded is never mentioned (engine.cases.letters builds the letter from these).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from engine.cases.invoices import InvoiceStatus
from engine.core.money import format_date
from engine.letters import NoticeFacts, PastStep
from engine.store.events import CallRecorded, EmailSent, EventPayload, LetterSent, NoticeReceived, read_event
from engine.store.models import Case
from engine.store.timeline import events_of

POSTAL = ("letter", "registered_letter")


def _sent_letter(on: date, letter: LetterSent, labels: Mapping[str, str]) -> PastStep | None:
    """A letter produced for the post. One prepared for e-mail is not a sent e-mail: nothing records the sending."""
    if letter.channel not in POSTAL:
        return None
    label = labels.get(letter.state or "", letter.state or "Courrier")
    return PastStep(on=on, label=label, channel=letter.channel, reference=letter.reference or "")


def _delivery(on: date, receipt: NoticeReceived, labels: Mapping[str, str]) -> PastStep | None:
    """A registered letter's delivery (its reference is the letter's)."""
    if receipt.received_on is not None:
        return PastStep(receipt.received_on, "Réception de notre lettre recommandée", "receipt", receipt.letter or "")
    if receipt.presented_on is not None:
        return PastStep(receipt.presented_on, "Première présentation de notre lettre recommandée, non réclamée",
                        "receipt", receipt.letter or "")
    return None


def _sent_email(on: date, sent: EmailSent, labels: Mapping[str, str]) -> PastStep | None:
    """An e-mail the server accepted (engine.cases.outbox): a contact, under its step's label."""
    state = sent.step_key.partition(":")[2]
    return PastStep(on=on, label=labels.get(state, state or "Courriel"), channel="email")


def _call(on: date, call: CallRecorded, labels: Mapping[str, str]) -> PastStep | None:
    """A call someone made and recorded; one that reached nobody is no contact."""
    if call.outcome in ("no_answer", "wrong_number"):
        return None
    return PastStep(on=on, label="Entretien téléphonique", channel="phone")


# Each kind of recorded event that is a contact with the debtor, and how a letter recalls it. A planned
# action that was not recorded is never mentioned. Recording calls or e-mails later is one line here.
CONTACTS: dict[type[EventPayload], Callable[[date, Any, Mapping[str, str]], PastStep | None]] = {
    LetterSent: _sent_letter,
    NoticeReceived: _delivery,
    EmailSent: _sent_email,
    CallRecorded: _call,
}


# The events a letter recalls: the contacts made (history) and the notice's delivery (notice_of).
RECALLED: frozenset[str] = frozenset({*(cls.kind for cls in CONTACTS), NoticeReceived.kind})


def typed_events(session: Session, case: Case, kinds: Collection[str] | None = None,
                 ) -> list[tuple[date, str | None, EventPayload]]:
    """The case's events in order, typed: (day, step key, payload); only those of ``kinds`` when given
    (typing a payload is most of a timeline's reading cost)."""
    return [(event.occurred_on, event.step_key, read_event(event.kind, event.payload))
            for event in events_of(session, case) if kinds is None or event.kind in kinds]


def history(events: list[tuple[date, str | None, EventPayload]], labels: Mapping[str, str], *,
             skip_step: str) -> list[PastStep]:
    """The contacts already made, oldest first, each from a recorded event (see CONTACTS)."""
    past = []
    for on, _key, payload in events:
        if isinstance(payload, LetterSent) and (payload.step_key or "").startswith(skip_step):
            continue  # the letter being written is not an earlier contact
        reader = CONTACTS.get(type(payload))
        found = reader(on, payload, labels) if reader is not None else None
        if found is not None and found not in past:  # one letter sent on two channels is one contact
            past.append(found)
    return sorted(past, key=lambda step: step.on)


def reminded(events: list[tuple[date, str | None, EventPayload]], *, skip_step: str) -> frozenset[str]:
    """The invoice numbers an earlier contact named: a letter sent by post, or the letter of an e-mail the server
    accepted. A call names none (the timeline does not say which invoices it was about), nor a letter recorded
    before letters listed their invoices: a letter that cannot tell says less."""
    emailed = {payload.step_key for _on, _key, payload in events if isinstance(payload, EmailSent)}
    numbers: set[str] = set()
    for _on, _key, payload in events:
        if not isinstance(payload, LetterSent) or (payload.step_key or "").startswith(skip_step):
            continue
        if payload.channel in POSTAL or payload.step_key in emailed:
            numbers.update(payload.invoices)
    return frozenset(numbers)


def notice_of(events: list[tuple[date, str | None, EventPayload]], chosen: list[InvoiceStatus]) -> NoticeFacts | None:
    """The formal notice that covered the claimed invoices, as recorded: its letter and its delivery."""
    noticed = sorted((s.invoice.noticed_on, s.invoice.notice_ref or "") for s in chosen
                     if s.invoice.noticed_on is not None)
    if not noticed:
        return None
    on, reference = noticed[0]
    channel, receipt = "registered_letter", None
    for _day, _key, payload in events:
        if isinstance(payload, LetterSent) and payload.reference == reference and payload.channel in POSTAL:
            channel = payload.channel
        if isinstance(payload, NoticeReceived) and payload.letter == reference:
            receipt = payload
    return NoticeFacts(on, reference, channel, receipt.tracking if receipt else None,
                       receipt.presented_on if receipt else None, receipt.received_on if receipt else None)


def interest_from(status: InvoiceStatus) -> date | None:
    """B2C: interest runs on an invoice only once a formal notice covered it, from its receipt when recorded."""
    invoice = status.invoice
    return invoice.notice_received_on or invoice.noticed_on


def interest_basis(notice: NoticeFacts) -> tuple[date, str]:
    if notice.received_on is not None:
        return notice.received_on, "receipt"
    if notice.presented_on is not None:
        return notice.presented_on, "presentation"
    return notice.on, "sending"


def enclosures(kind: str | None, numbers: list[str], history: list[PastStep],
                notice: NoticeFacts | None) -> tuple[str, ...]:
    """What the hand-off transmits, named from the records: the invoices it claims something on (``numbers``:
    an invoice paid late still owes the penalties and indemnity its statement claims, and counsel needs it
    to prove them), the letters sent, the notice's acknowledgement of receipt (only when one is recorded)."""
    if kind != "litigation":
        return ()  # reminders and notices attach nothing
    items = [("copie de la facture n° " if len(numbers) == 1 else "copie des factures n° ") + _french_list(numbers)]
    sent = [f"{step.label} du {format_date(step.on)}" + (f" (réf. {step.reference})" if step.reference else "")
            for step in history if step.channel in POSTAL]
    if sent:
        items.append("copie des courriers adressés au débiteur : " + " ; ".join(sent))
    if notice is not None and (notice.received_on or notice.presented_on):
        when = (f"signé le {format_date(notice.received_on)}" if notice.received_on
                else f"présentée le {format_date(notice.presented_on)}, non réclamée")  # type: ignore[arg-type]
        items.append(f"avis de réception de la mise en demeure réf. {notice.reference} ({when})")
    return tuple(items)


def _french_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " et " + words[-1]


__all__ = ["CONTACTS", "POSTAL", "RECALLED", "enclosures", "history", "interest_basis", "interest_from", "notice_of",
           "reminded", "typed_events"]
