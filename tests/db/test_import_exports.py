"""Real accounting exports (Sage, Pennylane, Excel in French): what a clerk's file holds beyond the rows, and
every problem of a row said at once."""

from __future__ import annotations

import codecs
import csv
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.core.money import MoneyError, parse_amount, parse_date
from engine.imports.case_events import read_events
from engine.imports.importer import ImportFailed, import_csv
from engine.store.database import connect
from engine.store.models import Debtor, Invoice, Payment
from tests.db.test_channels import REMINDER, make_app
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

ADDRESS = "1 rue de la Paix;;75002;Paris;FR;;"


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    yield store
    store.dispose()


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _count(store, model) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def _problems(store, path: Path) -> dict[int, list[tuple[str | None, str]]]:
    with pytest.raises(ImportFailed) as refused:
        import_csv(store, path, creditor_ref="ACME")
    found: dict[int, list[tuple[str | None, str]]] = {}
    for problem in refused.value.problems:
        found.setdefault(problem.line, []).append((problem.column, problem.reason))
    return found


def test_a_totals_line_is_named_as_such_and_nothing_is_imported(store, tmp_path: Path) -> None:
    import_csv(store, _write(tmp_path, "debtors.csv", DEBTORS_HEADER + f"D1;b2b;Total SA;;{ADDRESS}\n"),
               creditor_ref="ACME")
    assert _count(store, Debtor) == 1  # « Total SA » is a debtor's name, not a totals line
    invoices = _write(tmp_path, "invoices.csv", INVOICES_HEADER
                      + "F1;D1;2025-01-01;2025-02-01;100,00;EUR\n"
                      + ";;TOTAL;12 345,67\n"  # Sage: fewer cells than the header
                      + "Total;;;;1234,56;\n"
                      + ";;;Sous-total général;100,00;\n")
    problems = _problems(store, invoices)
    assert sorted(problems) == [3, 4, 5]
    assert problems[3] == [("issue_date", "looks like a totals line ('TOTAL'), not a record: remove it from the file")]
    assert problems[4] == [("invoice_number",
                            "looks like a totals line ('Total'), not a record: remove it from the file")]
    assert problems[5] == [("due_date", "looks like a totals line ('Sous-total général'), not a record: remove it "
                                        "from the file")]
    assert _count(store, Invoice) == 0


def test_a_row_with_a_bad_cell_also_says_what_the_database_refuses(store, tmp_path: Path) -> None:
    import_csv(store, _write(tmp_path, "debtors.csv", DEBTORS_HEADER + f"D1;b2b;Acme;;{ADDRESS}\n"
                             + f"D2;b2b;Beta;;{ADDRESS}\n"), creditor_ref="ACME")
    import_csv(store, _write(tmp_path, "invoices.csv", INVOICES_HEADER + "F1;D1;2025-01-01;2025-02-01;100,00;EUR\n"),
               creditor_ref="ACME")
    invoices = _write(tmp_path, "more.csv", INVOICES_HEADER + "F2;NOPE;2025-13-01;2025-02-01;100,00;EUR\n")
    problems = _problems(store, invoices)
    assert {column for column, _reason in problems[2]} == {"issue_date", "debtor_ref"}
    assert ("debtor_ref", "unknown debtor 'NOPE': import it first") in problems[2]
    payments = _write(tmp_path, "payments.csv", "debtor_ref;payment_date;amount;invoice_number;reference\n"
                      + "GHOST;2025-02-30;10,00;;P1\n"
                      + "D1;2025-02-10;dix;F9;P2\n"
                      + "D2;2025-02-10;dix;F1;P3\n")
    problems = _problems(store, payments)
    assert ("debtor_ref", "unknown debtor 'GHOST': import it first") in problems[2]
    assert ("invoice_number", "unknown invoice 'F9'") in problems[3]
    assert ("invoice_number", "invoice of another debtor 'F1'") in problems[4]
    assert all(any(column == "amount" for column, _r in problems[line]) for line in (3, 4))
    assert _count(store, Payment) == 0


def test_a_bad_siren_or_an_excel_postal_code_is_refused(store, tmp_path: Path) -> None:
    debtors = _write(tmp_path, "debtors.csv", DEBTORS_HEADER
                     + f"D1;b2b;Acme;732829321;{ADDRESS}\n"  # last digit typed wrong
                     + "D2;b2b;Beta;;1 rue X;;1000;Bourg-en-Bresse;FR;;\n"  # Excel dropped the 0 of 01000
                     + "D3;b2b;Gamma;73282932000075;1 rue X;;01000;Bourg-en-Bresse;FR;;\n"  # SIRET, wrong check digit
                     + "D4;b2b;Delta SRL;;Rue de la Loi 42;;1040;Bruxelles;BE;;\n")
    problems = _problems(store, debtors)
    assert problems[2] == [("siren", "not a valid SIREN: '732829321' (its check digit is wrong: a typo?)")]
    assert problems[3] == [("postal_code", "postal code must have 5 digits, got '1000'; Excel may have dropped a "
                                           "leading zero (write 01000, and format the column as text)")]
    assert problems[4] == [("siren", "not a valid SIRET: '73282932000075' (its check digit is wrong: a typo?)")]
    assert 5 not in problems  # a Belgian postal code has 4 digits
    assert _count(store, Debtor) == 0


