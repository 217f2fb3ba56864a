"""A case keeps the rules of the workflow version it started on; an edit without a new version is refused."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from engine.app import App
from engine.store import versions
from engine.store.models import Case, WorkflowVersion
from engine.store.versions import WorkflowVersionError
from engine.workspace import init_workspace, load_workspace
from tests.db.test_claim_run import text_of

DEBTORS = "debtor_ref;kind;name;siren;address_line1;address_line2;postal_code;city;country;email;phone\n" \
          "D1;b2b;Dupont & Fils;;1 rue A;;75001;Paris;FR;;\nD2;b2b;Martin SA;;2 rue B;;69001;Lyon;FR;;\n"
INVOICES = "invoice_number;debtor_ref;issue_date;due_date;amount;currency\n" \
           "F1;D1;2026-03-01;2026-04-01;1000.00;EUR\nF2;D2;2026-04-01;2026-05-20;500.00;EUR\n"


def workspace(tmp_path: Path, database_url: str) -> tuple[App, Path]:
    root = tmp_path / "ws"
    init_workspace(root)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    app = App(load_workspace(root, database_url))
    app.store.upgrade()
    app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
    return app, root / "workflows" / "fr-b2b.yaml"


def test_editing_a_workflow_without_a_new_version_is_refused(tmp_path: Path, database_url: str) -> None:
    app, path = workspace(tmp_path, database_url)
    app.run(date(2026, 4, 10))
    path.write_text(path.read_text(encoding="utf-8").replace("after: 10 days", "after: 20 days"), encoding="utf-8")
    with pytest.raises(WorkflowVersionError, match="version: 4"):
        App(load_workspace(path.parent.parent, database_url)).run(date(2026, 4, 11))


def test_cases_keep_their_version_and_new_cases_start_on_the_new_one(tmp_path: Path, database_url: str) -> None:
    app, path = workspace(tmp_path, database_url)
    app.run(date(2026, 4, 10))  # F1 (due 1 April) opens on version 3 (shipped) and gets its first reminder
    # Version 4 slows the second reminder down from 10 to 30 days.
    text = path.read_text(encoding="utf-8").replace("version: 3", "version: 4")
    path.write_text(text.replace("after: 10 days            # the 8 days", "after: 30 days            # the 8 days"),
                    encoding="utf-8")
    app = App(load_workspace(path.parent.parent, database_url))
    for day in (date(2026, 4, 20), date(2026, 5, 30)):
        app.run(day)
    with app.session() as session:
        cases = {c.ref.split("-")[-1]: c for c in session.scalars(select(Case))}
        # F1 went on with version 3's 10 days: reminder2 on 20 April, reminder3 ten days later...
        assert (cases["F1"].workflow_version, cases["F1"].state) == (3, "reminder3")
        # ...while F2, opened after the change, is on version 4.
        assert cases["F2"].workflow_version == 4
        assert app.escalator_for(cases["F1"]).workflow.version == 3


def test_workers_that_start_together_keep_one_version_row(tmp_path: Path, postgres_url: str) -> None:
    """Two runs starting at once both find the version unkept; the second insert must not fail the run."""
    app, path = workspace(tmp_path, postgres_url)
    workflow = app.workflows["b2b"]
    source = path.read_text(encoding="utf-8")
    with app.session() as session:
        session.execute(delete(WorkflowVersion))
    outcome: list[BaseException | None] = []

    def second_worker() -> None:
        try:
            with app.store.session() as session:
                versions.register(session, workflow, source)  # blocks on the first worker's row until it commits
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome.append(exc)

    with app.store.session() as first:
        versions.register(first, workflow, source)
        worker = threading.Thread(target=second_worker)
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive()  # waiting on the uncommitted row, as a concurrent worker would
    worker.join(timeout=30)
    assert outcome == [None]
    with app.session() as session:
        assert session.scalar(select(func.count()).select_from(WorkflowVersion)) == 1
    # A different text under the same version is still refused after the race.
    with pytest.raises(WorkflowVersionError), app.store.session() as session:
        versions.register(session, workflow, source + "\n# edited\n")


def test_a_case_on_an_older_version_gets_that_versions_letters(tmp_path: Path, database_url: str) -> None:
    app, path = workspace(tmp_path, database_url)
    app.run(date(2026, 4, 10))  # F1 opens on version 3 (shipped) and gets its first reminder
    # Version 4 renames the second reminder's state, relabels it and writes amounts the Luxembourg way
    # (1.000,00 €: a French locale, since the letters are French, whose amounts read differently).
    text = path.read_text(encoding="utf-8").replace("version: 3", "version: 4").replace("locale: fr_FR", "locale: fr_LU")
    text = text.replace("reminder2", "second_reminder").replace('"Deuxième relance"', '"Relance n° 2"')
    path.write_text(text, encoding="utf-8")
    app = App(load_workspace(path.parent.parent, database_url))
    reports = app.run(date(2026, 4, 20))
    # Version 4 has no state "reminder2": the letter must come from version 3's.
    assert [error for report in reports for error in report.errors] == []
    with app.session() as session:
        f1 = session.scalars(select(Case).where(Case.ref.like("%F1"))).one()
        assert (f1.workflow_version, f1.state) == (3, "reminder2")
    (letter,) = (app.workspace.output_dir).rglob("*-reminder2.docx")
    words = text_of(letter)
    assert "1\u00a0000,00\u00a0€" in words and "1.000,00" not in words, words  # version 3's fr_FR
    assert "Relance n° 2" not in words
