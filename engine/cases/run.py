"""One run: open cases for newly overdue invoices, then advance the due cases batch by batch.

Opening reads the overdue invoices a batch at a time and gives each a case (or joins its debtor's).
Advancing is engine.cases.batch: due cases are claimed in batches, each advanced and committed in one
transaction, a case's new state, events, documents and letters kept together or not at all. The step
key on the event (see engine.store.models) turns a second run, or a second worker, into a no-op. A
dry run does the same work inside one outer transaction that is rolled back, and never calls ``perform``.

A failure while advancing one case (a guard, a template, a missing rate, the disk) stays with that
case: it rolls back alone, its letters of that attempt are removed, the reason goes in the report and
on the case (engine.cases.failures), and the batch goes on with the next case. Only a database that
stops answering ends the run; an interrupted batch keeps none of its letters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, exists, false, func, select
from sqlalchemy.orm import Session

from engine.cases.batch import Batch, PlannedStep, RunReport, advance_batch
from engine.cases.desk import Perform
from engine.core.machine import Escalator
from engine.core.workflow import Workflow
from engine.store import ledger
from engine.store.database import Store
from engine.store.events import CaseOpened, DebtorHeld, InvoiceAdded, InvoiceFacts
from engine.store.models import Case, Creditor, Debtor, Invoice
from engine.store.timeline import append_event

# The advisory locks that serialize opening cases across runs sharing a PostgreSQL database: one per bucket
# of debtors, (OPEN_CASES_LOCK, bucket) in PostgreSQL's two-key form.
OPEN_CASES_LOCK = 0x72656C61  # "rela"
OPEN_BUCKETS = 16
Unit = Callable[[], AbstractContextManager[Session]]


def run(
    store: Store,
    workflow: Workflow,
    as_of: date,
    *,
    perform: Perform | None = None,
    dry_run: bool = False,
    batch_size: int = 500,
    progress: Callable[[RunReport], None] | None = None,
    debtor_kinds: tuple[str, ...] | None = None,
    stop: Callable[[], bool] | None = None,
    open_new: bool = True,
    advance: bool = True,
) -> RunReport:
    """Run ``workflow`` on ``as_of``: open overdue cases, then advance every case due that day.

    ``debtor_kinds`` limits the cases opened to debtors of those kinds ("b2b", "b2c"), so a
    workspace can run one policy for businesses and another for consumers. ``stop`` is asked
    between cases (a worker told to stop ends after the case in hand, never inside one).
    Only cases on this workflow's version are advanced; ``open_new=False`` runs an older version
    for the cases still on it, without opening new cases on it; ``advance=False`` only opens cases
    (a parallel run's parent, while its workers start: engine.workers).

    Any number of runs may share a PostgreSQL database at once: opening cases is serialized by
    an advisory lock, and each case is claimed with ``FOR UPDATE SKIP LOCKED`` in the very
    transaction that advances it, so concurrent runs split the due cases between them.
    """
    escalator = Escalator(workflow)
    report = RunReport(as_of=as_of, dry_run=dry_run)
    stop = stop or _never
    shared = store.is_postgresql
    with _units(store, dry_run) as unit:
        if open_new:
            began = time.perf_counter()
            open_cases(unit, workflow, as_of, report, batch_size=batch_size, debtor_kinds=debtor_kinds,
                       serialize=shared and not dry_run)
            report.phases["open cases"] += time.perf_counter() - began
        if not advance:
            return report
        batch = Batch(escalator, as_of, None if dry_run else perform, report, record=not dry_run, lock=shared,
                      stop=stop)
        after: int | None = 0
        while after is not None and not stop():
            after = advance_batch(unit, batch, after=after, size=batch_size, workflow=workflow)
            if progress is not None:
                progress(report)
    return report


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
        _open_batches(unit, workflow, as_of, report, overdue, bucket=None)
        return
    # Every run goes through the buckets in the same order (a run alone opens its cases in the same order each
    # time); runs started together leapfrog, each taking the next bucket nobody holds. A bucket found locked
    # is left for later, then waited for: its holder may be opening another workflow's debtors in it, and this
    # run's own must still be opened today.
    skipped = [bucket for bucket in range(OPEN_BUCKETS)
               if not _open_batches(unit, workflow, as_of, report, _in_bucket(overdue, bucket), bucket=bucket)]
    for bucket in skipped:
        _open_batches(unit, workflow, as_of, report, _in_bucket(overdue, bucket), bucket=bucket, wait=True)


def _in_bucket(overdue: Select[Any], bucket: int) -> Select[Any]:
    return overdue.where(Invoice.debtor_id % OPEN_BUCKETS == bucket)


def _open_batches(unit: Unit, workflow: Workflow, as_of: date, report: RunReport, overdue: Select[Any], *,
                  bucket: int | None, wait: bool = False) -> bool:
    """Open the cases of ``overdue``'s invoices, a batch per transaction, until none is left. With a
    ``bucket``, each batch first takes the bucket's lock; without ``wait``, a lock held by another run ends
    the call, returning False (the bucket was not finished here)."""
    after = 0
    while True:
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
            debtor_ids = {invoice.debtor_id for invoice, _unpaid in rows}
            debtors, creditors = _read_parties(session, debtor_ids, {invoice.creditor_id for invoice, _unpaid in rows})
            open_by_debtor, noticed = _open_cases_of(session, workflow, debtor_ids)
            opened: list[tuple[Case, Invoice, str | None]] = []
            joining: list[tuple[Case, Invoice]] = []
            for invoice, unpaid in rows:
                if unpaid <= 0:
                    invoice.settled = True
                    continue
                key = (invoice.debtor_id, invoice.currency)
                joined = open_by_debtor.get(key) if workflow.grouping == "debtor" else None
                if joined is None:
                    reason = _after_notice(noticed[key]) if key in noticed and workflow.grouping == "debtor" else None
                    open_by_debtor[key] = _new_case(session, workflow, invoice, as_of,
                                                    creditors[invoice.creditor_id].ref)
                    opened.append((open_by_debtor[key], invoice, reason))
                    report.cases_opened += 1
                else:
                    joining.append((joined, invoice))
                    report.invoices_added += 1
            session.flush()  # the new cases' ids, for their invoices and first events: one flush a batch
            for case, invoice, reason in opened:
                _opened(session, workflow, case, invoice, debtors[invoice.debtor_id], as_of, reason)
            for case, invoice in joining:
                _join_case(session, case, invoice, as_of)


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
    for case, after_notice in session.execute(
        select(Case, notice_sent).where(Case.debtor_id.in_(debtor_ids), Case.workflow_name == workflow.name,
                                        Case.closed.is_(False))
        .order_by(Case.id.desc())
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


def _new_case(session: Session, workflow: Workflow, invoice: Invoice, as_of: date, creditor_ref: str) -> Case:
    """A case for ``invoice``, added (its id and first events come after the batch's flush: ``_opened``)."""
    case = Case(
        ref=f"{creditor_ref}-{invoice.number}",
        creditor_id=invoice.creditor_id,
        debtor_id=invoice.debtor_id,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        currency=invoice.currency,
        state=workflow.initial,
        # The case has been in its first state since the invoice fell due, not since the run.
        state_entered=invoice.due_date,
        due_date=invoice.due_date,
        on_hold=False,
        disputed=False,
        letters_sent=0,
        steps_taken=[],
        paid_seen=Decimal("0"),
        step_count=0,
        event_count=0,
        closed=False,
        opened_on=as_of,
        next_check_at=as_of,
    )
    session.add(case)
    return case


def _opened(session: Session, workflow: Workflow, case: Case, invoice: Invoice, debtor: Debtor, as_of: date,
            reason: str | None) -> None:
    """The new case takes its invoice, and its timeline starts (saying why when a notice kept it apart)."""
    invoice.case_id = case.id
    append_event(session, case, CaseOpened(workflow.name, workflow.version, debtor.ref, workflow.initial,
                                           (_invoice_facts(invoice),), invoice.currency, reason), as_of)
    if debtor.do_not_chase:  # engine.cases.debtors: every case of a held debtor says so in its timeline
        append_event(session, case, DebtorHeld("client suspendu à l'ouverture du dossier"), as_of)


def _join_case(session: Session, case: Case, invoice: Invoice, as_of: date) -> None:
    invoice.case_id = case.id
    case.due_date = min(case.due_date, invoice.due_date)
    case.next_check_at = as_of if case.next_check_at is None else min(case.next_check_at, as_of)
    append_event(session, case, InvoiceAdded(_invoice_facts(invoice)), as_of)


def _invoice_facts(invoice: Invoice) -> InvoiceFacts:
    return InvoiceFacts(invoice.number, invoice.amount, invoice.issue_date, invoice.due_date, invoice.currency)


def _never() -> bool:
    return False


@contextmanager
def _units(store: Store, dry_run: bool) -> Iterator[Unit]:
    if not dry_run:
        yield store.session
        return
    with store.rehearsal() as unit:
        yield unit


__all__ = [
    "PlannedStep", "RunReport", "open_cases", "run",
]
