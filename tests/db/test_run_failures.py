"""A failure while advancing one case stays with that case, on SQLite and PostgreSQL: its transaction
rolls back, its letter is removed, the reason is kept on the case and in its timeline (once), the run
goes on with the other cases, and the next run that moves the case clears it."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cases import batch
from engine.cases.letters import LetterWriter
from engine.cases.lookup import find_case, list_cases
from engine.cases.run import run
from engine.cases.steps import record_payment
from engine.core.claim import load_rates
from engine.core.workflow import Workflow, load_workflow
from engine.imports.importer import import_csv
from engine.letters import sample_letter_data
from engine.store.database import connect
from engine.store.models import Case, Document, Event
from engine.store.timeline import verify
from tests.support import CSV, PACK, SHIPPED_WORKFLOWS
from tests.templates import add_paragraph

B2B = SHIPPED_WORKFLOWS / "fr-b2b.yaml"
REMINDER2_GUARD = 'after: 10 days            # the 8 days given in reminder1, plus post\n    when: "balance > 0"'


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    yield store
    store.dispose()


def workflow_with_reminder2_guard(guard: str) -> Workflow:
    """The shipped B2B workflow with the guard of its reminder1 → reminder2 transition replaced."""
    text = B2B.read_text(encoding="utf-8")
    assert REMINDER2_GUARD in text
    return load_workflow(B2B, source=text.replace(REMINDER2_GUARD, REMINDER2_GUARD.replace("balance > 0", guard)))


def events_of(store, ref: str) -> list[tuple[str, dict]]:
    with store.session() as s:
        case = find_case(s, ref)
        return [(e.kind, e.payload) for e in s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq))]


def state_of(store, ref: str) -> tuple[str, str | None, date | None]:
    with store.session() as s:
        case = find_case(s, ref)
        return case.state, case.error, case.error_on


def test_a_guard_failing_at_run_time_fails_only_the_cases_reaching_it(store) -> None:
    workflow = workflow_with_reminder2_guard("balance / (letters_sent - letters_sent) > 1")
    first = run(store, workflow, date(2025, 2, 8))  # F-001 (due 1 Feb) takes reminder1; F-003 is not due yet
    assert [(p.case_ref, p.dest) for p in first.planned] == [("ACME-F-001", "reminder1")] and not first.errors

    second = run(store, workflow, date(2025, 2, 20))
    # ACME-F-001 reaches the broken guard (reminder2); ACME-F-003 still advances to reminder1.
    assert [(p.case_ref, p.dest) for p in second.planned] == [("ACME-F-003", "reminder1")]
    [(ref, why)] = second.errors
    assert ref == "ACME-F-001"
    assert f"{B2B}:" in why and "'balance / (letters_sent - letters_sent) > 1'" in why and "reminder2" in why and "division by zero" in why
    assert state_of(store, "ACME-F-001") == ("reminder1", why, date(2025, 2, 20))
    assert state_of(store, "ACME-F-003")[:2] == ("reminder1", None)
    # Rolled back: no second state change, one error event saying why, the chain still verifies.
    kinds = [kind for kind, _ in events_of(store, "ACME-F-001")]
    assert kinds == ["case_opened", "state_change", "invoice_added", "error"]
    assert events_of(store, "ACME-F-001")[-1][1] == {"reason": why, "state": "reminder1"}
    with store.session() as s:
        assert verify(s) == []
        assert [c.ref for c in list_cases(s, errors_only=True)] == ["ACME-F-001"]

    # The same failure at the next pass is reported again but not written again.
    third = run(store, workflow, date(2025, 2, 21))
    assert [ref for ref, _ in third.errors] == ["ACME-F-001"]
    assert [kind for kind, _ in events_of(store, "ACME-F-001")].count("error") == 1
    assert state_of(store, "ACME-F-001")[2] == date(2025, 2, 20)  # failing since the first time


def test_a_later_successful_step_clears_the_failure(store) -> None:
    workflow = workflow_with_reminder2_guard("100 / paid > 0")  # fails while nothing is paid
    run(store, workflow, date(2025, 2, 8))
    assert [ref for ref, _ in run(store, workflow, date(2025, 2, 20)).errors] == ["ACME-F-001"]
    with store.session() as s:
        record_payment(s, find_case(s, "ACME-F-001"), Decimal("100"), date(2025, 2, 21), by="alice")
    later = run(store, workflow, date(2025, 2, 21))
    assert not later.errors
    assert ("ACME-F-001", "reminder2") in [(p.case_ref, p.dest) for p in later.planned]
    assert state_of(store, "ACME-F-001") == ("reminder2", None, None)
    kinds = [kind for kind, _ in events_of(store, "ACME-F-001")]
    assert kinds[-4:] == ["error", "payment", "error_cleared", "state_change"]
    with store.session() as s:
        assert list_cases(s, errors_only=True) == []
        assert verify(s) == []


def test_a_dry_run_reports_a_failure_and_records_nothing(store) -> None:
    workflow = workflow_with_reminder2_guard("balance / (letters_sent - letters_sent) > 1")
    run(store, workflow, date(2025, 2, 8))
    rehearsal = run(store, workflow, date(2025, 2, 20), dry_run=True)
    assert [ref for ref, _ in rehearsal.errors] == ["ACME-F-001"]
    assert state_of(store, "ACME-F-001") == ("reminder1", None, None)
    assert "error" not in [kind for kind, _ in events_of(store, "ACME-F-001")]


def letters_with_paragraph(folder: Path, paragraph: str) -> Path:
    """A copy of the shipped letters whose first reminder carries ``paragraph`` (a tag)."""
    shutil.copytree(PACK, folder)
    add_paragraph(folder / "relance_1.docx", paragraph)
    return folder


def run_writing(store, workflow: Workflow, out: Path, renderers: int):
    """The run of 2025-02-20 with a real letter writer into ``out`` (and ``renderers`` processes)."""
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, out, renderers=renderers)
    try:
        return run(store, workflow, date(2025, 2, 20), perform=writer)
    finally:
        writer.close()


@pytest.mark.parametrize(("renderers", "write_every"), [(0, 100), (2, 100), (2, 1)],
                         ids=["inline", "renderer-processes", "written-after-each-case"])
def test_a_template_failing_on_one_case_fails_that_case_alone(store, tmp_path: Path, renderers: int,
                                                              write_every: int, monkeypatch) -> None:
    # written-after-each-case: D1's rows may be inserted before D2's letter fails; the attempt's rollback
    # takes them back, and the careful pass writes them once.
    monkeypatch.setattr(batch, "WRITE_EVERY", write_every)
    # Renders for the sample case (three invoices), so `letters check` passes; fails on one invoice.
    letters = letters_with_paragraph(tmp_path / "letters", "Quote-part : {{ 100 // (invoice_count - 1) }} %")
    workflow = replace(load_workflow(B2B), letters_dir=letters)
    out = tmp_path / "out"
    report = run_writing(store, workflow, out, renderers)
    # The batch tried whole first; the failure sent it back case by case, where F-003 fails alone.
    assert report.careful_batches == 1
    # D1's case holds F-001 and F-002 (two invoices): written. D2's holds F-003 alone: fails.
    assert [(p.case_ref, p.dest) for p in report.planned] == [("ACME-F-001", "reminder1")]
    [(ref, why)] = report.errors
    assert ref == "ACME-F-003" and "relance_1.docx" in why and "invoice_count - 1" in why
    assert state_of(store, "ACME-F-003") == ("due", why, date(2025, 2, 20))
    with store.session() as s:
        assert [d.path for d in s.scalars(select(Document))] == ["D1/ACME-F-001/01-reminder1.docx"]
        assert verify(s, out) == []
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "D1/ACME-F-001/01-reminder1.docx"]  # nothing left of the failed case's attempt


def test_a_failure_after_the_letter_was_written_removes_that_letter(store, tmp_path: Path) -> None:
    """The letter file of a rolled-back step must not outlive it (verify would call it an orphan)."""
    workflow = load_workflow(B2B)
    out = tmp_path / "out"
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, out)

    class FailsAfterWriting:
        """The real writer, then a failure (the disk filling up on the next file, say) for D2's case."""

        def __call__(self, session, case, step, action):
            document = writer(session, case, step, action)
            if case.ref == "ACME-F-003":
                assert (out / document.path).is_file()
                raise OSError(28, "No space left on device", str(out / "next"))
            return document

        def finish(self, case_id: int, *, failed: bool) -> None:
            writer.finish(case_id, failed=failed)

    report = run(store, workflow, date(2025, 2, 20), perform=FailsAfterWriting())
    assert report.errors == [("ACME-F-003", f"No space left on device: {out / 'next'}")]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "D1/ACME-F-001/01-reminder1.docx"]
    with store.session() as s:
        assert verify(s, out) == []


