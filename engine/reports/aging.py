"""The aging balance: every unpaid invoice as of a date, bucketed by days past due.

A handful of aggregate queries (GROUP BY with CASE expressions), never a Python loop over invoices,
so it stays fast on a million invoices. What was paid on each invoice comes from the ledger
(engine.store.ledger), in integer cents like every other sum of money. An allocation or an invoice
dated after ``as_of`` does not exist yet for the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from engine.store import ledger
from engine.store.models import Creditor, Debtor, Invoice

ZERO = Decimal("0.00")

# (key, label, oldest day past due it holds); days past due = as_of - due_date.
BUCKETS: tuple[tuple[str, str, int | None], ...] = (
    ("not_due", "not yet due", None),
    ("1_30", "1–30", 30),
    ("31_60", "31–60", 60),
    ("61_90", "61–90", 90),
    ("over_90", "over 90", None),
)


@dataclass(frozen=True)
class AgingBucket:
    """Unpaid invoices whose days past due fall in one range (or the total)."""

    key: str
    label: str
    invoices: int
    debtors: int
    amount: Decimal


@dataclass(frozen=True)
class DebtorAging:
    """One debtor's outstanding balance, split by bucket (same order as ``Aging.buckets``)."""

    ref: str
    name: str
    kind: str
    invoices: int
    amounts: tuple[Decimal, ...]
    total: Decimal


@dataclass(frozen=True)
class Aging:
    """The aging balance as of ``as_of``, in one currency."""

    as_of: date
    currency: str
    buckets: tuple[AgingBucket, ...]
    total: AgingBucket
    debtors: tuple[DebtorAging, ...]  # the top debtors by outstanding amount, largest first
    # Unpaid invoices left out because they are in another currency (sums across currencies mean nothing).
    other_currencies: dict[str, int] = field(default_factory=dict)
    # Overpayments in this currency no invoice took yet (the ledger's unapplied credit) and how many debtors hold some:
    # money the creditor owes back or will apply to the next invoices; not netted off the buckets.
    credit: Decimal = ZERO
    credit_debtors: int = 0

    @property
    def overdue(self) -> Decimal:
        """Outstanding amount past its due date."""
        return sum((b.amount for b in self.buckets if b.key != "not_due"), ZERO)

    @property
    def overdue_share(self) -> Decimal | None:
        """Overdue / outstanding, 0..1 to four places; None when nothing is outstanding."""
        if self.total.amount <= 0:
            return None
        return (self.overdue / self.total.amount).quantize(Decimal("0.0001"))


def aging(
    session: Session,
    as_of: date,
    *,
    creditor_ref: str | None = None,
    currency: str = "EUR",
    top: int = 10,
) -> Aging:
    """The outstanding balance of every unpaid invoice as of ``as_of``, bucketed by days past due.

    Outstanding = amount minus the payments and credit notes allocated to it and dated on or
    before ``as_of``; invoices issued after ``as_of`` are not counted.
    """
    allocated = ledger.applied_cents(as_of)
    owed = ledger.cents(Invoice.amount) - func.coalesce(allocated.c.cents, 0)
    bucket = case(
        (Invoice.due_date >= as_of, 0),
        (Invoice.due_date >= as_of - timedelta(days=30), 1),
        (Invoice.due_date >= as_of - timedelta(days=60), 2),
        (Invoice.due_date >= as_of - timedelta(days=90), 3),
        else_=4,
    )
    conditions: list[ColumnElement[bool]] = [Invoice.issue_date <= as_of, owed > 0]
    if creditor_ref is not None:
        conditions.append(Invoice.creditor_id == creditor_id(creditor_ref))
    base = select(Invoice.debtor_id.label("debtor_id"), owed.label("owed"), bucket.label("bucket")).outerjoin(
        allocated, allocated.c.invoice_id == Invoice.id
    )
    unpaid = base.where(*conditions, Invoice.currency == currency).subquery()

    by_bucket = {
        row.bucket: row
        for row in session.execute(
            select(unpaid.c.bucket, func.count().label("invoices"),
                   func.count(distinct(unpaid.c.debtor_id)).label("debtors"),
                   func.sum(unpaid.c.owed).label("cents"))
            .group_by(unpaid.c.bucket)
        )
    }
    buckets = tuple(
        AgingBucket(key, label, by_bucket[i].invoices, by_bucket[i].debtors, ledger.money(by_bucket[i].cents))
        if i in by_bucket else AgingBucket(key, label, 0, 0, ZERO)
        for i, (key, label, _limit) in enumerate(BUCKETS)
    )
    count, debtors, cents = session.execute(
        select(func.count(), func.count(distinct(unpaid.c.debtor_id)), func.sum(unpaid.c.owed))
    ).one()
    total = AgingBucket("total", "total", count, debtors, ledger.money(cents))

    debtor_total = func.sum(unpaid.c.owed)
    per_debtor = session.execute(
        select(Debtor.ref, Debtor.name, Debtor.kind, func.count(), debtor_total,
               *[func.sum(case((unpaid.c.bucket == i, unpaid.c.owed), else_=0)) for i in range(len(BUCKETS))])
        .join(Debtor, Debtor.id == unpaid.c.debtor_id)
        .group_by(Debtor.id, Debtor.ref, Debtor.name, Debtor.kind)
        .order_by(debtor_total.desc(), Debtor.ref)
        .limit(top)
    ).all()
    top_debtors = tuple(
        DebtorAging(ref, name, kind, invoices, tuple(ledger.money(c) for c in split), ledger.money(sum_cents))
        for ref, name, kind, invoices, sum_cents, *split in per_debtor
    )

    others = dict(session.execute(
        base.with_only_columns(Invoice.currency, func.count())
        .where(*conditions, Invoice.currency != currency)
        .group_by(Invoice.currency)
    ).all())
    debtors = None if creditor_ref is None else session.scalars(
        select(Debtor.id).where(Debtor.creditor_id == creditor_id(creditor_ref))).all()
    credit, credit_debtors = ledger.credit_total(session, debtors, as_of, currency=currency)
    return Aging(as_of, currency, buckets, total, top_debtors, others, credit, credit_debtors)


def creditor_id(ref: str) -> Any:
    """The id of the creditor with this ref, as a scalar subquery (reports may be scoped to one creditor)."""
    return select(Creditor.id).where(Creditor.ref == ref).scalar_subquery()


__all__ = ["BUCKETS", "Aging", "AgingBucket", "DebtorAging", "aging", "creditor_id"]
