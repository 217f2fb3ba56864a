"""Bad input to every command: exit 1 for a user mistake, 2 for bad usage, one line that says
what to fix, and never a traceback.

Some cases run the installed `relance` script as a real process (what a user sees, stderr
included); the rest use click's CliRunner on one shared workspace to stay fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.cli.main import cli
from tests.support import DEBTORS_HEADER, INVOICES_HEADER, REPO

EXAMPLES = REPO / "examples"
RELANCE = Path(sys.executable).parent / "relance"
CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}
CASE = "ALD-FA-2026-0102"  # an example invoice overdue since May: a case from the first run on


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace with the example debtors and invoices, run once, shared by the read-only cases."""
    root = tmp_path_factory.mktemp("errors") / "ws"
    for args in (["init", str(root)],
                 ["--workspace", str(root), "import", str(EXAMPLES / "debtors.csv"), str(EXAMPLES / "invoices.csv")],
                 ["--workspace", str(root), "run", "--as-of", "2026-07-01"]):
        result = CliRunner().invoke(cli, args, env=CLEAN_ENV)
        assert result.exit_code == 0, result.output
    return root


def relance(workspace: Path | None, *args: str) -> Result:
    prefix = ["--workspace", str(workspace)] if workspace else []
    return CliRunner().invoke(cli, [*prefix, *args], env=CLEAN_ENV)


