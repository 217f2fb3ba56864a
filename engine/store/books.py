"""Per invoice, every amount applied to it: read once, then asked as of any day.

The ledger (engine.store.ledger) sums money in SQL for lists and reports. What one case's step needs
(each invoice's paid as of the step's day, the dates of its payments for prescription, the dated
amounts interest runs on) comes from the same rows read here: the invoices in allocation order and
each allocation as (day, cents, payment or credit note and its number), each row rounded to its cent
in SQL as the ledger's sums round it. A run reads the books of a whole batch of cases in two queries
(``preloaded``); a single case's page reads its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, cast, func, select
from sqlalchemy.orm import Session

from engine.core.claim import Applied, AppliedKind
from engine.store.models import Case, CreditNote, Invoice, Payment, PaymentAllocation

ZERO = Decimal("0.00")
ALLOCATION_ORDER = (Invoice.due_date, Invoice.issue_date, Invoice.id)
# Where ``preloaded`` leaves the books of the batch in hand, for the reads below (session.info).
_PRELOADED = "relance.books"


@dataclass(frozen=True)
class InvoiceBalance:
    """One invoice with what was applied to it as of a day."""

    invoice: Invoice
    paid: Decimal

    @property
    def open(self) -> Decimal:
        return max(self.invoice.amount - self.paid, ZERO)


@dataclass(frozen=True)
class Entry:
    """One amount applied to an invoice: the day it counts from, in cents, and whether the debtor paid it
    (a payment) or the creditor took it off (a credit note, with its number)."""

    on: date | None
    cents: int
    payment: bool
    credit_note: str = ""  # the credit note's number; a statement names the avoir by it
    issued: date | None = None  # the invoice's issue date: money dated before it was not paid for it


class Books:
    """The invoices of some cases, in allocation order, and every amount applied to them."""

    def __init__(self, invoices: dict[int, list[Invoice]], entries: dict[int, list[Entry]]) -> None:
        self.invoices = invoices  # case id → its invoices in allocation order
        self.entries = entries  # invoice id → its entries, oldest first
        self.invoice_ids = {invoice.id for found in invoices.values() for invoice in found}

    @classmethod
    def read(cls, session: Session, case_ids: Iterable[int]) -> Books:
        """The books of ``case_ids``, in two queries."""
        ids = list(case_ids)
        invoices: dict[int, list[Invoice]] = {case_id: [] for case_id in ids}
        if ids:
            for invoice in session.scalars(select(Invoice).join(Case, Case.id == Invoice.case_id)
                                           .where(Invoice.case_id.in_(ids), in_case_currency(Case.currency))
                                           .order_by(Invoice.case_id, *ALLOCATION_ORDER)):
                invoices[invoice.case_id].append(invoice)  # type: ignore[index]
        return cls(invoices, _entries(session, [i.id for found in invoices.values() for i in found]))

    def balances(self, case_id: int, as_of: date | None = None) -> list[InvoiceBalance]:
        """Each invoice of the case with what was applied to it as of ``as_of`` (everything when None)."""
        return [InvoiceBalance(invoice, money(sum(e.cents for e in self._dated(invoice.id, as_of))))
                for invoice in self.invoices[case_id]]

    def payment_dates(self, invoice_ids: Sequence[int], as_of: date | None = None) -> dict[int, list[date]]:
        return _payment_dates(self.entries, invoice_ids, as_of)

    def dated_amounts(self, invoice_ids: Sequence[int], as_of: date | None = None) -> dict[int, list[Applied]]:
        return _dated_amounts(self.entries, invoice_ids, as_of)

    def _dated(self, invoice_id: int, as_of: date | None) -> list[Entry]:
        return _counted(self.entries.get(invoice_id, ()), as_of)


@contextmanager
def preloaded(session: Session, case_ids: Iterable[int]) -> Iterator[Books]:
    """The books of ``case_ids`` read once and used by every read below on this session until the block
    ends: a run's batch asks them three times a case. Nothing may apply money in the block (the ledger's
    writes drop them, see ``forget``)."""
    books = Books.read(session, case_ids)
    session.info[_PRELOADED] = books
    try:
        yield books
    finally:
        session.info.pop(_PRELOADED, None)


def forget(session: Session) -> None:
    """Money was applied on this session: books read before are stale."""
    session.info.pop(_PRELOADED, None)


def invoice_balances(session: Session, case_id: int, as_of: date | None = None) -> list[InvoiceBalance]:
    """Each invoice of a case with what was applied to it as of ``as_of``, in allocation order."""
    books = session.info.get(_PRELOADED)
    if not isinstance(books, Books) or case_id not in books.invoices:
        books = Books.read(session, [case_id])
    return books.balances(case_id, as_of)


def dated_amounts(session: Session, invoice_ids: Sequence[int], as_of: date | None = None
                  ) -> dict[int, list[Applied]]:
    """Per invoice, each amount applied to it with its date, oldest first: what interest runs on; and what
    applied it (a payment, or a credit note and its number), the only place a letter learns it from."""
    return _dated_amounts(_entries_of(session, invoice_ids), invoice_ids, as_of)


def payment_dates(session: Session, invoice_ids: Sequence[int], as_of: date | None = None) -> dict[int, list[date]]:
    """Per invoice, the dates of the payments applied to it (credit notes excluded: a credit note is the
    creditor's act, a payment the debtor's acknowledgement of the debt), oldest first."""
    return _payment_dates(_entries_of(session, invoice_ids), invoice_ids, as_of)


def in_case_currency(case_currency: Any) -> ColumnElement[bool]:
    """The invoices a case's money counts: those in the case's currency. A case holds one currency (the
    import opens one per debtor and currency), but a case opened before that rule may hold an invoice in
    another: its amount is never added to the case's (no rate to add it with). Left out of the case's
    balance, invoices and letters, it stays in its own currency's aging; saying less, never a wrong sum."""
    return Invoice.currency == case_currency


