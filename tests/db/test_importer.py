"""CSV import: located errors, all-or-nothing, idempotent re-import, rejects, French formats."""

from __future__ import annotations

import codecs
import csv
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.core.money import MoneyError, parse_amount, parse_date
from engine.imports.importer import ImportFailed, import_csv
from engine.store.database import connect
from engine.store.models import Case, Debtor, Event, Invoice, Payment, PaymentAllocation
from tests.support import CSV, REPO


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    yield store
    store.dispose()


def _load(store, *names: str) -> None:
    for name in names:
        import_csv(store, CSV / name, creditor_ref="ACME")


def _count(store, model) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("text, value", [
    ("1234.56", "1234.56"), ("1 234,56", "1234.56"), ("1\u00a0234,56", "1234.56"), ("1\u202f234,5", "1234.50"),
    ("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("12", "12.00"), ("99,9 €", "99.90"),
])
def test_amounts_in_english_and_french_forms(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["12.345", "1,2,3", "abc", "", "1e5"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(text)


def test_dates_iso_and_french() -> None:
    assert parse_date("2025-03-31") == parse_date("31/03/2025") == parse_date("31.03.2025")
    with pytest.raises(MoneyError, match="no such date"):
        parse_date("30/02/2025")
    with pytest.raises(MoneyError, match="YYYY-MM-DD or DD/MM/YYYY"):
        parse_date("03-31-2025")


def test_import_twice_changes_nothing(store) -> None:
    _load(store, "debtors.csv", "invoices.csv", "payments.csv", "credit_notes.csv")
    counts = [_count(store, m) for m in (Debtor, Invoice, Payment, PaymentAllocation)]
    assert counts == [2, 3, 3, 4]
    again = import_csv(store, CSV / "payments.csv", creditor_ref="ACME")
    assert (again.inserted, again.unchanged) == (0, 3)
    _load(store, "debtors.csv", "invoices.csv", "credit_notes.csv")
    assert [_count(store, m) for m in (Debtor, Invoice, Payment, PaymentAllocation)] == counts


def test_a_changed_row_updates_the_existing_record(store, tmp_path: Path) -> None:
    _load(store, "debtors.csv", "invoices.csv")
    changed = tmp_path / "invoices.csv"
    changed.write_text("invoice_number;debtor_ref;issue_date;due_date;amount\nF-001;D1;2025-01-02;2025-02-01;1250,00\n")
    report = import_csv(store, changed, creditor_ref="ACME")
    assert (report.updated, report.inserted) == (1, 0)
    with store.session() as s:
        assert s.scalar(select(Invoice.amount).where(Invoice.number == "F-001")) == Decimal("1250.00")


def test_bad_rows_are_located_and_nothing_is_imported(store) -> None:
    _load(store, "debtors.csv")
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, CSV / "invoices_bad.csv", creditor_ref="ACME")
    found = {(p.line, p.column): p.reason for p in caught.value.problems}
    assert found[(3, "debtor_ref")] == "unknown debtor 'NOPE': import it first"
    assert "before the issue date" in found[(4, "due_date")]
    assert found[(5, "amount")] == "amount must be positive, got -5.00"
    assert found[(6, "invoice_number")] == "duplicate invoice_number F-201 (first on line 2)"
    assert "no such date: '31/02/2025'" in found[(7, "issue_date")]
    assert "more than two decimals" in found[(7, "amount")]
    assert str(caught.value.problems[0]).startswith(f"{CSV / 'invoices_bad.csv'}:3: column 'debtor_ref':")
    assert caught.value.total == 5
    assert _count(store, Invoice) == 0  # F-201 was fine, but the file is one transaction


def test_debtor_field_errors_each_name_their_column(store) -> None:
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, CSV / "debtors_bad.csv", creditor_ref="ACME")
    assert {p.column for p in caught.value.problems} == {"kind", "siren", "country", "email"}
    assert all(p.line == 2 for p in caught.value.problems)


def test_skip_bad_rows_imports_the_good_ones_and_writes_rejects(store, tmp_path: Path) -> None:
    _load(store, "debtors.csv")
    rejects = tmp_path / "rejects.csv"
    report = import_csv(store, CSV / "invoices_bad.csv", creditor_ref="ACME", skip_bad_rows=True, rejects_path=rejects)
    assert (report.inserted, report.rejected) == (1, 5)
    with rejects.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert [r["invoice_number"] for r in rows] == ["F-203", "F-204", "F-201", "F-205", "F-202"]
    assert rows[-1]["rejection_reason"] == "debtor_ref: unknown debtor 'NOPE': import it first"
    with store.session() as s:
        assert s.scalars(select(Invoice.number)).all() == ["F-201"]


def test_bom_comma_delimiter_and_french_numbers(store) -> None:
    _load(store, "debtors.csv")
    report = import_csv(store, CSV / "invoices_bom_comma_fr.csv", creditor_ref="ACME")
    assert report.kind == "invoices"  # inferred from the header, BOM and all
    with store.session() as s:
        rows = dict(s.execute(select(Invoice.number, Invoice.amount)).all())
        currency = s.scalar(select(Invoice.currency).where(Invoice.number == "F-102"))
    assert rows == {"F-101": Decimal("1234.56"), "F-102": Decimal("2000.00"), "F-103": Decimal("1000.10")}
    assert currency == "EUR"


def test_missing_column_and_unknown_header_are_reported(store, tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("invoice_number;debtor_ref;due_date;amount\n")
    with pytest.raises(ImportFailed, match="missing column 'issue_date'"):
        import_csv(store, bad, creditor_ref="ACME")
    bad.write_text("foo;bar\n1;2\n")
    with pytest.raises(ImportFailed, match="cannot tell what this file holds"):
        import_csv(store, bad, creditor_ref="ACME")
    bad.write_text("debtor_ref;kind;name\nD9;b2b\n")
    with pytest.raises(ImportFailed, match=r"x.csv:2: expected 3 cells, found 2"):
        import_csv(store, bad, creditor_ref="ACME")


def test_payments_go_to_the_named_invoice_then_the_oldest(store, tmp_path: Path) -> None:
    _load(store, "debtors.csv", "invoices.csv")
    payments = tmp_path / "payments.csv"
    payments.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                        "D1;2025-02-10;400,00;F-002;R1\nD1;2025-02-11;1 300,00;;R2\n")
    import_csv(store, payments, creditor_ref="ACME")
    with store.session() as s:
        shares = s.execute(
            select(Payment.reference, Invoice.number, PaymentAllocation.amount)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .order_by(PaymentAllocation.id)
        ).all()
    # R1 fills F-002 (300.50) then the oldest, F-001; R2 finishes F-001 and keeps 200.50 unallocated.
    assert shares == [("R1", "F-002", Decimal("300.50")), ("R1", "F-001", Decimal("99.50")),
                      ("R2", "F-001", Decimal("1100.50"))]


def test_a_payment_for_an_invoice_in_a_case_lands_in_its_timeline(store) -> None:
    _load(store, "debtors.csv", "invoices.csv")
    from datetime import date

    from engine.cases.run import run
    from engine.core.workflow import load_workflow

    workflow = load_workflow(REPO / "workflows" / "fr-b2b.yaml")
    run(store, workflow, date(2025, 2, 8))
    with store.session() as s:
        case = s.scalar(select(Case).where(Case.ref == "ACME-F-001"))
        case.next_check_at = date(2025, 3, 1)
    import_csv(store, CSV / "payments.csv", creditor_ref="ACME")
    with store.session() as s:
        case = s.scalar(select(Case).where(Case.ref == "ACME-F-001"))
        kinds = s.scalars(select(Event.kind).where(Event.case_id == case.id).order_by(Event.seq)).all()
        assert kinds[-1] == "payment"
        assert case.next_check_at == date(2025, 2, 10)  # pulled back to the payment date


@pytest.mark.parametrize("rows, line, reason", [
    ("BC-1;D1;2026-06-01;2026-07-01;100.00;EUR\nBC-2;D1;2026-06-01;2026-07-01;100.00;EUX\n", 3, "'EUX'"),
    ("BC-1;D1;2026-06-01;2026-07-01;100.00;eur\nBC-2;D1;2026-06-01;2026-07-01;100.00;XXX\n", 3, "'XXX'"),
    ("BC-1;D1;2026-06-01;2026-07-01;1000;JPY\nBC-2;D1;2026-06-01;2026-07-01;1000.50;JPY\n", 3, "JPY has none"),
])
def test_a_currency_that_does_not_exist_or_too_many_decimals_for_it_refuses_the_file(
        store, tmp_path: Path, rows: str, line: int, reason: str) -> None:
    _load(store, "debtors.csv")
    bad = tmp_path / "invoices.csv"
    bad.write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n" + rows)
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, bad, creditor_ref="ACME")
    [problem] = caught.value.problems
    column = "amount" if "JPY" in reason else "currency"
    assert (problem.line, problem.column) == (line, column)
    assert reason in problem.reason
    assert str(problem).startswith(f"{bad}:{line}: column '{column}':")
    assert _count(store, Invoice) == 0  # the good first row is not imported either