def process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed script, as a user runs it: no workspace or database from the environment."""
    env = {key: value for key, value in os.environ.items() if key not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
    return subprocess.run([str(RELANCE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def error_line(output: str, code: int, exit_code: int, *words: str) -> str:
    """The `Error: ...` line, checked: right exit code, no traceback, every word present on that one line."""
    assert exit_code == code, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 1, output
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def user_error(result: Result, *words: str) -> str:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return error_line(result.output, 1, result.exit_code, *words)


def usage_error(result: Result, *words: str) -> str:
    return error_line(result.output, 2, result.exit_code, *words)


# --- as real processes -------------------------------------------------------------------------

def test_no_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    done = process("run", "--as-of", "2026-07-01", cwd=tmp_path)
    assert done.stdout == ""
    error_line(done.stderr, 1, done.returncode, "no workspace here", "relance init")


def test_a_missing_csv_is_named(workspace: Path) -> None:
    done = process("import", "/no/such/debtors.csv", cwd=workspace)
    error_line(done.stderr, 2, done.returncode, "/no/such/debtors.csv", "does not exist")


def test_an_impossible_date_shows_the_expected_form(workspace: Path) -> None:
    done = process("run", "--as-of", "2026-13-45", cwd=workspace)
    error_line(done.stderr, 2, done.returncode, "--as-of", "2026-13-45", "YYYY-MM-DD")
    assert not list((workspace / "output").rglob("*-reminder2.docx"))


@pytest.mark.parametrize(("url", "words"), [
    ("nosuchdriver://x", ("unsupported database 'nosuchdriver'", "postgresql://")),
    ("postgresql+psycopg://nobody@127.0.0.1:1/x", ("cannot connect to", "127.0.0.1:1", "refused")),
    ("postgresql+psycopg2://nobody:secret@127.0.0.1/x", ("driver is not installed", "postgresql+psycopg://")),
])
def test_a_bad_database_url_is_one_line(workspace: Path, url: str, words: tuple[str, ...]) -> None:
    done = process("--db", url, "case", "show", CASE, cwd=workspace)
    line = error_line(done.stderr, 1, done.returncode, *words)
    assert "secret" not in line  # a password never lands in a terminal or a log


# --- in-process --------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("case", "show", "NOPE-42"),
    ("case", "hold", "NOPE-42", "--reason", "x"),
    ("case", "pay", "NOPE-42", "10"),
    ("timeline", "NOPE-42"),
])
def test_an_unknown_case_is_named(workspace: Path, args: tuple[str, ...]) -> None:
    user_error(relance(workspace, *args), "no case 'NOPE-42'", "invoice number")


def test_a_case_is_found_by_its_invoice_number(workspace: Path) -> None:
    result = relance(workspace, "case", "show", "FA-2026-0102")
    assert result.exit_code == 0 and CASE in result.output


def test_jump_to_an_unknown_state_lists_the_states(workspace: Path) -> None:
    line = user_error(relance(workspace, "case", "jump", CASE, "court", "--reason", "x"), "'court'", "no such state")
    assert "formal_notice" in line and "litigation" in line
    assert relance(workspace, "case", "show", CASE, "--json").output.count('"state": "reminder1"') == 1


def test_jump_without_a_reason_is_usage(workspace: Path) -> None:
    usage_error(relance(workspace, "case", "jump", CASE, "formal_notice"), "--reason")


@pytest.mark.parametrize(("amount", "words"), [
    ("-5", ("'-5'", "positive amount")),
    ("0", ("'0'", "positive amount")),
    ("12.345", ("'12.345'", "more than two decimals")),
    ("douze", ("'douze'", "not an amount", "1 234,56")),
    # Three letters read as a currency: no digit, no amount, whatever else the letters might be.
    ("abc", ("'abc'", "not an amount", "1 234,56")),
    ("NaN", ("'NaN'", "not an amount")),
    ("inf", ("'inf'", "not an amount")),
])
def test_a_bad_payment_amount_is_refused(workspace: Path, amount: str, words: tuple[str, ...]) -> None:
    user_error(relance(workspace, "case", "pay", CASE, amount, "--as-of", "2026-07-02"), *words)
    shown = relance(workspace, "case", "show", CASE, "--json").output
    assert '"paid": "0.00"' in shown


def test_case_actions_that_cannot_apply(workspace: Path) -> None:
    user_error(relance(workspace, "case", "resolve", CASE, "--as-of", "2026-07-02", "--reason", "x"),
               "no open dispute")
    user_error(relance(workspace, "case", "promise", CASE, "--until", "2026-06-01", "--as-of", "2026-07-02"),
               "2026-06-01", "already past")
    usage_error(relance(workspace, "case", "promise", CASE, "--until", "2026-02-30"), "2026-02-30", "YYYY-MM-DD")


def test_a_csv_with_bad_rows_names_them_and_imports_nothing(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "debtors.csv"
    bad.write_text(
        "debtor_ref;kind;name;siren;address_line1;address_line2;postal_code;city;country;email;phone\n"
        "NEW-1;b2b;Bonne Ligne SAS;;1 rue;;75001;Paris;FR;;\n"
        "NEW-2;b2z;Mauvais Genre;;1 rue;;75001;Paris;FR;;\n"
        "NEW-3;b2b;;;1 rue;;75001;Paris;FR;;\n",
        encoding="utf-8",
    )
    result = relance(workspace, "import", str(bad))
    user_error(result, str(bad), "2 bad row(s)", "--skip-bad-rows")
    assert f"{bad}:3: column 'kind'" in result.output and f"{bad}:4: column 'name'" in result.output
    # Nothing was imported: the good row is still new when the bad ones are skipped.
    skipped = relance(workspace, "import", str(bad), "--skip-bad-rows", "--json")
    assert skipped.exit_code == 0, skipped.output
    assert '"inserted": 1' in skipped.output and '"rejected": 2' in skipped.output
    assert (tmp_path / "debtors.rejected.csv").read_text(encoding="utf-8").count("\n") >= 3


def test_a_csv_of_unknown_kind_is_one_line(workspace: Path, tmp_path: Path) -> None:
    odd = tmp_path / "export.csv"
    odd.write_text("hello;world\n1;2\n", encoding="utf-8")
    user_error(relance(workspace, "import", str(odd)), f"{odd}:1", "cannot tell what this file holds",
               "debtors, invoices")


def test_a_windows_1252_csv_is_one_line_saying_how_to_import_it(workspace: Path, tmp_path: Path) -> None:
    excel = tmp_path / "clients.csv"
    excel.write_bytes("debtor_ref;kind;name;postal_code;city;country\n"
                      "W-1;b2b;Crème & Brûlée SARL;75001;Paris;France\n".encode("cp1252"))
    user_error(relance(workspace, "import", str(excel)), f"{excel}:2", "not UTF-8", "--encoding cp1252")
    usage_error(relance(workspace, "import", "--encoding", "klingon", str(excel)), "unknown encoding 'klingon'")
    done = relance(workspace, "import", "--encoding", "cp1252", str(excel), "--json")
    assert done.exit_code == 0 and '"inserted": 1' in done.output, done.output


@pytest.fixture
def own_workspace(workspace: Path, tmp_path: Path) -> Path:
    """A copy of the shared workspace, free to break."""
    root = tmp_path / "ws"
    shutil.copytree(workspace, root)
    return root


def test_a_malformed_workflow_stops_the_run_with_file_line_and_key(own_workspace: Path) -> None:
    workflow = own_workspace / "workflows" / "fr-b2b.yaml"
    text = workflow.read_text(encoding="utf-8")
    assert 'when: "balance > 0"' in text
    workflow.write_text(text.replace('when: "balance > 0"', 'when: "balance >"', 1), encoding="utf-8")
    line = user_error(relance(own_workspace, "run", "--as-of", "2026-08-01"), str(workflow), "when", "balance >")
    broken_line = text.splitlines().index(next(l for l in text.splitlines() if 'when: "balance > 0"' in l)) + 1
    assert f"{workflow}:{broken_line}:" in line
    validated = relance(None, "validate", str(workflow))
    assert validated.exit_code == 1 and f"{workflow}:{broken_line}:" in validated.output

    workflow.write_text(text + "\nstates: [\n", encoding="utf-8")
    user_error(relance(own_workspace, "run", "--as-of", "2026-08-01"), str(workflow), "YAML")
    assert not list((own_workspace / "output").rglob("*-reminder2.docx"))


def test_a_broken_email_template_stops_the_run_and_fails_validate_with_file_line_and_tag(own_workspace: Path) -> None:
    email = own_workspace / "letters" / "fr" / "email" / "reminder1.txt"
    email.write_text("Relance {{ letter_ref }}\n\n{% for i in invoices %}{{ i.numero }}{% endfor %}\n", encoding="utf-8")
    line = user_error(relance(own_workspace, "run", "--as-of", "2026-08-01"), f"{email}:3", "{{ i.numero }}")
    assert "relance letters check" in line
    validated = relance(None, "validate", str(own_workspace / "workflows" / "fr-b2b.yaml"))
    assert validated.exit_code == 1 and "email/reminder1.txt:3" in validated.output
    assert not list((own_workspace / "output").rglob("*-reminder2.docx"))


def test_validate_checks_the_letters_folder_of_relance_toml_as_run_does(own_workspace: Path, tmp_path: Path) -> None:
    # [paths] letters wins over the workflow's own `letters:` (which stays complete here): validate must
    # look where the run will look, or it says ok to a run that refuses or fails every case.
    config = own_workspace / "relance.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('letters = "letters/fr"', 'letters = "letters/team"', 1),
                      encoding="utf-8")
    team = own_workspace / "letters" / "team"
    shutil.copytree(own_workspace / "letters" / "fr", team)
    workflow = str(own_workspace / "workflows" / "fr-b2b.yaml")
    assert relance(own_workspace, "validate", workflow).exit_code == 0

    (team / "relance_2.docx").unlink()
    assert relance(own_workspace, "run", "--as-of", "2026-08-01", "--dry-run").exit_code == 1
    validated = relance(own_workspace, "validate", workflow)
    assert validated.exit_code == 1 and "relance_2.docx" in validated.output and "Traceback" not in validated.output

    outside = tmp_path / "outside.docx"
    shutil.copy(own_workspace / "letters" / "fr" / "relance_2.docx", outside)
    (team / "relance_2.docx").symlink_to(outside)
    validated = relance(own_workspace, "validate", workflow)
    assert validated.exit_code == 1, validated.output
    assert "relance_2.docx" in validated.output and "outside the letters folder" in validated.output
    # The run refuses it before it opens or moves any case, rather than failing each case that reaches it.
    before = relance(own_workspace, "case", "list", "--all", "--json").output
    user_error(relance(own_workspace, "run", "--as-of", "2026-08-01"), "relance_2.docx", "outside the letters folder")
    assert relance(own_workspace, "case", "list", "--all", "--json").output == before
    assert not list((own_workspace / "output").rglob("*-reminder2.docx"))


def test_the_run_checks_its_templates_within_the_workspaces_limits(own_workspace: Path) -> None:
    """A [limits] the shipped letters exceed: `letters check` refuses them, and so does the run, in one line
    before any case moves (not one failure per case once the render meets the limit)."""
    config = own_workspace / "relance.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[limits]\ndocx_bytes = 20000\n", encoding="utf-8")
    assert relance(own_workspace, "letters", "check").exit_code == 1
    before = relance(own_workspace, "case", "list", "--all", "--json").output
    user_error(relance(own_workspace, "run", "--as-of", "2026-08-01"), "relance_1.docx", "docx_bytes = 20000")
    assert relance(own_workspace, "case", "list", "--all", "--json").output == before
    assert not list((own_workspace / "output").rglob("*-reminder2.docx"))


def _held_writer(workspace: Path):  # type: ignore[no-untyped-def]
    """Another process's connection to the workspace's SQLite file holding the write lock, as a run does."""
    import sqlite3

    other = sqlite3.connect(workspace / "relance.sqlite", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE cases SET next_check_at = next_check_at")
    return other


def _notes(workspace: Path) -> int:
    import sqlite3

    with sqlite3.connect(workspace / "relance.sqlite") as db:
        return int(db.execute("SELECT count(*) FROM event WHERE kind = 'note'").fetchone()[0])


def test_an_action_or_import_while_a_run_writes_waits_its_turn(own_workspace: Path, tmp_path: Path) -> None:
    """Begun as a reader, the unit of work failed at once on its first write while a run held SQLite's write
    lock: a traceback. It now waits for the run's commit, then is recorded."""
    import threading

    debtors = tmp_path / "more.csv"
    debtors.write_text("debtor_ref;kind;name\nNEW-9;b2b;Nouvelle Société SAS\n", encoding="utf-8")
    before = _notes(own_workspace)
    for args in (("case", "note", CASE, "--reason", "appelé pendant le run"), ("import", str(debtors))):
        other = _held_writer(own_workspace)
        release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
        release.start()
        try:
            done = relance(own_workspace, *args)
        finally:
            release.join()
            other.close()
        assert done.exit_code == 0 and "Traceback" not in done.output, (args, done.output, done.exception)
    assert _notes(own_workspace) == before + 1


