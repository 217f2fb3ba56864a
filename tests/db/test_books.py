"""The books a run reads once per batch: the same answers as the ledger's sums, and never stale."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.core.claim import Applied
from engine.store import books, ledger
from engine.store.database import Store, connect, ensure_creditor
from engine.store.events import Note
from engine.store.models import Case, CreditNote, Debtor, Invoice, Payment, PaymentAllocation
from engine.store.timeline import append_event, events_of, forget, preloaded

D = date


@pytest.fixture
def store(database_url: str) -> Store:
    return connect(database_url, upgrade=True)


def _cases_with_money(store: Store, cases: int, seed: int) -> list[int]:
    """``cases`` cases of one debtor each, with a few invoices, payments and credit notes on random days."""
    rng = random.Random(seed)
    ids = []
    with store.session() as s:
        creditor = ensure_creditor(s, "ACME")
        for n in range(cases):
            debtor = Debtor(creditor_id=creditor.id, ref=f"D{n}", kind="b2b", name=f"Client {n}")
            s.add(debtor)
            s.flush()
            case = Case(ref=f"ACME-{n}", creditor_id=creditor.id, debtor_id=debtor.id, workflow_name="w",
                        workflow_version=1, state="due", state_entered=D(2025, 1, 1), due_date=D(2025, 1, 1),
                        opened_on=D(2025, 1, 1))
            s.add(case)
            s.flush()
            ids.append(case.id)
            for i in range(rng.randint(0, 4)):
                invoice = Invoice(creditor_id=creditor.id, debtor_id=debtor.id, number=f"F{n}-{i}",
                                  issue_date=D(2025, 1, 1), due_date=D(2025, 1, 1) + timedelta(days=rng.randint(0, 60)),
                                  amount=Decimal(rng.randint(1, 10**7)).scaleb(-2), case_id=case.id)
                s.add(invoice)
                s.flush()
                for j in range(rng.randint(0, 3)):
                    day = D(2025, 1, 1) + timedelta(days=rng.randint(0, 90))
                    share = Decimal(rng.randint(1, 10**5)).scaleb(-2)
                    if rng.random() < 0.7:
                        source = Payment(creditor_id=creditor.id, debtor_id=debtor.id, payment_date=day, amount=share,
                                         natural_key=f"p{n}-{i}-{j}")
                        s.add(source)
                        s.flush()
                        s.add(PaymentAllocation(invoice_id=invoice.id, payment_id=source.id, amount=share))
                    else:
                        note = CreditNote(creditor_id=creditor.id, debtor_id=debtor.id, number=f"AV{n}-{i}-{j}",
                                          issue_date=day, amount=share)
                        s.add(note)
                        s.flush()
                        s.add(PaymentAllocation(invoice_id=invoice.id, credit_note_id=note.id, amount=share))
    return ids


def test_preloaded_books_answer_as_the_ledger_sums_on_every_day(store: Store) -> None:
    case_ids = _cases_with_money(store, 40, seed=14)
    days = [None, D(2025, 1, 1), D(2025, 1, 20), D(2025, 2, 14), D(2025, 3, 31), D(2025, 12, 31)]
    with store.session() as s:
        alone = {(case_id, day): [(b.invoice.id, b.paid) for b in ledger.invoice_balances(s, case_id, day)]
                 for case_id in case_ids for day in days}
        with books.preloaded(s, case_ids):
            for case_id in case_ids:
                for day in days:
                    balances = ledger.invoice_balances(s, case_id, day)
                    assert [(b.invoice.id, b.paid) for b in balances] == alone[(case_id, day)]
                    totals = ledger.case_totals(s, case_id, day)  # the SQL sum the lists and reports read
                    assert ledger.totals_of(balances) == totals
                    invoice_ids = [b.invoice.id for b in balances]
                    assert books.payment_dates(s, invoice_ids, day) == _payment_dates(s, invoice_ids, day)
                    assert {k: v for k, v in books.dated_amounts(s, invoice_ids, day).items()} == \
                        _dated_amounts(s, invoice_ids, day)


def test_money_applied_inside_a_preloaded_block_is_counted(store: Store) -> None:
    [case_id] = _cases_with_money(store, 1, seed=1)
    with store.session() as s:
        creditor = ensure_creditor(s, "ACME")
        debtor_id = s.scalar(select(Case.debtor_id).where(Case.id == case_id))
        invoice = Invoice(creditor_id=creditor.id, debtor_id=debtor_id, number="NEW", issue_date=D(2025, 1, 1),
                          due_date=D(2025, 1, 2), amount=Decimal("100.00"), case_id=case_id)
        s.add(invoice)
        s.flush()
        with books.preloaded(s, [case_id]):
            before = {b.invoice.number: b.paid for b in ledger.invoice_balances(s, case_id)}
            payment = Payment(creditor_id=creditor.id, debtor_id=debtor_id, payment_date=D(2025, 1, 5),
                              amount=Decimal("40.00"), natural_key="late")
            s.add(payment)
            s.flush()
            [share] = [sh for sh in ledger.allocate(Decimal("40.00"), ledger.open_invoices(s, case_id=case_id)
                                                    [debtor_id], named=invoice.id, currency="EUR")[0]]
            ledger.record_allocations(s, [(payment.id, share)])
            after = {b.invoice.number: b.paid for b in ledger.invoice_balances(s, case_id)}
    assert before["NEW"] == Decimal("0.00") and after["NEW"] == Decimal("40.00")


def test_a_preloaded_timeline_keeps_what_is_appended_and_forgets_a_rolled_back_case(store: Store) -> None:
    case_ids = _cases_with_money(store, 2, seed=2)
    with store.session() as s:
        first, second = (s.get_one(Case, case_id) for case_id in case_ids)
        append_event(s, first, Note("avant"), D(2025, 1, 2))
    with store.session() as s:
        first, second = (s.get_one(Case, case_id) for case_id in case_ids)
        with preloaded(s, case_ids):
            append_event(s, first, Note("pendant"), D(2025, 1, 3))
            assert [e.payload["reason"] for e in events_of(s, first)] == ["avant", "pendant"]
            savepoint = s.begin_nested()
            append_event(s, second, Note("annulé"), D(2025, 1, 3))
            s.flush()
            savepoint.rollback()
            forget(s, second.id)
            assert events_of(s, second) == []  # read again from the database: the note is gone
            assert [e.payload["reason"] for e in events_of(s, first)] == ["avant", "pendant"]
        assert [e.payload["reason"] for e in events_of(s, first)] == ["avant", "pendant"]  # flushed, then queried


def _payment_dates(s, invoice_ids: list[int], day: date | None) -> dict[int, list[date]]:
    query = (select(PaymentAllocation.invoice_id, Payment.payment_date)
             .join(Payment, Payment.id == PaymentAllocation.payment_id)
             .where(PaymentAllocation.invoice_id.in_(invoice_ids)).order_by(Payment.payment_date, PaymentAllocation.id))
    if day is not None:
        query = query.where(Payment.payment_date <= day)
    found: dict[int, list[date]] = {}
    for invoice_id, on in s.execute(query):
        found.setdefault(invoice_id, []).append(on)
    return found


def _dated_amounts(s, invoice_ids: list[int], day: date | None) -> dict[int, list[Applied]]:
    found: dict[int, list[Applied]] = {}
    for invoice_id in invoice_ids:
        rows = []
        for allocation in s.scalars(select(PaymentAllocation).where(PaymentAllocation.invoice_id == invoice_id)):
            amount = Decimal(allocation.amount).quantize(Decimal("0.01"))
            if allocation.payment_id is not None:
                on = s.get_one(Payment, allocation.payment_id).payment_date
                applied = Applied(on, amount, "payment")
            else:
                note = s.get_one(CreditNote, allocation.credit_note_id)
                on = note.issue_date
                applied = Applied(on, amount, "credit_note", note.number)
            if day is None or on <= day:
                rows.append(applied)
        if rows:
            found[invoice_id] = sorted(rows, key=lambda row: row[0])
    return found
