"""Amounts and dates as people type them and read them: the one parser, and the French formatting.

Parsing is the only place where text typed by a person (a CSV cell, `relance case pay 1 234,56`,
`--as-of 02/05/2026`, a web form) becomes a Decimal or a date, so every entry point accepts and
refuses exactly the same forms. Amounts: ``1234.56``, ``1 234,56``, ``1.234,56``, ``1,234.56``,
with spaces, NBSP or narrow NBSP between thousands (in groups of three: ``100 50`` is a typo, not
10050), and an optional currency (``€``, ``EUR``...) that must be the expected one; no more decimals than that currency has (two for EUR, none for JPY;
the columns keep cents, so never more than two). Currencies: ISO 4217 codes of money some country
has used since 2000 (``parse_currency``), so a typo (EUX) or a code that is not money (XXX, XAU)
never reaches a letter. Dates: ``2026-05-02``, ``02/05/2026`` or
``02.05.2026``, between 2000 and 2100 (a typo such as 0226 or 2260 is refused, not stored).

Formatting goes through Babel. Babel writes French thousands with U+202F (narrow no-break space);
we write U+00A0 (no-break space) instead: every office font has a glyph for it, several lack
U+202F (a box in the PDF), and U+00A0 still keeps "1 234,56 €" on one line.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as babel_format_date
from babel.core import get_global
from babel.numbers import format_currency, format_decimal, get_currency_precision, get_territory_currencies

from engine.errors import RelanceError

NARROW_NBSP = "\u202f"
NBSP = "\u00a0"
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e12")
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2100, 12, 31)

_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_ONE_SPACE = str.maketrans("\u00a0\u202f\u2009", "   ")
# What a person types: thousands in groups of three after a first group of one to three digits, one
# separator throughout (space, `.`, `,` or `'`), then the decimals. "100 50" or "1,2.3" are typos, not
# 10050 or 12.30. ASCII digits only, as every other number relance reads.
_SHAPE = re.compile(r"[+-]? ?(?:[0-9]{1,3}(?P<sep>[ .,'])[0-9]{3}(?:(?P=sep)[0-9]{3})*|[0-9]+)(?:[.,][0-9]+)?")
_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}
_CURRENCY = re.compile(r"^(?P<pre>[€$£]|[A-Za-z]{3})?(?P<number>[^A-Za-z€$£]*?)(?P<post>[€$£]|[A-Za-z]{3})?$")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_FRENCH = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")
_SHORT_YEAR = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{2})")
# Only letters, digits and `_` reach Babel: it maps a locale name to a data file.
_LOCALE = re.compile(r"[A-Za-z]{2,3}(?:_[A-Za-z0-9]{2,8}){0,3}")
# The letters are written in French (letters/fr): a date or an amount in another language would
# sit in the middle of a French sentence ("mise en demeure du May 7, 2026").
LETTER_LANGUAGE = "fr"


class MoneyError(RelanceError, ValueError):
    """An amount or a date that does not parse; the message is the reason shown to the user."""


@lru_cache(maxsize=1)
def currencies() -> frozenset[str]:
    """The codes relance accepts: legal tender somewhere at some time between 2000 and 2100 (Babel's CLDR
    data), so EUR, USD, XOF or FRF, but not XXX ("no currency"), XTS (tests) or XAU (gold), which ISO
    4217 lists too: no invoice is payable in them."""
    return frozenset(code for territory in get_global("territory_currencies")
                     for code in get_territory_currencies(territory, start_date=FIRST_DAY, end_date=LAST_DAY,
                                                          tender=True))


def parse_currency(text: str) -> str:
    """``eur`` → ``EUR``; a code no country pays in is refused rather than printed on a letter."""
    code = str(text).strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise MoneyError(f"a three-letter currency code (EUR), got {text!r}",
                         french=f"« {text} » n'est pas un code de devise à trois lettres (EUR)")
    if code not in currencies():
        raise MoneyError(f"unknown currency {code!r}: not an ISO 4217 currency anyone pays in{_hint(code)}",
                         french=f"devise inconnue « {code} » : pas une devise ISO 4217 ayant cours (EUR, USD…)")
    return code


def decimals(currency: str) -> int:
    """How many decimals an amount in ``currency`` may have: its minor unit, at most the cents we store."""
    return min(get_currency_precision(currency.upper()), 2)


@lru_cache(maxsize=256)
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency`` anyone can pay: ``0.01`` for EUR, ``1`` for JPY (never below the cent)."""
    return Decimal(1).scaleb(-decimals(currency))


def round_to_unit(amount: Decimal, currency: str) -> Decimal:
    """An amount relance computed (penalties, interest) rounded half-up to what ``currency`` can pay, written
    with two decimals as every stored amount is: ``3041.1047`` yen is ``3041.00``, euros go to the cent as
    always. Typed amounts are refused instead (``check_decimals``): only a computation may round."""
    return amount.quantize(minor_unit(currency), ROUND_HALF_UP).quantize(CENT)