@pytest.mark.parametrize(("renderers", "write_every"), [(0, 100), (2, 100), (2, 1)],
                         ids=["file-thread", "renderer-processes", "written-after-each-case"])
def test_a_letter_file_that_cannot_be_written_fails_that_case_alone(store, tmp_path: Path, renderers: int,
                                                                    write_every: int, monkeypatch) -> None:
    """Letters are written beside the run (a thread, or the renderer processes) while the batch goes on: a
    file the disk refuses still fails its own case alone, with the system's reason, and leaves no file."""
    monkeypatch.setattr(batch, "WRITE_EVERY", write_every)
    workflow = load_workflow(B2B)
    out = tmp_path / "out"
    blocked = out / "D2" / "ACME-F-003" / "01-reminder1.docx"
    blocked.mkdir(parents=True)  # a folder where D2's letter goes: the rename onto it fails
    report = run_writing(store, workflow, out, renderers)
    assert report.careful_batches == 1
    [(ref, why)] = report.errors
    assert ref == "ACME-F-003" and "Is a directory" in why
    assert [(p.case_ref, p.dest) for p in report.planned] == [("ACME-F-001", "reminder1")]
    assert state_of(store, "ACME-F-003") == ("due", why, date(2025, 2, 20))
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "D1/ACME-F-001/01-reminder1.docx"]  # no temporary file left beside the refused one
    with store.session() as s:
        assert [d.path for d in s.scalars(select(Document))] == ["D1/ACME-F-001/01-reminder1.docx"]
        assert verify(s, out) == []


