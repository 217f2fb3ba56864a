"""Reading one CSV file of the importer: encoding, delimiter, header, the columns of each kind.

UTF-8 with or without BOM, or the encoding the user names (Excel's « CSV (séparateur : point-virgule) »
writes Windows-1252); ``;``, ``,`` or tab (sniffed from the header). Cells holding amounts and
dates are parsed by engine.core.money, the same parser as every other entry point.

Quoting is read strictly: an unclosed ``"`` would otherwise swallow the following rows into one
cell (two debtors become one, silently), so a quote that never closes, or text after a closing
quote, is a ``CsvSyntaxError`` that names the line and the column where the quote opened. After
one, the row boundaries of the rest of the file cannot be trusted: the importer refuses the file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

# Per kind: required columns, then optional ones, as the example files spell them.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "debtors": (
        ("debtor_ref", "kind", "name"),
        ("siren", "address_line1", "address_line2", "postal_code", "city", "country", "email", "phone",
         "civility", "is_merchant", "do_not_chase"),
    ),
    "invoices": (("invoice_number", "debtor_ref", "issue_date", "due_date", "amount"), ("currency",)),
    "payments": (("debtor_ref", "payment_date", "amount"), ("invoice_number", "reference", "currency")),
    "credit_notes": (("credit_note_number", "debtor_ref", "issue_date", "amount"), ("invoice_number", "currency")),
}
# The column that tells the kinds apart when the caller does not name one.
SIGNATURE = {"debtors": "kind", "invoices": "due_date", "payments": "payment_date",
             "credit_notes": "credit_note_number"}

@dataclass(frozen=True)
class RawRow:
    """One record of the file: the line it starts on, its cells by column name, the line it ends on."""

    line: int
    cells: dict[str, str]
    fields: list[str]
    last_line: int = field(default=0, compare=False)


class CsvSyntaxError(Exception):
    """The file cannot be read past ``line``: its quoting is broken there (where the record starts, in
    ``column`` if known), or its bytes are not text in the file's encoding."""

    def __init__(self, line: int, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.line, self.column, self.reason = line, column, reason


class CsvFile:
    """An open CSV file: delimiter sniffed, header read, rows streamed."""

    def __init__(self, path: Path, encoding: str = "utf-8") -> None:
        self.path = path
        self.encoding = text_encoding(encoding)
        if self.encoding != "utf-8-sig" and _starts_with_utf8_bom(path):
            # A UTF-8 BOM says the file is UTF-8 whatever --encoding says (one command's files may mix Excel's
            # « CSV UTF-8 » and its cp1252 CSV): read in cp1252 the BOM would become "ï»¿" in the first column.
            self.encoding = "utf-8-sig"
        self._handle: IO[str] = path.open("r", encoding=self.encoding, newline="")
        try:
            first = self._handle.readline()
        except UnicodeDecodeError:
            self._handle.close()
            raise self._undecodable() from None
        self.delimiter = sniff_delimiter(first)
        self._handle.seek(0)  # the utf-8-sig decoder drops the BOM again after the rewind
        self._record: list[str] = []  # the raw lines of the record being read, to locate a quoting error
        self._reader = csv.reader(self._lines(), delimiter=self.delimiter, strict=True)
        self.header: list[str] = []
        header = self._next()
        self.header = [name.strip().lower() for name in header] if header else []

    def rows(self) -> Iterator[RawRow]:
        """Data rows, blank lines skipped; a row with the wrong number of cells is still yielded."""
        while True:
            start = self._reader.line_num + 1
            fields = self._next()
            if fields is None:
                return
            if not any(cell.strip() for cell in fields):
                continue
            fields = self._trailing_fitted(fields)
            cells = {name: (fields[i].strip() if i < len(fields) else "") for i, name in enumerate(self.header)}
            yield RawRow(start, cells, fields, self._reader.line_num)

    def _trailing_fitted(self, fields: list[str]) -> list[str]:
        """``fields`` fitted to the header when only empty trailing cells differ: exports that end every data line
        with ``;`` but not the header, or the header with ``;;`` but not every line. A cell with a value, or a
        missing cell under a named column, is left for the caller to refuse (a shifted row, most often)."""
        width = len(self.header)
        if len(fields) > width and not any(cell.strip() for cell in fields[width:]):
            return fields[:width]
        if len(fields) < width and not any(self.header[len(fields):]):
            return fields + [""] * (width - len(fields))
        return fields

    def _lines(self) -> Iterator[str]:
        try:
            for line in self._handle:
                self._record.append(line)
                yield line
        except UnicodeDecodeError:
            raise self._undecodable() from None

    def _undecodable(self) -> CsvSyntaxError:
        """Where the bytes stop being text: the decoder reads ahead by blocks, so its error has no line."""
        return undecodable_line(self.path, self.encoding)

    def _next(self) -> list[str] | None:
        """The next record, or None at the end; a quoting error is raised located at the record's start."""
        start = self._reader.line_num + 1
        self._record.clear()
        try:
            return next(self._reader, None)
        except csv.Error as exc:
            index = quote_problem_field(self._record[0] if self._record else "", self.delimiter)
            column = (self.header[index] if index is not None and index < len(self.header)
                      else None if index is None else f"#{index + 1}")
            ends = self._reader.line_num
            if "end of data" in str(exc) or len(self._record) > 1:
                reason = (f'unclosed quote: the cell opened with " on this line runs on to line {ends}'
                          + (" (the end of the file)" if "end of data" in str(exc) else "")
                          + '; close it, or write a " inside a cell as ""')
            else:
                reason = f'text after the closing quote of a cell ({exc}); write a " inside a cell as ""'
            raise CsvSyntaxError(start, column, reason) from None

    def close(self) -> None:
        self._handle.close()


def text_encoding(name: str) -> str:
    """The codec to read a file written in ``name``; ValueError for a name that is not a text encoding.
    UTF-8 is read as ``utf-8-sig`` so that the BOM Excel writes is not taken for part of the first column."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"unknown encoding {name!r} (e.g. utf-8, cp1252, latin-1)") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{name!r} is not a text encoding (e.g. utf-8, cp1252, latin-1)")
    return "utf-8-sig" if info.name in ("utf-8", "utf-8-sig") else info.name


def undecodable_line(path: Path, encoding: str) -> CsvSyntaxError:
    """The first line of ``path`` that is not text in ``encoding``, with what to do about it."""
    decoder = codecs.getincrementaldecoder(encoding)()
    number = 0
    with path.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as exc:
                reason = f"not {_label(encoding)} text: byte 0x{line[exc.start]:02x} cannot be read ({exc.reason})"
                utf_16 = number == 1 and line.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
                if encoding == "utf-8-sig" and utf_16:
                    # Excel's « Texte Unicode » and many exports write UTF-16: cp1252 would read it as NULs.
                    reason += ("; the file is UTF-16 (its first bytes say so): save it as « CSV UTF-8 », or pass "
                               "--encoding utf-16")
                elif encoding == "utf-8-sig" and _reads_as_windows_1252(line):
                    reason += ("; the file looks written in Windows-1252, as Excel's « CSV (séparateur : "
                               "point-virgule) » does: save it as « CSV UTF-8 », or pass --encoding cp1252")
                return CsvSyntaxError(number, None, reason)
    return CsvSyntaxError(max(number, 1), None, f"not {_label(encoding)} text: the file ends inside a character")


def _starts_with_utf8_bom(path: Path) -> bool:
    with path.open("rb") as raw:
        return raw.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8


def _label(encoding: str) -> str:
    return "UTF-8" if encoding == "utf-8-sig" else encoding


def _reads_as_windows_1252(line: bytes) -> bool:
    """Letters (é, à, ç…) where UTF-8 failed: the usual sign of a French Windows export."""
    try:
        text = line.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return any(not char.isascii() and char.isalpha() for char in text)


def sniff_delimiter(header_line: str) -> str:
    """The most frequent of ``;``, ``,`` and tab in the header line (``;`` on a tie: French files)."""
    counts = {sep: header_line.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ";"))
    return best if counts[best] else ";"


def quote_problem_field(line: str, delimiter: str) -> int | None:
    """The index of the first cell of ``line`` whose quoting is wrong: a quote still open at the end of
    the line, or text after a closing quote. None when the line's quoting is sound."""
    index, position = 0, 0
    quoted = closed = False
    at_start = True
    while position < len(line):
        char = line[position]
        if quoted:
            if char == '"' and line[position + 1:position + 2] == '"':
                position += 1  # a doubled quote inside the cell
            elif char == '"':
                quoted, closed = False, True
        elif char == delimiter:
            index, at_start, closed = index + 1, True, False
            position += 1
            continue
        elif closed and char not in "\r\n":
            return index
        elif char == '"' and at_start:
            quoted = True
        at_start = False
        position += 1
    return index if quoted else None


def infer_kind(header: list[str]) -> str | None:
    """Which kind of file this header describes, or None if it matches none."""
    for kind, column in SIGNATURE.items():
        if column in header:
            return kind
    return None