def check_decimals(amount: Decimal, currency: str, text: object = None) -> None:
    """Refuse an amount with more decimals than ``currency`` has (``1000.50`` yen cannot be paid).

    Written decimals count first: never more than two (``12.340`` may be a French twelve thousand), and
    zeros only where the currency has no such unit (``1000.00`` yen, as accounting exports write it)."""
    shown = repr(str(text if text is not None else amount))
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise MoneyError(f"amount {shown} has more than two decimals",
                         french=f"le montant {shown} a plus de deux décimales")
    allowed = decimals(currency)
    if amount != amount.quantize(minor_unit(currency)):
        code = currency.upper()
        if allowed == 0:
            raise MoneyError(f"amount {shown} has decimals, but {code} has none (write a whole number)",
                             french=f"le montant {shown} a des décimales, et {code} n'en a pas (écrivez un nombre "
                                    "entier)")
        raise MoneyError(f"amount {shown} has more than {allowed} decimal(s), the most {code} has",
                         french=f"le montant {shown} a plus de {allowed} décimale(s), le plus qu'a {code}")


def parse_amount(text: str, currency: str = "EUR") -> Decimal:
    """``1 234,56 €`` → ``Decimal("1234.56")``; a written currency must be ``currency``."""
    value = str(text).strip().translate(_ONE_SPACE)
    if not value:
        raise MoneyError("empty amount", french="montant vide")
    if value.startswith("(") and value.endswith(")") and value[1:-1].strip()[:1] not in "+-":
        # The accounting notation of a negative amount (Excel, Sage): read as one, for the caller to refuse
        # as negative with its own reason, rather than as "not an amount".
        value = "-" + value[1:-1].strip()
    match = _CURRENCY.fullmatch(value)
    # No digit, no amount: "abc", "NaN" or "inf" would otherwise read as a currency code alone.
    if (match is None or (match["pre"] and match["post"]) or not any(c.isdigit() for c in match["number"])
            or not _SHAPE.fullmatch(match["number"].strip())):
        raise MoneyError(f"not an amount: {text!r} (write 1234.56 or 1 234,56)",
                         french=f"« {text} » n'est pas un montant (écrivez 1234.56 ou 1 234,56)")
    written = match["pre"] or match["post"]
    if written:
        code = _SYMBOLS.get(written, written.upper())
        if code != currency.upper():
            raise MoneyError(f"{text!r} is in {code}, expected {currency.upper()}",
                             french=f"« {text} » est en {code}, le dossier en {currency.upper()}")
    value = match["number"].translate(_SPACES)
    if "," in value and "." in value:
        thousands = "." if value.rfind(",") > value.rfind(".") else ","
        value = value.replace(thousands, "")
    if value.count(",") > 1 or value.count(".") > 1:
        raise MoneyError(f"not an amount: {text!r} (write 1234.56 or 1 234,56)",
                         french=f"« {text} » n'est pas un montant (écrivez 1234.56 ou 1 234,56)")
    value = value.replace(",", ".")
    if not _NUMBER.fullmatch(value):
        raise MoneyError(f"not an amount: {text!r} (write 1234.56 or 1 234,56)",
                         french=f"« {text} » n'est pas un montant (écrivez 1234.56 ou 1 234,56)")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex already filtered
        raise MoneyError(f"not an amount: {text!r}",
                         french=f"« {text} » n'est pas un montant (écrivez 1234.56 ou 1 234,56)") from exc
    check_decimals(amount, currency, text)
    if abs(amount) >= MAX_AMOUNT:
        raise MoneyError(f"amount {text!r} is too large", french=f"le montant « {text} » est trop grand")
    return amount.quantize(CENT)


def parse_date(text: str) -> date:
    """``2026-05-02``, ``02/05/2026`` or ``02.05.2026`` → a date between 2000 and 2100."""
    value = str(text).strip()
    if not value:
        raise MoneyError("empty date", french="date vide")
    if match := _ISO.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _FRENCH.fullmatch(value):
        day, month, year = (int(part) for part in match.groups())
    elif _SHORT_YEAR.fullmatch(value):  # Excel's short date: 25 is not guessed into 2025 on a legal letter
        raise MoneyError(f"not a date: {value!r}: the year needs 4 digits (write DD/MM/YYYY or YYYY-MM-DD)",
                         french=f"« {value} » n'est pas une date : l'année s'écrit sur 4 chiffres (JJ/MM/AAAA)")
    else:
        raise MoneyError(f"not a date: {value!r} (write YYYY-MM-DD or DD/MM/YYYY)",
                         french=f"« {value} » n'est pas une date (écrivez JJ/MM/AAAA)")
    try:
        parsed = date(year, month, day)
    except ValueError as exc:
        raise MoneyError(f"no such date: {value!r} ({exc}; write YYYY-MM-DD or DD/MM/YYYY)",
                         french=f"« {value} » : cette date n'existe pas (écrivez JJ/MM/AAAA)") from None
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise MoneyError(f"date {value!r} is out of range: relance works with dates from "
                         f"{FIRST_DAY.year} to {LAST_DAY.year}",
                         french=f"la date « {value} » est hors limites : relance travaille avec des dates de "
                                f"{FIRST_DAY.year} à {LAST_DAY.year}")
    return parsed


