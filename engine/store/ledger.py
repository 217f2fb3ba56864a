"""What each invoice and each case owes as of a day: the one place that sums and allocates money.

Everything relance says about money paid or owed (a case's balance, a letter's table, the aging
report, the timeline's header, which invoice a payment settles) is read here, so they cannot drift.

- **As of a day.** Money counts from its own date: a payment from its payment date, a credit note
  from its issue date. ``as_of=None`` means everything recorded, whatever its date.
- **Exact sums on both backends.** SQLite stores NUMERIC as a float and sums floats; every sum here
  is of integer cents, each row rounded to its cent first (``ROUND(amount * 100)``), which is exact
  for every amount the parser accepts (below 10^12, far inside a double's 15 exact digits).
- **One allocation order.** A payment goes to the invoice it names, then to the debtor's open
  invoices oldest due date first, then oldest issue date, then first recorded (``ALLOCATION_ORDER``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, cast, func, insert, select
from sqlalchemy.orm import Session

from engine.store.models import CreditNote, Invoice, Payment, PaymentAllocation

ZERO = Decimal("0.00")
ALLOCATION_ORDER = (Invoice.due_date, Invoice.issue_date, Invoice.id)


@dataclass(frozen=True)
class Totals:
    """A case's money as of a day: what its invoices amount to and what was applied to them."""

    principal: Decimal
    paid: Decimal
    invoices: int

    @property
    def balance(self) -> Decimal:
        return self.principal - self.paid


@dataclass(frozen=True)
class InvoiceBalance:
    """One invoice with what was applied to it as of a day."""

    invoice: Invoice
    paid: Decimal

    @property
    def open(self) -> Decimal:
        return max(self.invoice.amount - self.paid, ZERO)


@dataclass
class OpenInvoice:
    """An invoice still owed, as the allocation sees it: what is left decreases as money is applied."""

    id: int
    number: str
    case_id: int | None
    remaining: Decimal


@dataclass(frozen=True)
class Share:
    """The part of a payment or credit note that goes to one invoice."""

    invoice: OpenInvoice
    amount: Decimal


def case_totals(session: Session, case_id: int, as_of: date | None = None) -> Totals:
    """Principal, paid and invoice count of one case as of ``as_of``, in one round trip."""
    invoices = (
        select(func.coalesce(func.sum(cents(Invoice.amount)), 0).label("cents"), func.count(Invoice.id).label("n"))
        .where(Invoice.case_id == case_id)
        .subquery()
    )
    applied = applied_cents(as_of)
    paid = (
        select(func.coalesce(func.sum(applied.c.cents), 0))
        .join(Invoice, Invoice.id == applied.c.invoice_id)
        .where(Invoice.case_id == case_id)
        .scalar_subquery()
    )
    principal_cents, count, paid_cents = session.execute(select(invoices.c.cents, invoices.c.n, paid)).one()
    return Totals(money(principal_cents), money(paid_cents), int(count))


def case_money_columns(case_id: Any) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """For a query over cases: each case's principal and paid in cents (all money recorded), as correlated
    subqueries on ``case_id``, so a page of a list reads its balances in the same round trip as its rows."""
    principal = (select(func.coalesce(func.sum(cents(Invoice.amount)), 0))
                 .where(Invoice.case_id == case_id).scalar_subquery())
    paid = (select(func.coalesce(func.sum(cents(PaymentAllocation.amount)), 0))
            .select_from(PaymentAllocation).join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .where(Invoice.case_id == case_id).scalar_subquery())
    return principal, paid


def invoice_balances(session: Session, case_id: int, as_of: date | None = None) -> list[InvoiceBalance]:
    """Each invoice of a case with what was applied to it as of ``as_of``, in allocation order."""
    applied = applied_cents(as_of, case_id=case_id)
    rows = session.execute(
        select(Invoice, func.coalesce(applied.c.cents, 0))
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .where(Invoice.case_id == case_id)
        .order_by(*ALLOCATION_ORDER)
    ).all()
    return [InvoiceBalance(invoice, money(paid)) for invoice, paid in rows]


def totals_of(balances: Sequence[InvoiceBalance]) -> Totals:
    """The totals of invoices already read with ``invoice_balances`` (no second query)."""
    return Totals(sum((b.invoice.amount for b in balances), ZERO), sum((b.paid for b in balances), ZERO), len(balances))


def dated_amounts(session: Session, invoice_ids: Sequence[int], as_of: date | None = None
                  ) -> dict[int, list[tuple[date, Decimal]]]:
    """Per invoice, each amount applied to it with its date, oldest first: what interest runs on."""
    found: dict[int, list[tuple[date, Decimal]]] = defaultdict(list)
    if not invoice_ids:
        return found
    dated = _dated()
    query = (
        select(PaymentAllocation.invoice_id, dated, cents(PaymentAllocation.amount))
        .outerjoin(Payment, Payment.id == PaymentAllocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == PaymentAllocation.credit_note_id)
        .where(PaymentAllocation.invoice_id.in_(list(invoice_ids)))
        .order_by(dated, PaymentAllocation.id)
    )
    if as_of is not None:
        query = query.where(dated <= as_of)
    for invoice_id, day, amount in session.execute(query):
        found[invoice_id].append((day, money(amount)))
    return found


