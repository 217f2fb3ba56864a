"""The statutory rates by half-year, read from an editable CSV file (engine/data/rates.csv by default).

France publishes its rates per half-year: the ECB rate in force on 1 January or 1 July, the B2B
default penalty rate (ECB + 10 points) and two legal interest rates. They change twice a year, so
they are data a user edits, never constants; a half-year missing from the file is an error that
names the file and the row to add, unless the caller explicitly asks to carry the last one forward.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path

from engine.errors import RelanceError

DEFAULT_RATES_FILE = Path(__file__).resolve().parent / "data" / "rates.csv"

COLUMNS = (
    "half_year_start",
    "ecb_rate",
    "b2b_default_rate",
    "legal_rate_individual",
    "legal_rate_other",
    "verified",
)
OPTIONAL_COLUMNS = ("note",)
# L441-10: the default B2B penalty rate is the ECB rate plus 10 points.
B2B_MARGIN = Decimal("10")
_TRUE = {"yes", "true", "1", "oui", "y"}
_FALSE = {"no", "false", "0", "non", "n"}


class AmountError(RelanceError, ValueError):
    """The amounts cannot be computed as asked; the message says what to fix."""


class RatesFileError(AmountError):
    """A rates file that cannot be used, located at file, line and column."""

    def __init__(self, path: Path, line: int | None, column: str | None, reason: str) -> None:
        self.path, self.line, self.column, self.reason = path, line, column, reason
        where = str(path) + (f":{line}" if line is not None else "")
        what = f" column {column!r}" if column else ""
        super().__init__(f"{where}:{what} {reason}")


class MissingRate(AmountError, LookupError):
    """No row in the rates file for a half-year a computation needs."""

    def __init__(self, half_year: HalfYear, path: Path | None, last: HalfYear | None) -> None:
        self.half_year, self.path = half_year, path
        source = str(path) if path else "the rates table"
        hint = ""
        if last is not None and half_year > last:
            hint = f", or compute with carry_forward=True to reuse {last}'s rates (the claim then flags it)"
        super().__init__(
            f"no rates for half-year {half_year} ({half_year.start} to {half_year.end}): "
            f"add a row with half_year_start {half_year.start} to {source}{hint}"
        )


class RateKind(StrEnum):
    """Which of a half-year's rates: names match the file's columns."""

    ECB = "ecb"
    B2B_DEFAULT = "b2b_default"
    LEGAL_INDIVIDUAL = "legal_individual"
    LEGAL_OTHER = "legal_other"


@dataclass(frozen=True, order=True)
class HalfYear:
    """S1 is January to June, S2 July to December; printed "2026 S2"."""

    year: int
    half: int  # 1 or 2

    @classmethod
    def containing(cls, on: date) -> HalfYear:
        return cls(on.year, 1 if on.month <= 6 else 2)

    @property
    def start(self) -> date:
        return date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def end(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    def next(self) -> HalfYear:
        return HalfYear(self.year, 2) if self.half == 1 else HalfYear(self.year + 1, 1)

    def __str__(self) -> str:
        return f"{self.year} S{self.half}"


@dataclass(frozen=True)
class HalfYearRates:
    """One row of the rates file (percent a year)."""

    half_year: HalfYear
    ecb: Decimal
    b2b_default: Decimal
    legal_individual: Decimal
    legal_other: Decimal
    verified: bool
    line: int | None = None  # where it came from, for messages

    def get(self, kind: RateKind | str) -> Decimal:
        return {
            RateKind.ECB: self.ecb,
            RateKind.B2B_DEFAULT: self.b2b_default,
            RateKind.LEGAL_INDIVIDUAL: self.legal_individual,
            RateKind.LEGAL_OTHER: self.legal_other,
        }[RateKind(kind)]


@dataclass(frozen=True)
class RateLookup:
    """The rates for a day's half-year; `assumed` when they were carried forward from an earlier one."""

    half_year: HalfYear
    rates: HalfYearRates
    assumed: bool


class RateTable:
    """Half-year rates with no gaps, looked up by day."""

    def __init__(self, rows: list[HalfYearRates], path: Path | None = None) -> None:
        self.path = path
        self._rows = {row.half_year: row for row in rows}
        if len(self._rows) != len(rows):
            raise AmountError("duplicate half-years in the rates table")
        self.first = min(self._rows) if rows else None
        self.last = max(self._rows) if rows else None

    def rate(self, kind: RateKind | str, on: date, *, carry_forward: bool = False) -> Decimal:
        """The rate of `kind` (percent a year) in force on `on`; MissingRate if its half-year is absent."""
        return self.lookup(on, carry_forward=carry_forward).rates.get(kind)

    def lookup(self, on: date, *, carry_forward: bool = False) -> RateLookup:
        """The row for `on`'s half-year, or with `carry_forward` the last row for a later half-year."""
        half = HalfYear.containing(on)
        row = self._rows.get(half)
        if row is not None:
            return RateLookup(half, row, assumed=False)
        if carry_forward and self.last is not None and half > self.last:
            return RateLookup(half, self._rows[self.last], assumed=True)
        raise MissingRate(half, self.path, self.last)

    def unverified(self) -> list[HalfYear]:
        """The half-years whose row is marked `verified = no`: to confirm before relying on them."""
        return [row.half_year for row in self if not row.verified]

    def carried_forward(self, on: date) -> HalfYear | None:
        """The half-year of `on` when the file stops before it (its rates would be assumed), else None."""
        half = HalfYear.containing(on)
        return half if self.last is not None and half > self.last else None

    def __iter__(self) -> Iterator[HalfYearRates]:
        return iter(self._rows[h] for h in sorted(self._rows))

    def __len__(self) -> int:
        return len(self._rows)


