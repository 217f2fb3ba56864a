"""The prescription watch: invoices still owed that are time-barred, or become so within 90 days.

An invoice's prescription date comes from its due date, restarted by its latest payment (engine.core.
prescription: 5 years B2B, 2 years against a consumer). Read from the ledger as of a day: the candidates
are selected in SQL (still owed, due early enough that even the shortest period could end within the
window), then each candidate's exact date is computed with its payment dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.money import format_amount, format_date
from engine.core.prescription import PERIODS, WATCH_DAYS, add_years, prescription
from engine.reports.terminal import cell
from engine.store import ledger
from engine.store.models import Case, Debtor, Invoice


@dataclass(frozen=True)
class PrescriptionLine:
    """One invoice nearing (or past) its prescription date."""

    invoice: str
    debtor_ref: str
    debtor_name: str
    debtor_kind: str
    case_ref: str | None
    due_date: date
    outstanding: Decimal
    currency: str
    since: date  # the due date, or the payment the period restarted from
    prescription_on: date
    days_left: int  # negative: time-barred for that many days

    @property
    def barred(self) -> bool:
        return self.days_left < 0


def prescription_watch(session: Session, as_of: date, within: int = WATCH_DAYS) -> list[PrescriptionLine]:
    """Invoices owed on ``as_of`` whose prescription date is past or within ``within`` days, soonest first."""
    horizon = as_of + timedelta(days=within)
    shortest = min(years for years, _article in PERIODS.values())
    # Due on or before horizon - shortest period: anything due later cannot be prescribed by the horizon.
    latest_due = add_years(horizon, -shortest)
    owed = ledger.unpaid_cents(as_of)
    rows = session.execute(
        select(Invoice, Debtor, Case.ref, owed)
        .join(Debtor, Debtor.id == Invoice.debtor_id)
        .outerjoin(Case, Case.id == Invoice.case_id)
        .where(Invoice.due_date <= latest_due, Invoice.issue_date <= as_of, owed > 0)
        .order_by(Invoice.due_date, Invoice.id)
    ).all()
    acknowledged = ledger.payment_dates(session, [invoice.id for invoice, *_ in rows], as_of)
    found = []
    for invoice, debtor, case_ref, cents in rows:
        rule = prescription(debtor.kind, invoice.due_date, acknowledged.get(invoice.id, ()))
        if rule.on > horizon:
            continue
        found.append(PrescriptionLine(invoice.number, debtor.ref, debtor.name, debtor.kind, case_ref,
                                      invoice.due_date, ledger.money(cents), invoice.currency, rule.start, rule.on,
                                      rule.days_left(as_of)))
    return sorted(found, key=lambda line: (line.prescription_on, line.invoice))


def prescription_table(lines: list[PrescriptionLine], as_of: date, within: int = WATCH_DAYS) -> Table:
    """The watch as a terminal table."""
    table = Table(title=f"Prescription: invoices time-barred or within {within} days of it, as of {format_date(as_of)}")
    for column in ("invoice", "debtor", "kind", "case", "due", "since", "time-barred after", "days left", "owed"):
        table.add_column(column, justify="right" if column in ("days left", "owed") else "left")
    for line in lines:
        left = f"barred {-line.days_left} d" if line.barred else str(line.days_left)
        table.add_row(cell(line.invoice), cell(line.debtor_ref), line.debtor_kind, cell(line.case_ref or ""),
                      format_date(line.due_date), format_date(line.since), format_date(line.prescription_on), left,
                      format_amount(line.outstanding, line.currency))
    return table


def prescription_as_dict(lines: list[PrescriptionLine]) -> list[dict[str, Any]]:
    return [{"invoice": line.invoice, "debtor_ref": line.debtor_ref, "debtor_kind": line.debtor_kind,
             "case": line.case_ref, "due_date": line.due_date.isoformat(), "since": line.since.isoformat(),
             "prescription_on": line.prescription_on.isoformat(), "days_left": line.days_left,
             "time_barred": line.barred, "outstanding": str(line.outstanding), "currency": line.currency}
            for line in lines]


__all__ = ["PrescriptionLine", "prescription_as_dict", "prescription_table", "prescription_watch"]
