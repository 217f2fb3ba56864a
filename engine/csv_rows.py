"""Reading one CSV file of the importer: encoding, delimiter, header, and each cell's parsing.

Kept apart from engine.importer (which writes rows) so the parsing rules are in one short place:
UTF-8 with or without BOM; ``;``, ``,`` or tab (sniffed from the header); amounts ``1234.56`` or
French ``1 234,56`` (spaces, NBSP or narrow NBSP between thousands); dates ISO or dd/mm/yyyy.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

# Per kind: required columns, then optional ones, as the example files spell them.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "debtors": (
        ("debtor_ref", "kind", "name"),
        ("siren", "address_line1", "address_line2", "postal_code", "city", "country", "email", "phone"),
    ),
    "invoices": (("invoice_number", "debtor_ref", "issue_date", "due_date", "amount"), ("currency",)),
    "payments": (("debtor_ref", "payment_date", "amount"), ("invoice_number", "reference")),
    "credit_notes": (("credit_note_number", "debtor_ref", "issue_date", "amount"), ("invoice_number",)),
}
# The column that tells the kinds apart when the caller does not name one.
SIGNATURE = {"debtors": "kind", "invoices": "due_date", "payments": "payment_date",
             "credit_notes": "credit_note_number"}

_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'")
_AMOUNT = re.compile(r"[+-]?\d+(\.\d+)?")
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_FRENCH = re.compile(r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})")


class CellError(ValueError):
    """A cell that does not parse; the message is the reason shown to the user."""


@dataclass(frozen=True)
class RawRow:
    """One record of the file: its line number (where it ends) and its cells by column name."""

    line: int
    cells: dict[str, str]
    fields: list[str]


class CsvFile:
    """An open CSV file: delimiter sniffed, header read, rows streamed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("r", encoding="utf-8-sig", newline="")
        first = self._handle.readline()
        self.delimiter = sniff_delimiter(first)
        self._handle.seek(0)  # the utf-8-sig decoder drops the BOM again after the rewind
        self._reader = csv.reader(self._handle, delimiter=self.delimiter)
        header = next(self._reader, None)
        self.header = [name.strip().lower() for name in header] if header else []

    def rows(self) -> Iterator[RawRow]:
        """Data rows, blank lines skipped; a row with the wrong number of cells is still yielded."""
        for fields in self._reader:
            if not any(cell.strip() for cell in fields):
                continue
            cells = {name: (fields[i].strip() if i < len(fields) else "") for i, name in enumerate(self.header)}
            yield RawRow(self._reader.line_num, cells, fields)

    def close(self) -> None:
        self._handle.close()


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``;``, ``,`` and tab in the header line (``;`` on a tie: French files)."""
    counts = {sep: header_line.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ";"))
    return best if counts[best] else ";"


def infer_kind(header: list[str]) -> str | None:
    """Which kind of file this header describes, or None if it matches none."""
    for kind, column in SIGNATURE.items():
        if column in header:
            return kind
    return None


def parse_amount(text: str) -> Decimal:
    """``1234.56``, ``1 234,56``, ``1.234,56`` or ``1,234.56`` → Decimal, at most two decimals."""
    value = text.translate(_SPACES)
    for suffix in ("€", "EUR", "eur"):
        value = value.removesuffix(suffix)
    if not value:
        raise CellError("empty amount")
    if "," in value and "." in value:
        thousands = "." if value.rfind(",") > value.rfind(".") else ","
        value = value.replace(thousands, "")
    if value.count(",") > 1 or value.count(".") > 1:
        raise CellError(f"not an amount: {text!r}")
    value = value.replace(",", ".")
    if not _AMOUNT.fullmatch(value):
        raise CellError(f"not an amount: {text!r} (write 1234.56 or 1 234,56)")
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex already filtered
        raise CellError(f"not an amount: {text!r}") from exc
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise CellError(f"amount {text!r} has more than two decimals")
    if abs(amount) >= Decimal("1e12"):
        raise CellError(f"amount {text!r} is too large")
    return amount.quantize(Decimal("0.01"))


def parse_date(text: str) -> date:
    """``2025-03-31`` or ``31/03/2025`` (also ``31.03.2025``) → date."""
    value = text.strip()
    if not value:
        raise CellError("empty date")
    if match := _ISO.fullmatch(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _FRENCH.fullmatch(value):
        day, month, year = (int(part) for part in match.groups())
    else:
        raise CellError(f"not a date: {value!r} (write YYYY-MM-DD or DD/MM/YYYY)")
    try:
        return date(year, month, day)
    except ValueError as exc:
        raise CellError(f"no such date: {value!r} ({exc})") from exc
