"""Guards: refused by AST walk before anything runs; accepted ones read only the facts they name."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from engine.core.case import CaseState
from engine.core.guards import GuardError, case_facts, check_guard, compile_guard

CASE = CaseState("reminder1", date(2026, 3, 1), date(2026, 2, 1), Decimal("1600.50"), paid=Decimal("100"))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("().__class__.__bases__", "'__bases__' is not allowed"),
        ("cycler.__init__.__globals__", "'__globals__' is not allowed"),
        ("debtor._secret", "'_secret' is not allowed"),
        ("lipsum.__globals__['os']", "is not allowed"),
        ("range(10)", "a function call is not allowed"),
        ("balance.as_integer_ratio()", "a function call is not allowed"),
        ("debtor['kind']", "subscripting is not allowed"),
        ("10 ** 10 ** 10", "'**' is not allowed"),
        ("balance|attr('__class__')", "filter 'attr' is not allowed"),
        ("x }}{% set y = 1 %}{{ 1", "must be a single expression"),
        ("config", "unknown fact 'config'"),
    ],
)
def test_payloads_are_refused_with_a_reason(payload: str, reason: str) -> None:
    problems = check_guard(payload)
    assert any(reason in p for p in problems), problems
    with pytest.raises(GuardError):
        compile_guard(payload)


def test_refused_guard_is_never_executed(tmp_path: Path) -> None:
    """A side-effecting payload is refused at compile time: the file it would create never appears."""
    marker = tmp_path / "pwned"
    payload = f"cycler.__init__.__globals__.os.system('touch {marker}')"
    with pytest.raises(GuardError):
        compile_guard(payload)
    assert not marker.exists()


def test_sandbox_still_guards_what_the_walk_lets_through() -> None:
    """Second wall: facts are plain values and the sandbox refuses internals even if one slipped in."""
    guard = compile_guard("debtor.kind == 'b2b'")
    assert guard({"debtor": {"kind": "b2b"}}) is True
    assert guard({"debtor": {"kind": "b2c"}}) is False


def test_decimal_facts_compare_with_ints_and_floats() -> None:
    facts = case_facts(CASE, date(2026, 3, 10))
    assert facts["balance"] == Decimal("1500.50")
    assert compile_guard("balance > 1500")(facts) is True
    assert compile_guard("balance > 1500.5")(facts) is False
    assert compile_guard("balance >= 1500.50 and principal - paid == balance")(facts) is True


def test_every_documented_fact_is_readable() -> None:
    guard = compile_guard(
        "days_overdue == 37 and days_in_state == 9 and invoice_count == 1 and letters_sent == 0"
        " and debtor.kind == 'b2b' and debtor.country == 'FR' and not disputed and promise_until is none"
    )
    assert guard.names == {"days_overdue", "days_in_state", "invoice_count", "letters_sent", "debtor",
                           "disputed", "promise_until"}
    assert guard(case_facts(CASE, date(2026, 3, 10))) is True
    assert guard(case_facts(CASE, date(2026, 3, 11))) is False


def test_the_cases_currency_is_a_string_fact() -> None:
    """Amount facts are in the case's currency: a policy writes its thresholds per currency."""
    guard = compile_guard("noticed_balance >= 300 if currency == 'EUR' else noticed_balance >= 50000")
    yen = CaseState("formal_notice", date(2026, 3, 1), date(2026, 2, 1), Decimal("20000"), noticed=Decimal("20000"),
                    currency="JPY")
    assert case_facts(yen, date(2026, 3, 10), frozenset({"currency"})) == {"currency": "JPY"}
    assert guard(case_facts(yen, date(2026, 3, 10))) is False
    assert guard(case_facts(CASE, date(2026, 3, 10))) is False  # EUR, nothing noticed
    assert check_guard("currency == 'USD'") == []
    assert any("a string" in problem for problem in check_guard("currency > 300"))


def test_only_named_facts_are_computed() -> None:
    guard = compile_guard("balance > 0")
    assert case_facts(CASE, date(2026, 3, 10), guard.names) == {"balance": Decimal("1500.50")}


def test_unknown_names_suggest_the_fact() -> None:
    assert check_guard("days_overdu > 3") == ["unknown fact 'days_overdu' (did you mean 'days_overdue'?)"]
    assert check_guard("debtor.knd == 'b2b'") == ["unknown fact 'debtor.knd' (did you mean 'kind'?)"]


def test_runtime_failure_is_a_guard_error_naming_the_guard() -> None:
    guard = compile_guard("promise_until > today")
    with pytest.raises(GuardError, match="promise_until > today"):
        guard(case_facts(CASE, date(2026, 3, 10)))  # None > date


@pytest.mark.parametrize("guard", ["balance <= (0", "balance in [1", "balance <="])
def test_a_guard_ending_too_early_does_not_blame_a_brace_nobody_typed(guard: str) -> None:
    """The guard is parsed inside '{{ ... }}': Jinja said "unexpected '}'" of that wrapper."""
    [problem] = check_guard(guard)
    assert "'}'" not in problem and "end of print statement" not in problem
    assert problem.startswith(f"syntax error in guard {guard!r}: the guard ends too early")
