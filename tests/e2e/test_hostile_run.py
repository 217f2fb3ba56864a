"""The run and the careful commands from the command line, as a careless or hostile user drives them:
a case that fails stays that case's failure (the others advance, exit 1, `case list --errors`), a broken
template or output folder stops the run before it opens anything, one run at a time on a SQLite file,
and bad `--db`, dates and payment dates are one line each, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.cli.main import cli
from tests.support import REPO, write_portfolio
from tests.templates import add_paragraph, split_tag_in_tracked_change

EXAMPLES = REPO / "examples"
RELANCE = Path(sys.executable).parent / "relance"
CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}
REMINDER2_GUARD = 'after: 10 days            # the 8 days given in reminder1, plus post\n    when: "balance > 0"'


class Relance:
    """`relance --workspace DIR --db URL ...` in-process; checks the exit code and that no traceback shows."""

    def __init__(self, root: Path, db: str) -> None:
        self.root, self.db = root, db

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(cli, ["--workspace", str(self.root), "--db", self.db, *args], env=CLEAN_ENV)
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self(*args, "--json", code=code).stdout)

    def error_line(self, *args: str, code: int = 1) -> str:
        """The one `Error: ` line of a refused command."""
        result = self(*args, code=code)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        lines = [line for line in result.output.splitlines() if line.startswith("Error: ")]
        assert len(lines) == 1, result.output
        return lines[0]

    def letters(self) -> list[Path]:
        return sorted((self.root / "output").rglob("*.docx"))


def workspace(tmp_path: Path, db: str) -> Relance:
    root = tmp_path / "ws"
    result = CliRunner().invoke(cli, ["--db", db, "init", str(root)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    relance = Relance(root, db)
    relance("import", str(EXAMPLES / "debtors.csv"), str(EXAMPLES / "invoices.csv"))
    return relance


@pytest.fixture
def on_sqlite(tmp_path: Path, sqlite_url: str) -> Relance:
    return workspace(tmp_path, sqlite_url)


def test_a_guard_failing_at_run_time_fails_only_the_cases_reaching_it(tmp_path: Path, database_url: str) -> None:
    relance = workspace(tmp_path, database_url)
    policy = relance.root / "workflows" / "fr-b2b.yaml"
    text = policy.read_text(encoding="utf-8")
    assert REMINDER2_GUARD in text
    policy.write_text(text.replace(REMINDER2_GUARD, REMINDER2_GUARD.replace("balance > 0", "balance / (letters_sent - letters_sent) > 1")),
                      encoding="utf-8")
    first = relance.json("run", "--as-of", "2026-07-01")  # reminder1 for the overdue: the guard not reached yet
    assert first["errors"] == [] and first["letters"] > 0
    in_reminder1 = {c["case"] for c in relance.json("case", "list") if c["state"] == "reminder1"}
    b2b_in_reminder1 = {ref for ref in in_reminder1 if relance.json("case", "show", ref)["workflow"].startswith("fr-b2b-standard v")}
    assert b2b_in_reminder1

    # Two weeks later, every case in reminder1 meets the broken guard on its way to reminder2 (B2B ones:
    # consumers run on fr-b2c.yaml); the others still advance. Everything is printed, then exit 1.
    second = relance.json("run", "--as-of", "2026-07-15", code=1)
    failed = {error["case"] for error in second["errors"]}
    assert failed == b2b_in_reminder1
    for e in second["errors"]:
        assert f"{policy}:" in e["error"] and "'balance / (letters_sent - letters_sent) > 1'" in e["error"], (e, str(policy))
    advanced = {step["case"] for step in second["steps_detail"]}
    assert advanced and not advanced & failed
    listed = relance.json("case", "list", "--errors")
    assert {c["case"] for c in listed} == failed
    assert all(c["state"] == "reminder1" and c["error_on"] == "2026-07-15" for c in listed)
    case = sorted(failed)[0]
    assert "'balance / (letters_sent - letters_sent) > 1'" in relance("timeline", case).output
    assert "ok" in relance("verify").output

    # The human-readable run says it too, and a worker's pass behaves the same (and writes no second event).
    text_run = relance("run", "--as-of", "2026-07-15", code=1).output
    assert f"case {case} not moved" in text_run and f"{len(failed)} case(s) failed" in text_run
    assert "case list --errors" in text_run
    relance("worker", "--once", "--as-of", "2026-07-15", code=1)
    events = relance("timeline", case, "--format", "json").output
    assert events.count('"kind": "error"') == 1

    # A case moved on by hand then advanced by the run leaves the list; the others stay on it (joined by
    # the cases that reached reminder2 since).
    relance("case", "jump", case, "reminder3", "--as-of", "2026-07-16", "--reason", "guard broken, sent by hand")
    later = relance.json("run", "--as-of", "2026-07-27", code=1)
    # The formal notice is due: the case waits for its approval (the shipped policy asks for one).
    assert case in {w["case"] for w in relance.json("approvals", "--as-of", "2026-07-27")}
    still = {c["case"] for c in relance.json("case", "list", "--errors")}
    assert still == {e["case"] for e in later["errors"]} and case not in still and failed - {case} <= still


def test_a_template_broken_by_a_tracked_change_writes_no_letter(on_sqlite: Relance) -> None:
    template = split_tag_in_tracked_change(on_sqlite.root / "letters" / "fr" / "relance_1.docx")
    checked = on_sqlite("letters", "check", code=1).output
    assert "relance_1.docx" in checked and "{{ creditor.name }}" in checked
    for args in (("run", "--as-of", "2026-07-01"), ("run", "--as-of", "2026-07-01", "--dry-run")):
        line = on_sqlite.error_line(*args)
        assert str(template) in line and "{{ creditor.name }}" in line and "letters check" in line
    assert on_sqlite.letters() == []
    assert on_sqlite.json("case", "list", "--all") == []  # nothing was opened


def test_a_letter_changing_the_context_is_refused_before_any_case_opens(on_sqlite: Relance) -> None:
    """The letter and the e-mail of a case share one context: a letter rewriting the payee's IBAN would
    have every queued e-mail give the debtor that IBAN. The check refuses it, so the run opens nothing."""
    tag = "{{ payee.update({'iban': 'HACKED'}) or '' }}"
    template = add_paragraph(on_sqlite.root / "letters" / "fr" / "relance_1.docx", tag)
    checked = on_sqlite("letters", "check", code=1).output
    assert "relance_1.docx" in checked and tag in checked and "forbidden by the sandbox" in checked
    line = on_sqlite.error_line("run", "--as-of", "2026-07-01")
    assert str(template) in line and tag in line and "letters check" in line
    assert on_sqlite.letters() == [] and on_sqlite.json("case", "list", "--all") == []


def test_an_unwritable_output_folder_is_one_line_and_opens_nothing(on_sqlite: Relance) -> None:
    output = on_sqlite.root / "output"
    output.rmdir()
    output.write_text("not a folder", encoding="utf-8")  # tests run as root too: permissions alone would not tell
    line = on_sqlite.error_line("run", "--as-of", "2026-07-01")
    assert str(output) in line and "nothing was opened" in line
    assert on_sqlite.json("case", "list", "--all") == []


def test_a_second_run_on_the_same_sqlite_file_is_refused_in_one_line(tmp_path: Path, sqlite_url: str) -> None:
    """Two real `relance run` processes on one SQLite file: while the first is in the middle of its run
    (held there by this test: kept waiting on the database, then paused), the second is refused in one
    line naming the first's pid; the first then finishes its work as if nothing happened."""
    root = tmp_path / "ws"
    subprocess.run([str(RELANCE), "init", str(root)], env=_env(), check=True, capture_output=True)
    files = write_portfolio(tmp_path / "csv", 20)
    command = [str(RELANCE), "--workspace", str(root), "--db", sqlite_url]
    subprocess.run([*command, "import", *map(str, files)], env=_env(), check=True, capture_output=True)
    database = sqlite_url.removeprefix("sqlite:///")
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the first run's first write waits, its run lock in hand
    first = subprocess.Popen([*command, "run", "--as-of", "2025-01-20", "--json"], env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lock = Path(database + ".run-lock")
        deadline = time.monotonic() + 120
        while not (lock.is_file() and lock.read_text().strip() == str(first.pid)):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        os.kill(first.pid, signal.SIGSTOP)  # mid-run, however slow the second is to start
        second = subprocess.run([*command, "run", "--as-of", "2025-01-20"], env=_env(), capture_output=True,
                                text=True, timeout=300)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=300)
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stderr
    assert second.stderr.strip().splitlines() == [
        f"Error: another run is in progress (pid {first.pid}) on {database}: wait for it to end "
        "(SQLite takes one run at a time; PostgreSQL takes several)"]
    assert first.returncode == 0, err
    assert json.loads(out)["cases_opened"] == 20


