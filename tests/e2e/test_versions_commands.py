"""The commands a collections manager uses while cases sit on several kept workflow versions: `letters check`
sees the letters of every version cases still run on, and `diagram --version` draws a kept version."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from engine.cli.main import cli
from tests.e2e.test_web_versions import CLEAN_ENV, new_version
from tests.support import web_workspace


def relance(root: Path, db: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", db, *args], env=CLEAN_ENV)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def test_letters_check_names_the_missing_letter_of_an_older_version_cases_still_run_on(
        tmp_path: Path, database_url: str) -> None:
    """Version 4 renames the first reminder's letter and the old file goes, while 2 cases still run on version 3:
    the run refuses them, so `letters check` must not say ok (it did: it only read the files in the folder)."""
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=2)
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"relance_1.docx": "relance_amiable.docx"})
    letters = root / "letters" / "fr"
    (letters / "relance_1.docx").rename(letters / "relance_amiable.docx")
    code, out = relance(root, database_url, "letters", "check")
    assert code == 1, out
    line = next(line for line in out.splitlines() if "relance_1.docx" in line)
    assert "fr-b2b" in line and "version 3" in line and "reminder1" in line, out
    assert "fr-b2c" not in out  # no case runs on fr-b2c's version 3: nothing to say about it
    code, out = relance(root, database_url, "letters", "check", "--json")
    assert code == 1 and '"ok": false' in out and "version 3" in out and "relance_1.docx" in out, out
    # Put back, the same check passes: the error was that file, nothing else.
    (letters / "relance_1.docx").write_bytes((letters / "relance_amiable.docx").read_bytes())
    code, out = relance(root, database_url, "letters", "check")
    assert code == 0, out


def test_diagram_draws_a_kept_older_version_and_refuses_an_unknown_one(tmp_path: Path, sqlite_url: str) -> None:
    root = web_workspace(tmp_path / "ws", database_url=sqlite_url, cases=1)
    path = root / "workflows" / "fr-b2b.yaml"
    new_version(path, {"reminder1": "first_reminder"})
    code, current = relance(root, sqlite_url, "diagram", str(path))
    assert code == 0 and "fr-b2b-standard v4" in current and "first_reminder" in current, current
    code, older = relance(root, sqlite_url, "diagram", str(path), "--version", "3")
    assert code == 0, older
    assert "fr-b2b-standard v3" in older and "reminder1" in older and "first_reminder" not in older, older
    code, same = relance(root, sqlite_url, "diagram", str(path), "--version", "4")
    assert code == 0 and same == current
    code, said = relance(root, sqlite_url, "diagram", str(path), "--version", "7")
    assert code == 1 and len(said.strip().splitlines()) == 1, said
    assert "no version 7" in said and "fr-b2b-standard" in said and "its versions: 3, 4" in said, said


def test_an_action_right_after_a_version_raise_is_recorded(tmp_path: Path, database_url: str) -> None:
    """The first command after raising a workflow's version was a `case jump`: on SQLite it said « the database is
    busy » and recorded nothing, for it kept the new version's text from a second connection while its own unit
    of work held the write lock. Any action, on any database, must record."""
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=1)
    new_version(root / "workflows" / "fr-b2b.yaml", {"Deuxième relance": "Relance recommandée"})
    code, out = relance(root, database_url, "case", "list", "--json")
    assert code == 0, out
    ref = json.loads(out)[0]["case"]  # listing the cases kept version 4: the jump below is on version 5's file
    new_version(root / "workflows" / "fr-b2b.yaml", {"Relance recommandée": "Relance par recommandé"})
    code, out = relance(root, database_url, "case", "jump", ref, "reminder2", "--reason", "relancé",
                        "--as-of", "2025-02-01")
    assert code == 0, out
    code, out = relance(root, database_url, "case", "list", "--state", "reminder2", "--json")
    assert code == 0 and ref in out, out


def test_a_kept_version_whose_letter_is_gone_is_still_drawn(tmp_path: Path, database_url: str) -> None:
    """Version 4 renames the first reminder's letter and the old file goes: version 3, which the cases run on,
    could not be drawn, on the command line or the web (it refused for the missing letter: drawing needs none)."""
    from tests.e2e.web_client import client, open_app, sign_in

    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=1)
    path = root / "workflows" / "fr-b2b.yaml"
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        new_version(root / "workflows" / name, {"relance_1.docx": "relance_amiable.docx"})
    (root / "letters" / "fr" / "relance_1.docx").rename(root / "letters" / "fr" / "relance_amiable.docx")
    code, out = relance(root, database_url, "diagram", str(path), "--version", "3")
    assert code == 0 and "fr-b2b-standard v3" in out and "reminder1" in out, out
    app = open_app(root, database_url)
    try:
        http = client(app)
        sign_in(http, "viewer")
        answer = http.get("/workflows/fr-b2b-standard/v3")
        assert answer.status_code == 200 and "<svg" in answer.text, answer.text[-300:]
    finally:
        app.store.dispose()
    code, out = relance(root, database_url, "run", "--as-of", "2025-03-01")  # to run it, the letter is needed
    assert code == 1 and "relance_1.docx" in out, out
