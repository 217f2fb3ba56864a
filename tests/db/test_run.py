"""The run through the store with the real engine and the shipped French B2B workflow."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.cases.lookup import find_case
from engine.cases.run import run
from engine.cases.steps import RUN_ACTOR, act, case_state, record_payment
from engine.core.case import Action, Step
from engine.core.machine import Escalator
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.store.database import connect
from engine.store.models import Case, Document, Event
from tests.support import CSV, REPO, write_portfolio

ROOT = REPO


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    yield store
    store.dispose()


@pytest.fixture
def workflow():
    return load_workflow(ROOT / "workflows" / "fr-b2b.yaml")


def letter_writer(folder: Path):
    """A stand-in for the letter renderer: writes a small file per letter action."""
    def perform(session, case_row: Case, step: Step, action: Action) -> Document | None:
        if action.template is None or action.kind == "phone":
            return None
        path = folder / f"{case_row.ref}-{step.dest}-{action.kind}.txt"
        body = f"{case_row.ref} {step.dest} {step.on}".encode()
        path.write_bytes(body)
        return Document(path=path.name, sha256=hashlib.sha256(body).hexdigest())
    return perform


def _events(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Event))


def test_cases_open_per_debtor_and_a_later_invoice_joins(store, workflow) -> None:
    report = run(store, workflow, date(2025, 2, 20))
    assert (report.cases_opened, report.invoices_added) == (2, 1)  # D1: F-001 + F-002, D2: F-003
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        assert [i.number for i in case.invoices] == ["F-001", "F-002"]
        assert case_state(s, case).principal == 1500.50
        assert find_case(s, "F-002").ref == "ACME-F-001"  # found by invoice number too


def test_the_report_times_the_letters_apart_from_the_rest_of_the_steps(store, workflow, tmp_path: Path) -> None:
    """The run's phases say where the time went: what the letter writer took is "letters", not "steps and events"."""
    import time

    write = letter_writer(tmp_path)

    def slow_letters(session, case_row: Case, step: Step, action: Action) -> Document | None:
        time.sleep(0.2)
        return write(session, case_row, step, action)

    run(store, workflow, date(2025, 2, 3))
    report = run(store, workflow, date(2025, 2, 8), perform=slow_letters)
    assert report.letters == 1
    phases = report.phases
    assert {"claim", "load", "advance", "letters", "steps and events", "flush", "commit"} <= set(phases)
    assert phases["letters"] >= 0.2  # at least one call of the letter writer, each 0.2 s
    assert phases["steps and events"] < 0.2  # its time is not counted twice
    assert all(seconds >= 0 for seconds in phases.values())


def test_grouping_per_invoice_opens_one_case_each(store, workflow) -> None:
    from dataclasses import replace

    report = run(store, replace(workflow, grouping="invoice"), date(2025, 2, 20))
    assert (report.cases_opened, report.invoices_added) == (3, 0)


def test_second_run_on_the_same_day_does_nothing(store, workflow, tmp_path: Path) -> None:
    perform = letter_writer(tmp_path)
    run(store, workflow, date(2025, 2, 3))
    first = run(store, workflow, date(2025, 2, 8), perform=perform)
    assert [(p.case_ref, p.dest) for p in first.planned] == [("ACME-F-001", "reminder1")]
    assert first.letters == 1
    before = _events(store)
    second = run(store, workflow, date(2025, 2, 8), perform=perform)
    assert (second.steps, second.cases_examined) == (0, 0)
    assert _events(store) == before


def test_dry_run_reports_and_writes_nothing(store, workflow, tmp_path: Path) -> None:
    calls = []
    report = run(store, workflow, date(2025, 2, 8), dry_run=True,
                 perform=lambda *args: calls.append(args))
    assert report.cases_opened == 2
    assert [(p.case_ref, p.source, p.dest, p.letters) for p in report.planned] == [
        ("ACME-F-001", "due", "reminder1", ("relance_1.docx",))]
    assert calls == []
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
    assert _events(store) == 0


def test_a_long_pause_catches_up_one_step_per_run(store, workflow) -> None:
    run(store, workflow, date(2025, 2, 3))
    steps = [[(p.source, p.dest) for p in run(store, workflow, date(2025, 6, 1)).planned if p.case_ref == "ACME-F-001"]
             for _ in range(3)]
    # Two months unseen: one letter, not four; the next ones need their own delays (counted from
    # the day the previous letter went out), so the same day gives nothing more.
    assert steps == [[("due", "reminder1")], [], []]
    later = run(store, workflow, date(2025, 6, 11))
    assert [(p.source, p.dest) for p in later.planned if p.case_ref == "ACME-F-001"] == [("reminder1", "reminder2")]