def _shares(store) -> list[tuple[str, str, Decimal]]:
    with store.session() as s:
        return [tuple(r) for r in s.execute(
            select(Payment.reference, Invoice.number, PaymentAllocation.amount)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .order_by(PaymentAllocation.id)
        ).all()]


def test_a_payment_pays_only_invoices_in_its_own_currency(store, tmp_path: Path) -> None:
    """The tester's file (with 1500 for its 1200, to leave some over): the excess of a payment on a 300 USD
    invoice went on to a EUR invoice at 1:1, and 500 without an invoice went to the oldest invoice, in USD. A payment's currency is its column's, else the
    currency of the invoice it names, else EUR; it never pays an invoice in another currency."""
    _load(store, "debtors.csv")
    (tmp_path / "invoices.csv").write_text(
        "invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
        "MX-USD;D1;2026-02-01;2026-03-15;1000.00;USD\n"
        "MX-EUR;D1;2026-02-01;2026-03-31;1000.00;EUR\n"
        "MX-USD2;D1;2026-02-01;2026-03-20;300.00;USD\n")
    import_csv(store, tmp_path / "invoices.csv", creditor_ref="ACME")
    (tmp_path / "payments.csv").write_text(
        "debtor_ref;payment_date;amount;invoice_number;reference\n"
        "D1;2026-04-02;500.00;;VIR 500 SANS FACTURE\n"
        "D1;2026-04-03;1500.00;MX-USD2;VIR 1500 SUR MX-USD2\n")
    import_csv(store, tmp_path / "payments.csv", creditor_ref="ACME")
    assert _shares(store) == [("VIR 500 SANS FACTURE", "MX-EUR", Decimal("500.00")),
                              ("VIR 1500 SUR MX-USD2", "MX-USD2", Decimal("300.00")),
                              ("VIR 1500 SUR MX-USD2", "MX-USD", Decimal("1000.00"))]
    with store.session() as s:
        assert dict(s.execute(select(Payment.reference, Payment.currency)).all()) == {
            "VIR 500 SANS FACTURE": "EUR", "VIR 1500 SUR MX-USD2": "USD"}
        # 200 USD are left over: the debtor's credit in USD, never spent on the 500 EUR still owed.
        from engine.store import ledger
        [debtor_id] = s.scalars(select(Debtor.id).where(Debtor.ref == "D1")).all()
        assert ledger.credit_total(s, [debtor_id], currency="USD") == (Decimal("200.00"), 1)
        assert ledger.credit_total(s, [debtor_id], currency="EUR") == (Decimal("0.00"), 0)
    # Later EUR debt does not take the USD credit either (apply_credit runs after every invoice import).
    (tmp_path / "more.csv").write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                                       "MX-EUR2;D1;2026-04-05;2026-05-05;50.00;EUR\n")
    import_csv(store, tmp_path / "more.csv", creditor_ref="ACME")
    assert len(_shares(store)) == 3


