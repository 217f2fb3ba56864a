"""When an invoice becomes time-barred: the prescription date from its due date and its acknowledgements.

Rules (French law; see shared/domain/LAW.md):
- between businesses, 5 years (Code de commerce L110-4; Code civil 2224 under ordinary law);
- a professional against a consumer, 2 years (Code de la consommation L218-2);
- the period runs from the day the invoice fell due, and starts again in full from an acknowledgement
  of the debt by the debtor (Code civil 2240). A partial payment is treated as one (unverified: the
  courts generally read a partial payment as an acknowledgement, which is what this module assumes);
  a credit note, issued by the creditor, is not. Reminders and the formal notice do not interrupt it
  (Cass. com. 18 May 2022, 20-23.204): only payments move the date.

Convention: the prescription date is the same calendar day N years after the start (29 February →
28 February); the invoice can still be claimed on that day and is time-barred from the day after.
Pure: dates in, dates out.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

# Years of prescription by debtor kind, with the article a letter or a timeline cites.
PERIODS: dict[str, tuple[int, str]] = {
    "b2b": (5, "art. L110-4 du Code de commerce"),
    "b2c": (2, "art. L218-2 du Code de la consommation"),
}
# `relance report` lists invoices whose prescription date falls within this many days.
WATCH_DAYS = 90


@dataclass(frozen=True)
class Prescription:
    """An invoice's prescription: from when it runs, until when, and under which rule."""

    start: date  # the due date, or the last acknowledgement (payment) after it
    acknowledged: bool  # the start is an acknowledgement, not the due date
    on: date  # last day the claim may still be brought
    years: int
    article: str

    def barred(self, today: date) -> bool:
        """Time-barred on `today`: the prescription date has passed."""
        return today > self.on

    def days_left(self, today: date) -> int:
        """Days from `today` to the prescription date (negative once time-barred)."""
        return (self.on - today).days


def prescription(debtor_kind: str, due_date: date, acknowledgements: Iterable[date] = ()) -> Prescription:
    """The prescription of an invoice due `due_date`, restarted by the latest acknowledgement after it."""
    try:
        years, article = PERIODS[debtor_kind]
    except KeyError:
        raise ValueError(f"debtor kind must be one of {', '.join(PERIODS)}, not {debtor_kind!r}") from None
    later = [day for day in acknowledgements if day > due_date]
    start = max(later, default=due_date)
    return Prescription(start, bool(later), add_years(start, years), years, article)


def add_years(on: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    year = on.year + years
    return date(year, on.month, min(on.day, calendar.monthrange(year, on.month)[1]))


__all__ = ["PERIODS", "WATCH_DAYS", "Prescription", "add_years", "prescription"]
