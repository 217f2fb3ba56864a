"""Between case rows and the core: case_state, reconcile, apply_steps, act and record_payment, on both backends.

Fixtures (tests/fixtures/csv): D1 (b2b) owes F-001 1 200.00 due 1 Feb 2025 and F-002 300.50 due 19 Feb;
D2 (b2c) owes F-003 89.90 due 4 Feb. payments.csv: D1 500.00 on 10 Feb and 300.50 for F-002 on 12 Feb,
D2 89.90 on 12 Feb; credit_notes.csv: 100.00 against F-001 issued 5 Feb. fr-b2b sends reminder1 five
days after the due date (by e-mail plus a phone call), reminder2 by letter.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from engine.cases.lookup import find_case
from engine.cases.run import run
from engine.cases.steps import act, apply_steps, case_state, reconcile, record_payment
from engine.core.case import Action, CaseState, Step
from engine.core.machine import EscalationError, Escalator
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.store.database import connect
from engine.store.events import InvoiceShare, PaymentReceived, read_event
from engine.store.models import Case, Document, Event
from engine.store.timeline import verify
from tests.support import CSV, SHIPPED_WORKFLOWS

D = Decimal


class SpyEscalator(Escalator):
    """The real escalator, remembering every amount it was told was paid."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.told: list[Decimal] = []

    def pay(self, case: CaseState, amount: Decimal, on: date, by: str | None = None) -> list[Step]:
        self.told.append(amount)
        return super().pay(case, amount, on, by)


@pytest.fixture(scope="module")
def escalator() -> Escalator:
    return Escalator(load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"))


@pytest.fixture
def store(database_url: str):
    store = connect(database_url, upgrade=True)
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    yield store
    store.dispose()


def writer(folder: Path, calls: list[tuple[str, str]] | None = None):
    """A stand-in letter writer: one small file per action with a template; records every call."""
    def perform(session, case_row: Case, step: Step, action: Action) -> Document | None:
        if calls is not None:
            calls.append((step.dest, action.kind))
        if action.template is None:
            return None
        body = f"{case_row.ref} {step.dest} {action.kind}".encode()
        (folder / f"{case_row.ref}-{step.dest}-{action.kind}.txt").write_bytes(body)
        return Document(path=f"{case_row.ref}-{step.dest}-{action.kind}.txt", sha256=hashlib.sha256(body).hexdigest())
    return perform


def timeline(session, case: Case) -> list[tuple[str, str | None, str | None]]:
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(Event.kind, Event.step_key, Event.actor).where(Event.case_id == case.id).order_by(Event.seq))]