def test_a_database_url_that_is_no_url_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    done = subprocess.run([str(RELANCE), "--db", "not a url", "case", "list"], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    root = tmp_path / "ws"
    subprocess.run([str(RELANCE), "init", str(root)], env=_env(), check=True, capture_output=True)
    done = subprocess.run([str(RELANCE), "--db", "not a url", "run"], cwd=root, env=_env(), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("Error: not a database URL: 'not a url'") and "sqlite:///" in line
    assert not (root / "not a url").exists() and not (tmp_path / "not a url").exists()


def test_a_payment_dated_before_the_invoices_it_pays_is_one_line(on_sqlite: Relance) -> None:
    on_sqlite("run", "--as-of", "2026-07-01")
    case = on_sqlite.json("case", "list")[0]["case"]
    line = on_sqlite.error_line("case", "pay", case, "10", "--as-of", "2020-01-01")
    assert "dated 2020-01-01 cannot pay invoice" in line and "--as-of" in line
    assert on_sqlite.json("case", "show", case)["paid"] == "0.00"


@pytest.mark.parametrize("args", [
    ("run", "--dry-run", "--as-of"), ("run", "--as-of"), ("report", "--as-of"), ("worker", "--once", "--as-of"),
    ("case", "pay", "ALD-FA-2026-0102", "10", "--as-of"), ("case", "note", "ALD-FA-2026-0102", "--reason", "x", "--as-of"),
    ("case", "promise", "ALD-FA-2026-0102", "--until"), ("demo", "--until"),
])
def test_a_date_out_of_range_is_one_line_for_every_command_taking_one(on_sqlite: Relance, args: tuple[str, ...]) -> None:
    line = on_sqlite.error_line(*args, "9999-12-31", code=2)
    assert "9999-12-31" in line and "out of range" in line


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
