"""Opening cases: every newly overdue invoice gets a case, or joins its debtor's open one.

Overdue invoices are read a batch at a time, in id order, one transaction a batch. The cases a batch
opens are written together: their keys reserved first (a case's first events are hashed with its id),
then the cases, their first events and their invoices' links go in one statement each. Through the ORM
that was an INSERT, then one UPDATE a case for its event count and one UPDATE an invoice for its case:
the slowest part of a run's start on PostgreSQL. An invoice joining a case that was already open goes
through the ORM, as any other change to a stored case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, exists, false, func, select
from sqlalchemy.orm import Session

from engine.cases.batch import RunReport
from engine.core.workflow import Workflow
from engine.store import ledger
from engine.store.events import CaseOpened, DebtorHeld, EventPayload, InvoiceAdded, InvoiceFacts
from engine.store.keys import insert_rows, reserve_keys, set_by_key
from engine.store.models import Case, Creditor, Debtor, Event, Invoice
from engine.store.timeline import append_event, first_events

# The advisory locks that serialize opening cases across runs sharing a PostgreSQL database: one per bucket
# of debtors, (OPEN_CASES_LOCK, bucket) in PostgreSQL's two-key form.
OPEN_CASES_LOCK = 0x72656C61  # "rela"
OPEN_BUCKETS = 16
Unit = Callable[[], AbstractContextManager[Session]]


def open_cases(unit: Unit, workflow: Workflow, as_of: date, report: RunReport, *, batch_size: int = 500,
               debtor_kinds: tuple[str, ...] | None = None, serialize: bool = False) -> None:
    """Give every invoice overdue on ``as_of`` (due_date < as_of, still owed) a case.

    Grouping "debtor": it joins its debtor's open case for this workflow and its currency if there is
    one and no formal notice went out on it yet (``invoice_added`` event), else opens one (saying why
    when a noticed case was there). Grouping "invoice": one case per invoice.
    Invoices are read in id order, a batch per transaction. An overdue invoice already paid in
    full is marked settled, so later runs never read it again.

    ``serialize`` (PostgreSQL): two runs at once would otherwise both see an invoice without a case, or a
    debtor without an open case, and open two. Debtors are split into OPEN_BUCKETS buckets by id, and a
    bucket's batches are opened under a transaction-level advisory lock of its own: runs open different
    buckets side by side, and come back to the buckets they found locked once they are through the others.
    """
    overdue = (
        select(Invoice, ledger.unpaid_cents(as_of))
        # settled == false(), not IS: the partial index ix_invoice_awaiting_case matches this form.
        .where(Invoice.case_id.is_(None), Invoice.settled == false(), Invoice.due_date < as_of)
        .order_by(Invoice.id)
        .limit(batch_size)
    )
    if debtor_kinds is not None:
        overdue = overdue.join(Debtor, Debtor.id == Invoice.debtor_id).where(Debtor.kind.in_(debtor_kinds))
    if not serialize:
        _open_batches(unit, workflow, as_of, report, overdue, batch_size, bucket=None)
        return
    # Every run goes through the buckets in the same order (a run alone opens its cases in the same order each
    # time); runs started together leapfrog, each taking the next bucket nobody holds. A bucket found locked
    # is left for later, then waited for: its holder may be opening another workflow's debtors in it, and this
    # run's own must still be opened today.
    skipped = [bucket for bucket in range(OPEN_BUCKETS)
               if not _open_batches(unit, workflow, as_of, report, _in_bucket(overdue, bucket), batch_size,
                                    bucket=bucket)]
    for bucket in skipped:
        _open_batches(unit, workflow, as_of, report, _in_bucket(overdue, bucket), batch_size, bucket=bucket,
                      wait=True)


@dataclass
class _NewCase:
    """A case this batch opens, in memory until the batch writes them all: its columns, the invoices it
    takes and its first events, in order."""

    columns: dict[str, Any]
    invoice_ids: list[int]
    events: list[tuple[EventPayload, date]] = field(default_factory=list)


def _in_bucket(overdue: Select[Any], bucket: int) -> Select[Any]:
    return overdue.where(Invoice.debtor_id % OPEN_BUCKETS == bucket)


def _open_batches(unit: Unit, workflow: Workflow, as_of: date, report: RunReport, overdue: Select[Any],
                  batch_size: int, *, bucket: int | None, wait: bool = False) -> bool:
    """Open the cases of ``overdue``'s invoices (``batch_size`` at most a query), a batch per transaction,
    until none is left. With a ``bucket``, each batch first takes the bucket's lock; without ``wait``, a lock
    held by another run ends the call, returning False (the bucket was not finished here).

    A batch shorter than ``batch_size`` was the last: asking again, in a transaction of its own, would find
    nothing more than that query did (on PostgreSQL that was one transaction more for each of the 16 buckets,
    for each workflow, on every run)."""
    after = 0
    more = True
    while more:
        with unit() as session:
            if bucket is not None:
                if wait:
                    session.execute(select(func.pg_advisory_xact_lock(OPEN_CASES_LOCK, bucket)))
                elif not session.scalar(select(func.pg_try_advisory_xact_lock(OPEN_CASES_LOCK, bucket))):
                    return False
            rows = session.execute(overdue.where(Invoice.id > after)).all()
            if not rows:
                return True
            after = rows[-1][0].id
            more = len(rows) >= batch_size
            _open_batch(session, workflow, as_of, report, rows)
    return True


def _open_batch(session: Session, workflow: Workflow, as_of: date, report: RunReport, rows: Sequence[Any]) -> None:
    """One batch of overdue invoices (with what is unpaid of each, in cents): settled, joined, or opened."""
    by_debtor = workflow.grouping == "debtor"
    debtor_ids = {invoice.debtor_id for invoice, _unpaid in rows}
    debtors, creditors = _read_parties(session, debtor_ids, {invoice.creditor_id for invoice, _unpaid in rows})
    open_by_debtor, noticed = _open_cases_of(session, workflow, debtor_ids)
    opening: dict[tuple[int, str], _NewCase] = {}
    new_cases: list[_NewCase] = []
    for invoice, unpaid in rows:
        if unpaid <= 0:
            invoice.settled = True
            continue
        key = (invoice.debtor_id, invoice.currency)
        stored = open_by_debtor.get(key) if by_debtor else None
        joining = opening.get(key) if by_debtor else None
        if stored is not None:
            _join_case(session, stored, invoice, as_of)
            report.invoices_added += 1
        elif joining is not None:
            joining.invoice_ids.append(invoice.id)
            joining.columns["due_date"] = min(joining.columns["due_date"], invoice.due_date)
            joining.events.append((InvoiceAdded(_invoice_facts(invoice)), as_of))
            report.invoices_added += 1
        else:
            reason = _after_notice(noticed[key]) if key in noticed and by_debtor else None
            new = _new_case(workflow, invoice, debtors[invoice.debtor_id], creditors[invoice.creditor_id].ref,
                            as_of, reason)
            opening[key] = new
            new_cases.append(new)
            report.cases_opened += 1
    _write_new_cases(session, new_cases)
    # Money applied while the invoice had no case (an advance, a credit note) goes into its case's timeline,
    # whatever its date: a statement imported before a catch-up run for an earlier day holds money dated
    # after it, which ``unpaid`` (as of that day) does not show and which no later step would tell.
    ledger.tell_new_cases(session, [invoice.id for invoice, unpaid in rows if unpaid > 0])


def _write_new_cases(session: Session, new_cases: list[_NewCase]) -> None:
    """The batch's new cases, their first events and their invoices' links: one statement each."""
    case_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    links: dict[int, int] = {}
    for case_id, new in zip(reserve_keys(session, Case, len(new_cases)), new_cases, strict=True):
        events = first_events(case_id, new.events)
        case_rows.append({**new.columns, "id": case_id, "event_count": len(events), "last_hash": events[-1]["hash"]})
        event_rows += events
        links.update(dict.fromkeys(new.invoice_ids, case_id))
    insert_rows(session, Case, case_rows)
    insert_rows(session, Event, event_rows)
    set_by_key(session, Invoice.case_id, links)


def _new_case(workflow: Workflow, invoice: Invoice, debtor: Debtor, creditor_ref: str, as_of: date,
              reason: str | None) -> _NewCase:
    """A case for ``invoice``: its columns, and its first events (saying why when a notice kept it apart)."""
    columns = {
        "ref": f"{creditor_ref}-{invoice.number}",
        "creditor_id": invoice.creditor_id,
        "debtor_id": invoice.debtor_id,
        "workflow_name": workflow.name,
        "workflow_version": workflow.version,
        "currency": invoice.currency,
        "state": workflow.initial,
        # The case has been in its first state since the invoice fell due, not since the run.
        "state_entered": invoice.due_date,
        "due_date": invoice.due_date,
        "on_hold": False,
        "disputed": False,
        "letters_sent": 0,
        "steps_taken": [],
        "paid_seen": Decimal("0"),
        "step_count": 0,
        "closed": False,
        "opened_on": as_of,
        "next_check_at": as_of,
    }
    new = _NewCase(columns, [invoice.id])
    new.events.append((CaseOpened(workflow.name, workflow.version, debtor.ref, workflow.initial,
                                  (_invoice_facts(invoice),), invoice.currency, reason), as_of))
    if debtor.do_not_chase:  # engine.cases.debtors: every case of a held debtor says so in its timeline
        new.events.append((DebtorHeld("client suspendu à l'ouverture du dossier"), as_of))
    return new


def _open_cases_of(session: Session, workflow: Workflow, debtor_ids: set[int]
                   ) -> tuple[dict[tuple[int, str], Case], dict[tuple[int, str], Case]]:
    """Per (debtor, currency), the open case a newly overdue invoice joins, and the open cases it may not
    join because a formal notice already went out on them (see workflows/README.md, "Invoices").

    A case never mixes currencies, and an invoice never joins a case after its formal notice: that
    notice did not cover it, so it gets its own reminders and notice in a case of its own. One query
    per batch, not per invoice (each query would also autoflush).
    """
    joinable: dict[tuple[int, str], Case] = {}
    noticed: dict[tuple[int, str], Case] = {}
    if workflow.grouping != "debtor":
        return joinable, noticed
    notice_sent = exists().where(Invoice.case_id == Case.id, Invoice.noticed_on.is_not(None))
    # Under each case's row lock (PostgreSQL; SQLite has one writer): a case an invoice joins gets a line in its
    # timeline, and a person's action or another run's batch holding it may be adding that same line. Read
    # unlocked, the opening failed on the timeline's unique key; locked, it waits, then reads what they wrote.
    for case, after_notice in session.execute(
        select(Case, notice_sent).where(Case.debtor_id.in_(debtor_ids), Case.workflow_name == workflow.name,
                                        Case.closed.is_(False))
        .order_by(Case.id.desc()).with_for_update(of=Case).execution_options(populate_existing=True)
    ):
        # The oldest open case wins (rows come newest first).
        (noticed if after_notice else joinable)[(case.debtor_id, case.currency)] = case
    return joinable, noticed


def _after_notice(case: Case) -> str:
    return (f"facture échue après la mise en demeure du dossier {case.ref}, qu'elle n'a pas couverte : "
            "ses propres relances et sa propre mise en demeure")


def _read_parties(session: Session, debtor_ids: set[int], creditor_ids: set[int]
                  ) -> tuple[dict[int, Debtor], dict[int, Creditor]]:
    """The batch's debtors and creditors by id, in two queries (a get per case cost a query: the identity
    map keeps only the objects something else holds)."""
    debtors = session.scalars(select(Debtor).where(Debtor.id.in_(debtor_ids)))
    creditors = session.scalars(select(Creditor).where(Creditor.id.in_(creditor_ids)))
    return {debtor.id: debtor for debtor in debtors}, {creditor.id: creditor for creditor in creditors}


def _join_case(session: Session, case: Case, invoice: Invoice, as_of: date) -> None:
    """``invoice`` joins a case that was already open before this batch."""
    invoice.case_id = case.id
    case.due_date = min(case.due_date, invoice.due_date)
    case.next_check_at = as_of if case.next_check_at is None else min(case.next_check_at, as_of)
    append_event(session, case, InvoiceAdded(_invoice_facts(invoice)), as_of)


def _invoice_facts(invoice: Invoice) -> InvoiceFacts:
    return InvoiceFacts(invoice.number, invoice.amount, invoice.issue_date, invoice.due_date, invoice.currency)


__all__ = ["OPEN_BUCKETS", "OPEN_CASES_LOCK", "open_cases"]