def test_case_state_reads_money_from_the_ledger_as_of_a_day(store, escalator) -> None:
    run(store, escalator.workflow, date(2025, 2, 20))
    for name in ("payments.csv", "credit_notes.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        # Nothing yet; the credit note on 5 Feb; + 500.00 on 10 Feb; + 300.50 on 12 Feb.
        assert [case_state(s, case, day).paid for day in (
            date(2025, 2, 4), date(2025, 2, 5), date(2025, 2, 10), date(2025, 2, 12))] == [
            D("0.00"), D("100.00"), D("600.00"), D("900.50")]
        state = case_state(s, case)
        assert (state.principal, state.paid, state.balance, state.invoice_count) == (
            D("1500.50"), D("900.50"), D("600.00"), 2)
        assert (state.state, state.due_date, state.debtor_kind, state.key) == (
            "reminder1", date(2025, 2, 1), "b2b", case.id)
        assert state.steps_taken is not case.steps_taken  # the core mutates its own copy, not the row's
        consumer = case_state(s, find_case(s, "ACME-F-003"))
        assert (consumer.debtor_kind, consumer.debtor_country, consumer.principal) == ("b2c", "FR", D("89.90"))


def test_reconcile_tells_the_escalator_only_about_new_money(store, escalator) -> None:
    spy = SpyEscalator(escalator.workflow)
    run(store, escalator.workflow, date(2025, 2, 20))
    import_csv(store, CSV / "payments.csv", creditor_ref="ACME")  # 800.50 of D1's 1 500.50
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        state = case_state(s, case, date(2025, 2, 20))
        assert reconcile(s, case, state, spy, date(2025, 2, 20)) == []  # a partial payment moves nothing
        assert (spy.told, state.paid) == ([D("800.50")], D("800.50"))
        apply_steps(s, case, state, [], spy)
        assert case.paid_seen == D("800.50")
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        assert reconcile(s, case, case_state(s, case, date(2025, 2, 21)), spy, date(2025, 2, 21)) == []
        assert spy.told == [D("800.50")]  # heard already: not told twice
        record_payment(s, case, D("700.00"), date(2025, 2, 22))
        state = case_state(s, case, date(2025, 2, 22))
        steps = reconcile(s, case, state, spy, date(2025, 2, 22))
        assert spy.told == [D("800.50"), D("700.00")]
        assert [(st.trigger, st.dest) for st in steps] == [("payment", "paid")]
        apply_steps(s, case, state, steps, spy)
        assert (case.state, case.closed, case.closed_on, case.next_check_at) == ("paid", True, date(2025, 2, 22), None)



def test_a_case_closed_by_a_run_is_closed_on_the_day_of_its_closing_step_not_the_runs(store, escalator) -> None:
    """A payment received on the 21st, seen by the run of the 25th: the case closed with the step dated the 21st
    (the timeline's), not on the day a run happened to look."""
    run(store, escalator.workflow, date(2025, 2, 20))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        record_payment(s, case, D("1500.50"), date(2025, 2, 21))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        state = case_state(s, case, date(2025, 2, 25))
        steps = reconcile(s, case, state, escalator, date(2025, 2, 25))
        assert [(st.dest, st.on) for st in steps] == [("paid", date(2025, 2, 21))]
        apply_steps(s, case, state, steps, escalator, as_of=date(2025, 2, 25))
        assert (case.state, case.closed, case.state_entered, case.closed_on) == \
            ("paid", True, date(2025, 2, 21), date(2025, 2, 21))

def test_money_that_went_away_is_not_told_as_a_negative_payment(store, escalator) -> None:
    spy = SpyEscalator(escalator.workflow)
    run(store, escalator.workflow, date(2025, 2, 20))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        case.paid_seen = D("50.00")  # the escalator once heard of 50.00 the ledger no longer holds
        state = case_state(s, case)
        assert reconcile(s, case, state, spy, date(2025, 2, 20)) == []
        assert (spy.told, state.paid) == ([], D("0.00"))


def test_apply_steps_writes_a_keyed_state_change_per_step_and_a_letter_per_document(
        store, escalator, tmp_path: Path) -> None:
    run(store, escalator.workflow, date(2025, 2, 3))
    calls: list[tuple[str, str]] = []
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        state = case_state(s, case, date(2025, 2, 6))
        steps = escalator.advance(state, date(2025, 2, 6))  # reminder1: e-mail + phone
        steps += escalator.jump(state, "reminder2", date(2025, 2, 6), "skip ahead", by="alice")  # a letter
        documents = apply_steps(s, case, state, steps, escalator, writer(tmp_path, calls), actor="run")
        assert calls == [("reminder1", "email"), ("reminder1", "phone"), ("reminder2", "letter")]
        assert timeline(s, case) == [("case_opened", None, None),
                                     ("state_change", "1:reminder1", "run"), ("letter", None, "run"),
                                     ("state_change", "2:reminder2", "alice"), ("letter", None, "alice")]
        letters = s.scalars(select(Event).where(Event.case_id == case.id, Event.kind == "letter")
                            .order_by(Event.seq)).all()
        assert [(d.step_key, d.state, d.template, d.event_id) for d in documents] == [
            ("1:reminder1/0", "reminder1", "relance_1.docx", letters[0].id),
            ("2:reminder2/0", "reminder2", "relance_2.docx", letters[1].id)]
        assert [(e.payload["sha256"], e.payload["step_key"], e.payload["channel"]) for e in letters] == [
            (documents[0].sha256, "1:reminder1", "email"), (documents[1].sha256, "2:reminder2", "letter")]
        assert (case.state, case.step_count, case.letters_sent, case.steps_taken) == (
            "reminder2", 2, 2, ["reminder1", "reminder2"])
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Document)) == 2
        assert verify(s, tmp_path) == []


def test_a_step_key_used_twice_is_refused_and_nothing_is_kept(store, escalator) -> None:
    """The unique step key is what makes a crashed or concurrent second attempt a no-op."""
    run(store, escalator.workflow, date(2025, 2, 3))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        state = case_state(s, case, date(2025, 2, 6))
        apply_steps(s, case, state, escalator.advance(state, date(2025, 2, 6)), escalator)
    with pytest.raises(IntegrityError):
        with store.session() as s:
            case = find_case(s, "ACME-F-001")
            case.step_count = 0  # as if the first attempt had not been seen: the key is "1:reminder1" again
            again = Step("escalate", "due", "reminder1", date(2025, 2, 6), {})
            apply_steps(s, case, case_state(s, case), [again], escalator)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        assert (case.step_count, [k for _, k, _ in timeline(s, case) if k]) == (1, ["1:reminder1"])
        assert verify(s) == []


