"""Amounts and dates typed by people are read by one parser: every entry point accepts and refuses the same forms.

The table is fed to each entry point — a payments CSV (`relance import`), `relance case pay`, `--as-of`
and `--until` — and each must agree with engine.core.money to the cent and to the day.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.cli.main import cli
from engine.core.money import MoneyError, parse_amount, parse_date
from tests.support import EXAMPLES

CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}
RUN_DAY = "2026-07-01"

AMOUNTS_ACCEPTED = [
    ("1234.56", "1234.56"), ("1 234,56", "1234.56"), ("1\u00a0234,56", "1234.56"), ("1\u202f234,56", "1234.56"),
    ("1.234,56", "1234.56"), ("1,234.56", "1234.56"), ("1234.56 EUR", "1234.56"), ("1234,56 €", "1234.56"),
    ("€12", "12.00"), ("12", "12.00"), ("0,5", "0.50"), ("1'234.50", "1234.50"),
]
AMOUNTS_REFUSED = ["douze", "12.345", "1,2345", "12 USD", "1e3", "12,5,5", "1.2.3", "12 EUR €", "€",
                   # Thousands come by three: these are typos, not 10050.00, 12.30, 123.40 or 1234.56.
                   "100 50", "1,2.3", "1.23,4", "12 34,56", "١٢٣"]
DATES_ACCEPTED = [
    ("2027-05-02", date(2027, 5, 2)), ("02/05/2027", date(2027, 5, 2)), ("02.05.2027", date(2027, 5, 2)),
    ("2/5/2027", date(2027, 5, 2)), ("2027-5-2", date(2027, 5, 2)),
]
DATES_REFUSED = ["2027-13-01", "31/02/2027", "02/05/27", "9999-12-31", "1999-12-31", "tomorrow", "2027/05/02", ""]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("typed") / "ws"
    for args in (["init", str(root)],
                 ["--workspace", str(root), "import", str(EXAMPLES / "debtors.csv"), str(EXAMPLES / "invoices.csv")],
                 ["--workspace", str(root), "run", "--as-of", RUN_DAY]):
        result = CliRunner().invoke(cli, args, env=CLEAN_ENV)
        assert result.exit_code == 0, result.output
    return root


def relance(workspace: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--workspace", str(workspace), *args], env=CLEAN_ENV)


def open_cases(workspace: Path) -> list[str]:
    return [row["case"] for row in json.loads(relance(workspace, "case", "list", "--json").output)]


def last_event(workspace: Path, case: str, kind: str) -> dict | None:
    events = json.loads(relance(workspace, "timeline", case, "--format", "json").output)["events"]
    found = [event for event in events if event["kind"] == kind]
    return found[-1] if found else None


def test_the_table_agrees_with_the_parser() -> None:
    """The table itself is right about the parser (so the entry point tests below compare with the truth)."""
    for text, value in AMOUNTS_ACCEPTED:
        assert parse_amount(text) == Decimal(value)
    for text in AMOUNTS_REFUSED:
        with pytest.raises(MoneyError):
            parse_amount(text)
    for text, day in DATES_ACCEPTED:
        assert parse_date(text) == day
    for text in DATES_REFUSED:
        with pytest.raises(MoneyError):
            parse_date(text)


@pytest.mark.parametrize(("text", "value"), AMOUNTS_ACCEPTED)
def test_import_reads_every_accepted_amount(workspace: Path, tmp_path: Path, text: str, value: str) -> None:
    before = last_event(workspace, "ALD-FA-2026-0101", "payment")
    payments = tmp_path / "payments.csv"
    payments.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                        f"CLI-006;{RUN_DAY};{text};FA-2026-0101;import-{AMOUNTS_ACCEPTED.index((text, value))}\n",
                        encoding="utf-8")
    result = relance(workspace, "import", str(payments))
    assert result.exit_code == 0, result.output
    event = last_event(workspace, "ALD-FA-2026-0101", "payment")
    assert event is not None and event != before
    assert Decimal(event["payload"]["amount"]) == Decimal(value)


@pytest.mark.parametrize("text", AMOUNTS_REFUSED)
def test_import_refuses_every_refused_amount(workspace: Path, tmp_path: Path, text: str) -> None:
    payments = tmp_path / "payments.csv"
    payments.write_text(f"debtor_ref;payment_date;amount;reference\nCLI-006;{RUN_DAY};\"{text}\";bad-{text}\n",
                        encoding="utf-8")
    result = relance(workspace, "import", str(payments))
    assert result.exit_code == 1
    assert f"{payments}:2: column 'amount'" in result.output


@pytest.mark.parametrize(("text", "value"), AMOUNTS_ACCEPTED)
def test_case_pay_reads_every_accepted_amount(workspace: Path, text: str, value: str) -> None:
    case = open_cases(workspace)[-1]
    result = relance(workspace, "case", "pay", case, text, "--as-of", RUN_DAY, "--reference", f"pay-{text}")
    assert result.exit_code == 0, result.output
    event = last_event(workspace, case, "payment")
    assert event is not None and event["payload"]["reference"] == f"pay-{text}"
    assert Decimal(event["payload"]["amount"]) == Decimal(value)


@pytest.mark.parametrize("text", AMOUNTS_REFUSED)
def test_case_pay_refuses_every_refused_amount(workspace: Path, text: str) -> None:
    case = open_cases(workspace)[-1]
    before = last_event(workspace, case, "payment")
    result = relance(workspace, "case", "pay", case, text, "--as-of", RUN_DAY)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert last_event(workspace, case, "payment") == before


@pytest.mark.parametrize(("text", "day"), DATES_ACCEPTED)
def test_as_of_reads_every_accepted_date(workspace: Path, text: str, day: date) -> None:
    result = relance(workspace, "run", "--as-of", text, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["as_of"] == day.isoformat()


@pytest.mark.parametrize("text", DATES_REFUSED)
def test_as_of_refuses_every_refused_date(workspace: Path, text: str) -> None:
    result = relance(workspace, "run", "--as-of", text, "--dry-run")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] != []


@pytest.mark.parametrize(("index", "text", "day"), [(i, text, day) for i, (text, day) in enumerate(DATES_ACCEPTED)])
def test_until_reads_every_accepted_date(workspace: Path, index: int, text: str, day: date) -> None:
    case = open_cases(workspace)[index]  # one case per form: a case holds one promise at a time
    result = relance(workspace, "case", "promise", case, "--until", text, "--as-of", RUN_DAY)
    assert result.exit_code == 0, result.output
    promise = last_event(workspace, case, "promise")
    assert promise is not None and promise["payload"]["until"] == day.isoformat()


@pytest.mark.parametrize("text", DATES_REFUSED)
def test_until_refuses_every_refused_date(workspace: Path, text: str) -> None:
    case = open_cases(workspace)[-2]
    result = relance(workspace, "case", "promise", case, "--until", text, "--as-of", RUN_DAY)
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize(("text", "day"), DATES_ACCEPTED)
def test_import_reads_every_accepted_date(workspace: Path, tmp_path: Path, text: str, day: date) -> None:
    invoices = tmp_path / "invoices.csv"
    number = f"T-{day.isoformat()}-{len(text)}-{text.count('/')}{text.count('.')}"
    invoices.write_text("invoice_number;debtor_ref;issue_date;due_date;amount\n"
                        f"{number};CLI-006;{text};{text};10,00\n", encoding="utf-8")
    result = relance(workspace, "import", str(invoices), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[0]["inserted"] == 1


@pytest.mark.parametrize("text", DATES_REFUSED)
def test_import_refuses_every_refused_date(workspace: Path, tmp_path: Path, text: str) -> None:
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(f"invoice_number;debtor_ref;issue_date;due_date;amount\nBAD-1;CLI-006;{text};2027-01-01;10\n",
                        encoding="utf-8")
    result = relance(workspace, "import", str(invoices))
    assert result.exit_code == 1
    assert f"{invoices}:2: column 'issue_date'" in result.output


def test_a_payment_dated_after_today_is_refused_by_case_pay_and_by_the_import(workspace: Path,
                                                                               tmp_path: Path) -> None:
    """One rule (engine.core.calendar.happened_by) for the web form, `case pay` and the payments import: a
    payment is recorded once received, so never dated after today; one line says why, nothing is recorded."""
    from datetime import timedelta

    today = date.today()
    tomorrow = today + timedelta(days=1)
    case = open_cases(workspace)[-1]
    before = last_event(workspace, case, "payment")
    result = relance(workspace, "case", "pay", case, "10", "--as-of", tomorrow.isoformat())
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {tomorrow.isoformat()} is after today ({today.isoformat()}): "
                                     "record what happened, on its day")
    # Every other thing a person records, as the web app's forms refuse it too.
    for command in (["case", "dispute", case, "--reason", "x"], ["case", "note", case, "--reason", "x"],
                    ["case", "call", case, "--outcome", "reached"], ["approve", case, "--by", "x"],
                    ["debtor", "hold", "CLI-006", "--reason", "x"]):
        result = relance(workspace, *command, "--as-of", tomorrow.isoformat())
        assert result.exit_code == 1 and "is after today" in result.output, (command, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output
    payments = tmp_path / "payments.csv"
    payments.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                        f"CLI-006;{tomorrow:%d/%m/%Y};10,00;FA-2026-0101;future-1\n", encoding="utf-8")
    result = relance(workspace, "import", str(payments))
    assert result.exit_code == 1
    assert f"{payments}:2: column 'payment_date': {tomorrow.isoformat()} is after today" in result.output
    assert last_event(workspace, case, "payment") == before
    assert last_event(workspace, "ALD-FA-2026-0101", "payment") is None or "future-1" not in str(
        last_event(workspace, "ALD-FA-2026-0101", "payment"))
    # A credit note is recorded once issued: one dated tomorrow would lower what a letter claims today.
    credit_notes = tmp_path / "credit_notes.csv"
    credit_notes.write_text("credit_note_number;debtor_ref;issue_date;amount;invoice_number\n"
                            f"AV-FUTURE;CLI-006;{tomorrow:%d/%m/%Y};10,00;FA-2026-0101\n", encoding="utf-8")
    result = relance(workspace, "import", str(credit_notes))
    assert result.exit_code == 1
    assert f"{credit_notes}:2: column 'issue_date': {tomorrow.isoformat()} is after today" in result.output



def test_case_show_prints_its_flags_as_words(workspace: Path) -> None:
    """A clerk reads « on hold: no », never Python's False or None."""
    import re

    case = open_cases(workspace)[0]
    shown = CliRunner().invoke(cli, ["--workspace", str(workspace), "case", "show", case], env={**CLEAN_ENV,
                                                                                               "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert re.search(r"on hold\s+│ no\b", shown.output) and re.search(r"disputed\s+│ no\b", shown.output)
    assert not re.search(r"\b(True|False|None)\b", shown.output), shown.output