def test_an_imported_payment_settles_the_case_at_the_next_run(store, workflow) -> None:
    run(store, workflow, date(2025, 2, 8))
    import_csv(store, CSV / "payments.csv", creditor_ref="ACME")  # pays F-003 (D2) in full
    report = run(store, workflow, date(2025, 2, 13))
    assert ("ACME-F-003", "payment", "paid") in [(p.case_ref, p.trigger, p.dest) for p in report.planned]
    with store.session() as s:
        case = find_case(s, "ACME-F-003")
        assert (case.state, case.closed, case.next_check_at) == ("paid", True, None)


def test_letters_are_recorded_with_their_hash_and_a_re_entered_state_gets_a_new_key(store, workflow, tmp_path) -> None:
    perform = letter_writer(tmp_path)
    run(store, workflow, date(2025, 2, 8), perform=perform)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        act(s, case, Escalator(workflow), "jump", date(2025, 2, 9),
            dest="reminder1", reason="sent again at the debtor's request", by="alice", perform=perform)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        keys = s.scalars(select(Event.step_key).where(Event.case_id == case.id, Event.step_key.is_not(None))
                         .order_by(Event.seq)).all()
        docs = s.scalars(select(Document).where(Document.case_id == case.id).order_by(Document.id)).all()
        letters = s.scalars(select(Event).where(Event.kind == "letter", Event.case_id == case.id)).all()
    assert keys == ["1:reminder1", "2:reminder1"]
    assert [d.step_key for d in docs] == ["1:reminder1/0", "2:reminder1/0"]
    assert [ev.payload["sha256"] for ev in letters] == [d.sha256 for d in docs]


def test_manual_dispute_stops_escalation_and_a_payment_still_settles(store, workflow) -> None:
    from engine.core.machine import Escalator

    engine = Escalator(workflow)
    run(store, workflow, date(2025, 2, 8))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        act(s, case, engine, "dispute", date(2025, 2, 10), reason="goods returned", by="bob")
        assert (case.state, case.disputed, case.next_check_at) == ("disputed", True, None)
    quiet = run(store, workflow, date(2025, 4, 1))
    assert [p for p in quiet.planned if p.case_ref == "ACME-F-001"] == []
    with store.session() as s:
        record_payment(s, find_case(s, "ACME-F-001"), 1500.50, date(2025, 4, 2), reference="CHQ-1", by="bob")
    report = run(store, workflow, date(2025, 4, 2))
    assert [(p.trigger, p.dest) for p in report.planned if p.case_ref == "ACME-F-001"] == [("payment", "paid")]
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        rows = s.execute(select(Event.kind, Event.actor).where(Event.case_id == case.id).order_by(Event.seq)).all()
        assert (case.state, case.closed) == ("paid", True)
    # The dispute is recorded before the move it caused; the invoice that fell due meanwhile joined. The
    # settlement is the payment's: signed by who recorded it, though the run is what noticed it.
    assert [tuple(r) for r in rows] == [
        ("case_opened", None), ("state_change", RUN_ACTOR), ("dispute", "bob"), ("state_change", "bob"),
        ("invoice_added", None), ("payment", "bob"), ("state_change", "bob")]


def test_money_dated_after_the_run_day_does_not_count_yet(store, workflow, tmp_path: Path) -> None:
    """A payment imported ahead of its value date settles the case on that date, not before."""
    payments = tmp_path / "payments.csv"
    payments.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                        "D2;2025-03-20;89.90;F-003;VIR D2\n", encoding="utf-8")
    run(store, workflow, date(2025, 2, 20))
    import_csv(store, payments, creditor_ref="ACME")
    run(store, workflow, date(2025, 3, 1))
    with store.session() as s:
        case = find_case(s, "F-003")
        assert case_state(s, case, date(2025, 3, 1)).paid == 0
        assert case.state not in ("due", "paid")  # escalated: on 1 March nothing was paid yet
    run(store, workflow, date(2025, 3, 20))
    with store.session() as s:
        case = find_case(s, "F-003")
        assert case_state(s, case, date(2025, 3, 20)).paid == case_state(s, case).principal
        assert case.state == "paid"


OVERDUE_POLICY = """\
name: overdue
version: 1
initial: due
states:
  due: {}
  reminder1: {}
  late45: {}
  late60: {final: true}
  paid: {final: true}
transitions:
  - {trigger: escalate, source: due, dest: reminder1, after: 3 days, since: due_date}
  - {trigger: escalate, source: reminder1, dest: late45, when: "days_overdue >= 45"}
  - {trigger: escalate, source: late45, dest: late60, after: 60 days, since: due_date}
  - {trigger: payment, source: "*", dest: paid, when: "balance <= 0"}
"""


