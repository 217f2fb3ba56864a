"""Delays ("7 days", "10 business days", "2 weeks", "1 month") and the business calendar they count on.

Business days skip Saturdays, Sundays and the public holidays of the workflow's country (and
subdivision: Alsace-Moselle has Good Friday and 26 December) from the `holidays` library.
Results are cached: the run computes the same few dates for thousands of cases.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays
from holidays.registry import EntityLoader

from engine.errors import CaseError, RelanceError

UNITS = ("day", "business_day", "week", "month")
# Département numbers people write, mapped to the subdivision codes `holidays.France` accepts
# (it knows "57" for Moselle and "6AE" for Alsace, i.e. Bas-Rhin 67 and Haut-Rhin 68 together).
SUBDIVISION_ALIASES = {"FR": {"67": "6AE", "68": "6AE"}}

# Units in one delay: 9999 months (833 years) still ends on a date Python can hold.
MAX_DELAY = 9999
# ASCII only: `\d` would take a full-width ５ or an Arabic-Indic ٣ as a digit nobody reading the file sees as one.
_DELAY = re.compile(r"^\s*([0-9]+)\s+(business\s+)?(day|week|month)s?\s*$", re.IGNORECASE | re.ASCII)
_FORMS = {"day": "'N days'", "business_day": "'N business days'", "week": "'N weeks'", "month": "'N months'"}


class DelayError(RelanceError, ValueError):
    """A delay or calendar setting that cannot be understood, with the accepted forms."""


@dataclass(frozen=True)
class Delay:
    """A parsed delay: `count` units of `unit` (day, business_day, week, month)."""

    count: int
    unit: str

    def __str__(self) -> str:
        word = self.unit.replace("_", " ")
        return f"{self.count} {word}{'' if self.count == 1 else 's'}"


def parse_delay(text: object, units: tuple[str, ...] = UNITS) -> Delay:
    """`N day(s)`, `N business day(s)`, `N week(s)`, `N month(s)`, N from 0 to MAX_DELAY; raises DelayError
    otherwise. `units`: the ones the caller accepts, which are all the error message suggests."""
    match = _DELAY.match(text) if isinstance(text, str) else None
    if match is None:
        forms = [_FORMS[unit] for unit in units]
        written = ", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else forms[0]
        raise DelayError(f"malformed delay {_shown(text)}: write {written}")
    digits, business, unit = match.group(1).lstrip("0") or "0", match.group(2), match.group(3).lower()
    if len(digits) > len(str(MAX_DELAY)) or int(digits) > MAX_DELAY:  # length first: int() of 5,000 digits raises
        raise DelayError(f"delay {_shown(text)} is too long: at most {MAX_DELAY} {unit}s")
    if business and unit != "day":
        raise DelayError(f"malformed delay {text!r}: only days can be business days")
    return Delay(int(digits), "business_day" if business else unit)


def _shown(text: object) -> str:
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def add_delay(start: date, delay: Delay, country: str = "FR", subdivision: str | None = None) -> date:
    """The day `delay` after `start`, business days counted on the country's calendar."""
    return _add_delay_cached(start, delay.count, delay.unit, country, subdivision)


def add_months(start: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (31 January + 1 month = 28/29 February)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, _stdlib_calendar.monthrange(year, month)[1]))


def add_business_days(start: date, count: int, country: str = "FR", subdivision: str | None = None) -> date:
    """The `count`-th business day after `start` (`start` itself not counted; 0 gives `start`)."""
    closed = holiday_calendar(country, subdivision)
    day = start
    for _ in range(count):
        day += timedelta(days=1)
        while day.weekday() >= 5 or day in closed:
            day += timedelta(days=1)
    return day


def is_business_day(day: date, country: str = "FR", subdivision: str | None = None) -> bool:
    """Neither a weekend nor a public holiday of the calendar."""
    return day.weekday() < 5 and day not in holiday_calendar(country, subdivision)


def resolve_subdivision(country: str, subdivision: str | None) -> str | None:
    """The `holidays` subdivision code for what the user wrote; raises DelayError listing the accepted ones."""
    if subdivision is None:
        return None
    code = SUBDIVISION_ALIASES.get(country, {}).get(str(subdivision), str(subdivision))
    cls = _country_class(country)
    aliases = getattr(cls, "subdivisions_aliases", {}) or {}
    if code in cls.subdivisions:
        return code
    if code in aliases:
        return aliases[code]
    accepted = sorted(set(cls.subdivisions) | set(SUBDIVISION_ALIASES.get(country, {})))
    raise DelayError(f"unknown subdivision {subdivision!r} for {country}: accepted {', '.join(accepted)}")


def check_country(country: object) -> None:
    """Raise DelayError unless `holidays` knows the country code.

    Asked of the registry, not of a holiday table: building any table imports every country `holidays`
    ships, about 0.1 s at each process start, which a workflow without business days never needs.
    """
    if not isinstance(country, str):
        raise DelayError(f"calendar must be a country code such as 'FR', not {country!r}")
    if country not in _country_codes():
        raise DelayError(f"unknown calendar {country!r}: use a country code known to `holidays`, e.g. 'FR'")


@lru_cache(maxsize=64)
def holiday_calendar(country: str, subdivision: str | None = None) -> holidays.HolidayBase:
    """One expanding holiday table per (country, subdivision), shared by the whole process."""
    return holidays.country_holidays(country, subdiv=resolve_subdivision(country, subdivision))


@lru_cache(maxsize=65536)
def _add_delay_cached(start: date, count: int, unit: str, country: str, subdivision: str | None) -> date:
    if unit == "day":
        return start + timedelta(days=count)
    if unit == "week":
        return start + timedelta(weeks=count)
    if unit == "month":
        return add_months(start, count)
    return add_business_days(start, count, country, subdivision)


@lru_cache(maxsize=64)
def _country_class(country: str) -> holidays.HolidayBase:
    """A holiday table without subdivision: it carries the country's subdivision codes and aliases."""
    check_country(country)
    return holidays.country_holidays(country)


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(EntityLoader.get_country_codes())


def happened_by(day: date, today: date) -> date:
    """``day``, the day something happened (a payment received, a call made), when it is not after ``today``:
    the timeline records what took place, on its day, and a fact dated tomorrow has not happened yet (a
    future payment would also lower balances and push back time bars from a day to come). The one rule for
    the web app's forms, `relance case pay` and the payments import; CaseError (English, and French)."""
    if day > today:
        raise CaseError(f"{day.isoformat()} is after today ({today.isoformat()}): record what happened, on its day",
                        french=f"le {day:%d/%m/%Y} est après aujourd'hui ({today:%d/%m/%Y}) : on enregistre ce qui "
                               "a eu lieu, à sa date")
    return day