def letter_locale(name: object) -> str:
    """The Babel locale, canonical (`fr_FR`), letters format dates and amounts in; MoneyError unless
    Babel knows it and it is French (fr_FR, fr_BE, fr_CH, fr_LU...)."""
    if not isinstance(name, str) or not _LOCALE.fullmatch(name):
        raise MoneyError(f"unknown locale {name!r}: write a locale such as 'fr_FR'")
    try:
        locale = Locale.parse(name)
    except (ValueError, UnknownLocaleError):
        raise MoneyError(f"unknown locale {name!r}: write a locale such as 'fr_FR'") from None
    if locale.language != LETTER_LANGUAGE:
        raise MoneyError(f"locale {name!r} is not French: the letters are written in French, and so are their "
                         "dates and amounts (fr_FR, fr_BE, fr_CH, fr_LU...)")
    return str(locale)


def currency_code(code: object) -> str:
    """A currency written in a file (a workflow's `currency:`): exactly a code `parse_currency` accepts, in
    capitals; `eur` is refused with the hint, as a policy's text should say what it means."""
    if not isinstance(code, str) or code != code.strip().upper() or not code.isalpha():
        raise MoneyError(f"unknown currency {code!r}: write an ISO 4217 code{_hint(str(code))}")
    return parse_currency(code)


def _hint(code: str) -> str:
    close = difflib.get_close_matches(code.strip().upper(), sorted(currencies()), n=1)
    return f" (did you mean {close[0]!r}?)" if close else " such as 'EUR'"


def format_amount(amount: Decimal, currency: str = "EUR", locale: str = "fr_FR") -> str:
    """`Decimal("1234.5")` → `"1 234,50 €"` (no-break spaces), rounded half-up to the cent."""
    if not isinstance(amount, Decimal):
        # Money is Decimal; an int is harmless, a float is a bug upstream.
        if isinstance(amount, float):
            raise TypeError(f"amount must be a Decimal, not float ({amount!r})")
        amount = Decimal(amount)
    return _formatted(str(amount.quantize(CENT, rounding=ROUND_HALF_UP)), currency, locale)


@lru_cache(maxsize=65536)
def _formatted(quantized: str, currency: str, locale: str) -> str:
    # Babel re-applies the locale's pattern on every call (about 0.1 ms); a run formats the same
    # few thousand amounts in every letter, statement and timeline line, so each is formatted once.
    # Keyed by the text, not the Decimal: -0.00 equals 0.00 but need not print the same.
    return _no_break(format_currency(Decimal(quantized), currency, locale=locale, decimal_quantization=False))


def format_number(value: Decimal, locale: str = "fr_FR") -> str:
    """A plain number with the locale's separators: `Decimal("12.15")` → `"12,15"`."""
    return _no_break(format_decimal(value, locale=locale))


def format_rate(rate: Decimal, locale: str = "fr_FR") -> str:
    """A yearly rate in percent, two decimals as the official tables print them: `Decimal("10")` → `"10,00 %"`."""
    return _formatted_rate(str(rate), locale)


@lru_cache(maxsize=4096)
def _formatted_rate(rate: str, locale: str) -> str:
    return _no_break(format_decimal(Decimal(rate), format="#,##0.00", locale=locale,
                                    decimal_quantization=True)) + NBSP + "%"


def format_date(on: date, locale: str = "fr_FR") -> str:
    """The short numeric date used in tables: `22/11/2026`."""
    return _short_date(on, locale)


def format_long_date(on: date, locale: str = "fr_FR") -> str:
    """The date written in full: `22 novembre 2026`, and `1er novembre 2026` in French, with no-break
    spaces, so a date never breaks across two lines of a letter."""
    return _long_date(on, locale)


# Cached for the reason amounts are: a run prints the same few hundred days in every letter.
@lru_cache(maxsize=65536)
def _short_date(on: date, locale: str) -> str:
    return babel_format_date(on, format="short", locale=locale)


@lru_cache(maxsize=65536)
def _long_date(on: date, locale: str) -> str:
    text = babel_format_date(on, format="long", locale=locale)
    if locale.split("_")[0] == "fr" and on.day == 1 and text.startswith("1 "):
        # French writes the first of the month as an ordinal ("1er"); Babel does not.
        text = "1er" + text[1:]
    return _no_break(text).replace(" ", NBSP)


def _no_break(text: str) -> str:
    return text.replace(NARROW_NBSP, NBSP)
