"""Amounts and dates as a French reader expects them in a letter, through Babel.

Babel writes French thousands with U+202F (narrow no-break space). We replace it with U+00A0
(no-break space) on purpose: every office font has a glyph for U+00A0, several lack U+202F
(a box in the PDF), and U+00A0 still keeps "1 234,56 €" on one line.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from babel.dates import format_date as babel_format_date
from babel.numbers import format_currency, format_decimal

NARROW_NBSP = "\u202f"
NBSP = "\u00a0"
CENT = Decimal("0.01")


def format_amount(amount: Decimal, currency: str = "EUR", locale: str = "fr_FR") -> str:
    """`Decimal("1234.5")` → `"1 234,50 €"` (no-break spaces), rounded half-up to the cent."""
    if not isinstance(amount, Decimal):
        # Money is Decimal; an int is harmless, a float is a bug upstream.
        if isinstance(amount, float):
            raise TypeError(f"amount must be a Decimal, not float ({amount!r})")
        amount = Decimal(amount)
    quantized = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    text = format_currency(quantized, currency, locale=locale, decimal_quantization=False)
    return _no_break(text)


def format_number(value: Decimal, locale: str = "fr_FR") -> str:
    """A plain number with the locale's separators: `Decimal("12.15")` → `"12,15"`."""
    return _no_break(format_decimal(value, locale=locale))


def format_date(on: date, locale: str = "fr_FR") -> str:
    """The short numeric date used in tables: `22/11/2026`."""
    return babel_format_date(on, format="short", locale=locale)


def format_long_date(on: date, locale: str = "fr_FR") -> str:
    """The date written in full: `22 novembre 2026`, and `1er novembre 2026` in French."""
    text = babel_format_date(on, format="long", locale=locale)
    if locale.split("_")[0] == "fr" and on.day == 1 and text.startswith("1 "):
        # French writes the first of the month as an ordinal ("1er"); Babel does not.
        text = "1er" + text[1:]
    return _no_break(text)


def _no_break(text: str) -> str:
    return text.replace(NARROW_NBSP, NBSP)
