"""Each invoice's own escalation facts: what it owes, when it becomes time-barred, which notice covered it.

A case groups a debtor's overdue invoices, but the law looks at each invoice: a formal notice covers
the invoices it lists (B2C interest runs on those only, from that notice's receipt), an invoice that
fell due after the notice was never put on notice (it opens a case of its own, engine.cases.run), and
each invoice has its own prescription date (engine.core.prescription). The run, the letters and the
reports read these facts here, so they agree on which invoice is claimed where.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from engine.core.case import CaseState
from engine.core.prescription import Prescription, prescription
from engine.store import ledger
from engine.store.events import TimeBarred
from engine.store.models import Case, Invoice
from engine.store.timeline import append_event

ZERO = Decimal("0.00")
LEGAL_KINDS = ("formal_notice", "litigation")


@dataclass(frozen=True)
class InvoiceStatus:
    """One invoice of a case as of a day: what was paid on it and its prescription."""

    invoice: Invoice
    paid: Decimal
    prescription: Prescription
    as_of: date | None

    @property
    def open(self) -> Decimal:
        return max(self.invoice.amount - self.paid, ZERO)

    @property
    def barred(self) -> bool:
        """Still owed and past its prescription date (never on an undated read)."""
        return self.as_of is not None and self.open > 0 and self.prescription.barred(self.as_of)

    @property
    def noticed(self) -> bool:
        return self.invoice.noticed_on is not None


def invoice_statuses(session: Session, case_row: Case, as_of: date | None = None) -> list[InvoiceStatus]:
    """The case's invoices in allocation order, each with its payments and prescription as of ``as_of``."""
    balances = ledger.invoice_balances(session, case_row.id, as_of)
    acknowledged = ledger.payment_dates(session, [b.invoice.id for b in balances], as_of)
    kind = case_row.debtor.kind
    return [InvoiceStatus(b.invoice, b.paid, prescription(kind, b.invoice.due_date, acknowledged.get(b.invoice.id, ())),
                          as_of) for b in balances]


def fill_state(state: CaseState, statuses: Sequence[InvoiceStatus]) -> None:
    """The case-level sums the guards and the escalator read (CaseState.noticed, barred...), and the due date
    lateness counts from: the earliest of the invoices still owed (`days_overdue`, `since: due_date`), since an
    invoice paid since is late no more; the case's own while nothing is owed."""
    owed = [s for s in statuses if s.open > 0]
    if owed:
        state.due_date = min(s.invoice.due_date for s in owed)
    state.principal = sum((s.invoice.amount for s in statuses), ZERO)
    state.paid = sum((s.paid for s in statuses), ZERO)
    state.invoice_count = len(statuses)
    state.noticed = sum((s.open for s in owed if s.noticed and not s.barred), ZERO)
    state.barred = sum((s.open for s in owed if s.barred), ZERO)
    state.prescription_on = min((s.prescription.on for s in owed), default=None)
    received = [s.invoice.notice_received_on for s in statuses if s.invoice.notice_received_on is not None]
    state.notice_received = max(received, default=None)


def claimed(statuses: Sequence[InvoiceStatus], kind: str | None) -> list[InvoiceStatus]:
    """The invoices a letter of this state kind claims: a formal notice or a hand-off never claims a
    time-barred invoice, and a hand-off claims only what a formal notice covered (when one did)."""
    chosen = list(statuses)
    if kind in LEGAL_KINDS:
        chosen = [s for s in chosen if not s.barred]
    if kind == "litigation" and any(s.noticed for s in chosen):
        chosen = [s for s in chosen if s.noticed]
    return chosen


def listed(statuses: Sequence[InvoiceStatus]) -> list[InvoiceStatus]:
    """The invoices a letter's table lists: those still owed (all of them when none is)."""
    return [s for s in statuses if s.open > 0] or list(statuses)


def letter_reference(case_row: Case) -> str:
    """The reference printed on the letter of the case's current step ("Notre courrier : ...")."""
    return f"{case_row.ref}/{case_row.step_count:02d}"


def mark_noticed(statuses: Sequence[InvoiceStatus], on: date, reference: str) -> list[str]:
    """A formal notice goes out: each invoice it claims and no earlier notice covered records it. That
    includes an invoice paid in full but late: the notice claims its penalties and its indemnity, and the
    hand-off to counsel must claim what the notice did."""
    covered = []
    for status in claimed(statuses, "formal_notice"):
        if status.invoice.noticed_on is None:
            status.invoice.noticed_on = on
            status.invoice.notice_ref = reference
            covered.append(status.invoice.number)
    return covered


def record_time_barred(session: Session, case_row: Case, statuses: Sequence[InvoiceStatus], on: date,
                       actor: str | None = None) -> list[Invoice]:
    """Invoices found time-barred for the first time: marked, and a time_barred event says why."""
    found = []
    for status in statuses:
        invoice = status.invoice
        if not status.barred or invoice.time_barred_on is not None:
            continue
        invoice.time_barred_on = on
        rule = status.prescription
        append_event(session, case_row, TimeBarred(
            invoice=invoice.number, outstanding=status.open, prescribed_on=rule.on, since=rule.start,
            acknowledged=rule.acknowledged, article=f"{rule.years} ans, {rule.article}", currency=invoice.currency,
        ), on, actor=actor)
        found.append(invoice)
    return found


__all__ = ["InvoiceStatus", "claimed", "fill_state", "invoice_statuses", "letter_reference", "listed",
           "mark_noticed", "record_time_barred"]
