"""French amounts and dates as letters print them."""

from datetime import date
from decimal import Decimal

import pytest

from engine.core.money import (
    format_amount,
    format_date,
    format_long_date,
    format_number,
)

NBSP = "\u00a0"


def test_amount_uses_no_break_spaces_and_comma() -> None:
    assert format_amount(Decimal("1234.56")) == f"1{NBSP}234,56{NBSP}€"
    assert "\u202f" not in format_amount(Decimal("1234567.5"))
    assert format_amount(Decimal("1234567.5")) == f"1{NBSP}234{NBSP}567,50{NBSP}€"


def test_amount_rounds_half_up_to_the_cent() -> None:
    assert format_amount(Decimal("0.005")) == f"0,01{NBSP}€"
    assert format_amount(Decimal("2.675")) == f"2,68{NBSP}€"  # a float would give 2,67
    assert format_amount(Decimal("-40")) == f"-40,00{NBSP}€"


def test_amount_refuses_float() -> None:
    with pytest.raises(TypeError):
        format_amount(1.5)  # type: ignore[arg-type]


def test_other_locale_and_currency() -> None:
    assert format_amount(Decimal("1234.5"), "USD", "en_US") == "$1,234.50"


def test_dates() -> None:
    assert format_date(date(2026, 11, 2)) == "02/11/2026"
    assert format_long_date(date(2026, 11, 22)) == "22\u00a0novembre\u00a02026"  # never broken across lines
    assert format_long_date(date(2026, 2, 1)) == "1er\u00a0février\u00a02026"
    assert format_long_date(date(2026, 2, 1), "en_GB") == "1\u00a0February\u00a02026"


def test_number() -> None:
    assert format_number(Decimal("12.15")) == "12,15"