def test_a_siret_is_read_as_its_siren_and_la_poste_keeps_its_exception(store, tmp_path: Path) -> None:
    debtors = _write(tmp_path, "debtors.csv", DEBTORS_HEADER
                     + f"D1;b2b;Acme;732 829 320 00074;{ADDRESS}\n"
                     + f"D2;b2b;La Poste;35600000000010;{ADDRESS}\n"  # not Luhn, digits sum to 15
                     + "D3;b2b;Delta SRL;;Rue de la Loi 42;;1040;Bruxelles;BE;;\n")
    import_csv(store, debtors, creditor_ref="ACME")
    with store.session() as session:
        assert dict(session.execute(select(Debtor.ref, Debtor.siren)).all()) == {
            "D1": "732829320", "D2": "356000000", "D3": None}
        assert session.scalar(select(Debtor.postal_code).where(Debtor.ref == "D3")) == "1040"


def test_the_events_rejects_file_has_one_rejection_column_and_bad_rows_are_skipped(tmp_path: Path,
                                                                                 database_url: str) -> None:
    app = make_app(tmp_path, database_url, 2)
    app.run(REMINDER)
    events = _write(tmp_path, "events.csv", "event_date;debtor_ref;action;until;reason\n"
                    + "2025-13-21;D0000;dispute;;livraison incomplète\n"  # a bad date
                    + f"{REMINDER};NOPE;dispute;;livraison incomplète\n"  # no such debtor's case
                    + f"{REMINDER};D0001;note;;appel\n")
    [report] = app.import_files([events], skip_bad_rows=True)
    assert (report.inserted, report.rejected) == (1, 2)
    assert report.rejects_path is not None
    with report.rejects_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ["event_date", "debtor_ref", "action", "until", "reason", "rejection_reason"]
    assert [row[:5] for row in rows[1:]] == [["2025-13-21", "D0000", "dispute", "", "livraison incomplète"],
                                             [str(REMINDER), "NOPE", "dispute", "", "livraison incomplète"]]
    assert rows[1][5].startswith("event_date: no such date: '2025-13-21'")
    assert rows[2][5] == "debtor NOPE has no open case to record the dispute on"


@pytest.mark.parametrize(("text", "value"), [("(123,45)", "-123.45"), ("( 1 234,56 € )", "-1234.56")])
def test_an_amount_in_accounting_parentheses_is_read_as_negative(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["(-5)", "()", "(abc)"])
def test_parentheses_around_no_plain_amount_are_refused(text: str) -> None:
    with pytest.raises(MoneyError, match="not an amount"):
        parse_amount(text)


def test_a_two_digit_year_is_refused_with_its_cause() -> None:
    with pytest.raises(MoneyError, match="the year needs 4 digits"):
        parse_date("05/01/25")
    assert parse_date("2025-1-5") == parse_date("05/01/2025")


def test_empty_trailing_cells_beyond_the_header_are_not_a_bad_row(store, tmp_path: Path) -> None:
    import_csv(store, _write(tmp_path, "debtors.csv", DEBTORS_HEADER + f"D1;b2b;Acme;;{ADDRESS}\n"),
               creditor_ref="ACME")
    invoices = _write(tmp_path, "invoices.csv", INVOICES_HEADER.replace("\n", ";;\n")
                      + "F1;D1;2025-1-5;05/02/2025;1\u00a0234,56\u00a0€;EUR;\n"  # one ; short of the header
                      + "F2;D1;2025-01-05;2025-02-05;(123,45);EUR;;;;\n")  # two ; beyond it
    problems = _problems(store, invoices)
    assert problems == {3: [("amount", "amount must be positive, got -123.45")]}
    invoices.write_text(INVOICES_HEADER + "F1;D1;2025-1-5;05/02/2025;1\u00a0234,56\u00a0€;EUR;\n"
                        + "F3;D1;2025-01-05;2025-02-05;10,00;EUR;x\n", encoding="utf-8")
    assert _problems(store, invoices) == {3: [(None, "expected 6 cells, found 7 (delimiter ';')")]}
    invoices.write_text(INVOICES_HEADER + "F1;D1;2025-1-5;05/02/2025;1\u00a0234,56\u00a0€;EUR;\n", encoding="utf-8")
    import_csv(store, invoices, creditor_ref="ACME")
    with store.session() as session:
        assert session.scalar(select(Invoice.amount).where(Invoice.number == "F1")) == Decimal("1234.56")


def test_a_utf8_bom_wins_over_the_encoding_named(store, tmp_path: Path) -> None:
    debtors = tmp_path / "debtors.csv"
    debtors.write_bytes(codecs.BOM_UTF8 + (DEBTORS_HEADER + f"D1;b2b;Société Générale;;{ADDRESS}\n").encode())
    report = import_csv(store, debtors, creditor_ref="ACME", encoding="cp1252")
    assert report.inserted == 1
    with store.session() as session:
        assert session.scalar(select(Debtor.name)) == "Société Générale"


def test_a_totals_line_in_an_events_file_is_named(tmp_path: Path) -> None:
    events = _write(tmp_path, "events.csv", "event_date;debtor_ref;action;until;reason\n"
                    + "2025-03-03;D1;note;;x\n;;TOTAL;;\n")
    with pytest.raises(ImportFailed) as refused:
        read_events(events)
    assert [(p.line, p.column, p.reason) for p in refused.value.problems] == [
        (3, "action", "looks like a totals line ('TOTAL'), not a record: remove it from the file")]