def test_next_check_is_after_the_run_day_when_the_run_gives_it(store, escalator) -> None:
    run(store, escalator.workflow, date(2025, 2, 3))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        apply_steps(s, case, case_state(s, case), [], escalator)
        assert case.next_check_at == date(2025, 2, 6)  # due 1 Feb + 5 days
        apply_steps(s, case, case_state(s, case), [], escalator, as_of=date(2025, 2, 10))
        assert case.next_check_at == date(2025, 2, 11)  # at most one timed step per case per run day


def test_act_records_the_action_before_the_steps_it_causes(store, escalator) -> None:
    run(store, escalator.workflow, date(2025, 2, 3))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        steps = act(s, case, escalator, "dispute", date(2025, 2, 5), by="bob", reason="goods returned")
        assert [(st.trigger, st.dest) for st in steps] == [("dispute", "disputed")]
        assert (case.state, case.disputed, case.resume_state, case.next_check_at) == ("disputed", True, "due", None)
        act(s, case, escalator, "note", date(2025, 2, 6), by="carol", reason="called the debtor")
        act(s, case, escalator, "resolve", date(2025, 2, 7), by="bob", reason="credit note agreed")
        assert (case.state, case.disputed, case.resume_state) == ("due", False, None)
        assert [(kind, actor) for kind, _, actor in timeline(s, case)] == [
            ("case_opened", None), ("dispute", "bob"), ("state_change", "bob"), ("note", "carol"),
            ("resolve", "bob"), ("state_change", "bob")]
        reasons = s.scalars(select(Event.payload).where(Event.case_id == case.id, Event.kind.in_(
            ["dispute", "note", "resolve"])).order_by(Event.seq)).all()
        assert [p["reason"] for p in reasons] == ["goods returned", "called the debtor", "credit note agreed"]


REFUSED: list[tuple[str, dict[str, object], str]] = [
    ("resolve", {}, "no open dispute"),
    ("resume", {}, "not on hold"),
    ("promise", {}, "needs a date"),
    ("promise", {"until": date(2025, 2, 1)}, "already past"),
    ("jump", {}, "needs a destination"),
    ("jump", {"dest": "reminder9"}, "no such state"),
    ("forgive", {}, "unknown case action"),
]


def test_an_impossible_action_is_refused_with_nothing_recorded(store, escalator) -> None:
    run(store, escalator.workflow, date(2025, 2, 3))
    for action, options, message in REFUSED:
        with pytest.raises(EscalationError, match=message):
            with store.session() as s:
                act(s, find_case(s, "ACME-F-001"), escalator, action, date(2025, 2, 5), by="bob", **options)
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        assert (timeline(s, case), case.state, case.event_count) == ([("case_opened", None, None)], "due", 1)


def test_record_payment_allocates_in_ledger_order_and_wakes_the_case(store, escalator) -> None:
    run(store, escalator.workflow, date(2025, 2, 20))
    with store.session() as s:
        case = find_case(s, "ACME-F-001")
        case.next_check_at = date(2025, 3, 1)
        record_payment(s, case, D("1600"), date(2025, 2, 21), reference="CHQ-9", by="bob")
        event = s.scalar(select(Event).where(Event.case_id == case.id, Event.kind == "payment"))
        payment = read_event(event.kind, event.payload)
        assert isinstance(payment, PaymentReceived)
        assert (event.actor, event.occurred_on, payment.amount, payment.reference) == (
            "bob", date(2025, 2, 21), D("1600.00"), "CHQ-9")
        # Oldest due date first: F-001 in full, then F-002; 99.50 left over.
        assert payment.invoices == (InvoiceShare("F-001", D("1200.00")), InvoiceShare("F-002", D("300.50")))
        assert payment.unallocated == D("99.50")
        assert case.next_check_at == date(2025, 2, 21)  # the next run tells the escalator
        with pytest.raises(EscalationError, match="positive"):
            record_payment(s, case, D("0.004"), date(2025, 2, 21))  # rounds to 0.00