def test_a_missing_statutory_rate_fails_only_that_case(store, tmp_path: Path) -> None:
    # Rates from 2025 only; D1 also owes an invoice due in 2024, whose B2B penalties need 2024's rate.
    shipped = load_rates()
    rates_file = tmp_path / "rates.csv"
    lines = (shipped.path or Path()).read_text(encoding="utf-8").splitlines()
    rates_file.write_text("\n".join(line for line in lines if not line.startswith(("2021", "2022", "2023", "2024"))) + "\n",
                          encoding="utf-8")
    older = tmp_path / "invoices.csv"
    older.write_text("invoice_number;debtor_ref;issue_date;due_date;amount;currency\n"
                     "F-000;D1;2024-11-01;2024-12-01;50.00;EUR\n", encoding="utf-8")  # joins D1's case, ACME-F-001
    import_csv(store, older, creditor_ref="ACME")
    workflow = load_workflow(B2B)
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, tmp_path / "out",
                          rates=load_rates(rates_file))
    report = run(store, workflow, date(2025, 2, 20), perform=writer)
    [(ref, why)] = report.errors
    assert ref == "ACME-F-001" and "no rates for half-year 2024" in why and str(rates_file) in why
    assert [p.case_ref for p in report.planned] == ["ACME-F-003"]  # D2 (B2C, no penalties) goes on
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Case).where(Case.error.is_not(None))) == 1


def test_an_interrupted_batch_keeps_neither_its_steps_nor_its_letters(store, tmp_path: Path) -> None:
    """Cases are advanced a batch per transaction: a stop that no case owns (Ctrl-C on the second case)
    rolls the whole batch back, so the letters its first case wrote are removed too; the next run
    does the batch again, whole."""
    workflow = load_workflow(B2B)
    out = tmp_path / "out"
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, out)

    class Interrupted:
        def __call__(self, session, case, step, action):
            if case.ref == "ACME-F-003":
                raise KeyboardInterrupt
            return writer(session, case, step, action)

        def finish(self, case_id: int, *, failed: bool) -> None:
            writer.finish(case_id, failed=failed)

    with pytest.raises(KeyboardInterrupt):
        run(store, workflow, date(2025, 2, 20), perform=Interrupted())
    assert [p for p in out.rglob("*") if p.is_file()] == []  # ACME-F-001's letter went with its batch
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 0
        assert set(s.scalars(select(Case.state))) == {"due"}
    report = run(store, workflow, date(2025, 2, 20), perform=writer)
    assert [(p.case_ref, p.dest) for p in report.planned] == [("ACME-F-001", "reminder1"), ("ACME-F-003", "reminder1")]
    with store.session() as s:
        assert verify(s, out) == []
