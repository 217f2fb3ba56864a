"""A person's action on a case while a run's batch holds that case, on PostgreSQL.

A run (or a worker) claims its cases with a row lock and appends to their timelines before it commits.
An action recorded at that moment (a payment, a dispute, from the command line, the web app or an import)
must wait for that commit and then append after the run's events: before, it read the case unlocked,
inserted the same next line of the timeline as the run, and the two transactions deadlocked (a bare
DeadlockDetected traceback) or the action was refused as a concurrent change.
"""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

from sqlalchemy import select

from engine.app import App
from engine.cases import actions
from engine.cases.desk import WritingDesk
from engine.store.events import Note
from engine.store.models import Case, Event
from engine.store.timeline import append_event, verify
from engine.workspace import init_workspace, load_workspace
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

DEBTORS = DEBTORS_HEADER + "D1;b2b;Dupont & Fils;;1 rue A;;75001;Paris;FR;;\n"
INVOICES = INVOICES_HEADER + "F1;D1;2026-03-01;2026-04-01;1000.00;EUR\n"
DAY = date(2026, 4, 10)


def test_an_action_waits_for_the_run_holding_its_case_then_appends_after_it(tmp_path: Path,
                                                                          postgres_url: str) -> None:
    root = tmp_path / "ws"
    init_workspace(root)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    app = App(load_workspace(root, postgres_url))
    app.store.upgrade()
    app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
    app.run(DAY)
    outcome: list[object] = []

    def dispute() -> None:
        try:
            outcome.append(actions.dispute(WritingDesk(app), "F1", DAY, by="alice", reason="livraison incomplète"))
        except Exception as exc:  # the test reads it below
            outcome.append(exc)

    try:
        with app.store.session() as held:  # a run's batch: the case claimed under its row lock
            case = held.scalars(select(Case).where(Case.ref == "ALD-F1").with_for_update()).one()
            person = threading.Thread(target=dispute)
            person.start()
            time.sleep(1.5)  # the action reaches the case while the batch still holds it
            append_event(held, case, Note("vu par le traitement"), DAY, actor="run")
            held.flush()
            time.sleep(1.5)  # longer than PostgreSQL's deadlock_timeout (1 s) with both inserts in place
        person.join(30)
        assert not isinstance(outcome[0], Exception), repr(outcome[0])
        with app.session() as session:
            case = session.scalars(select(Case).where(Case.ref == "ALD-F1")).one()
            kinds = list(session.scalars(select(Event.kind).where(Event.case_id == case.id).order_by(Event.seq)))
            assert kinds[-3:] == ["note", "dispute", "state_change"]  # the run's line first, the person's after
            assert case.state == "disputed"
            assert verify(session, app.workspace.output_dir) == []
    finally:
        app.store.dispose()


def test_an_invoice_joins_a_case_a_person_holds_after_that_persons_line(tmp_path: Path, postgres_url: str) -> None:
    """A run's opening adds a newly overdue invoice to its debtor's open case. It read that case unlocked: a
    person's note recorded at that moment took the same next line of the timeline, and the opening failed on
    the timeline's unique key. It now reads the cases it joins under their row lock, and waits."""
    from engine.cases.run import run
    from engine.core.workflow import load_workflow

    root = tmp_path / "ws"
    init_workspace(root)
    (tmp_path / "debtors.csv").write_text(DEBTORS, encoding="utf-8")
    (tmp_path / "invoices.csv").write_text(INVOICES + "F2;D1;2026-03-20;2026-04-20;250.00;EUR\n", encoding="utf-8")
    app = App(load_workspace(root, postgres_url))
    app.store.upgrade()
    app.import_files([tmp_path / "debtors.csv", tmp_path / "invoices.csv"])
    app.run(DAY)  # ALD-F1 opens for F1; F2 is not due yet
    workflow = load_workflow(root / "workflows" / "fr-b2b.yaml")
    outcome: list[object] = []

    def opening() -> None:
        try:
            outcome.append(run(app.store, workflow, date(2026, 4, 22), advance=False))
        except Exception as exc:  # the test reads it below
            outcome.append(exc)

    try:
        with app.store.session(write=True) as held:  # a person's note, not yet committed
            case = held.scalars(select(Case).where(Case.ref == "ALD-F1")).one()
            append_event(held, case, Note("appelé, rappellera"), DAY, actor="alice")
            held.flush()
            run_thread = threading.Thread(target=opening)
            run_thread.start()
            time.sleep(1.5)  # the opening reaches the case while the note holds it
        run_thread.join(30)
        assert outcome and not isinstance(outcome[0], Exception), repr(outcome[0])
        with app.session() as session:
            case = session.scalars(select(Case).where(Case.ref == "ALD-F1")).one()
            kinds = list(session.scalars(select(Event.kind).where(Event.case_id == case.id).order_by(Event.seq)))
            assert kinds[-2:] == ["note", "invoice_added"]
            assert verify(session, app.workspace.output_dir) == []
    finally:
        app.store.dispose()
