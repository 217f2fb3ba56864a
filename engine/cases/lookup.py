"""Finding cases and reading one: what `relance case list|show` and the web app's pages print.

Balances come from the ledger, so a case's balance here is the one its letters and the report use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.cases.invoices import invoice_statuses
from engine.errors import CaseError
from engine.store import ledger
from engine.store.models import MAX_ID, Case, Debtor, Invoice


@dataclass(frozen=True)
class CaseSummary:
    """One line of a case list."""

    ref: str
    debtor_ref: str
    debtor_name: str
    state: str
    since: date
    balance: Decimal
    currency: str
    next_check: date | None
    error: str | None = None  # why the last run could not move it (see engine.cases.failures)
    error_on: date | None = None


@dataclass(frozen=True)
class InvoiceLine:
    """An invoice of a case with what was paid on it."""

    number: str
    issue_date: date
    due_date: date
    amount: Decimal
    paid: Decimal
    open: Decimal
    currency: str
    # Its own escalation facts (engine.cases.invoices): the formal notice that covered it, its receipt,
    # and the day it becomes time-barred.
    noticed_on: date | None = None
    notice_ref: str | None = None
    notice_received_on: date | None = None
    prescription_on: date | None = None


@dataclass(frozen=True)
class CaseDetails:
    """Everything `case show` says about a case."""

    ref: str
    debtor_ref: str
    debtor_name: str
    workflow: str
    state: str
    since: date
    principal: Decimal
    paid: Decimal
    balance: Decimal
    currency: str
    letters_sent: int
    next_check: date | None
    on_hold: bool
    disputed: bool
    promise_until: date | None
    closed: bool
    invoices: tuple[InvoiceLine, ...]
    # The debtor's unapplied credit (an overpayment): it pays the debtor's next invoices.
    debtor_credit: Decimal = ledger.ZERO
    error: str | None = None
    error_on: date | None = None


def find_case(session: Session, ref: str) -> Case | None:
    """The case with this ref, else the case holding an invoice with this number (newest first); else the
    same, as typed in another case or with spaces around (« ald-fa-2026-0101 », « fa-2026-0101 »), when
    that names one case only."""
    case = session.scalar(select(Case).where(Case.ref == ref))
    if case is None:
        case = session.scalar(
            select(Case).join(Invoice, Invoice.case_id == Case.id).where(Invoice.number == ref)
            .order_by(Case.id.desc()).limit(1)
        )
    return case if case is not None else _loosely(session, ref.strip().upper())


def _loosely(session: Session, typed: str) -> Case | None:
    """The one case whose ref, or one of whose invoice numbers, reads ``typed`` case aside; None when none
    or several do (a search must not pick one of two cases for the user). Only after the exact lookups
    fail, since it reads every row."""
    if not typed:
        return None
    found = set(session.scalars(select(Case.id).where(func.upper(Case.ref) == typed).limit(2)))
    if not found:
        found = set(session.scalars(select(Invoice.case_id).distinct().where(
            func.upper(Invoice.number) == typed, Invoice.case_id.is_not(None)).limit(2)))
    return session.get(Case, found.pop()) if len(found) == 1 else None


def require_case(session: Session, ref: str) -> Case:
    """``find_case``, or a CaseError that says what a case reference looks like."""
    case = find_case(session, ref)
    if case is None:
        raise CaseError(f"no case {ref!r} (give a case reference or one of its invoice numbers; "
                        f"`relance run` prints case references, and letters sit in output/<debtor>/<case>/)",
                        french=f"aucun dossier « {ref} » (référence du dossier ou numéro de facture)")
    return case


def ref_of(session: Session, case_id: int) -> str:
    """The reference of the case with this id (the web app's URLs name cases by id)."""
    ref = session.scalar(select(Case.ref).where(Case.id == case_id))
    if ref is None:
        raise CaseError(f"no case #{case_id}", french=f"aucun dossier n° {case_id}")
    return ref


def list_cases(session: Session, *, states: Sequence[str] = (), debtor_ref: str | None = None,
               include_closed: bool = False, limit: int = 200, errors_only: bool = False) -> list[CaseSummary]:
    """Cases in id order, open ones only unless ``include_closed``, each with its balance today.

    ``errors_only``: the cases the last run could not move (closed ones too: a payment after closing
    is still advanced, and may fail)."""
    query = select(Case, Debtor).join(Debtor, Debtor.id == Case.debtor_id).order_by(Case.id).limit(limit)
    if errors_only:
        query = query.where(Case.error.is_not(None))
        include_closed = True
    if states:
        query = query.where(Case.state.in_(list(states)))
    if debtor_ref:
        query = query.where(Debtor.ref == debtor_ref)
    if not include_closed:
        query = query.where(Case.closed.is_(False))
    found = []
    for case, debtor in session.execute(query).all():
        totals = ledger.case_totals(session, case.id)
        found.append(CaseSummary(case.ref, debtor.ref, debtor.name, case.state, case.state_entered,
                                 totals.balance, _currency(case), case.next_check_at, case.error, case.error_on))
    return found


def show_case(session: Session, ref: str) -> CaseDetails:
    """The case named ``ref`` (its reference or one of its invoice numbers), with its invoices."""
    return details_of(session, require_case(session, ref))


def timeline_length(session: Session, case_id: int) -> int:
    """How many events the case's timeline holds (any action or step adds at least one): a page that showed
    the case with another number showed it before something happened to it."""
    count = session.scalar(select(Case.event_count).where(Case.id == case_id))
    if count is None:
        raise CaseError(f"no case #{case_id}", french=f"aucun dossier n° {case_id}")
    return count


def case_by_id(session: Session, case_id: int) -> Case:
    """The case with this id (the web app's URLs name cases by id), or a CaseError."""
    case = session.get(Case, case_id)
    if case is None:
        raise CaseError(f"no case #{case_id}", french=f"aucun dossier n° {case_id}")
    return case


def details_of(session: Session, case: Case) -> CaseDetails:
    """What `case show` says about ``case``: its balances from the ledger, its invoices."""
    balances = invoice_statuses(session, case)
    principal = sum((b.invoice.amount for b in balances), ledger.ZERO)
    paid = sum((b.paid for b in balances), ledger.ZERO)
    debtor = case.debtor
    return CaseDetails(
        ref=case.ref, debtor_ref=debtor.ref, debtor_name=debtor.name,
        workflow=f"{case.workflow_name} v{case.workflow_version}", state=case.state, since=case.state_entered,
        principal=principal, paid=paid, balance=principal - paid, currency=_currency(case),
        letters_sent=case.letters_sent, next_check=case.next_check_at, on_hold=case.on_hold,
        disputed=case.disputed, promise_until=case.promise_until, closed=case.closed,
        invoices=tuple(InvoiceLine(b.invoice.number, b.invoice.issue_date, b.invoice.due_date, b.invoice.amount,
                                   b.paid, b.open, b.invoice.currency, b.invoice.noticed_on, b.invoice.notice_ref,
                                   b.invoice.notice_received_on, b.prescription.on) for b in balances),
        debtor_credit=ledger.credit_total(session, [debtor.id], currency=_currency(case))[0],
        error=case.error, error_on=case.error_on,
    )


def _currency(case: Case) -> str:
    return case.currency or "EUR"


__all__ = ["MAX_ID", "CaseDetails", "CaseSummary", "InvoiceLine", "case_by_id", "details_of", "find_case", "list_cases",
           "ref_of", "require_case", "show_case", "timeline_length"]
