"""`relance verify`'s use case (engine.cases.audit): tampering found, orphans listed, repair removes only orphans."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.app import App
from engine.cases.audit import audit
from engine.cases.lookup import find_case
from engine.workspace import init_workspace, load_workspace
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

DEBTORS = DEBTORS_HEADER + "D1;b2b;Dupont & Fils;;1 rue A;;75001;Paris;FR;;\nD2;b2b;Martin SA;;2 rue B;;69001;Lyon;FR;;\n"
INVOICES = INVOICES_HEADER + "F1;D1;2026-03-01;2026-04-01;1000.00;EUR\nF2;D2;2026-03-01;2026-04-01;500.00;EUR\n"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> App:
    """A workspace whose run of 10 April 2026 wrote reminder1 for F1 and F2."""
    root = tmp_path / "ws"
    init_workspace(root)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    app = App(load_workspace(root, database_url))
    app.store.upgrade()
    app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
    app.run(date(2026, 4, 10))
    yield app
    app.store.dispose()


def letter(app: App, debtor: str, case: str) -> Path:
    return app.workspace.output_dir / debtor / case / "01-reminder1.docx"


def test_an_untouched_workspace_audits_clean(app: App) -> None:
    result = audit(app, app.workspace.output_dir)
    assert (result.ok, result.findings, result.orphans, result.removed) == (True, [], [], [])
    assert letter(app, "D1", "ALD-F1").is_file() and letter(app, "D2", "ALD-F2").is_file()


def test_an_altered_letter_file_is_found(app: App) -> None:
    path = letter(app, "D2", "ALD-F2")
    path.write_bytes(path.read_bytes() + b"\0")
    result = audit(app, app.workspace.output_dir)
    assert not result.ok
    assert [(f.case_ref, f.document_path, f.problem) for f in result.findings] == [
        ("ALD-F2", "D2/ALD-F2/01-reminder1.docx", "file changed since it was produced (SHA-256 differs)")]


def test_a_broken_chain_is_found(app: App) -> None:
    with app.session() as s:
        case_id = find_case(s, "ALD-F1").id
    with app.store.bind.begin() as conn:  # behind the ORM's back, as a forger would
        conn.execute(text("UPDATE event SET prev_hash = :forged WHERE case_id = :case AND seq = 2"),
                     {"forged": "0" * 64, "case": case_id})
    result = audit(app, app.workspace.output_dir)
    assert not result.ok
    assert {(f.case_ref, f.seq) for f in result.findings} == {("ALD-F1", 2)}
    assert "link to the previous event is broken (prev_hash differs)" in [f.problem for f in result.findings]


def test_repair_removes_the_orphans_and_nothing_else(app: App) -> None:
    folder = app.workspace.output_dir / "D1" / "ALD-F1"
    stray, temporary = folder / "02-reminder2.docx", folder / ".02-reminder2.docx.x1y2.tmp"
    stray.write_bytes(b"written, never committed")
    temporary.write_bytes(b"half written")
    altered = letter(app, "D2", "ALD-F2")
    altered.write_bytes(b"tampered")
    looked = audit(app, app.workspace.output_dir)
    assert (looked.orphans, looked.removed) == (sorted([stray, temporary]), [])
    assert stray.exists() and temporary.exists()  # looking removes nothing
    repaired = audit(app, app.workspace.output_dir, repair=True)
    assert repaired.removed == sorted([stray, temporary])
    assert not stray.exists() and not temporary.exists()
    # A recorded letter, even altered, is evidence: it stays, and stays reported.
    assert altered.exists() and letter(app, "D1", "ALD-F1").exists()
    assert [f.document_path for f in repaired.findings] == ["D2/ALD-F2/01-reminder1.docx"]
    assert audit(app, app.workspace.output_dir).orphans == []