def test_payments_without_reference_in_two_currencies_are_two_payments(store, tmp_path: Path) -> None:
    """Without a reference a payment is known by debtor, day, amount and invoice: 100 USD and 100 EUR the same
    day are two payments, in one file or in two, and importing either again still changes nothing."""
    _load(store, "debtors.csv")
    header = "debtor_ref;payment_date;amount;invoice_number;reference;currency\n"
    (tmp_path / "both.csv").write_text(header + "D1;2026-04-02;100.00;;;USD\nD1;2026-04-02;100.00;;;EUR\n")
    import_csv(store, tmp_path / "both.csv", creditor_ref="ACME")
    (tmp_path / "gbp.csv").write_text(header + "D1;2026-04-02;100.00;;;GBP\n")
    import_csv(store, tmp_path / "gbp.csv", creditor_ref="ACME")
    # No currency is EUR (there is no invoice to take one from): the same payment as the EUR row above.
    (tmp_path / "plain.csv").write_text("debtor_ref;payment_date;amount\nD1;2026-04-02;100.00\n")
    again = [import_csv(store, tmp_path / name, creditor_ref="ACME") for name in ("both.csv", "gbp.csv", "plain.csv")]
    assert [(r.inserted, r.unchanged) for r in again] == [(0, 2), (0, 1), (0, 1)]
    with store.session() as s:
        assert sorted(s.scalars(select(Payment.currency))) == ["EUR", "GBP", "USD"]


