"""Escalator semantics on tests/workflows/simple.yaml (declares its events) and bare.yaml (built-ins)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from engine.core.case import Action, CaseState
from engine.core.machine import EscalationError, Escalator
from engine.core.workflow import load_workflow
from tests.support import TEST_WORKFLOWS

HERE = TEST_WORKFLOWS
DUE = date(2026, 4, 1)


@pytest.fixture(scope="module")
def engine() -> Escalator:
    return Escalator(load_workflow(HERE / "simple.yaml"))


@pytest.fixture(scope="module")
def bare() -> Escalator:
    return Escalator(load_workflow(HERE / "bare.yaml"))


def new_case(amount: str = "2000") -> CaseState:
    return CaseState(state="due", state_entered=DUE, due_date=DUE, principal=Decimal(amount))


def test_one_shared_machine_per_workflow_version(engine: Escalator) -> None:
    again = Escalator(load_workflow(HERE / "simple.yaml"))
    assert again.machine is engine.machine
    assert engine.machine.models == []  # model=None: cases are never added to the machine


def test_timed_step_fires_on_its_day_not_before(engine: Escalator) -> None:
    case = new_case()
    assert engine.next_check(case) == date(2026, 4, 8)
    assert engine.advance(case, date(2026, 4, 7)) == []
    [step] = engine.advance(case, date(2026, 4, 8))
    assert (step.trigger, step.source, step.dest, step.on) == ("escalate", "due", "reminder1", date(2026, 4, 8))
    assert step.facts == {"balance": Decimal("2000"), "due_on": date(2026, 4, 8),
                          "rule": {"since": "due_date", "after": "7 days", "when": "balance > 0"}}
    assert step.actions == (Action("letter", "reminder1", "relance.docx", 8),)
    assert (case.state, case.state_entered, case.letters_sent, case.steps_taken) == (
        "reminder1", date(2026, 4, 8), 1, ["reminder1"])


def test_catch_up_gives_one_step_and_the_next_delay_counts_from_it(engine: Escalator) -> None:
    case = new_case()
    late = DUE + timedelta(days=60)
    steps = engine.advance(case, late)
    assert [s.dest for s in steps] == ["reminder1"]
    assert engine.advance(case, late) == []
    # 10 business days from 31 May 2026 (a Sunday): June 1..5, 8..12 -> 12 June.
    assert engine.next_check(case) == date(2026, 6, 12)
    [step] = engine.advance(case, date(2026, 6, 12))
    assert step.actions == (Action("letter", "reminder2", "relance.docx", None), Action("phone", "reminder2"))


def test_guards_choose_between_timed_transitions_in_file_order(engine: Escalator) -> None:
    big, small = new_case("2000"), new_case("900")
    for case in (big, small):
        engine.jump(case, "formal_notice", date(2026, 5, 1), "test")
        assert engine.advance(case, date(2026, 5, 15)) == []
        engine.advance(case, date(2026, 5, 16))
    assert (big.state, small.state) == ("litigation", "written_off")
    assert engine.advance(big, date(2027, 1, 1)) == [] and engine.next_check(big) is None


def test_partial_payment_lowers_the_balance_and_escalation_goes_on(engine: Escalator) -> None:
    case = new_case()
    assert engine.pay(case, Decimal("500"), date(2026, 4, 5)) == []
    assert (case.state, case.balance) == ("due", Decimal("1500"))
    [step] = engine.advance(case, date(2026, 4, 8))
    assert step.facts["balance"] == Decimal("1500")


def test_full_payment_ends_the_case(engine: Escalator) -> None:
    case = new_case()
    engine.advance(case, date(2026, 4, 8))
    [step] = engine.pay(case, Decimal("2000"), date(2026, 4, 9), by="compta")
    assert (step.trigger, step.source, step.dest, step.actions) == ("payment", "reminder1", "paid", ())
    assert step.facts["amount"] == Decimal("2000") and step.facts["balance"] == Decimal("0")
    assert engine.advance(case, date(2027, 1, 1)) == [] and engine.next_check(case) is None
    with pytest.raises(EscalationError, match="positive"):
        engine.pay(case, Decimal("0"), date(2026, 4, 9))


def test_payment_without_a_declared_trigger_uses_the_builtin(bare: Escalator) -> None:
    case = new_case("100")
    assert bare.pay(case, Decimal("40"), date(2026, 4, 2)) == []
    [step] = bare.pay(case, Decimal("60"), date(2026, 4, 3))
    assert (step.dest, case.state) == ("paid", "paid")


def test_dispute_pauses_and_resolution_returns_to_the_state(engine: Escalator) -> None:
    case = new_case()
    engine.advance(case, date(2026, 4, 8))
    [step] = engine.dispute(case, date(2026, 4, 10), "goods damaged", by="alice")
    assert (step.dest, step.reason, step.by, case.disputed) == ("disputed", "goods damaged", "alice", True)
    assert engine.advance(case, date(2026, 9, 1)) == [] and engine.next_check(case) is None
    [back] = engine.resolve_dispute(case, date(2026, 4, 20), "credit note refused")
    assert (back.trigger, back.dest, back.actions, case.state) == ("resolve", "reminder1", (), "reminder1")
    assert case.state_entered == date(2026, 4, 20) and not case.disputed
    with pytest.raises(EscalationError, match="no open dispute"):
        engine.resolve_dispute(case, date(2026, 4, 21), "again")


def test_dispute_without_a_dispute_state_still_stops_escalation(bare: Escalator) -> None:
    case = new_case()
    assert bare.dispute(case, date(2026, 4, 2), "wrong price") == []
    assert bare.advance(case, date(2026, 5, 1)) == [] and case.state == "due"
    assert bare.resolve_dispute(case, date(2026, 5, 2), "ok") == []
    assert [s.dest for s in bare.advance(case, date(2026, 5, 2))] == ["reminder1"]


def test_promise_waits_then_lapses_back_into_escalation(engine: Escalator) -> None:
    case = new_case()
    engine.advance(case, date(2026, 4, 8))
    [step] = engine.promise(case, date(2026, 5, 15), date(2026, 4, 10))
    assert (step.dest, case.promise_until) == ("promised", date(2026, 5, 15))
    assert engine.next_check(case) == date(2026, 5, 16)
    assert engine.advance(case, date(2026, 5, 15)) == []
    [lapse] = engine.advance(case, date(2026, 5, 16))
    assert (lapse.trigger, lapse.source, lapse.dest) == ("promise_lapsed", "promised", "reminder1")
    assert case.promise_until is None and case.state_entered == date(2026, 5, 16)
    assert [s.dest for s in engine.advance(case, date(2026, 6, 1))] == ["reminder2"]  # 10 business days later
    with pytest.raises(EscalationError, match="already past"):
        engine.promise(case, date(2026, 5, 1), date(2026, 6, 2))


def test_kept_promise_ends_in_paid(engine: Escalator) -> None:
    case = new_case()
    engine.promise(case, date(2026, 4, 30), date(2026, 4, 2))
    [step] = engine.pay(case, Decimal("2000"), date(2026, 4, 29))
    assert (step.source, step.dest, case.promise_until) == ("promised", "paid", None)


def test_hold_and_resume(bare: Escalator) -> None:
    case = new_case()
    assert bare.hold(case, date(2026, 4, 2), "negotiating") == []
    assert case.on_hold and bare.advance(case, date(2026, 5, 1)) == [] and bare.next_check(case) is None
    assert bare.resume(case, date(2026, 5, 1)) == []
    assert not case.on_hold and [s.dest for s in bare.advance(case, date(2026, 5, 1))] == ["reminder1"]
    with pytest.raises(EscalationError, match="not on hold"):
        bare.resume(case, date(2026, 5, 2))


def test_manual_jump_sends_the_letter_and_refuses_unknown_states(engine: Escalator) -> None:
    case = new_case()
    [step] = engine.jump(case, "formal_notice", date(2026, 4, 3), "client known to ignore reminders", by="bob")
    assert (step.trigger, step.dest, step.reason, step.by) == ("jump", "formal_notice", "client known to ignore reminders", "bob")
    assert step.actions == (Action("registered_letter", "formal_notice", "mise_en_demeure.docx", 14),)
    assert case.letters_sent == 1 and "formal_notice" in case.steps_taken
    with pytest.raises(EscalationError, match="did you mean 'reminder1'"):
        engine.jump(case, "reminder_1", date(2026, 4, 3), "typo")


def test_same_timed_step_is_never_taken_twice(engine: Escalator) -> None:
    case = new_case()
    engine.advance(case, date(2026, 4, 8))
    engine.jump(case, "due", date(2026, 4, 9), "reopened by mistake")
    assert engine.advance(case, date(2026, 6, 1)) == []  # reminder1 already went out
    assert engine.next_check(case) is None


def test_closed_and_foreign_cases_are_refused_clearly(engine: Escalator) -> None:
    case = new_case()
    engine.pay(case, Decimal("2000"), date(2026, 4, 2))
    with pytest.raises(EscalationError, match="final state 'paid'"):
        engine.dispute(case, date(2026, 4, 3), "late")
    stranger = CaseState("limbo", DUE, DUE, Decimal("1"))
    with pytest.raises(EscalationError, match="'limbo'"):
        engine.advance(stranger, DUE)


def test_a_delay_since_the_notices_receipt_says_what_it_counted_from() -> None:
    """`since: notice_received` counts from the letter's date until a receipt is recorded: the step's reason
    must then say so, never claim a receipt that the timeline does not hold."""
    from engine.store.events import StateChange
    from tests.support import SHIPPED_WORKFLOWS

    escalator = Escalator(load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"))
    sent = date(2026, 5, 4)

    def litigation(received: date | None) -> str:
        case = CaseState(state="formal_notice", state_entered=sent, due_date=DUE, principal=Decimal("2000"),
                         noticed=Decimal("2000"), notice_received=received, steps_taken=["formal_notice"])
        [step] = escalator.advance(case, date(2026, 6, 30), approved="litigation")
        assert step.dest == "litigation"
        return StateChange(step.trigger, step.source, step.dest, step.facts).describe()

    unreceived = litigation(None)
    assert "réception" in unreceived and "depuis la réception" not in unreceived
    assert "depuis l'étape précédente (aucune réception de la mise en demeure enregistrée)" in unreceived
    assert "depuis la réception de la mise en demeure" in litigation(date(2026, 5, 6))
    # A step recorded before the start was kept says no more than both cases share.
    old = {"rule": {"since": "notice_received", "after": "15 days"}, "due_on": "2026-05-19"}
    assert "depuis la mise en demeure ou sa réception" in StateChange("escalate", "formal_notice", "litigation",
                                                                     old).describe()


def test_no_step_before_the_deadline_the_letter_gave(tmp_path) -> None:
    """The notice gives 15 days to pay (« au plus tard le 16/04 »); the policy's next step counts 20 days from
    the due date, which falls on the 6th: the case waits for the deadline to pass, and the reason says both."""
    letters = tmp_path / "letters"
    letters.mkdir()
    (letters / "mise_en_demeure.docx").write_bytes((HERE / "letters" / "relance.docx").read_bytes())
    policy = tmp_path / "short.yaml"
    policy.write_text(
        "name: short\nversion: 1\nletters: letters\ninitial: due\nstates:\n  due: {}\n"
        "  formal_notice: {letter: mise_en_demeure.docx, pay_within: 15}\n  litigation: {}\n"
        "  paid: {final: true}\ntransitions:\n"
        "  - {trigger: escalate, source: due, dest: formal_notice, after: 0 days}\n"
        "  - {trigger: escalate, source: formal_notice, dest: litigation, after: 20 days, since: due_date}\n",
        encoding="utf-8")
    short = Escalator(load_workflow(policy))
    case = CaseState(state="due", state_entered=DUE, due_date=DUE - timedelta(days=14), principal=Decimal("900"))
    [notice] = short.advance(case, DUE)
    assert (notice.dest, case.state_entered) == ("formal_notice", DUE)
    deadline = DUE + timedelta(days=15)
    assert short.next_check(case) == deadline + timedelta(days=1)
    assert short.advance(case, DUE + timedelta(days=6)) == [] and short.advance(case, deadline) == []
    [step] = short.advance(case, deadline + timedelta(days=1))
    assert step.dest == "litigation"
    assert (step.facts["due_on"], step.facts["deadline_on"]) == (DUE + timedelta(days=6), deadline)
    from engine.store.reasons import step_reason

    assert step_reason(step.trigger, step.facts) == (
        "délai de 20 jours depuis l'échéance écoulé le 07/04/2026 ; "
        "délai de paiement donné par le courrier expiré le 16/04/2026")
