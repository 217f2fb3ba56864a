"""Reading one CSV file of the importer: encoding, delimiter, header, the columns of each kind.

UTF-8 with or without BOM; ``;``, ``,`` or tab (sniffed from the header). Cells holding amounts and
dates are parsed by engine.core.money, the same parser as every other entry point.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Per kind: required columns, then optional ones, as the example files spell them.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "debtors": (
        ("debtor_ref", "kind", "name"),
        ("siren", "address_line1", "address_line2", "postal_code", "city", "country", "email", "phone",
         "do_not_chase"),
    ),
    "invoices": (("invoice_number", "debtor_ref", "issue_date", "due_date", "amount"), ("currency",)),
    "payments": (("debtor_ref", "payment_date", "amount"), ("invoice_number", "reference")),
    "credit_notes": (("credit_note_number", "debtor_ref", "issue_date", "amount"), ("invoice_number",)),
}
# The column that tells the kinds apart when the caller does not name one.
SIGNATURE = {"debtors": "kind", "invoices": "due_date", "payments": "payment_date",
             "credit_notes": "credit_note_number"}

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