def test_an_action_behind_a_run_past_the_busy_timeout_is_one_line(own_workspace: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.store.database

    monkeypatch.setattr(engine.store.database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    before = _notes(own_workspace)
    other = _held_writer(own_workspace)
    try:
        user_error(relance(own_workspace, "case", "note", CASE, "--reason", "pendant le run"),
                   "database is busy", "nothing was recorded")
    finally:
        other.close()
    assert _notes(own_workspace) == before


def test_a_run_behind_another_writer_past_the_busy_timeout_is_one_line_and_keeps_no_letter(
        own_workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's batch takes the write lock when it begins (engine.cases.run): held by another process for longer
    than the busy timeout, the run stops with one line naming the database, and no letter of the batch stays."""
    import engine.store.database

    monkeypatch.setattr(engine.store.database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    letters = sorted((own_workspace / "output").rglob("*.docx"))
    other = _held_writer(own_workspace)
    try:
        line = user_error(relance(own_workspace, "run", "--as-of", "2026-07-20"), "database")
    finally:
        other.close()
    assert "locked" in line or "busy" in line
    assert sorted((own_workspace / "output").rglob("*.docx")) == letters


@pytest.mark.parametrize("cause", ["server closed the connection unexpectedly",
                                   "deadlock detected\nDETAIL:  Process 12 waits for ShareLock"])
def test_a_database_that_fails_mid_command_is_one_line(workspace: Path, monkeypatch: pytest.MonkeyPatch,
                                                        cause: str) -> None:
    """A PostgreSQL server restarted, or a deadlock it broke, mid-command: a bare SQLAlchemy traceback before."""
    import engine.cases.lookup
    from sqlalchemy.exc import OperationalError

    def failing(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception(cause))

    monkeypatch.setattr(engine.cases.lookup, "list_cases", failing)
    line = user_error(relance(workspace, "case", "list"), "the database failed during the command", "run it again")
    assert cause.splitlines()[0] in line


def test_a_broken_settings_file_is_named(own_workspace: Path) -> None:
    config = own_workspace / "relance.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[workflows]", "[workflows", 1), encoding="utf-8")
    user_error(relance(own_workspace, "case", "show", CASE), str(config))


def test_an_in_memory_database_is_refused(workspace: Path) -> None:
    user_error(relance(workspace, "--db", "sqlite://", "run"), "in-memory", "give a file")


def test_init_never_overwrites_a_workspace(workspace: Path) -> None:
    user_error(relance(None, "init", str(workspace)), "already exists", "--force")


def test_the_demo_never_wipes_a_real_workspace(workspace: Path) -> None:
    letters = sorted((workspace / "output").rglob("*.docx"))
    user_error(relance(None, "demo", "--dir", str(workspace)), str(workspace), "not an earlier demo", "--dir")
    assert sorted((workspace / "output").rglob("*.docx")) == letters and letters
    assert (workspace / "relance.sqlite").is_file()


def test_an_unknown_command_or_option_is_usage(workspace: Path) -> None:
    usage_error(relance(workspace, "escalate"), "No such command")
    usage_error(relance(workspace, "timeline", CASE, "--format", "pdf"), "'pdf'")


def test_settings_that_are_not_text_are_one_line_and_never_read_for_ever(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert relance(None, "init", str(root)).exit_code == 0
    config = root / "relance.toml"
    config.write_bytes(config.read_bytes() + "\n# é\n".encode("latin-1"))  # saved in another encoding
    user_error(relance(root, "case", "list"), "relance.toml", "utf-8")
    config.unlink()
    os.mkfifo(config)  # would block a plain read for ever: refused as not found, at once
    user_error(relance(root, "case", "list"), "relance.toml")


@pytest.mark.parametrize("args", [
    ("timeline", CASE, "--format", "html", "-o", "{missing}/timeline.html"),
    ("report", "--as-of", "2026-07-01", "--html", "{missing}/report.html"),
])
def test_a_file_to_write_in_a_missing_folder_is_one_line_naming_it(workspace: Path, tmp_path: Path,
                                                                   args: tuple[str, ...]) -> None:
    """`-o` or `--html` into a folder that does not exist ended on a FileNotFoundError traceback."""
    missing = tmp_path / "no-such-folder"
    target = [arg.format(missing=missing) for arg in args][-1]
    user_error(relance(workspace, *(arg.format(missing=missing) for arg in args)), target,
               "No such file or directory")
    assert not missing.exists()


def test_init_where_no_folder_can_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    user_error(relance(None, "init", str(blocker / "ws")), str(blocker / "ws"))


def test_a_refused_file_among_several_says_which_files_went_in_and_which_were_not_read(own_workspace: Path,
                                                                                       tmp_path: Path) -> None:
    """`relance import debtors.csv invoices.csv payments.csv` with a bad invoice printed only the refusal:
    the debtors were in all the same (each file is its own transaction), the payments never read, and
    the output said neither."""
    debtors, invoices, payments = tmp_path / "d.csv", tmp_path / "i.csv", tmp_path / "p.csv"
    debtors.write_text("debtor_ref;kind;name\nM-1;b2b;Multi SARL\n", encoding="utf-8")
    invoices.write_text("invoice_number;debtor_ref;issue_date;due_date;amount\n"
                        "M-INV-1;M-1;2026-01-01;2026-02-01;abc\n", encoding="utf-8")
    payments.write_text("debtor_ref;payment_date;amount\nM-1;2026-03-01;5\n", encoding="utf-8")
    result = relance(own_workspace, "import", str(payments), str(invoices), str(debtors))
    user_error(result, "i.csv", "nothing of this file imported")
    assert "imported before it (kept): d.csv (1 new, 0 updated, 0 unchanged)" in result.output
    assert "not imported (after the refused file): p.csv" in result.output
    listed = relance(own_workspace, "case", "list", "--debtor", "M-1", "--all", "--json")
    assert listed.exit_code == 0, listed.output


def test_files_are_imported_debtors_first_whatever_their_names(own_workspace: Path, tmp_path: Path) -> None:
    """The order (debtors, invoices, ..., payments) was read from the file names: `relance import
    factures.csv clients.csv` refused the invoices ('unknown debtor … import it first') although the
    command had the debtors. The header says what a file holds, as the importer itself reads it."""
    invoices, debtors = tmp_path / "factures.csv", tmp_path / "clients.csv"
    invoices.write_text("invoice_number;debtor_ref;issue_date;due_date;amount\n"
                        "M-INV-3;M-3;2026-01-01;2026-02-01;10\n", encoding="utf-8")
    debtors.write_text("debtor_ref;kind;name\nM-3;b2b;Ordre SARL\n", encoding="utf-8")
    result = relance(own_workspace, "import", "--json", str(invoices), str(debtors))
    assert result.exit_code == 0, result.output
    assert [(row["kind"], row["inserted"]) for row in json.loads(result.output)] == [("debtors", 1), ("invoices", 1)]


def test_a_case_action_dated_before_the_cases_last_event_is_one_line_and_a_late_note_is_marked(tmp_path: Path) -> None:
    """`relance case dispute|jump --as-of` before the case's last event: refused in one line naming that event's
    date, nothing recorded; `case note` may tell of the past, and the timeline prints it where it happened,
    saying it was recorded after the fact."""
    root = tmp_path / "ws"
    (tmp_path / "d.csv").write_text(DEBTORS_HEADER + "D1;b2b;Dupont & Fils;;1 rue A;;75001;Paris;FR;;\n", encoding="utf-8")
    (tmp_path / "i.csv").write_text(INVOICES_HEADER + "F1;D1;2026-03-01;2026-04-01;1000.00;EUR\n", encoding="utf-8")
    for args in (["init", str(root)], ["--workspace", str(root), "import", str(tmp_path / "d.csv"), str(tmp_path / "i.csv")],
                 ["--workspace", str(root), "run", "--as-of", "2026-04-10"],
                 ["--workspace", str(root), "case", "note", "F1", "--reason", "relancé", "--as-of", "2026-04-20"]):
        assert CliRunner().invoke(cli, args, env=CLEAN_ENV).exit_code == 0
    before = relance(root, "timeline", "F1", "--format", "json").output
    for args in (("dispute", "F1", "--reason", "conteste"), ("jump", "F1", "reminder2", "--reason", "x")):
        result = relance(root, "case", *args, "--as-of", "2026-04-15")
        error_line(result.output, 1, result.exit_code, "dated 15/04/2026", "last event", "20/04/2026")
    assert relance(root, "timeline", "F1", "--format", "json").output == before
    assert relance(root, "case", "note", "F1", "--reason", "appel du 12", "--as-of", "2026-04-12").exit_code == 0
    printed = relance(root, "timeline", "F1").output.splitlines()
    late = next(i for i, line in enumerate(printed) if "appel du 12" in line)
    assert late < next(i for i, line in enumerate(printed) if "relancé" in line) and "enregistré après coup" in printed[late]
