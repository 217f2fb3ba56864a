"""Hostile and careless input through the command line (issue 12): imports lose nothing without a word,
exports run no formula, and names print as themselves. On SQLite and on PostgreSQL (`--db URL`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from engine.cli import output
from engine.cli.main import cli
from engine.store.database import connect
from engine.store.models import Debtor
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

# Wide enough that rich does not wrap a name inside a table cell (the assertions look for whole names).
CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None, "COLUMNS": "250"}
ADDRESS = "1 rue de la Paix;;75002;Paris;FR;;"
MARKUP_NAME = "Bad [/] close SARL"
# An OSC 8 hyperlink, a colour and a window title: what a hostile name would do to a terminal.
ESCAPE_NAME = "Evil \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 \x1b[31mRED\x1b[0m \x1b]0;pwned\x07 SA"
TERMINAL_BYTES = ("\x1b", "\x07")


class Relance:
    def __init__(self, root: Path, db: str) -> None:
        self.root, self.db = root, db

    def __call__(self, *args: str, code: int = 0) -> Result:
        fresh_consoles()
        result = CliRunner().invoke(cli, ["--workspace", str(self.root), "--db", self.db, *args], env=CLEAN_ENV)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def csv(self, name: str, text: str) -> str:
        path = self.root / name
        path.write_text(text, encoding="utf-8", newline="")
        return str(path)

    def letters(self) -> list[Path]:
        return sorted((self.root / "output").rglob("*.docx"))


def fresh_consoles() -> None:
    """Each command a console of its own, as in a real process: rich fixes the width (COLUMNS) when the
    console is made, and an earlier test in this process may have made it 80 columns wide."""
    output.console._console = None
    output.errors_console._console = None


@pytest.fixture
def relance(tmp_path: Path, database_url: str) -> Relance:
    root = tmp_path / "ws"
    result = CliRunner().invoke(cli, ["--db", database_url, "init", str(root)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    return Relance(root, database_url)


def _error(result: Result) -> str:
    return "\n".join(line for line in result.output.splitlines() if line.strip())


def test_import_refusals_are_located_and_extra_columns_need_a_flag(relance: Relance) -> None:
    broken = relance.csv("debtors.csv", DEBTORS_HEADER + f'D1;b2b;"Acme SARL;;{ADDRESS}\nD2;b2b;Beta SA;;{ADDRESS}\n')
    said = _error(relance("import", broken, code=1))
    assert f"{broken}:2: column 'name': unclosed quote" in said and "--skip-bad-rows" not in said

    misspelt = relance.csv("more.csv", "debtor_ref;kind;name;adress_line1\nD1;b2b;Acme;1 rue de la Paix\n")
    said = _error(relance("import", misspelt, code=1))
    assert "unknown column 'adress_line1'" in said and "did you mean 'address_line1'" in said
    assert relance.json("case", "list") == []
    allowed = relance("import", "--allow-extra-columns", misspelt)
    assert "warning" in allowed.output and "adress_line1" in allowed.output

    nul = relance.csv("nul.csv", "debtor_ref;kind;name\nD3;b2b;Ga\x00mma\n")
    said = _error(relance("import", nul, code=1))
    assert f"{nul}:2: column 'name'" in said and "\\x00" in said


def test_an_overpayment_is_shown_and_pays_the_next_invoice_which_gets_no_letter(relance: Relance) -> None:
    relance("import", relance.csv("debtors.csv", DEBTORS_HEADER + f"D1;b2b;Acme SARL;;{ADDRESS}\n"),
            relance.csv("f1.csv", INVOICES_HEADER + "F1;D1;2025-01-01;2025-01-10;150,00;EUR\n"))
    assert relance.json("run", "--as-of", "2025-01-20")["letters"] == 1
    relance("import", relance.csv("pay.csv", "debtor_ref;payment_date;amount;reference\nD1;2025-01-25;500;VIR-1\n"))
    shown = relance.json("case", "show", "F1")
    assert (shown["balance"], shown["debtor_credit"]) == ("0.00", "350.00")
    assert "debtor credit" in relance("case", "show", "F1").output
    report = relance.json("report", "--as-of", "2025-01-26")
    assert report["aging"]["unapplied_credit"] == "350.00" and report["aging"]["debtors_in_credit"] == 1
    assert "Unapplied credit" in relance("report", "--as-of", "2025-01-26").output

    relance("import", relance.csv("f2.csv", INVOICES_HEADER + "F2;D1;2025-02-01;2025-03-01;200,00;EUR\n"))
    letters = relance.letters()
    later = relance.json("run", "--as-of", "2025-04-15")
    assert later["cases_opened"] == 0 and later["letters"] == 0 and relance.letters() == letters
    assert all(step["case"] != "ALD-F2" for step in later["steps_detail"])
    assert relance.json("case", "show", "F1")["debtor_credit"] == "150.00"


def test_timeline_and_rejects_csv_cells_run_no_formula(relance: Relance) -> None:
    relance("import", relance.csv("debtors.csv", DEBTORS_HEADER + f"D1;b2b;Acme SARL;;{ADDRESS}\n"),
            relance.csv("f1.csv", INVOICES_HEADER + "F1;D1;2025-01-01;2025-01-10;150,00;EUR\n"))
    relance("run", "--as-of", "2025-01-20")
    relance("case", "note", "F1", "--by", "=1+1", "--reason", '=HYPERLINK("http://evil.example","x")',
            "--as-of", "2025-01-21")
    relance("case", "note", "F1", "--by", "@SUM(A1)", "--reason", "-2+3", "--as-of", "2025-01-22")
    rows = list(csv.DictReader(io.StringIO(relance("timeline", "F1", "--format", "csv").stdout), delimiter=";"))
    assert [row["actor"] for row in rows if row["kind"] == "note"] == ["'=1+1", "'@SUM(A1)"]
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rows for value in row.values())

    bad = relance.csv("bad.csv", DEBTORS_HEADER + f"D2;b2b;Beta;;{ADDRESS}\n"
                                                  f"D3;xx;=cmd|' /C calc'!A0;;{ADDRESS}\n")
    relance("import", "--skip-bad-rows", bad)
    rejected = list(csv.reader((relance.root / "bad.rejected.csv").open(encoding="utf-8"), delimiter=";"))
    assert rejected[1][2] == "'=cmd|' /C calc'!A0"
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rejected for value in row)


def test_the_case_events_rejects_csv_runs_no_formula(relance: Relance) -> None:
    """events.rejected.csv was written by a plain csv.writer: a reason typed as =HYPERLINK(...) came back
    as a live formula in the file the team opens in a spreadsheet to fix its rows."""
    relance("import", relance.csv("debtors.csv", DEBTORS_HEADER + f"D1;b2b;Acme SARL;;{ADDRESS}\n"))
    events = relance.csv("events.csv", "event_date;debtor_ref;action;until;reason\n"
                                       '2025-01-21;NOPE;dispute;;"=HYPERLINK(""http://evil.example"")"\n'
                                       "2025-01-21;D1;note;;@SUM(A1) rappel\n")
    relance("import", "--skip-bad-rows", events)
    rejected = list(csv.reader((relance.root / "events.rejected.csv").open(encoding="utf-8"), delimiter=";"))
    assert [row[4] for row in rejected[1:]] == ["'=HYPERLINK(\"http://evil.example\")", "'@SUM(A1) rappel"]
    assert not any(value.startswith(("=", "+", "-", "@")) for row in rejected for value in row)


def test_hostile_names_print_as_themselves_in_every_command(relance: Relance) -> None:
    relance("import", relance.csv("debtors.csv", DEBTORS_HEADER + f"D1;b2b;{MARKUP_NAME};;{ADDRESS}\n"
                                                                  f"D2;b2b;Plain SA;;{ADDRESS}\n"),
            relance.csv("f.csv", INVOICES_HEADER + "F[/]1;D1;2025-01-01;2025-01-10;150,00;EUR\n"
                                                   "F2;D2;2025-01-01;2025-01-10;90,00;EUR\n"))
    relance("run", "--as-of", "2025-01-20")
    # Control characters cannot come in through an import; they can sit in an older database.
    store = connect(relance.db)
    with store.session() as session:
        session.execute(update(Debtor).where(Debtor.ref == "D2").values(name=ESCAPE_NAME, ref="D2\x1b[5m"))
        session.commit()
    store.dispose()
    relance("case", "note", "F2", "--reason", "[link=http://evil.example]click[/link] \x1b]0;title\x07",
            "--as-of", "2025-01-21")

    outputs = {
        "case show markup": relance("case", "show", "F[/]1").output,
        "case show escape": relance("case", "show", "F2").output,
        "case list": relance("case", "list").output,
        "timeline markup": relance("timeline", "F[/]1").output,
        "timeline escape": relance("timeline", "F2").output,
        "report": relance("report", "--as-of", "2025-01-21").output,
    }
    for what, printed in outputs.items():
        assert not any(byte in printed for byte in TERMINAL_BYTES), what
    for what in ("case show markup", "timeline markup", "report"):
        assert MARKUP_NAME in outputs[what], f"{what}:\n{outputs[what]}"  # whole, should it ever fail
    assert "ALD-F[/]1" in outputs["case list"] and "D2\\x1b[5m" in outputs["case list"]
    for what in ("case show escape", "timeline escape", "report"):
        assert "Evil \\x1b]8;;http://evil.example\\x07link" in outputs[what], what
    assert "[link=http://evil.example]click[/link] \\x1b]0;title\\x07" in outputs["timeline escape"]


def test_json_outputs_keep_hostile_names_exact_and_print_them_inert(relance: Relance) -> None:
    """`--json` gives a program the name exactly as stored, yet prints none of the characters that act on a
    terminal: json.dumps escapes C0 controls only, so DEL, a C1 CSI (\\x9b, a terminal's ESC [) and a
    right-to-left override are written as \\u escapes, which parse back to the same text."""
    name = "Sly\x9b31m SA \u202eAS ylS\x7f"
    relance("import", relance.csv("debtors.csv", DEBTORS_HEADER + f"D1;b2b;Sly SA;;{ADDRESS}\n"),
            relance.csv("f.csv", INVOICES_HEADER + "F1;D1;2025-01-01;2025-01-10;150,00;EUR\n"))
    store = connect(relance.db)
    with store.session() as session:  # as if from an older database: an import refuses these characters
        session.execute(update(Debtor).where(Debtor.ref == "D1").values(name=name))
        session.commit()
    store.dispose()
    printed = {
        "run": relance("run", "--as-of", "2025-01-20", "--json").stdout,
        "case show": relance("case", "show", "F1", "--json").stdout,
        "case list": relance("case", "list", "--json").stdout,
        "timeline": relance("timeline", "F1", "--format", "json").stdout,
    }
    for what, text in printed.items():
        assert not any(char in text for char in "\x9b\u202e\x7f"), what
    assert json.loads(printed["case show"])["debtor"] == name
    assert [row["debtor"] for row in json.loads(printed["case list"])] == [name]
    assert json.loads(printed["timeline"])["case"]["debtor"]["name"] == name
