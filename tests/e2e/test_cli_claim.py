"""The claim's commands end to end: `case receipt`, the prescription watch and the rates in `report`, the
rates a run assumed, `letters check` in agency mode, the French printable timeline (SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli

CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}
DEBTORS = "debtor_ref;kind;name;civility\nP1;b2c;Jean Petit;M.\nP2;b2c;Anne Morel;Mme\n"
INVOICES = ("invoice_number;debtor_ref;issue_date;due_date;amount\n"
            "X1;P1;2025-12-01;2026-01-01;900.00\nB1;P2;2023-01-02;2023-02-01;650.00\n")


@pytest.fixture
def relance(tmp_path: Path):
    root = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(root)], env=CLEAN_ENV).exit_code == 0
    for policy in (root / "workflows").glob("fr-*.yaml"):  # the claim's path unattended: no approvals asked
        policy.write_text(policy.read_text(encoding="utf-8").replace("approval: required", "approval: none"),
                          encoding="utf-8")
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")

    def call(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["--workspace", str(root), *args], env=CLEAN_ENV)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.output

    call("import", str(tmp_path / "debtors.csv"), str(tmp_path / "invoices.csv"))
    return call, root


def test_receipt_report_rates_and_timeline(relance) -> None:
    call, root = relance
    for day in ("2026-01-20", "2026-02-09", "2026-03-01", "2026-03-21"):
        out = call("run", "--as-of", day)
    assert "rates used" not in out and "Rates assumed" not in out  # no interest yet on the notice's day: no rate relied on
    shown = json.loads(call("case", "show", "X1", "--json"))
    assert shown["state"] == "formal_notice" and shown["invoices"][0]["noticed_on"] == "2026-03-21"
    assert shown["invoices"][0]["prescription_on"] == "2028-01-01"

    refused = call("case", "receipt", "X1", "--received", "2026-03-10", "--as-of", "2026-03-28", code=1)
    assert "went out on 2026-03-21" in refused  # delivered before it was sent: refused in one line
    call("case", "receipt", "X1", "--tracking", "1A 012 345 6789 0", "--presented", "23/03/2026",
         "--received", "2026-03-26", "--as-of", "2026-03-28", "--by", "alice")
    shown = json.loads(call("case", "show", "X1", "--json"))
    assert shown["invoices"][0]["notice_received_on"] == "2026-03-26" and shown["next_check"] == "2026-04-25"

    assert "rates used" not in call("run", "--as-of", "2026-04-24")
    out = call("run", "--as-of", "2026-04-25")  # the hand-off claims interest at 2026 S1's legal rate
    assert "litigation" in out and "Unverified rates used" in out and "2026 S1" in out

    report = json.loads(call("report", "--as-of", "2026-03-28", "--json"))
    assert [(p["invoice"], p["time_barred"]) for p in report["prescription"]] == [("B1", True)]
    assert "2021 S1" in report["rates"]["unverified"] and report["rates"]["assumed"] == []
    table = call("report", "--as-of", "2026-07-02")
    assert "B1" in table and "Rates assumed" in table and "2026 S2" in table  # past the file's last row

    timeline = call("timeline", "X1", "--format", "html")
    assert "Mise en demeure" in timeline and "accusé de réception" in timeline and "alice" in timeline
    assert "relance (traitement automatique)" in timeline  # the "Par" column is never empty
    assert "« Première relance »" in timeline and "« reminder1 »" not in timeline  # states by their French label
    assert "état : <strong>Transmission au contentieux</strong>" in timeline
    barred = call("timeline", "B1")
    assert "prescrite depuis le 01/02/2025" in barred and "L218-2" in barred


def test_letters_check_in_agency_mode(relance) -> None:
    call, root = relance
    config = root / "relance.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[agency]\nname = "Recouvrement du Centre SARL"\n'
                      'postal_code = "63000"\ncity = "Clermont-Ferrand"\n', encoding="utf-8")
    call("letters", "check")  # the shipped pack carries the R124-4 mentions: exit 0
    letter = root / "letters" / "fr" / "relance_1.docx"
    from docx import Document

    doc = Document(str(letter))
    for paragraph in doc.paragraphs:
        if "société de recouvrement amiable" in paragraph.text:
            for run in paragraph.runs:
                run.text = ""
    doc.save(str(letter))
    refused = call("letters", "check", code=1)
    assert "relance_1.docx" in refused and "recouvrement amiable" in refused
    validated = call("validate", str(root / "workflows" / "fr-b2c.yaml"), code=1)
    assert "relance_1.docx" in validated and "recouvrement amiable" in validated
    # The run checks as `letters check` does: an agency's letter without its R124-4 mention never goes out.
    ran = call("run", "--as-of", "2026-01-10", code=1)
    assert "relance_1.docx" in ran and "recouvrement amiable" in ran
    assert not list((root / "output").rglob("*.docx"))


def test_letters_check_reads_the_email_templates_too(relance) -> None:
    call, root = relance
    email = root / "letters" / "fr" / "email" / "reminder2.html"
    email.write_text("<p>{{ creditor.name }}</p>\n<p>{% for i in range(10**6) %}{{ i }}{% endfor %}</p>\n",
                     encoding="utf-8")
    refused = call("letters", "check", code=1)
    assert "email/reminder2.html:2" in refused and "template_range" in refused


def test_approve_and_jump_warn_of_carried_forward_rates_as_run_does(tmp_path: Path) -> None:
    # The shipped rates file ends with 2026 S1: letters dated in 2026 S2 compute B2B penalties on carried-forward
    # rates. A letter written by `approve` or `case jump` relies on them as much as one written by `run`.
    root = tmp_path / "ws"
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(root)], env=CLEAN_ENV).exit_code == 0
    (tmp_path / "debtors.csv").write_text("debtor_ref;kind;name\nE1;b2b;Ets Durand\nE2;b2b;Ets Martin\n",
                                          encoding="utf-8")
    (tmp_path / "invoices.csv").write_text("invoice_number;debtor_ref;issue_date;due_date;amount\n"
                                           "N1;E1;2026-04-01;2026-05-01;900.00\n"
                                           "N2;E2;2026-04-01;2026-05-01;900.00\n", encoding="utf-8")

    def call(*args: str) -> str:
        result = runner.invoke(cli, ["--workspace", str(root), *args], env=CLEAN_ENV)
        assert result.exit_code == 0 and "Traceback" not in result.output, (args, result.output, result.exception)
        return result.output

    call("import", str(tmp_path / "debtors.csv"), str(tmp_path / "invoices.csv"))
    for day in ("2026-05-06", "2026-05-16", "2026-05-26", "2026-06-05"):  # three reminders, then the notice asks
        out = call("run", "--as-of", day)
    assert "Rates assumed" not in out
    assert json.loads(call("approvals", "--json"))[0]["to"] == "formal_notice"

    approved = call("approve", "N1", "--by", "legal", "--as-of", "2026-07-10")
    assert "formal_notice" in approved
    assert "Rates assumed" in approved and "2026 S2" in approved
    data = json.loads(call("approve", "N2", "--by", "legal", "--as-of", "2026-07-10", "--json"))
    assert data["state"] == "formal_notice" and data["rates"]["assumed"] == ["2026 S2"]

    jumped = call("case", "jump", "N1", "reminder3", "--reason", "retour en relance", "--as-of", "2026-07-11")
    assert "Rates assumed" in jumped and "2026 S2" in jumped
