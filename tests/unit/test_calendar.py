"""Delays on real French dates: 1, 8, 14 and 25 May 2026 are public holidays; months clamp to their end."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from engine.core.calendar import (
    Delay,
    DelayError,
    add_business_days,
    add_delay,
    add_months,
    check_country,
    is_business_day,
    parse_delay,
    resolve_subdivision,
)


@pytest.mark.parametrize(
    ("text", "delay"),
    [("7 days", Delay(7, "day")), ("1 day", Delay(1, "day")), ("10 business days", Delay(10, "business_day")),
     ("2 weeks", Delay(2, "week")), ("1 month", Delay(1, "month")), ("3 Months", Delay(3, "month"))],
)
def test_parse_delay(text: str, delay: Delay) -> None:
    assert parse_delay(text) == delay


@pytest.mark.parametrize("text", ["7", "days", "-1 days", "1.5 days", "2 business weeks", "7 jours", None, 7])
def test_malformed_delays_are_refused(text: object) -> None:
    with pytest.raises(DelayError, match="delay"):
        parse_delay(text)


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        (date(2026, 4, 30), 1, date(2026, 5, 4)),   # Fri 1 May holiday, then the weekend
        (date(2026, 5, 7), 1, date(2026, 5, 11)),   # Fri 8 May (Victoire 1945)
        (date(2026, 5, 13), 1, date(2026, 5, 15)),  # Thu 14 May (Ascension)
        (date(2026, 5, 22), 1, date(2026, 5, 26)),  # Mon 25 May (Pentecôte)
        (date(2026, 4, 30), 10, date(2026, 5, 19)),  # 4 5 6 7 | 11 12 13 | 15 | 18 19
        (date(2026, 5, 2), 0, date(2026, 5, 2)),
    ],
)
def test_business_days_skip_weekends_and_french_holidays(start: date, count: int, expected: date) -> None:
    assert add_business_days(start, count, "FR") == expected
    assert add_delay(start, Delay(count, "business_day"), "FR") == expected


def test_alsace_moselle_calendar_has_good_friday() -> None:
    assert is_business_day(date(2026, 4, 3), "FR")
    for subdivision in ("57", "67", "68", "6AE"):
        assert not is_business_day(date(2026, 4, 3), "FR", subdivision)
        assert add_business_days(date(2026, 4, 2), 1, "FR", subdivision) == date(2026, 4, 7)
    assert add_business_days(date(2026, 4, 2), 1, "FR") == date(2026, 4, 3)


def test_unknown_subdivision_lists_the_accepted_ones() -> None:
    with pytest.raises(DelayError, match="accepted 57, 67, 68, 6AE"):
        resolve_subdivision("FR", "99")


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2025, 12, 31), 2, date(2026, 2, 28)),
        (date(2026, 1, 15), 12, date(2027, 1, 15)),
    ],
)
def test_months_clamp_to_month_end(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected
    assert add_delay(start, Delay(months, "month")) == expected


def test_days_and_weeks_are_calendar_days() -> None:
    assert add_delay(date(2026, 4, 30), Delay(1, "day")) == date(2026, 5, 1)  # holidays do not matter
    assert add_delay(date(2026, 12, 28), Delay(1, "week")) == date(2027, 1, 4)


@pytest.mark.parametrize("country", ["FR", "FRA", "DE", "GB", "UK"])
def test_country_codes_and_their_aliases_are_known(country: str) -> None:
    check_country(country)


@pytest.mark.parametrize("country", ["XX", "fr", "France", ""])
def test_unknown_calendars_are_refused(country: str) -> None:
    with pytest.raises(DelayError, match="unknown calendar"):
        check_country(country)


def test_checking_a_country_builds_no_holiday_table() -> None:
    """A workflow without business days loads without the tables: building one imports every country."""
    probe = ("import sys; from engine.core.calendar import check_country; check_country('FR'); "
             "print(sum(name.startswith('holidays.countries') for name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"


def test_a_delay_past_the_limit_says_the_limit() -> None:
    """'99999 days' used to be just 'malformed', as if the form were wrong rather than the number."""
    with pytest.raises(DelayError, match="at most 9999"):
        parse_delay("99999 days")
    with pytest.raises(DelayError, match="at most 9999"):
        parse_delay("9" * 5_000 + " days")  # past Python's int conversion limit: still a DelayError
    assert parse_delay("9999 months") == Delay(9999, "month")


@pytest.mark.parametrize("text", ["\uff15 days", "\u0663 days", "\u00b2 weeks"])
def test_only_ascii_digits_count(text: str) -> None:
    """A full-width 5 or an Arabic-Indic 3 are digits to Python's \\d, not to the person reading the file."""
    with pytest.raises(DelayError, match="malformed delay"):
        parse_delay(text)
