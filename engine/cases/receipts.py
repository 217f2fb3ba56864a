"""A registered letter's delivery recorded on its case: what `relance case receipt` and tracking.csv share.

The claim work owns the receipt's consequences (each invoice's notice date, interest from receipt) in
its `engine.cases.steps.record_receipt`, with this very signature; this module is the seam the
tracking.csv import (engine.imports.tracking) calls, and records the same `notice_received` event.
When both are merged, this function defers to that one.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.machine import EscalationError, Escalator
from engine.store.events import LetterSent, NoticeReceived, read_event
from engine.store.models import Case, Event
from engine.store.timeline import append_event


def record_receipt(session: Session, case_row: Case, escalator: Escalator, *, tracking: str | None,
                   presented_on: date | None, received_on: date | None, on: date,
                   by: str | None = None) -> NoticeReceived:
    """A `notice_received` event on the case's latest registered letter, dated the day of delivery."""
    if presented_on is None and received_on is None:
        raise EscalationError("a receipt needs the day the letter was received or first presented")
    if presented_on is not None and received_on is not None and received_on < presented_on:
        raise EscalationError(f"received on {received_on}, before its first presentation on {presented_on}")
    sent_on = None
    for event in session.scalars(select(Event).where(Event.case_id == case_row.id, Event.kind == LetterSent.kind)
                                 .order_by(Event.seq)):
        letter = read_event(event.kind, event.payload)
        if isinstance(letter, LetterSent) and letter.channel == "registered_letter":
            sent_on = event.occurred_on
    if sent_on is None:
        raise EscalationError(f"case {case_row.ref} has no registered letter recorded: nothing to receive")
    effective = received_on or presented_on
    assert effective is not None
    if effective > on:
        raise EscalationError(f"a delivery on {effective} is in the future on {on}")
    if (presented_on or effective) < sent_on:
        raise EscalationError(f"the registered letter went out on {sent_on}: it cannot have been delivered "
                              f"on {presented_on or effective}")
    receipt = NoticeReceived(letter=None, tracking=tracking, presented_on=presented_on, received_on=received_on)
    append_event(session, case_row, receipt, effective, actor=by)
    return receipt


__all__ = ["record_receipt"]
