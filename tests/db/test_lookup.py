"""Finding, listing and showing cases (engine.cases.lookup), both backends.

After the runs of 20 and 21 February 2025 on the fixtures: ACME-F-001 (D1, F-001 1 200.00 + F-002
300.50) sits in reminder1 with 900.50 applied (credit note 100.00, payments 500.00 and 300.50);
ACME-F-003 (D2, 89.90) was paid in full and is closed.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from engine.cases.lookup import find_case, list_cases, require_case, show_case
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.errors import CaseError
from engine.imports.importer import import_csv
from engine.store import ledger
from engine.store.database import connect
from engine.store.models import Case
from tests.support import CSV, SHIPPED_WORKFLOWS

D = Decimal


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    workflow = load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    run(store, workflow, date(2025, 2, 20))
    for name in ("payments.csv", "credit_notes.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    run(store, workflow, date(2025, 2, 21))
    yield store
    store.dispose()


def test_a_case_is_found_by_its_reference_or_by_any_of_its_invoice_numbers_else_a_case_error(store) -> None:
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        assert isinstance(case, Case) and case.ref == "ACME-F-001"
        assert find_case(s, "F-001") is case and find_case(s, "F-002") is case
        assert find_case(s, "F-003").ref == "ACME-F-003"
        assert find_case(s, "F-999") is None
        assert require_case(s, "F-002") is case
        with pytest.raises(CaseError, match=r"no case 'F-999' \(give a case reference or one of its invoice numbers"):
            require_case(s, "F-999")


def test_a_case_is_found_as_typed_in_lower_case_or_with_spaces_when_that_names_one_case(store, tmp_path) -> None:
    with store.session() as s:
        assert find_case(s, " acme-f-001 ").ref == "ACME-F-001"  # type: ignore[union-attr]
        assert find_case(s, "f-002").ref == "ACME-F-001"  # type: ignore[union-attr]
        assert find_case(s, "f-00") is None
    # Two invoices "X-1" and "x-1" in two cases: "X-1" is exact, "x-1" too; "X-1 " names two cases, so none.
    invoices = tmp_path / "invoices.csv"
    invoices.write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                        "X-1;D1;2025-01-02;2025-02-01;10.00;EUR\nx-1;D2;2025-01-02;2025-02-01;10.00;EUR\n",
                        encoding="utf-8")
    import_csv(store, invoices, creditor_ref="ACME")
    run(store, load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"), date(2025, 2, 22))
    with store.session() as s:
        exact, lower = find_case(s, "X-1"), find_case(s, "x-1")
        assert exact is not None and lower is not None and exact.id != lower.id
        assert find_case(s, " X-1 ") is None


def test_list_shows_open_cases_with_their_balance(store) -> None:
    with store.session() as s:
        [summary] = list_cases(s)
    assert (summary.ref, summary.debtor_ref, summary.debtor_name, summary.state, summary.since) == (
        "ACME-F-001", "D1", "Boulangerie Martin SARL", "reminder1", date(2025, 2, 20))
    assert (summary.balance, summary.currency, summary.next_check) == (D("600.00"), "EUR", date(2025, 3, 2))


def test_list_filters_by_state_debtor_and_closed(store) -> None:
    def refs(**filters: object) -> list[str]:
        with store.session() as s:
            return [c.ref for c in list_cases(s, **filters)]  # type: ignore[arg-type]

    assert refs(include_closed=True) == ["ACME-F-001", "ACME-F-003"]  # id order
    assert refs(states=["paid"]) == []  # closed cases stay out unless asked for
    assert refs(states=["paid"], include_closed=True) == ["ACME-F-003"]
    assert refs(states=["reminder1", "paid"], include_closed=True) == ["ACME-F-001", "ACME-F-003"]
    assert refs(debtor_ref="D1") == ["ACME-F-001"]
    assert refs(debtor_ref="D2") == [] and refs(debtor_ref="D2", include_closed=True) == ["ACME-F-003"]
    assert refs(debtor_ref="D9", include_closed=True) == []
    assert refs(include_closed=True, limit=1) == ["ACME-F-001"]
    with store.session() as s:
        closed = list_cases(s, debtor_ref="D2", include_closed=True)[0]
    assert (closed.state, closed.balance, closed.next_check) == ("paid", D("0.00"), None)


def test_show_gives_the_ledgers_figures_per_invoice_and_in_total(store) -> None:
    with store.session() as s:
        details = show_case(s, "F-002")
        with pytest.raises(CaseError, match="no case 'ACME-F-999'"):
            show_case(s, "ACME-F-999")
        case = find_case(s, "ACME-F-001")
        totals = ledger.case_totals(s, case.id)
        balances = ledger.invoice_balances(s, case.id)
    assert (details.principal, details.paid, details.balance) == (totals.principal, totals.paid, totals.balance)
    assert (details.principal, details.paid, details.balance) == (D("1500.50"), D("900.50"), D("600.00"))
    assert [(i.number, i.amount, i.paid, i.open, i.currency) for i in details.invoices] == [
        ("F-001", D("1200.00"), D("600.00"), D("600.00"), "EUR"), ("F-002", D("300.50"), D("300.50"), D("0.00"), "EUR")]
    assert [(i.number, i.paid, i.open) for i in details.invoices] == [
        (b.invoice.number, b.paid, b.open) for b in balances]
    assert (details.ref, details.debtor_ref, details.workflow, details.state, details.closed) == (
        "ACME-F-001", "D1", "fr-b2b-standard v3", "reminder1", False)
    assert (details.letters_sent, details.on_hold, details.disputed, details.promise_until) == (1, False, False, None)