def cents(amount: Any) -> Any:
    """An SQL amount as integer cents: exact sums on SQLite too, where NUMERIC is a float."""
    return cast(func.round(amount * 100), BigInteger)


def money(value: Any) -> Decimal:
    """Integer cents (from SQL) back to a Decimal amount."""
    return Decimal(int(value or 0)).scaleb(-2).quantize(ZERO)


def dated() -> ColumnElement[date]:
    """The date money counts from: the payment's date, or the credit note's (join both)."""
    return func.coalesce(Payment.payment_date, CreditNote.issue_date)


def _entries_of(session: Session, invoice_ids: Sequence[int]) -> dict[int, list[Entry]]:
    books = session.info.get(_PRELOADED)
    if isinstance(books, Books) and books.invoice_ids.issuperset(invoice_ids):
        return books.entries
    return _entries(session, invoice_ids)


def _entries(session: Session, invoice_ids: Sequence[int]) -> dict[int, list[Entry]]:
    found: dict[int, list[Entry]] = defaultdict(list)
    if not invoice_ids:
        return found
    on = dated()
    for invoice_id, day, amount, payment_id, number, issued in session.execute(
        select(PaymentAllocation.invoice_id, on, cents(PaymentAllocation.amount), PaymentAllocation.payment_id,
               CreditNote.number, Invoice.issue_date)
        .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .outerjoin(Payment, Payment.id == PaymentAllocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == PaymentAllocation.credit_note_id)
        .where(PaymentAllocation.invoice_id.in_(list(invoice_ids)))
        .order_by(on, PaymentAllocation.id)
    ):
        found[invoice_id].append(Entry(day, int(amount), payment_id is not None, number or "", issued))
    return found


def _counted(entries: Iterable[Entry], as_of: date | None) -> list[Entry]:
    """The entries that count as of ``as_of``: dated by then (all of them when None)."""
    if as_of is None:
        return list(entries)
    return [e for e in entries if e.on is not None and e.on <= as_of]


def _payment_dates(entries: dict[int, list[Entry]], invoice_ids: Sequence[int], as_of: date | None
                   ) -> dict[int, list[date]]:
    found: dict[int, list[date]] = defaultdict(list)
    for invoice_id in invoice_ids:
        for entry in _counted(entries.get(invoice_id, ()), as_of):
            if entry.payment and entry.on is not None:
                found[invoice_id].append(entry.on)
    return found


def _dated_amounts(entries: dict[int, list[Entry]], invoice_ids: Sequence[int], as_of: date | None
                   ) -> dict[int, list[Applied]]:
    found: dict[int, list[Applied]] = defaultdict(list)
    for invoice_id in invoice_ids:
        for entry in _counted(entries.get(invoice_id, ()), as_of):
            kind: AppliedKind = "payment" if entry.payment else "credit_note"
            if entry.payment and entry.on is not None and entry.issued is not None and entry.on < entry.issued:
                # The debtor's credit spent on an invoice issued later (engine.store.ledger): it pays it from
                # the day it exists, and the statement says when it was received, not that it paid this then.
                found[invoice_id].append(Applied(entry.issued, money(entry.cents), kind, received=entry.on))
                continue
            found[invoice_id].append(
                Applied(entry.on, money(entry.cents), kind, entry.credit_note))  # type: ignore[arg-type]
    return found


__all__ = ["ALLOCATION_ORDER", "Books", "Entry", "InvoiceBalance", "cents", "in_case_currency", "dated", "dated_amounts", "forget",
           "invoice_balances", "money", "payment_dates", "preloaded"]