def open_invoices(session: Session, *, debtor_ids: Iterable[int] | None = None, case_id: int | None = None
                  ) -> dict[int, list[OpenInvoice]]:
    """Per debtor, the invoices still owed (whatever the date of what paid them), in allocation order.

    Allocation looks at every allocation ever recorded: an invoice already covered by a payment
    dated next week is not open to another payment today.
    """
    applied = applied_cents(None)
    query = (
        select(Invoice.id, Invoice.debtor_id, Invoice.number, Invoice.case_id,
               cents(Invoice.amount) - func.coalesce(applied.c.cents, 0))
        .outerjoin(applied, applied.c.invoice_id == Invoice.id)
        .order_by(Invoice.debtor_id, *ALLOCATION_ORDER)
    )
    if debtor_ids is not None:
        query = query.where(Invoice.debtor_id.in_(list(debtor_ids)))
    if case_id is not None:
        query = query.where(Invoice.case_id == case_id)
    found: dict[int, list[OpenInvoice]] = defaultdict(list)
    for id_, debtor_id, number, owner, remaining in session.execute(query):
        if remaining > 0:
            found[debtor_id].append(OpenInvoice(id_, number, owner, money(remaining)))
    return found


def allocate(amount: Decimal, invoices: list[OpenInvoice], named: int | None = None) -> tuple[list[Share], Decimal]:
    """Split ``amount`` over ``invoices`` (already in allocation order), the ``named`` one first.

    Pure: returns the shares and what is left over, and lowers each invoice's ``remaining`` so the
    next payment of the same batch sees what this one took.
    """
    if named is not None:
        invoices = sorted(invoices, key=lambda invoice: invoice.id != named)  # stable: the rest keep their order
    left, shares = amount, []
    for invoice in invoices:
        if left <= 0:
            break
        share = min(left, invoice.remaining)
        if share <= 0:
            continue
        invoice.remaining -= share
        left -= share
        shares.append(Share(invoice, share))
    return shares, left


def record_allocations(session: Session, shares: Iterable[tuple[int, Share]], *, credit_notes: bool = False) -> int:
    """Insert the allocation rows of ``(source id, share)`` pairs (payments, or credit notes); how many."""
    source = "credit_note_id" if credit_notes else "payment_id"
    rows = [{"invoice_id": share.invoice.id, "amount": share.amount, source: source_id} for source_id, share in shares]
    if rows:
        session.execute(insert(PaymentAllocation), rows)
    return len(rows)


def unpaid_cents(as_of: date | None = None) -> ColumnElement[Any]:
    """For a query over Invoice: its amount less what was applied to it as of ``as_of``, in cents.

    A correlated subquery, for queries that read invoices in bulk (the run's search for overdue ones).
    """
    dated = _dated()
    applied = (
        select(func.coalesce(func.sum(cents(PaymentAllocation.amount)), 0))
        .select_from(PaymentAllocation)
        .outerjoin(Payment, Payment.id == PaymentAllocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == PaymentAllocation.credit_note_id)
        .where(PaymentAllocation.invoice_id == Invoice.id)
    )
    if as_of is not None:
        applied = applied.where(dated <= as_of)
    return cents(Invoice.amount) - applied.correlate(Invoice).scalar_subquery()


def applied_cents(as_of: date | None = None, *, case_id: int | None = None) -> Any:
    """A subquery (invoice_id, cents): per invoice, what payments and credit notes dated by ``as_of`` applied.

    ``case_id`` limits it to that case's invoices, so reading one case never sums every allocation stored."""
    query: Select[Any] = (
        select(PaymentAllocation.invoice_id.label("invoice_id"),
               func.sum(cents(PaymentAllocation.amount)).label("cents"))
        .select_from(PaymentAllocation)
        .group_by(PaymentAllocation.invoice_id)
    )
    if case_id is not None:
        query = query.where(PaymentAllocation.invoice_id.in_(select(Invoice.id).where(Invoice.case_id == case_id)))
    if as_of is not None:
        query = (query.outerjoin(Payment, Payment.id == PaymentAllocation.payment_id)
                 .outerjoin(CreditNote, CreditNote.id == PaymentAllocation.credit_note_id)
                 .where(_dated() <= as_of))
    return query.subquery()


def cents(amount: Any) -> Any:
    """An SQL amount as integer cents: exact sums on SQLite too, where NUMERIC is a float."""
    return cast(func.round(amount * 100), BigInteger)


def money(value: Any) -> Decimal:
    """Integer cents (from SQL) back to a Decimal amount."""
    return Decimal(int(value or 0)).scaleb(-2).quantize(ZERO)


def _dated() -> ColumnElement[date]:
    """The date money counts from: the payment's date, or the credit note's."""
    return func.coalesce(Payment.payment_date, CreditNote.issue_date)


__all__ = [
    "ALLOCATION_ORDER", "InvoiceBalance", "OpenInvoice", "Share", "Totals", "allocate", "applied_cents",
    "case_money_columns", "case_totals", "cents", "dated_amounts", "totals_of", "invoice_balances", "money", "open_invoices", "record_allocations",
    "unpaid_cents",
]
