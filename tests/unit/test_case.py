"""CaseState, Step and Action: the plain objects the escalator moves and reports."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import pytest

from engine.core.case import Action, CaseState, Step
from engine.core.guards import case_facts, compile_guard
from engine.core.machine import Escalator
from engine.core.workflow import load_workflow
from tests.support import TEST_WORKFLOWS

DUE = date(2026, 4, 1)


def bare_case(principal: str = "1500.50") -> CaseState:
    """A case built with only the required fields, as the shell does for a new one."""
    return CaseState(state="due", state_entered=DUE, due_date=DUE, principal=Decimal(principal))


def test_balance_is_principal_minus_paid_to_the_cent() -> None:
    case = bare_case()
    assert case.balance == Decimal("1500.50")
    case.paid = Decimal("0.10") + Decimal("0.20")
    assert case.balance == Decimal("1500.20")
    case.paid = Decimal("1600")
    assert case.balance == Decimal("-99.50")  # an overpayment shows as a negative balance


def test_defaults_describe_a_fresh_untouched_b2b_case() -> None:
    case = bare_case()
    assert (case.paid, case.invoice_count, case.letters_sent) == (Decimal("0"), 1, 0)
    assert (case.debtor_kind, case.debtor_country) == ("b2b", "FR")
    assert (case.disputed, case.on_hold, case.promise_until, case.resume_state) == (False, False, None, None)
    assert (case.steps_taken, case.key) == ([], None)
    assert isinstance(case.paid, Decimal) and isinstance(case.balance, Decimal)


def test_guards_read_the_defaults_as_facts() -> None:
    """A guard on debtor kind or country works on a case that never set them."""
    guard = compile_guard('debtor.kind == "b2b" and debtor.country == "FR" and not disputed and letters_sent == 0')
    assert guard(case_facts(bare_case(), DUE))
    assert case_facts(bare_case(), DUE, frozenset({"balance", "paid"})) == {
        "balance": Decimal("1500.50"), "paid": Decimal("0")}


def test_each_case_has_its_own_steps_taken() -> None:
    """The escalator appends to steps_taken: a shared default list would mark one case's step as taken by all."""
    escalator = Escalator(load_workflow(TEST_WORKFLOWS / "simple.yaml"))
    first, second = bare_case(), bare_case()
    assert first.steps_taken is not second.steps_taken
    [step] = escalator.advance(first, date(2026, 4, 8))
    assert (step.dest, first.steps_taken, second.steps_taken) == ("reminder1", ["reminder1"], [])
    assert [s.dest for s in escalator.advance(second, date(2026, 4, 8))] == ["reminder1"]


def test_a_payment_on_a_default_case_stays_decimal_and_closes_it() -> None:
    escalator = Escalator(load_workflow(TEST_WORKFLOWS / "simple.yaml"))
    case = bare_case()
    [step] = escalator.pay(case, Decimal("1500.50"), date(2026, 4, 5))
    assert (step.dest, case.state, case.balance) == ("paid", "paid", Decimal("0.00"))


def test_steps_and_actions_are_frozen_and_actions_default_to_no_letter() -> None:
    action = Action("phone", "reminder2")
    assert (action.template, action.pay_within_days) == (None, None)
    step = Step("escalate", "due", "reminder1", DUE, {"balance": Decimal("1")})
    assert (step.actions, step.reason, step.by) == ((), None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        step.dest = "paid"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.template = "x.docx"  # type: ignore[misc]
