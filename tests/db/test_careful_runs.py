"""What a run checks before it opens any case, one run at a time on SQLite, payments dated before their
invoices, and workers failing per case: through App, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.app import App
from engine.cases import actions
from engine.cases.letters import OutputFolderError
from engine.errors import CaseError
from engine.letters.check import EmailTemplateRefused, TemplateRefused
from engine.store.models import Case, Event, Payment
from engine.store.runlock import RunInProgress, run_lock
from engine.workers import run_parallel, work
from engine.workspace import init_workspace, load_workspace
from tests.support import CSV
from tests.templates import split_tag_in_tracked_change

DAY = date(2025, 2, 20)  # both fixture debtors' first invoices are overdue enough for a first reminder


def workspace_app(tmp_path: Path, database_url: str) -> App:
    root = tmp_path / "ws"
    init_workspace(root)
    app = App(load_workspace(root, database_url))
    app.store.upgrade()
    app.import_files([CSV / "debtors.csv", CSV / "invoices.csv"])
    return app


def cases(app: App) -> int:
    with app.session() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


@pytest.fixture
def app(tmp_path: Path, database_url: str):
    app = workspace_app(tmp_path, database_url)
    yield app
    app.store.dispose()


def test_a_template_with_a_tag_split_by_a_tracked_change_stops_the_run_before_any_case(app: App) -> None:
    template = split_tag_in_tracked_change(app.workspace.root / "letters" / "fr" / "relance_1.docx")
    for dry_run in (False, True):
        with pytest.raises(TemplateRefused) as refused:
            app.run(DAY, dry_run=dry_run)
        assert str(template) in str(refused.value) and "{{ creditor.name }}" in str(refused.value)
    assert cases(app) == 0
    assert not [p for p in app.workspace.output_dir.rglob("*") if p.is_file()]


def test_an_email_template_with_errors_stops_the_run_before_any_case(app: App) -> None:
    """The first reminder goes by e-mail too: with its e-mail template broken, every case would fail at its
    e-mail. The run refuses in one line naming the file, the line and the tag, and opens nothing."""
    email = app.workspace.root / "letters" / "fr" / "email" / "reminder1.txt"
    email.write_text("Relance {{ letter_ref }}\n\nBonjour {{ debtor.nom }}\n", encoding="utf-8")
    for dry_run in (False, True):
        with pytest.raises(EmailTemplateRefused) as refused:
            app.run(DAY, dry_run=dry_run)
        assert f"{email}:3" in str(refused.value) and "{{ debtor.nom }}" in str(refused.value)
    assert cases(app) == 0
    email.unlink()  # the state's e-mail falls back on default.txt, which is sound
    assert sum(r.cases_opened for r in app.run(DAY)) == 2


def test_a_letter_written_by_hand_from_a_broken_template_is_refused_too(app: App) -> None:
    """`case jump` writes the letter of the state it enters: it refuses a broken template as the run does."""
    app.run(DAY)
    split_tag_in_tracked_change(app.workspace.root / "letters" / "fr" / "relance_2.docx")
    with pytest.raises(TemplateRefused, match="relance_2.docx"):
        actions.jump(app, "ALD-F-001", "reminder2", date(2025, 2, 21), by="alice", reason="by hand")
    with app.session() as session:
        case = session.scalar(select(Case).where(Case.ref == "ALD-F-001"))
        assert case is not None and case.state == "reminder1"
    assert not list(app.workspace.output_dir.rglob("*reminder2*"))


def test_an_output_folder_that_takes_no_file_stops_the_run_before_any_case(app: App) -> None:
    output = app.workspace.output_dir
    output.rmdir()
    output.write_text("a file where the letters' folder should be", encoding="utf-8")
    with pytest.raises(OutputFolderError, match=str(output)):
        app.run(DAY)
    assert cases(app) == 0
    assert sum(r.cases_opened for r in app.run(DAY, dry_run=True)) == 2  # a dry run writes no letter: it may go on


def test_one_run_at_a_time_on_sqlite_any_number_on_postgresql(app: App) -> None:
    with run_lock(app.store):
        if app.store.is_postgresql:
            assert sum(r.cases_opened for r in app.run(DAY)) == 2
            return
        with pytest.raises(RunInProgress, match=f"another run is in progress \\(pid {os.getpid()}\\)"):
            app.run(DAY)
    assert cases(app) == 0
    assert sum(r.cases_opened for r in app.run(DAY)) == 2  # released: the next run goes


def test_a_payment_dated_before_the_invoices_it_pays_is_refused(app: App) -> None:
    app.run(DAY)
    with pytest.raises(CaseError, match="dated 2020-01-01 cannot pay invoice F-001, issued on 2025-01-02"):
        actions.pay(app, "ALD-F-001", "100", date(2020, 1, 1), by="alice")
    # Paying 1300 would reach F-002, issued on 20 January: a payment of the 10th cannot pay it.
    with pytest.raises(CaseError, match="invoice F-002, issued on 2025-01-20"):
        actions.pay(app, "ALD-F-001", "1300", date(2025, 1, 10), by="alice")
    with app.session() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "payment")) == 0
    assert actions.pay(app, "ALD-F-001", "100", date(2025, 1, 10), by="alice").amount == 100


def test_a_worker_pass_reports_a_failing_case_and_goes_on(app: App, tmp_path: Path) -> None:
    policy = app.workspace.root / "workflows" / "fr-b2c.yaml"  # D2 is a consumer: only its case fails
    policy.write_text(policy.read_text(encoding="utf-8").replace('"balance > 0"', '"balance / (letters_sent - letters_sent) > 1"', 1),
                      encoding="utf-8")
    app = App(load_workspace(app.workspace.root, app.workspace.database_url))
    seen: list[list[tuple[str, str]]] = []
    work(app, as_of=DAY, once=True, on_pass=lambda day, reports: seen.append(
        [error for report in reports for error in report.errors]))
    [[(ref, why)]] = seen
    assert ref == "ALD-F-003" and "'balance / (letters_sent - letters_sent) > 1'" in why
    with app.session() as session:
        states = {ref: state for ref, state in session.execute(select(Case.ref, Case.state))}
    assert states == {"ALD-F-001": "reminder1", "ALD-F-003": "due"}


def test_parallel_workers_on_postgresql_record_a_failing_case_once(postgres_url: str, tmp_path: Path) -> None:
    app = workspace_app(tmp_path, postgres_url)
    policy = app.workspace.root / "workflows" / "fr-b2c.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace('"balance > 0"', '"balance / (letters_sent - letters_sent) > 1"', 1),
                      encoding="utf-8")
    app = App(load_workspace(app.workspace.root, postgres_url))
    reports = run_parallel(app, DAY, workers=2)
    # Each process that met the case reports it (one or both); the case records it once.
    assert {ref for report in reports for ref, _why in report.errors} == {"ALD-F-003"}
    assert [(p.case_ref, p.dest) for report in reports for p in report.planned] == [("ALD-F-001", "reminder1")]
    with app.session() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.kind == "error")) == 1
        assert session.scalar(select(Case.error).where(Case.ref == "ALD-F-003"))
    app.store.dispose()