def test_the_currency_column_of_payments_and_credit_notes(store, tmp_path: Path) -> None:
    _load(store, "debtors.csv", "invoices.csv")  # D1 owes F-001 and F-002 in EUR
    (tmp_path / "usd.csv").write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                                      "U-1;D1;2025-01-01;2025-01-15;100.00;USD\n")
    import_csv(store, tmp_path / "usd.csv", creditor_ref="ACME")
    (tmp_path / "payments.csv").write_text(
        "debtor_ref;payment_date;amount;invoice_number;reference;currency\n"
        "D1;2025-02-10;60.00;;R-USD;usd\n"  # the oldest invoice is F-001 in EUR: U-1 is the oldest in USD
        "D1;2025-02-10;70.00;;R-GBP;GBP\n")  # nothing owed in GBP: all of it stays as credit
    import_csv(store, tmp_path / "payments.csv", creditor_ref="ACME")
    assert _shares(store) == [("R-USD", "U-1", Decimal("60.00"))]
    (tmp_path / "notes.csv").write_text("credit_note_number;debtor_ref;issue_date;amount;invoice_number;currency\n"
                                        "AV-U;D1;2025-02-11;50.00;;USD\n")
    import_csv(store, tmp_path / "notes.csv", creditor_ref="ACME")
    with store.session() as s:
        noted = s.execute(select(Invoice.number, PaymentAllocation.amount)
                          .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
                          .where(PaymentAllocation.credit_note_id.is_not(None))).all()
    assert [tuple(r) for r in noted] == [("U-1", Decimal("40.00"))]  # 10 USD left on the note, not on F-001
    # A row whose currency is not its invoice's is refused, located, and nothing of the file goes in.
    (tmp_path / "clash.csv").write_text("debtor_ref;payment_date;amount;invoice_number;reference;currency\n"
                                        "D1;2025-02-12;1.00;;R-OK;EUR\n"
                                        "D1;2025-02-12;5.00;F-002;R-CLASH;USD\n")
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, tmp_path / "clash.csv", creditor_ref="ACME")
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (3, "currency")
    assert "F-002 is in EUR" in problem.reason
    assert len(_shares(store)) == 1


_DEBTORS_HEADER = "debtor_ref;kind;name;address_line1;postal_code;city;country\n"


def test_a_windows_1252_file_names_its_line_and_how_to_read_it(store, tmp_path: Path) -> None:
    """Excel's « CSV (séparateur : point-virgule) » writes Windows-1252: refused at the first line that is
    not UTF-8, even past the decoder's first block, with the two ways out; read as such with the encoding."""
    rows = [f"D{i};b2b;Client {i};1 rue;75001;Paris;FR\n" for i in range(400)]
    rows.append("D-É;b2b;Société Générale Équipements;3 allée des Roses;13001;Marseille;FR\n")
    path = tmp_path / "debtors.csv"
    path.write_bytes((_DEBTORS_HEADER + "".join(rows)).encode("cp1252"))
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, path, creditor_ref="ACME")
    [problem] = caught.value.problems
    assert problem.line == 402 and "byte 0xc9" in problem.reason
    assert "Windows-1252" in problem.reason and "--encoding cp1252" in problem.reason
    assert _count(store, Debtor) == 0

    report = import_csv(store, path, creditor_ref="ACME", encoding="cp1252")
    assert report.inserted == 401
    with store.session() as s:
        assert s.scalar(select(Debtor.name).where(Debtor.ref == "D-É")) == "Société Générale Équipements"


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be"])
def test_a_utf_16_file_says_it_is_utf_16_not_windows_1252(store, tmp_path: Path, codec: str) -> None:
    """A UTF-16 export (Excel's « Texte Unicode ») was taken for Windows-1252: the advice to pass
    --encoding cp1252 read it as NULs between letters and refused its header."""
    path = tmp_path / "debtors.csv"
    text = _DEBTORS_HEADER + "D-1;b2b;Société Générale;1 rue;75001;Paris;FR\n"
    path.write_bytes(text.encode(codec) if codec == "utf-16" else codecs.BOM_UTF16_BE + text.encode(codec))
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, path, creditor_ref="ACME")
    [problem] = caught.value.problems
    assert problem.line == 1 and "UTF-16" in problem.reason and "--encoding utf-16" in problem.reason
    assert "cp1252" not in problem.reason and _count(store, Debtor) == 0
    assert import_csv(store, path, creditor_ref="ACME", encoding="utf-16").inserted == 1


