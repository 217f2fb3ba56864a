"""French amounts and dates as letters print them."""

from datetime import date
from decimal import Decimal

import pytest

from engine.core.money import (
    format_amount,
    format_date,
    format_long_date,
    format_number,
    minor_unit,
    round_to_unit,
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


def test_currency_codes_must_be_money_someone_invoices_in() -> None:
    """EUX (a typo) and XXX (ISO's "no currency") are refused; a lowercase code is read as written."""
    from engine.core.money import MoneyError, parse_currency

    assert parse_currency("eur") == "EUR"
    assert parse_currency(" USD ") == "USD"
    assert parse_currency("XOF") == "XOF"  # the CFA franc is a real currency, whatever its X
    for code in ("EUX", "XXX", "XTS", "XAU", "EU", "EURO", ""):
        with pytest.raises(MoneyError, match="currency"):
            parse_currency(code)


def test_an_amount_has_no_more_decimals_than_its_currency() -> None:
    """JPY has no minor unit: 1000.50 JPY would print "1 000,5 JPY", a sum that cannot be paid."""
    from engine.core.money import MoneyError, parse_amount

    assert parse_amount("1 000", "JPY") == Decimal("1000")
    assert parse_amount("1000.00", "JPY") == Decimal("1000")  # zeros are no decimals
    with pytest.raises(MoneyError, match="JPY has none"):
        parse_amount("1000.50", "JPY")
    with pytest.raises(MoneyError, match="more than two decimals"):
        parse_amount("12.345", "EUR")
    assert parse_amount("12.34", "KWD") == Decimal("12.34")  # three decimals in KWD, two are fine


def test_a_computed_amount_is_rounded_to_what_its_currency_can_pay() -> None:
    """No one pays 0.10 yen: a computed yen amount is whole (half-up), a euro amount is to the cent as ever,
    and both keep the two decimals every stored amount has."""
    assert (minor_unit("EUR"), minor_unit("jpy"), minor_unit("KWD")) == (Decimal("0.01"), Decimal("1"),
                                                                       Decimal("0.01"))
    assert round_to_unit(Decimal("3041.1047"), "JPY") == Decimal("3041") and \
        str(round_to_unit(Decimal("3041.1047"), "JPY")) == "3041.00"
    assert round_to_unit(Decimal("2578.5"), "JPY") == Decimal("2579")  # half-up (half-even would give 2578)
    assert round_to_unit(Decimal("0.4999"), "JPY") == Decimal("0")
    for value in (Decimal("1.225"), Decimal("0.036063"), Decimal("2.675"), Decimal("-1.005")):
        assert str(round_to_unit(value, "EUR")) == str(value.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP"))
    assert format_amount(round_to_unit(Decimal("3041.1047"), "JPY"), "JPY") == f"3{NBSP}041{NBSP}JPY"


def test_a_refusal_says_it_in_french_for_the_web_app_and_still_pickles() -> None:
    """The web app shows ``french``; a renderer process sends exceptions back through a pipe."""
    import pickle

    from engine.core.money import MoneyError, parse_amount, parse_date

    with pytest.raises(MoneyError) as amount:
        parse_amount("douze")
    assert amount.value.french == "« douze » n'est pas un montant (écrivez 1234.56 ou 1 234,56)"
    with pytest.raises(MoneyError) as day:
        parse_date("31/02/2026")
    assert day.value.french == "« 31/02/2026 » : cette date n'existe pas (écrivez JJ/MM/AAAA)"
    again = pickle.loads(pickle.dumps(day.value))
    assert isinstance(again, MoneyError) and str(again) == str(day.value)
