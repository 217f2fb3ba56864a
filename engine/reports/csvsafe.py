"""Every CSV relance writes is safe to open in a spreadsheet: the one owner of formula neutralisation.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel, LibreOffice and Google
Sheets (``=HYPERLINK(...)`` phones home, ``=cmd|...`` once ran programs), and so is one starting
with a tab or a carriage return after the spreadsheet trims it. Following OWASP, such a cell is
written with a single quote in front (``'=1+1``): the spreadsheet shows the text, runs nothing.

A plain number is left alone, sign included (``-12.50``, ``-1 234,56``): a negative amount is a
number to the spreadsheet, not a formula, and prefixing it would turn figures into text. Only a
cell that is a number and nothing else escapes the prefix: ``-1+1`` or ``-2 =A1`` still gets it.

Control characters other than tab, CR and LF (which CSV quoting carries) are written as visible
escapes (engine.core.text), so a NUL or an ESC typed on the command line neither breaks the file nor
acts on the terminal that prints it.

Used by the timeline's CSV export (engine.reports.timeline) and the importer's rejected-rows file
(engine.imports.importer): a file re-imported after a fix keeps the quote, so remove it there.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

from engine.core.text import inert

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number as people and relance write them: an optional sign, digits (in groups of three after a
# space, NBSP, dot or comma, if grouped), optional decimals. Nothing else: no operator, no letter.
_NUMBER = re.compile(r"[+-]?(\d+|\d{1,3}([ \u00a0\u202f.,]\d{3})+)([.,]\d+)?")


def safe_cell(value: object) -> str:
    """``value`` as a CSV cell a spreadsheet will not run: formula-like text gets a leading quote."""
    text = inert("" if value is None else value, keep="\t\r\n")
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def safe_row(values: Iterable[object]) -> list[str]:
    return [safe_cell(value) for value in values]


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``safe_cell``."""

    def __init__(self, handle: IO[str], **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, values: Iterable[object]) -> Any:
        return self._writer.writerow(safe_row(values))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle: IO[str], **options: Any) -> SafeWriter:
    """A CSV writer on ``handle`` (``csv.writer`` options) that neutralises formulas in every cell."""
    return SafeWriter(handle, **options)


__all__ = ["FORMULA_START", "SafeWriter", "safe_cell", "safe_row", "writer"]