def test_lateness_counts_from_the_oldest_invoice_still_owed(store, tmp_path: Path) -> None:
    """D1's case opens on F-001 (due 1 February 2025); F-002 (due 19 February) joins; F-001 is paid in full on
    25 February. What is owed from then on is F-002 alone: `days_overdue` and `since: due_date` count from its
    due date, not from the due date of an invoice paid since (45 days late on 5 April, not on 18 March; 60 days
    since its due date on 20 April, not on 2 April), and the timeline says so."""
    path = tmp_path / "overdue.yaml"
    path.write_text(OVERDUE_POLICY, encoding="utf-8")
    policy = load_workflow(path)
    payments = tmp_path / "payments.csv"
    payments.write_text("debtor_ref;payment_date;amount;invoice_number;reference\n"
                        "D1;2025-02-25;1200.00;F-001;VIR-1\n", encoding="utf-8")
    import_csv(store, payments, creditor_ref="ACME")
    moved = {}
    day = date(2025, 2, 2)
    while day <= date(2025, 5, 1):
        run(store, policy, day)
        with store.session() as s:
            moved.setdefault(find_case(s, "ACME-F-001").state, day)
        day = date.fromordinal(day.toordinal() + 1)
    assert moved["late45"] == date(2025, 4, 5)
    assert moved["late60"] == date(2025, 4, 20)
    with store.session() as s:
        case_id = find_case(s, "ACME-F-001").id
        reasons = [e.payload for e in s.scalars(select(Event).where(Event.case_id == case_id,
                                                                    Event.kind == "state_change"))]
    assert [r["facts"].get("days_overdue") for r in reasons if r["dest"] == "late45"] == [45]
    assert [r["facts"].get("due_on") for r in reasons if r["dest"] == "late60"] == ["2025-04-20"]


def test_a_run_tunes_the_collector_and_puts_it_back(store, workflow, tmp_path: Path) -> None:
    """The collector is tuned during a run (engine.cases.run._fewer_collections) and restored after it, so a
    web app or a worker that runs again keeps its own settings."""
    import gc

    seen: list[tuple[int, int]] = []

    def perform(session, case_row: Case, step: Step, action: Action) -> Document | None:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))
        return letter_writer(tmp_path)(session, case_row, step, action)

    before = gc.get_threshold()
    gc.set_threshold(900, 11, 12)
    try:
        run(store, workflow, date(2025, 2, 20), perform=perform)
        assert seen and all(threshold == 10_000 and frozen > 0 for threshold, frozen in seen)
        assert (gc.get_threshold(), gc.get_freeze_count()) == ((900, 11, 12), 0)
    finally:
        gc.set_threshold(*before)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_payment_recorded_while_a_run_advances_waits_for_it_on_sqlite(store, workflow, tmp_path: Path) -> None:
    """A person's payment (the web app, `relance case pay`) committed while a run's batch was reading: the batch's
    first write then found its snapshot stale, and SQLite refused it at once ('database is locked'), ending the
    run with none of its steps. A run's batch takes the write lock when it begins: the payment waits for it."""
    import threading
    import time

    from engine.store.timeline import verify

    run(store, workflow, date(2025, 2, 8))  # the cases open, and take their first step
    paid: list[object] = []
    write = letter_writer(tmp_path)

    def pay() -> None:
        try:
            with store.session(write=True) as s:
                paid.append(record_payment(s, find_case(s, "ACME-F-003"), Decimal("100.00"), date(2025, 2, 20),
                                           reference="VIR-1", by="alice"))
        except Exception as exc:  # the test reads it below
            paid.append(exc)

    person = threading.Thread(target=pay)

    def perform(session, case_row: Case, step: Step, action: Action) -> Document | None:
        if not person.is_alive() and not paid:
            person.start()
            time.sleep(1)  # the payment reaches the database while the batch is still under way
        return write(session, case_row, step, action)

    report = run(store, workflow, date(2025, 2, 20), perform=perform)
    person.join(30)
    assert report.errors == [] and report.steps > 0
    assert paid and not isinstance(paid[0], Exception), repr(paid[0])
    with store.session() as s:
        kinds = s.scalars(select(Event.kind).where(Event.case_id == find_case(s, "ACME-F-003").id)
                          .order_by(Event.seq)).all()
        assert kinds[-1] == "payment"  # after the run's lines: it waited for the batch's commit
        assert verify(s, tmp_path) == []


def test_a_worker_of_a_parallel_run_claims_less_as_the_due_cases_run_out(database_url: str, workflow,
                                                                        tmp_path: Path) -> None:
    """With fixed batches, the worker that took the last one ran on alone while the others had ended; a
    worker of a parallel run claims half of its part of what is left (at least 50), a run alone whole batches."""
    store = connect(database_url, upgrade=True)
    for csv in write_portfolio(tmp_path / "portfolio", 300):
        import_csv(store, csv, creditor_ref="ACME")
    run(store, workflow, date(2025, 1, 20), advance=False)
    batches: dict[int, list[int]] = {}
    for workers in (2, 1):
        examined: list[int] = []
        run(store, workflow, date(2025, 1, 20), open_new=False, dry_run=True, workers=workers,
            progress=lambda report: examined.append(report.cases_examined))
        batches[workers] = [now - before for before, now in zip([0, *examined], examined) if now > before]
    store.dispose()
    # 300 left: 300 / (2 x 2) = 75, then 225 / 4 = 57, then at least 50 until the last 18.
    assert batches == {2: [75, 57, 50, 50, 50, 18], 1: [300]}
