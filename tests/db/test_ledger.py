"""The ledger: exact sums on both backends, money counted from its own date, one allocation order."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from engine.core.claim import Applied, InvoiceDebt, claim
from engine.core.rates import load_rates
from engine.letters.statement import statement_context
from engine.store import ledger
from engine.store.database import Store, connect, ensure_creditor
from engine.store.models import Case, CreditNote, Debtor, Invoice, Payment, PaymentAllocation

D = date


@pytest.fixture
def store(database_url: str) -> Store:
    return connect(database_url, upgrade=True)


def _debtor_and_case(store: Store) -> tuple[int, int, int]:
    with store.session() as s:
        creditor = ensure_creditor(s, "ACME")
        debtor = Debtor(creditor_id=creditor.id, ref="D1", kind="b2b", name="Martin SARL")
        s.add(debtor)
        s.flush()
        case = Case(ref="ACME-1", creditor_id=creditor.id, debtor_id=debtor.id, workflow_name="w", workflow_version=1,
                    state="due", state_entered=D(2025, 1, 1), due_date=D(2025, 1, 1), opened_on=D(2025, 1, 1))
        s.add(case)
        s.flush()
        return creditor.id, debtor.id, case.id


def _invoice(s, creditor_id: int, debtor_id: int, number: str, amount: str, due: date, *, issued: date | None = None,
             case_id: int | None = None) -> Invoice:
    invoice = Invoice(creditor_id=creditor_id, debtor_id=debtor_id, number=number, issue_date=issued or D(2025, 1, 1),
                      due_date=due, amount=Decimal(amount), case_id=case_id)
    s.add(invoice)
    s.flush()
    return invoice


def _payment(s, creditor_id: int, debtor_id: int, amount: str, on: date, key: str) -> Payment:
    payment = Payment(creditor_id=creditor_id, debtor_id=debtor_id, payment_date=on, amount=Decimal(amount),
                      natural_key=key)
    s.add(payment)
    s.flush()
    return payment


def test_a_hundred_thousand_amounts_sum_to_the_cent(store: Store) -> None:
    """SQLite keeps NUMERIC as floats; the ledger's sums must still equal Python's Decimal sum exactly.

    Amounts up to ten billion (the column holds 14 digits): on this data set SQLite's own SUM() of the
    float values is 6.42 off, so a ledger that summed the column directly would fail here."""
    creditor_id, debtor_id, case_id = _debtor_and_case(store)
    rng = random.Random(20261123)
    amounts = [Decimal(rng.randint(1, 999_999_999_999)).scaleb(-2) for _ in range(100_000)]
    shares = [Decimal(rng.randint(0, int(a * 100))).scaleb(-2) for a in amounts]
    with store.session() as s:
        ids = s.scalars(insert(Invoice).returning(Invoice.id, sort_by_parameter_order=True), [
            {"creditor_id": creditor_id, "debtor_id": debtor_id, "number": f"F{i:06d}", "issue_date": D(2025, 1, 1),
             "due_date": D(2025, 1, 15), "amount": amount, "case_id": case_id}
            for i, amount in enumerate(amounts)
        ]).all()
        # A thousand payments of a hundred shares each (one payment's amount fits its column).
        payments = s.scalars(insert(Payment).returning(Payment.id, sort_by_parameter_order=True), [
            {"creditor_id": creditor_id, "debtor_id": debtor_id, "payment_date": D(2025, 2, 1),
             "amount": sum(shares[i:i + 100]), "natural_key": f"bulk-{i}"}
            for i in range(0, len(shares), 100)
        ]).all()
        s.execute(insert(PaymentAllocation), [
            {"invoice_id": id_, "payment_id": payments[i // 100], "amount": share}
            for i, (id_, share) in enumerate(zip(ids, shares, strict=True))
        ])
    with store.session() as s:
        totals = ledger.case_totals(s, case_id)
    assert totals.invoices == 100_000
    assert totals.principal == sum(amounts)
    assert totals.paid == sum(shares)
    assert totals.balance == sum(amounts) - sum(shares)


def test_money_counts_from_its_own_date(store: Store) -> None:
    creditor_id, debtor_id, case_id = _debtor_and_case(store)
    with store.session() as s:
        invoice = _invoice(s, creditor_id, debtor_id, "F1", "1000.00", D(2025, 1, 31), case_id=case_id)
        early = _payment(s, creditor_id, debtor_id, "300.00", D(2025, 2, 10), "early")
        late = _payment(s, creditor_id, debtor_id, "200.00", D(2025, 3, 10), "late")
        note = CreditNote(creditor_id=creditor_id, debtor_id=debtor_id, number="AV1", issue_date=D(2025, 2, 20),
                          amount=Decimal("100.00"))
        s.add(note)
        s.flush()
        for source in ({"payment_id": early.id, "amount": Decimal("300.00")},
                       {"payment_id": late.id, "amount": Decimal("200.00")},
                       {"credit_note_id": note.id, "amount": Decimal("100.00")}):
            s.add(PaymentAllocation(invoice_id=invoice.id, **source))
    with store.session() as s:
        assert ledger.case_totals(s, case_id, D(2025, 2, 9)).paid == Decimal("0.00")
        assert ledger.case_totals(s, case_id, D(2025, 2, 20)).paid == Decimal("400.00")
        assert ledger.case_totals(s, case_id).paid == Decimal("600.00")
        [balance] = ledger.invoice_balances(s, case_id, D(2025, 2, 28))
        assert (balance.paid, balance.open) == (Decimal("400.00"), Decimal("600.00"))
        dated = ledger.dated_amounts(s, [balance.invoice.id], D(2025, 2, 28))[balance.invoice.id]
        # Each amount with what applied it: the statement names a credit note for what it is.
        assert dated == [Applied(D(2025, 2, 10), Decimal("300.00"), "payment"),
                         Applied(D(2025, 2, 20), Decimal("100.00"), "credit_note", "AV1")]
        # The run's search for open invoices reads the same figure, as of the same day.
        unpaid = s.scalar(select(ledger.unpaid_cents(D(2025, 2, 28))).where(Invoice.id == balance.invoice.id))
        assert unpaid == 60000
        # Allocation looks at everything recorded, whatever its date: 400 left to pay, not 600.
        owed = ledger.open_invoices(s, debtor_ids=[debtor_id])[debtor_id]
        assert [(i.number, i.remaining) for i in owed] == [("F1", Decimal("400.00"))]


def test_one_allocation_order_oldest_due_then_issued_then_first_recorded(store: Store) -> None:
    creditor_id, debtor_id, _case_id = _debtor_and_case(store)
    with store.session() as s:
        _invoice(s, creditor_id, debtor_id, "LATE", "100.00", D(2025, 3, 1))
        _invoice(s, creditor_id, debtor_id, "B", "100.00", D(2025, 2, 1), issued=D(2025, 1, 10))
        _invoice(s, creditor_id, debtor_id, "A", "100.00", D(2025, 2, 1), issued=D(2025, 1, 5))
        _invoice(s, creditor_id, debtor_id, "A2", "100.00", D(2025, 2, 1), issued=D(2025, 1, 5))
    with store.session() as s:
        owed = ledger.open_invoices(s, debtor_ids=[debtor_id])[debtor_id]
        assert [i.number for i in owed] == ["A", "A2", "B", "LATE"]
        shares, left = ledger.allocate(Decimal("250.00"), owed, currency="EUR")
        assert [(sh.invoice.number, sh.amount) for sh in shares] == [("A", Decimal("100.00")),
                                                                     ("A2", Decimal("100.00")),
                                                                     ("B", Decimal("50.00"))]
        assert left == Decimal("0.00")
        named = next(i.id for i in owed if i.number == "LATE")
        shares, left = ledger.allocate(Decimal("180.00"), owed, named, currency="EUR")
        # The named invoice first, then the rest in order; what the first allocation took is gone.
        assert [(sh.invoice.number, sh.amount) for sh in shares] == [("LATE", Decimal("100.00")),
                                                                     ("B", Decimal("50.00"))]
        assert left == Decimal("30.00")


def test_credit_is_spent_only_on_invoices_in_its_currency(store: Store) -> None:
    """An overpayment in USD waits for USD debt: the debtor's EUR invoice is not paid with it at 1:1."""
    creditor_id, debtor_id, _case_id = _debtor_and_case(store)
    with store.session() as s:
        payment = _payment(s, creditor_id, debtor_id, "500.00", D(2025, 2, 1), "usd")
        payment.currency = "USD"
        _invoice(s, creditor_id, debtor_id, "F-EUR", "300.00", D(2025, 1, 15))
        usd = _invoice(s, creditor_id, debtor_id, "F-USD", "200.00", D(2025, 1, 31))
        usd.currency = "USD"
        s.flush()
        applied = ledger.apply_credit(s, [debtor_id])
        assert [(a.share.invoice.number, a.share.amount) for a in applied] == [("F-USD", Decimal("200.00"))]
        assert ledger.credit_total(s, [debtor_id], currency="USD") == (Decimal("300.00"), 1)
        assert ledger.credit_total(s, [debtor_id], currency="EUR") == (Decimal("0.00"), 0)
        owed = ledger.open_invoices(s, debtor_ids=[debtor_id])[debtor_id]
        assert [(i.number, i.remaining, i.currency) for i in owed] == [("F-EUR", Decimal("300.00"), "EUR")]
        assert ledger.allocate(Decimal("10.00"), owed, currency="GBP") == ([], Decimal("10.00"))