def test_an_unknown_encoding_refuses_the_file(store, tmp_path: Path) -> None:
    path = tmp_path / "debtors.csv"
    path.write_text(_DEBTORS_HEADER, encoding="utf-8")
    with pytest.raises(ImportFailed, match="unknown encoding 'klingon'"):
        import_csv(store, path, creditor_ref="ACME", encoding="klingon")


def test_a_country_written_as_its_name_is_stored_as_its_code(store, tmp_path: Path) -> None:
    path = tmp_path / "debtors.csv"
    path.write_text(_DEBTORS_HEADER + "D1;b2b;Un;1 rue;75001;Paris;France\n"
                    "D2;b2b;Deux;1 Baker St;NW1 6XE;London;Royaume-Uni\nD3;b2b;Trois;1 rue;75001;Paris;\n",
                    encoding="utf-8")
    import_csv(store, path, creditor_ref="ACME")
    with store.session() as s:
        assert dict(s.execute(select(Debtor.ref, Debtor.country)).all()) == {"D1": "FR", "D2": "GB", "D3": "FR"}
    path.write_text(_DEBTORS_HEADER + "D4;b2b;Quatre;1 rue;75001;Paris;ZZ\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, path, creditor_ref="ACME")
    assert [(p.line, p.column) for p in caught.value.problems] == [(2, "country")]


def test_an_invoice_changed_after_it_joined_a_case_says_so_in_its_timeline(store, tmp_path: Path) -> None:
    """Letters already stated F-001's amount and due date: a re-import that changes them is recorded in the
    case's timeline (old → new, the file), the chain still verifies; its currency may not change at all."""
    from datetime import date

    from engine.cases.run import run
    from engine.core.workflow import load_workflow
    from engine.store.events import InvoiceAmended, read_event
    from engine.store.timeline import verify

    _load(store, "debtors.csv", "invoices.csv")
    run(store, load_workflow(REPO / "workflows" / "fr-b2b.yaml"), date(2025, 2, 8))
    header = "invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
    changed = tmp_path / "corrections.csv"
    changed.write_text(header + "F-001;D1;2025-01-02;2025-02-15;1100.00;EUR\n", encoding="utf-8")
    assert import_csv(store, changed, creditor_ref="ACME").updated == 1
    assert import_csv(store, changed, creditor_ref="ACME").unchanged == 1  # the same file again: no new event
    with store.session() as s:
        case = s.scalar(select(Case).where(Case.ref == "ACME-F-001"))
        amended = [read_event(e.kind, e.payload) for e in s.scalars(
            select(Event).where(Event.case_id == case.id, Event.kind == InvoiceAmended.kind))]
        assert [f for f in verify(s) if f.case_ref == case.ref] == []
    assert len(amended) == 1
    [event] = amended
    assert isinstance(event, InvoiceAmended)
    assert (event.old_amount, event.new_amount) == (Decimal("1200.00"), Decimal("1100.00"))
    assert (event.old_due_date, event.new_due_date) == (date(2025, 2, 1), date(2025, 2, 15))
    assert (event.old_issue_date, event.new_issue_date) == (None, None)  # unchanged: not recorded
    said = event.describe().replace("\u202f", " ").replace("\xa0", " ")  # Babel's narrow and plain no-break spaces
    assert said == ("facture F-001 modifiée par l'import corrections.csv : montant 1 200,00 € → 1 100,00 €, "
                    "échéance 01/02/2025 → 15/02/2025")

    dollars = tmp_path / "dollars.csv"
    dollars.write_text(header + "F-001;D1;2025-01-02;2025-02-15;1100.00;USD\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        import_csv(store, dollars, creditor_ref="ACME")
    assert [(p.line, p.column) for p in caught.value.problems] == [(2, "currency")]


def test_a_debtor_changed_while_its_case_is_open_says_so_in_the_case(store, tmp_path: Path) -> None:
    """D1 moves and becomes a consumer while its case runs: what its next letters claim changes (no 40 €
    indemnity, legal interest instead of penalties) and they go to another address. The open case's
    timeline records each change; a debtor without an open case records nothing; the same file again adds nothing."""
    from datetime import date

    from engine.cases.run import run
    from engine.core.workflow import load_workflow
    from engine.store.events import DebtorAmended, FieldChange, read_event

    _load(store, "debtors.csv", "invoices.csv")
    run(store, load_workflow(REPO / "workflows" / "fr-b2b.yaml"), date(2025, 2, 8))
    with store.session() as s:
        before = s.scalar(select(Debtor).where(Debtor.ref == "D1"))
        old_address = before.address_line1
        cases_of = dict(s.execute(select(Case.ref, Case.debtor_id)).all())
    moved = tmp_path / "debtors.csv"
    moved.write_text(CSV.joinpath("debtors.csv").read_text(encoding="utf-8").replace(
        f"{old_address};", "8 rue Neuve;", 1), encoding="utf-8")
    lines = moved.read_text(encoding="utf-8").splitlines()
    lines = [line.replace(";b2b;", ";b2c;", 1) if line.startswith("D1;") else line for line in lines]
    moved.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert import_csv(store, moved, creditor_ref="ACME").updated == 1
    assert import_csv(store, moved, creditor_ref="ACME").unchanged >= 1
    with store.session() as s:
        recorded = [(ref, read_event(e.kind, e.payload)) for ref, e in s.execute(
            select(Case.ref, Event).join(Case, Case.id == Event.case_id).where(Event.kind == DebtorAmended.kind))]
    d1_cases = sorted(ref for ref, debtor_id in cases_of.items() if debtor_id == before.id)
    assert sorted(ref for ref, _ in recorded) == d1_cases and d1_cases
    for _ref, event in recorded:
        assert isinstance(event, DebtorAmended) and event.source == "debtors.csv"
        assert set(event.changes) == {FieldChange("kind", "b2b", "b2c"), FieldChange("address_line1", old_address,
                                                                                      "8 rue Neuve")}


def test_a_file_without_some_columns_keeps_what_they_hold(store, tmp_path: Path) -> None:
    """A file of debtor refs and names only (to flag do_not_chase, say) must not wipe the addresses and set
    every country back to FR; an invoices file without a currency column must not turn USD invoices into EUR."""
    _load(store, "debtors.csv")
    abroad = tmp_path / "abroad.csv"
    abroad.write_text("debtor_ref;kind;name;postal_code;city;country\nD9;b2b;Acme Ltd;NW1 6XE;London;GB\n",
                      encoding="utf-8")
    import_csv(store, abroad, creditor_ref="ACME")
    dollars = tmp_path / "dollars.csv"
    dollars.write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                       "U-1;D9;2025-01-02;2025-02-01;500.00;USD\n", encoding="utf-8")
    import_csv(store, dollars, creditor_ref="ACME")
    with store.session() as s:
        before = {d.ref: (d.address_line1, d.postal_code, d.city, d.country, d.email) for d in s.scalars(select(Debtor))}

    flags = tmp_path / "flags.csv"
    flags.write_text("debtor_ref;kind;name;do_not_chase\nD1;b2b;Boulangerie Martin SARL;oui\n"
                     "D9;b2b;Acme Trading Ltd;\n", encoding="utf-8")
    report = import_csv(store, flags, creditor_ref="ACME")
    assert report.updated == 2  # D1's flag, D9's name
    later = tmp_path / "later.csv"
    later.write_text("invoice_number;debtor_ref;issue_date;due_date;amount\nU-1;D9;2025-01-02;2025-02-01;450.00\n",
                     encoding="utf-8")
    import_csv(store, later, creditor_ref="ACME")
    with store.session() as s:
        after = {d.ref: (d.address_line1, d.postal_code, d.city, d.country, d.email) for d in s.scalars(select(Debtor))}
        names = dict(s.execute(select(Debtor.ref, Debtor.name)).all())
        invoice = s.scalar(select(Invoice).where(Invoice.number == "U-1"))
    assert after == before and before["D1"][0] and before["D9"][3] == "GB"
    assert names["D9"] == "Acme Trading Ltd"
    assert invoice is not None and (invoice.amount, invoice.currency) == (Decimal("450.00"), "USD")
