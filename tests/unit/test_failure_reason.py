"""The one line a run keeps for a case it could not move: readable, located, storable on both backends."""

from __future__ import annotations

from engine.cases.failures import MAX_REASON, failure_reason
from engine.core.guards import compile_guard
from engine.errors import RelanceError


def test_a_user_error_keeps_its_own_message_on_one_line_without_control_characters() -> None:
    # A name pasted with a NUL and a terminal escape: PostgreSQL refuses the first, terminals obey the second.
    reason = failure_reason(RelanceError("relance_1.docx, tag {{ x }}:\n Dupont\x00\x1b[31m SARL"))
    assert reason == "relance_1.docx, tag {{ x }}: Dupont??[31m SARL"


def test_a_guard_failing_on_decimal_figures_says_what_happened() -> None:
    from decimal import Decimal

    guard = compile_guard("balance / (letters_sent - letters_sent) > 1")
    try:
        guard({"balance": Decimal("12.50"), "letters_sent": 1})
    except RelanceError as exc:
        assert failure_reason(exc) == "guard 'balance / (letters_sent - letters_sent) > 1' failed: DivisionByZero: division by zero"
    else:
        raise AssertionError("the guard should fail")


def test_a_file_system_error_names_the_file_and_an_unexpected_one_its_line_of_code() -> None:
    assert failure_reason(PermissionError(13, "Permission denied", "/out/D1/x.docx")) == \
        "Permission denied: /out/D1/x.docx"
    try:
        {}["missing"]
    except KeyError as exc:
        assert failure_reason(exc).startswith("unexpected KeyError: 'missing' (at test_failure_reason.py:")


def test_a_huge_reason_is_cut() -> None:
    reason = failure_reason(RelanceError("x" * 10 * MAX_REASON))
    assert len(reason) == MAX_REASON and reason.endswith("…")