def test_a_payment_received_before_an_invoice_was_issued_is_never_printed_as_its_settlement(store: Store) -> None:
    """A 20 January overpayment of F-1, spent on F-2 issued 1 February: the formal notice's statement printed
    « Règlement du 20/01/2025 » under F-2 and « réglée le 20/01/2025 », a payment of an invoice that did not exist."""
    creditor_id, debtor_id, case_id = _debtor_and_case(store)
    with store.session() as s:
        _invoice(s, creditor_id, debtor_id, "F-1", "100.00", D(2025, 1, 31), issued=D(2025, 1, 1), case_id=case_id)
        payment = _payment(s, creditor_id, debtor_id, "250.00", D(2025, 1, 20), "p1")
        ledger.record_allocations(s, [(payment.id, ledger.allocate(
            Decimal("250.00"), ledger.open_invoices(s, debtor_ids=[debtor_id])[debtor_id], currency="EUR")[0][0])])
        later = _invoice(s, creditor_id, debtor_id, "F-2", "400.00", D(2025, 3, 3), issued=D(2025, 2, 1),
                         case_id=case_id)
        ledger.apply_credit(s, [debtor_id])
        [applied] = ledger.dated_amounts(s, [later.id], D(2025, 4, 1))[later.id]
        assert applied == Applied(D(2025, 2, 1), Decimal("150.00"), "payment", received=D(2025, 1, 20))
        lines = claim([InvoiceDebt("F-2", Decimal("400.00"), D(2025, 3, 3), (applied,))], debtor_kind="b2b",
                      as_of=D(2025, 4, 1), rates=load_rates()).lines
        rows = statement_context(lines, "b2b", "EUR", "fr_FR", str)["statement_rows"]
        labels = [row["label"] for row in rows if row["kind"] == "payment"]
        assert labels == ["Règlement du 20/01/2025, antérieur à la facture, imputé sur celle-ci"]
        entry = statement_context(lines, "b2b", "EUR", "fr_FR", str)["statement"][0]
        assert entry["payments"][0]["date"] == "20/01/2025"  # the day the debtor paid, never the issue date
        # The first invoice, which that payment was made for, says what it always said.
        first = s.scalar(select(Invoice).where(Invoice.number == "F-1"))
        assert ledger.dated_amounts(s, [first.id])[first.id] == [Applied(D(2025, 1, 20), Decimal("100.00"), "payment")]