def load_rates(path: Path | str | None = None) -> RateTable:
    """Read a rates file (`;` or `,` separated, `#` comment lines allowed); errors name file, line, column."""
    path = Path(path) if path is not None else DEFAULT_RATES_FILE
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise RatesFileError(path, None, None, f"cannot read the rates file: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise RatesFileError(path, None, None, "is not UTF-8 text") from exc
    numbered = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        raise RatesFileError(path, None, None, "is empty: expected a header line " + ";".join(COLUMNS))
    header_line, header_text = numbered[0]
    delimiter = ";" if header_text.count(";") >= header_text.count(",") else ","
    header = [name.strip() for name in next(csv.reader([header_text], delimiter=delimiter))]
    for name in header:
        if name not in COLUMNS and name not in OPTIONAL_COLUMNS:
            raise RatesFileError(path, header_line, name, f"unknown column; expected {', '.join(COLUMNS)}")
    for name in COLUMNS:
        if name not in header:
            raise RatesFileError(path, header_line, name, "missing column")
    rows = [
        _parse_row(path, number, header, next(csv.reader([line], delimiter=delimiter)))
        for number, line in numbered[1:]
    ]
    _check_sequence(path, rows)
    return RateTable(rows, path)


# --- helpers -------------------------------------------------------------------------------------


def _parse_row(path: Path, line: int, header: list[str], cells: list[str]) -> HalfYearRates:
    if len(cells) != len(header):
        raise RatesFileError(path, line, None, f"expected {len(header)} cells, found {len(cells)}")
    values = dict(zip(header, (cell.strip() for cell in cells)))

    def fail(column: str, reason: str) -> RatesFileError:
        return RatesFileError(path, line, column, reason)

    raw_start = values["half_year_start"]
    try:
        start = date.fromisoformat(raw_start)
    except ValueError:
        raise fail("half_year_start", f"{raw_start!r} is not a date (YYYY-MM-DD)") from None
    if (start.month, start.day) not in ((1, 1), (7, 1)):
        raise fail("half_year_start", f"{start} is not a half-year start (1 January or 1 July)")
    rates: dict[str, Decimal] = {}
    for column in ("ecb_rate", "b2b_default_rate", "legal_rate_individual", "legal_rate_other"):
        raw = values[column].replace(",", ".").rstrip("%").strip()
        try:
            rate = Decimal(raw)
        except InvalidOperation:
            raise fail(column, f"{values[column]!r} is not a number (percent a year, e.g. 2.15)") from None
        if not rate.is_finite() or rate < 0 or rate > 100:
            raise fail(column, f"{values[column]!r} is not a rate between 0 and 100 (percent a year)")
        rates[column] = rate
    if rates["b2b_default_rate"] != rates["ecb_rate"] + B2B_MARGIN:
        raise fail(
            "b2b_default_rate",
            f"{rates['b2b_default_rate']} is not ecb_rate + 10 ({rates['ecb_rate'] + B2B_MARGIN}, "
            "Code de commerce L441-10)",
        )
    flag = values["verified"].lower()
    if flag not in _TRUE | _FALSE:
        raise fail("verified", f"{values['verified']!r} is not yes or no")
    return HalfYearRates(
        half_year=HalfYear.containing(start),
        ecb=rates["ecb_rate"],
        b2b_default=rates["b2b_default_rate"],
        legal_individual=rates["legal_rate_individual"],
        legal_other=rates["legal_rate_other"],
        verified=flag in _TRUE,
        line=line,
    )


def _check_sequence(path: Path, rows: list[HalfYearRates]) -> None:
    """Rows in date order, one per half-year, no hole: a hole would silently borrow no rate at all."""
    if not rows:
        raise RatesFileError(path, None, None, "has a header but no rows")
    for previous, row in zip(rows, rows[1:]):
        if row.half_year == previous.half_year:
            raise RatesFileError(
                path, row.line, "half_year_start", f"{row.half_year} already given on line {previous.line}"
            )
        if row.half_year != previous.half_year.next():
            raise RatesFileError(
                path,
                row.line,
                "half_year_start",
                f"expected {previous.half_year.next()} ({previous.half_year.next().start}) after "
                f"{previous.half_year} on line {previous.line}, found {row.half_year}: "
                "rows must be in date order with no missing half-year",
            )
