"""The command line end to end, as a collections team uses it: init, import, runs over several
dates, actions on one case, the timeline in every format, verify catching a changed letter.

On SQLite and on PostgreSQL (`--db URL`); each step asserts what it did to cases, letters on disk
and the timeline, not only its exit code.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.cli.main import cli
from engine.store.database import connect
from tests.support import REPO

EXAMPLES = REPO / "examples"
CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}


class Relance:
    """`relance --workspace DIR --db URL ...` in-process, failing the test on any unexpected exit."""

    def __init__(self, root: Path, db: str) -> None:
        self.root, self.db = root, db
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(cli, ["--workspace", str(self.root), "--db", self.db, *args], env=CLEAN_ENV)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)

    def show(self, case: str) -> dict[str, Any]:
        return self.json("case", "show", case)

    def letters(self) -> set[Path]:
        return {path.relative_to(self.root / "output") for path in (self.root / "output").rglob("*.docx")}


@pytest.fixture
def relance(tmp_path: Path, database_url: str) -> Relance:
    root = tmp_path / "ws"
    result = CliRunner().invoke(cli, ["--db", database_url, "init", str(root)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    store = connect(database_url)  # init honours --db: the schema is there before any import
    assert store.current_revision() == store.head_revision()
    store.dispose()
    assert (root / "relance.toml").is_file() and (root / "letters" / "fr" / "relance_1.docx").is_file()
    return Relance(root, database_url)


def test_a_team_escalates_acts_on_a_case_proves_its_record_and_reports(relance: Relance) -> None:
    imported = relance.json("import", str(EXAMPLES / "invoices.csv"), str(EXAMPLES / "debtors.csv"))
    assert {r["kind"]: r["inserted"] for r in imported} == {"debtors": 48, "invoices": 172}
    again = relance.json("import", str(EXAMPLES / "debtors.csv"))
    assert again[0]["inserted"] == 0 and again[0]["unchanged"] == 48

    first = relance.json("run", "--as-of", "2026-07-01")
    assert first["cases_opened"] > 0 and first["letters"] > 0 and not first["errors"]
    assert len(relance.letters()) == first["letters"]
    assert {step["to"] for step in first["steps_detail"]} == {"reminder1"}
    assert relance.json("run", "--as-of", "2026-07-01")["steps"] == 0  # the same day twice: nothing

    # A dry run tells what a real run will do, and writes nothing (no letter, no state).
    case = first["steps_detail"][0]["case"]
    before = relance.letters()
    rehearsal = relance.json("run", "--as-of", "2026-08-03", "--dry-run")
    assert rehearsal["dry_run"] and rehearsal["steps"] > 0
    assert relance.letters() == before
    assert relance.show(case)["state"] == "reminder1"
    real = relance.json("run", "--as-of", "2026-08-03")
    assert _moves(real) == _moves(rehearsal)
    assert len(relance.letters()) == len(before) + real["letters"]

    for day in ("2026-08-20", "2026-09-10"):
        assert not relance.json("run", "--as-of", day)["errors"]
    shown = relance.show(case)
    assert shown["state"] not in ("due", "reminder1", "paid") and shown["letters_sent"] >= 2
    balance = Decimal(shown["balance"])

    # Partial payment: the balance drops by exactly that much, escalation goes on.
    part = (balance / 3).quantize(Decimal("0.01"))
    relance("case", "pay", case, str(part).replace(".", ","), "--as-of", "2026-09-11", "--by", "alice")
    after_payment = relance.show(case)
    assert Decimal(after_payment["balance"]) == balance - part
    assert after_payment["state"] == shown["state"]

    # A dispute pauses everything until resolved; the run leaves the case alone meanwhile.
    relance("case", "dispute", case, "--as-of", "2026-09-12", "--reason", "livraison contestée")
    assert relance.show(case)["state"] == "disputed"
    paused = relance.json("run", "--as-of", "2026-10-30")
    assert case not in {step["case"] for step in paused["steps_detail"]}
    relance("case", "resolve", case, "--as-of", "2026-10-31", "--reason", "livraison confirmée")
    assert relance.show(case)["state"] == shown["state"]

    relance("case", "promise", case, "--until", "2026-11-06", "--as-of", "2026-11-02")
    promised = relance.show(case)
    assert promised["state"] == "promised" and promised["promise_until"] == "2026-11-06"

    relance("case", "hold", case, "--as-of", "2026-11-03", "--reason", "échéancier à l'étude")
    assert relance.show(case)["on_hold"] is True
    # What a person records is dated on or before today (a payment received tomorrow has not happened), so the
    # story ends before the day these tests were written; runs may still look ahead.
    held = relance.json("run", "--as-of", "2026-11-10")
    assert case not in {step["case"] for step in held["steps_detail"]}
    relance("case", "resume", case, "--as-of", "2026-11-11")
    assert relance.show(case)["on_hold"] is False

    letters_before_jump = relance.letters()
    relance("case", "jump", case, "formal_notice", "--as-of", "2026-11-12", "--reason", "sur instruction",
            "--by", "bob")
    assert relance.show(case)["state"] != "formal_notice"  # the formal notice waits for its approval
    assert relance.letters() == letters_before_jump
    relance("approve", case, "--by", "carol", "--as-of", "2026-11-12")
    assert relance.show(case)["state"] == "formal_notice"
    new_letters = relance.letters() - letters_before_jump
    assert len(new_letters) == 1 and next(iter(new_letters)).name.endswith("formal_notice.docx")

    _timeline_formats(relance, case, shown_debtor=shown["debtor"], part=part)
    _verify_then_tamper(relance, next(iter(new_letters)))

    # The rest of the balance closes the case.
    rest = Decimal(relance.show(case)["balance"])
    relance("case", "pay", case, str(rest), "--as-of", "2026-11-13")
    closed = relance.show(case)
    assert closed["state"] == "paid" and Decimal(closed["balance"]) == 0

    _report(relance, paid=part + rest, settled_invoices=len(closed["invoices"]))


def _report(relance: Relance, *, paid: Decimal, settled_invoices: int) -> None:
    """The aging balance is what was invoiced less what was paid; the funnel credits the payments."""
    invoiced = sum(Decimal(row["amount"]) for row in csv.DictReader(
        (EXAMPLES / "invoices.csv").open(encoding="utf-8"), delimiter=";"))
    report = relance.json("report", "--as-of", "2026-12-18")
    assert Decimal(report["aging"]["total"]["amount"]) == invoiced - paid
    assert sum(b["invoices"] for b in report["aging"]["buckets"]) == 172 - settled_invoices  # unpaid ones only
    steps = {step["state"]: step for step in report["funnel"]["steps"]}
    assert steps["paid"]["current"] == 1 and Decimal(report["funnel"]["recovered"]) == paid
    assert steps["reminder1"]["reached"] >= steps["reminder2"]["reached"] >= steps["formal_notice"]["reached"] >= 1
    page = relance.root / "report.html"
    relance("report", "--as-of", "2026-12-18", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert "Balance âgée" in html and "<svg" in html


def _moves(run: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(step["case"], step["from"], step["to"]) for step in run["steps_detail"]}


def _timeline_formats(relance: Relance, case: str, *, shown_debtor: str, part: Decimal) -> None:
    text = relance("timeline", case).stdout
    assert "chaîne d'empreintes SHA-256 intacte" in text  # the printable timeline is in French
    assert "[par alice]" in text and "[par bob]" in text and "livraison contestée" in text
    assert (text.index(" contestation ") < text.index("fin de contestation") < text.index("promesse de paiement")
            < text.index("changement manuel"))

    timeline = json.loads(relance("timeline", case, "--format", "json").stdout)
    kinds = [event["kind"] for event in timeline["events"]]
    for kind in ("case_opened", "state_change", "letter", "payment", "dispute", "resolve", "promise", "hold",
                 "resume", "jump"):
        assert kind in kinds, kind
    assert [event["seq"] for event in timeline["events"]] == list(range(1, len(kinds) + 1))
    assert timeline["chain"]["ok"] is True
    payment = next(event for event in timeline["events"] if event["kind"] == "payment")
    assert Decimal(str(payment["payload"]["amount"])) == part and payment["actor"] == "alice"

    rows = list(csv.DictReader(io.StringIO(relance("timeline", case, "--format", "csv").stdout), delimiter=";"))
    assert [row["kind"] for row in rows] == kinds
    assert [row["hash"] for row in rows] == [event["hash"] for event in timeline["events"]]

    page = relance.root / "timeline.html"
    relance("timeline", case, "--format", "html", "--output", str(page))
    html = page.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html") and case in html
    assert escape(shown_debtor) in html or escape(shown_debtor, quote=False) in html


def _verify_then_tamper(relance: Relance, letter: Path) -> None:
    assert relance.json("verify")["ok"] is True
    path = relance.root / "output" / letter
    original = path.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01
    path.write_bytes(bytes(changed))
    try:
        result = relance("verify", code=1)
        assert str(letter) in result.stdout and "altered" in result.stdout
        report = relance.json("verify", code=1)
        assert report["ok"] is False and all(str(letter) in finding for finding in report["findings"])
    finally:
        path.write_bytes(original)
    assert relance.json("verify")["ok"] is True
