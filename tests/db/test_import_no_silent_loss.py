"""Careless and hostile CSV files lose nothing without a word (issue 12), on SQLite and PostgreSQL.

A broken quote, a misspelt column, a control character, an overpayment, a credit note larger than its
invoice, a payment dated before its invoices: each is a located error, or money kept where the
ledger can show and use it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cases.lookup import show_case
from engine.cases.run import run
from engine.cases.steps import record_payment
from engine.core.workflow import load_workflow
from engine.imports.importer import ImportFailed, ImportProblem, import_csv
from engine.reports.funnel import funnel
from engine.store import ledger
from engine.store.database import connect
from engine.store.models import Case, Debtor, Event, Invoice, Payment
from tests.support import SHIPPED_WORKFLOWS

DEBTORS = "debtor_ref;kind;name\nD1;b2b;Acme SARL\nD2;b2b;Beta SA\n"
INVOICES = "invoice_number;debtor_ref;issue_date;due_date;amount\n"


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    yield store
    store.dispose()


def _csv(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _import(store, path: Path, **options) -> object:
    return import_csv(store, path, creditor_ref="ACME", **options)


def _refused(store, path: Path, **options) -> list[ImportProblem]:
    with pytest.raises(ImportFailed) as refused:
        _import(store, path, **options)
    return refused.value.problems


def _count(store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def _debtor_id(store, ref: str) -> int:
    with store.session() as session:
        return session.scalar(select(Debtor.id).where(Debtor.ref == ref))


# --- the file's shape -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    # The quote never closes: the csv module would read "Acme\nD2;b2b;Beta SA\n" as one name.
    'debtor_ref;kind;name\nD1;b2b;"Acme SARL\nD2;b2b;Beta SA\n',
    # The quote closes on a later line, so the parser resynchronises: still two rows merged into one.
    'debtor_ref;kind;name\nD1;b2b;"Acme SARL\nD2;b2b;"Beta SA"\nD3;b2b;Gamma\n',
])
@pytest.mark.parametrize("skip_bad_rows", [False, True])
def test_an_unclosed_quote_is_located_and_refuses_the_file(store, tmp_path: Path, text: str,
                                                           skip_bad_rows: bool) -> None:
    problems = _refused(store, _csv(tmp_path, "debtors.csv", text), skip_bad_rows=skip_bad_rows,
                        rejects_path=tmp_path / "rejects.csv")
    assert [(p.line, p.column) for p in problems] == [(2, "name")]
    assert "quote" in problems[0].reason
    assert _count(store, Debtor) == 0  # not one debtor, and certainly not a debtor named "Acme\nD2;..."


def test_text_after_a_closing_quote_is_located(store, tmp_path: Path) -> None:
    problems = _refused(store, _csv(tmp_path, "debtors.csv", 'debtor_ref;kind;name\nD1;b2b;Acme\nD2;"b2b"x;Beta\n'))
    assert [(p.line, p.column) for p in problems] == [(3, "kind")]


def test_a_quoted_cell_spanning_lines_is_refused_as_a_line_break(store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "debtors.csv", 'debtor_ref;kind;name\nD1;b2b;"Acme\nSARL"\nD2;b2b;Beta\n')
    problems = _refused(store, path)
    assert [(p.line, p.column) for p in problems] == [(2, "name")]
    assert "line break" in problems[0].reason and "2–3" in problems[0].reason


def test_a_misspelt_column_is_an_error_with_a_did_you_mean(store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "debtors.csv", "debtor_ref;kind;name;adress_line1\nD1;b2b;Acme;1 rue de la Paix\n")
    problems = _refused(store, path)
    assert [(p.line, p.column) for p in problems] == [(1, "adress_line1")]
    assert "did you mean 'address_line1'" in problems[0].reason
    assert "--allow-extra-columns" in problems[0].reason
    assert _count(store, Debtor) == 0


def test_extra_columns_are_ignored_with_a_warning_when_allowed(store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "debtors.csv", "debtor_ref;kind;name;adress_line1\nD1;b2b;Acme;1 rue de la Paix\n")
    report = _import(store, path, allow_extra_columns=True)
    assert report.inserted == 1
    assert [(w.column, "ignored" in w.reason and "address_line1" in w.reason) for w in report.warnings] == [
        ("adress_line1", True)]


def test_excels_trailing_nameless_columns_are_read(store, tmp_path: Path) -> None:
    # Excel's « CSV (séparateur : point-virgule) » ends every line with ";;" after a column once used.
    path = _csv(tmp_path, "debtors.csv", "debtor_ref;kind;name;;\nD1;b2b;Acme SARL;;\nD2;b2b;Beta SA;;\n")
    report = _import(store, path)
    assert (report.inserted, report.warnings) == (2, [])


def test_a_value_under_a_nameless_column_is_refused_located(store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "debtors.csv", "debtor_ref;kind;name;;\nD1;b2b;Acme SARL;;\nD2;b2b;Beta SA;;oops\n")
    problems = _refused(store, path)
    assert [(p.line, p.column) for p in problems] == [(3, "#5")]
    assert "no name" in problems[0].reason and "--allow-extra-columns" in problems[0].reason
    assert _count(store, Debtor) == 0


def test_a_column_named_twice_is_refused(store, tmp_path: Path) -> None:
    problems = _refused(store, _csv(tmp_path, "debtors.csv", "debtor_ref;kind;name;name\nD1;b2b;Acme;Other\n"),
                        allow_extra_columns=True)
    assert [(p.line, p.column) for p in problems] == [(1, "name")] and "twice" in problems[0].reason


# --- what a cell may hold ---------------------------------------------------------------------------

@pytest.mark.parametrize("bad, shown", [
    ("\x00", "\\x00"),          # stored by SQLite, a traceback from PostgreSQL before
    ("\x1b[31m", "\\x1b"),      # ANSI colour
    ("\x1b]8;;http://x\x07", "\\x07"),  # OSC hyperlink
    ("\u202e", "\\u202e"),      # right-to-left override
    ("\t", "\\t"),
])
def test_control_characters_are_refused_located_on_both_backends(store, tmp_path: Path, bad: str,
                                                                  shown: str) -> None:
    path = _csv(tmp_path, "debtors.csv", f'debtor_ref;kind;name\nD1;b2b;Acme\nD2;b2b;"Be{bad}ta"\n')
    problems = _refused(store, path)
    assert [(p.line, p.column) for p in problems] == [(3, "name")]
    assert shown in problems[0].reason
    assert _count(store, Debtor) == 0


def test_a_nul_byte_goes_to_the_rejects_file_visible_with_skip_bad_rows(store, tmp_path: Path) -> None:
    path = _csv(tmp_path, "debtors.csv", "debtor_ref;kind;name\nD1;b2b;Acme\nD2;b2b;Be\x00ta\n")
    report = _import(store, path, skip_bad_rows=True, rejects_path=tmp_path / "rejects.csv")
    assert (report.inserted, report.rejected) == (1, 1)
    rejects = (tmp_path / "rejects.csv").read_text(encoding="utf-8")
    assert "\x00" not in rejects and "Be\\x00ta" in rejects


# --- money ------------------------------------------------------------------------------------------

def _overpaid(store, tmp_path: Path) -> None:
    """D1 owes F1 (150), pays 500 on 20 January: 350 of credit."""
    _import(store, _csv(tmp_path, "debtors.csv", DEBTORS))
    _import(store, _csv(tmp_path, "f1.csv", INVOICES + "F1;D1;2025-01-01;2025-01-10;150\n"))
    _import(store, _csv(tmp_path, "pay.csv", "debtor_ref;payment_date;amount;reference\nD1;2025-01-20;500;VIR-1\n"))


def test_an_overpayment_is_kept_as_the_debtors_credit(store, tmp_path: Path) -> None:
    _overpaid(store, tmp_path)
    with store.session() as session:
        assert ledger.credit_total(session, [_debtor_id(store, "D1")], currency="EUR") == (Decimal("350.00"), 1)
        assert ledger.credit_total(session, as_of=date(2025, 1, 19), currency="EUR") == (Decimal("0.00"), 0)  # not received yet
        assert ledger.credit_total(session, [_debtor_id(store, "D2")], currency="EUR")[0] == 0


def test_credit_pays_an_invoice_imported_later_and_the_run_never_chases_it(store, tmp_path: Path) -> None:
    _overpaid(store, tmp_path)
    _import(store, _csv(tmp_path, "f2.csv", INVOICES + "F2;D1;2025-02-01;2025-03-01;200\nF3;D1;2025-02-15;2025-03-15;300\n"))
    with store.session() as session:
        open_ = ledger.open_invoices(session, debtor_ids=[_debtor_id(store, "D1")])
        # Oldest first: F2 (200) is covered in full, F3 gets the last 150 and still owes 150.
        assert [(i.number, i.remaining) for i in open_[_debtor_id(store, "D1")]] == [("F3", Decimal("150.00"))]
        assert ledger.credit_total(session, [_debtor_id(store, "D1")], currency="EUR")[0] == 0

    workflow = load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")
    report = run(store, workflow, date(2025, 4, 1))
    with store.session() as session:
        cases = session.scalars(select(Case)).all()
        case_of = {inv.number: inv.case_id for inv in session.scalars(select(Invoice))}
        f2_settled = session.scalar(select(Invoice.settled).where(Invoice.number == "F2"))
    assert case_of["F2"] is None and f2_settled  # covered by credit: no case, no letter
    assert case_of["F3"] is not None  # the rest of F3 is really owed
    assert report.cases_opened == len(cases)


def test_case_show_gives_the_debtors_credit(store, tmp_path: Path) -> None:
    _overpaid(store, tmp_path)
    run(store, load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"), date(2025, 1, 15))  # F1 gets a case
    with store.session() as session:
        shown = show_case(session, "F1")
    assert shown.debtor_credit == Decimal("350.00")


def test_a_payment_by_hand_beyond_its_case_pays_the_debtors_other_invoices(store, tmp_path: Path) -> None:
    _import(store, _csv(tmp_path, "debtors.csv", DEBTORS))
    _import(store, _csv(tmp_path, "f.csv", INVOICES + "F1;D1;2025-01-01;2025-01-10;150\nF2;D1;2025-01-05;2025-03-01;80\n"))
    workflow = load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")
    run(store, workflow, date(2025, 1, 15))  # F1's case only
    with store.session() as session:
        case = session.scalars(select(Case)).one()
        record_payment(session, case, Decimal("200"), date(2025, 1, 20))
        session.commit()
    with store.session() as session:
        # 150 on F1 (the case), the 50 left on F2 (not due yet, no case): F2 owes 30, no credit left.
        open_ = ledger.open_invoices(session, debtor_ids=[_debtor_id(store, "D1")])
        assert [(i.number, i.remaining) for i in open_[_debtor_id(store, "D1")]] == [("F2", Decimal("30.00"))]
        assert ledger.credit_total(session, currency="EUR")[0] == 0
        # The escalation recovered what went to the case's invoice, not what passed through to F2.
        assert funnel(session, date(2025, 1, 31), [workflow]).recovered == Decimal("150.00")


def test_a_credit_note_larger_than_its_invoice_is_refused(store, tmp_path: Path) -> None:
    _import(store, _csv(tmp_path, "debtors.csv", DEBTORS))
    _import(store, _csv(tmp_path, "f.csv", INVOICES + "F1;D1;2025-01-01;2025-01-10;200\nF2;D1;2025-01-02;2025-01-11;500\n"))
    header = "credit_note_number;debtor_ref;issue_date;amount;invoice_number\n"
    problems = _refused(store, _csv(tmp_path, "cn.csv", header + "AV1;D1;2025-01-05;300;F1\n"))
    assert [(p.line, p.column) for p in problems] == [(2, "amount")]
    assert "F1" in problems[0].reason and "cannot exceed" in problems[0].reason
    # Two credit notes on one invoice may not add up to more than it either.
    problems = _refused(store, _csv(tmp_path, "cn2.csv", header + "AV2;D1;2025-01-05;150;F1\nAV3;D1;2025-01-06;100;F1\n"))
    assert [(p.line, p.column) for p in problems] == [(3, "amount")]
    with store.session() as session:
        open_ = {i.number: i.remaining for i in ledger.open_invoices(session)[_debtor_id(store, "D1")]}
    assert open_ == {"F1": Decimal("200.00"), "F2": Decimal("500.00")}  # nothing spilled onto F2
    # Without an invoice number it credits the debtor's account, in the ledger's order.
    _import(store, _csv(tmp_path, "cn3.csv", "credit_note_number;debtor_ref;issue_date;amount\nAV4;D1;2025-01-05;300\n"))
    with store.session() as session:
        open_ = {i.number: i.remaining for i in ledger.open_invoices(session)[_debtor_id(store, "D1")]}
    assert open_ == {"F2": Decimal("400.00")}


def test_a_payment_dated_before_every_invoice_it_would_pay_is_refused(store, tmp_path: Path) -> None:
    _import(store, _csv(tmp_path, "debtors.csv", DEBTORS))
    _import(store, _csv(tmp_path, "f.csv", INVOICES + "F1;D1;2025-03-01;2025-03-31;150\n"))
    header = "debtor_ref;payment_date;amount;reference\n"
    problems = _refused(store, _csv(tmp_path, "p.csv", header + "D1;2025-04-02;10;OK-1\nD1;2024-03-01;100;TYPO-1\n"))
    assert [(p.line, p.column) for p in problems] == [(3, "payment_date")]
    assert "F1" in problems[0].reason
    assert _count(store, Payment) == 0
    # A debtor who owes nothing may pay ahead: that is credit, not a typo.
    _import(store, _csv(tmp_path, "p2.csv", header + "D2;2024-12-01;75;AHEAD-1\n"))
    with store.session() as session:
        assert ledger.credit_total(session, [_debtor_id(store, "D2")], currency="EUR")[0] == Decimal("75.00")


def test_an_invoice_amount_cannot_drop_below_what_was_paid_on_it(store, tmp_path: Path) -> None:
    _overpaid(store, tmp_path)
    problems = _refused(store, _csv(tmp_path, "f1.csv", INVOICES + "F1;D1;2025-01-01;2025-01-10;100\n"))
    assert [(p.line, p.column) for p in problems] == [(2, "amount")] and "150.00" in problems[0].reason


def test_credit_applied_to_an_invoice_in_a_case_is_on_its_timeline(store, tmp_path: Path) -> None:
    """An invoice whose amount grows while its debtor is in credit: the credit pays the difference and the
    case hears of it like of any payment."""
    _import(store, _csv(tmp_path, "debtors.csv", DEBTORS))
    _import(store, _csv(tmp_path, "f.csv", INVOICES + "F1;D1;2025-01-01;2025-01-10;150\n"))
    run(store, load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"), date(2025, 1, 15))
    _import(store, _csv(tmp_path, "pay.csv", "debtor_ref;payment_date;amount;reference\nD1;2025-01-20;500;VIR-1\n"))
    _import(store, _csv(tmp_path, "f1.csv", INVOICES + "F1;D1;2025-01-01;2025-01-10;400\n"))
    with store.session() as session:
        kinds = session.scalars(select(Event.kind).order_by(Event.seq)).all()
        assert kinds.count("payment") == 2
        assert ledger.credit_total(session, currency="EUR")[0] == Decimal("100.00")
        assert ledger.open_invoices(session) == {}
