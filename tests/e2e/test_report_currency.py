"""`relance report` and the web report in each currency: amounts of two currencies are never added,
and the ones left out of the euro report can be read in their own (--currency, ?devise=)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli

CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}
DEBTORS = "debtor_ref;kind;name;country\nE1;b2b;Dupont & Fils;FR\nU1;b2b;<script>Acme</script> Inc;US\n"
INVOICES = """invoice_number;debtor_ref;issue_date;due_date;amount;currency
FE1;E1;2026-04-01;2026-05-01;1000.00;EUR
FU1;U1;2026-04-01;2026-05-01;10000.00;USD
FU2;U1;2026-04-15;2026-06-10;2500.50;USD
"""
PAYMENTS = "debtor_ref;payment_date;amount;invoice_number;reference;currency\nU1;2026-05-20;4000.00;FU1;WIRE;USD\n"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(root)], env=CLEAN_ENV).exit_code == 0
    files = []
    for name, text in (("debtors.csv", DEBTORS), ("invoices.csv", INVOICES), ("payments.csv", PAYMENTS)):
        files.append(tmp_path / name)
        files[-1].write_text(text, encoding="utf-8")
    done = runner.invoke(cli, ["--workspace", str(root), "import", *map(str, files)], env=CLEAN_ENV)
    assert done.exit_code == 0, done.output
    return root


def _report(root: Path, *args: str) -> tuple[int, str]:
    done = CliRunner().invoke(cli, ["--workspace", str(root), "report", "--as-of", "2026-06-01", *args],
                              env={**CLEAN_ENV, "COLUMNS": "200"})
    assert "Traceback" not in done.output
    return done.exit_code, done.output


def test_the_dollar_receivables_have_their_report(workspace: Path) -> None:
    """The euro report said "Not in the aging (other currencies): 2 in USD unpaid invoice(s)" and no
    command showed those 8 500,50 $US: a team with American debtors could not see what they owed."""
    code, text = _report(workspace)
    assert code == 0 and "1\u00a0000,00\u00a0€" in text and "$US" not in text
    assert "2 in USD unpaid invoice(s) — see `relance report --currency USD`" in text
    code, text = _report(workspace, "--currency", "usd", "--json")
    assert code == 0
    data = json.loads(text)
    assert data["aging"]["currency"] == data["funnel"]["currency"] == "USD"
    total = data["aging"]["total"]
    assert (total["invoices"], total["debtors"], total["amount"]) == (2, 1, "8500.50")
    assert {b["key"]: b["amount"] for b in data["aging"]["buckets"] if b["invoices"]} == {
        "not_due": "2500.50", "31_60": "6000.00"}
    assert data["aging"]["other_currencies"] == {"EUR": 1}
    code, text = _report(workspace, "--currency", "USD")
    assert code == 0 and "8\u00a0500,50\u00a0$US" in text and "€" not in text.split("Not in the aging")[0]


def test_a_currency_nobody_pays_in_is_one_line(workspace: Path) -> None:
    code, text = _report(workspace, "--currency", "USX")
    assert code == 2 and "Invalid value for '--currency': unknown currency 'USX'" in text