def test_an_invoice_in_another_currency_than_its_case_is_never_added_to_the_case(store: Store) -> None:
    """A case opened before the import refused mixed currencies holds a 5 000 USD invoice beside a 1 000 EUR one:
    its balance, list row, letters and timeline said « 6 000,00 € ». The case's money is in its currency only."""
    creditor_id, debtor_id, case_id = _debtor_and_case(store)
    with store.session() as s:
        _invoice(s, creditor_id, debtor_id, "E1", "1000.00", D(2025, 1, 2), case_id=case_id)
        usd = _invoice(s, creditor_id, debtor_id, "U1", "5000.00", D(2025, 1, 3), case_id=case_id)
        usd.currency = "USD"
        payment = _payment(s, creditor_id, debtor_id, "300.00", D(2025, 1, 20), "usd-p")
        payment.currency = "USD"
        s.flush()
        ledger.record_allocations(s, [(payment.id, share) for share in ledger.allocate(
            Decimal("300.00"), ledger.open_invoices(s, debtor_ids=[debtor_id])[debtor_id], currency="USD")[0]])
        assert ledger.case_totals(s, case_id) == ledger.Totals(Decimal("1000.00"), Decimal("0.00"), 1)
        assert [(b.invoice.number, b.open) for b in ledger.invoice_balances(s, case_id)] == [("E1", Decimal("1000.00"))]
        principal, paid = ledger.case_money_columns(Case.id)
        assert s.execute(select(principal, paid).where(Case.id == case_id)).one() == (100000, 0)


@pytest.mark.parametrize("as_of", [None, D(2025, 3, 1)])
def test_a_list_of_cases_reads_each_cases_own_paid_money(store: Store, as_of: date | None) -> None:
    """The paid column of a list of cases summed every case's allocations into each row: a case paid nothing
    read as paid in full, and left the approvals queue (the demo's consumer cases never reached their notice)."""
    creditor_id, debtor_id, case_id = _debtor_and_case(store)
    with store.session() as s:
        other = Case(ref="ACME-2", creditor_id=creditor_id, debtor_id=debtor_id, workflow_name="w",
                     workflow_version=1, state="due", state_entered=D(2025, 1, 1), due_date=D(2025, 1, 1),
                     opened_on=D(2025, 1, 1))
        s.add(other)
        s.flush()
        paid = _invoice(s, creditor_id, debtor_id, "F1", "1000.00", D(2025, 1, 2), case_id=case_id)
        _invoice(s, creditor_id, debtor_id, "F2", "400.00", D(2025, 1, 3), case_id=other.id)
        payment = _payment(s, creditor_id, debtor_id, "700.00", D(2025, 1, 20), "p1")
        ledger.record_allocations(s, [(payment.id, ledger.Share(ledger.open_invoices(s, debtor_ids=[debtor_id])
                                                                 [debtor_id][0], Decimal("700.00")))])
        assert paid.id == ledger.open_invoices(s, debtor_ids=[debtor_id])[debtor_id][0].id
        principal, paid_cents = ledger.case_money_columns(Case.id, as_of)
        rows = s.execute(select(Case.ref, principal, paid_cents).order_by(Case.id)).all()
    assert [tuple(row) for row in rows] == [("ACME-1", 100000, 70000), ("ACME-2", 40000, 0)]
