"""CSV in, located errors out: debtors, invoices, payments and credit notes.

One file is one transaction: if any row is bad nothing is imported and ``ImportFailed`` lists every
problem with file, line, column and reason; with ``skip_bad_rows`` the good rows go in and the bad
ones are written, with a ``rejection_reason`` column, to ``rejects_path``. Rows are upserted by natural key
so importing the same file twice changes nothing:

- debtors by (creditor, debtor_ref), updated when a field changed;
- invoices by (creditor, invoice_number), updated when dates, amount or currency changed;
- credit notes by (creditor, credit_note_number), never edited once imported;
- payments by (creditor, debtor_ref, reference) when the row has a reference, otherwise by
  (creditor, debtor_ref, payment_date, amount, invoice_number). Two identical payments without a
  reference in one file are reported as duplicates: give them references.

A payment or credit note is allocated to the invoice its row names (up to what that invoice still
owes), then to the debtor's open invoices oldest due date first, only ever invoices in its own
currency (its ``currency`` cell, else the named invoice's, else EUR); any excess stays unallocated on
the payment. An allocation to an invoice in a case (open, or closed: a late payment still settles it) appends a ``payment`` (or
``credit_note``) event to that case and pulls its next_check_at back so the next run reconciles it.

Every problem of a row is listed at once: a row refused for its cells (a bad date) also names the debtor or
invoice it references that the database does not know (the writers' ``references``). A row that is an
export's totals line (``;;TOTAL;12 345,67``) is refused as one (``totals_line``).

Nothing is lost without a word:

- a quote that never closes (or text after a closing quote) refuses the file, located at the line
  and column where the quote opened: the rows it swallowed would otherwise vanish into one cell;
- a column relance does not know (often a misspelt one, ``adress_line1``) refuses the file with a
  "did you mean", unless ``allow_extra_columns``, when it is ignored with a warning; a column named
  twice refuses the file;
- a cell holding a control character (NUL, ESC, a line break, a tab...) or a bidirectional override
  is refused, located (engine.core.text says which characters): NUL alone would be stored by SQLite
  and refused by PostgreSQL, and the others would act on the terminal, the letters or a spreadsheet;
- money that does not fit is refused, located: a credit note larger than the invoice it names,
  money dated before every invoice it would pay, an invoice amount below what was already paid on
  it; what a payment brings beyond what the debtor owes stays as the debtor's unapplied credit,
  which pays the debtor's next invoices (engine.store.ledger).

The rejected-rows file is a CSV a spreadsheet opens: its cells go through engine.reports.csvsafe.

The file is streamed and written in batches with executemany inserts; only a key → line map of
the file and the creditor's debtor refs are held in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.countries import folded
from engine.core.text import unsafe_characters, visible
from engine.errors import RelanceError
from engine.imports.csvfile import COLUMNS, CsvFile, CsvSyntaxError, RawRow, infer_kind
from engine.imports.writers import WRITERS, BatchContext, RowProblem
from engine.reports import csvsafe
from engine.store.database import Store, ensure_creditor
from engine.store.models import Debtor

BATCH_SIZE = 2000
MAX_PROBLEMS_KEPT = 1000


@dataclass(frozen=True)
class ImportProblem:
    """One bad row: where it is and why it was refused."""

    file: str
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        column = f" column {self.column!r}:" if self.column else ""
        return f"{self.file}:{self.line}:{column} {self.reason}"


class ImportFailed(RelanceError):
    """The file was refused (nothing imported); ``problems`` says where and why."""

    def __init__(self, problems: list[ImportProblem], total: int | None = None, *, whole_file: bool = False) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        self.whole_file = whole_file  # the file as such is refused (header, quoting): skipping rows cannot help
        # Of a command's several files (App.import_files): those imported before this one, each its own
        # transaction and kept, and those not tried after it. The user is told both, not only the refusal.
        self.imported: tuple[ImportReport, ...] = ()
        self.not_tried: tuple[str, ...] = ()
        shown = "\n".join(f"  {problem}" for problem in problems[:20])
        more = f"\n  ... and {self.total - 20} more" if self.total > 20 else ""
        super().__init__(f"{self.total} bad row(s), nothing imported:\n{shown}{more}")


@dataclass
class ImportReport:
    """What one import did."""

    file: str
    kind: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    allocations: int = 0
    events: int = 0
    rejects_path: Path | None = None
    problems: list[ImportProblem] = field(default_factory=list)
    warnings: list[ImportProblem] = field(default_factory=list)  # e.g. columns ignored (allow_extra_columns)


def import_csv(
    store: Store,
    path: str | Path,
    kind: str | None = None,
    *,
    creditor_ref: str,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
    allow_extra_columns: bool = False,
    encoding: str = "utf-8",
) -> ImportReport:
    """Import one CSV file of ``kind`` (debtors|invoices|payments|credit_notes, or from its header).

    The creditor is created with its ref as name if it does not exist yet. A column the kind does not
    have refuses the file, unless ``allow_extra_columns`` (then it is ignored, with a warning). The file
    is read in ``encoding`` (UTF-8 by default, with or without BOM).
    """
    source = Path(path)
    if not source.is_file():
        raise ImportFailed([ImportProblem(str(source), 0, None, "file not found")])
    try:
        reader = CsvFile(source, encoding)
    except ValueError as exc:  # an encoding Python does not know
        raise ImportFailed([ImportProblem(str(source), 0, None, str(exc))], whole_file=True) from None
    except CsvSyntaxError as exc:
        raise ImportFailed([ImportProblem(str(source), exc.line, exc.column, exc.reason)], whole_file=True) from None
    try:
        kind, warnings = _check_header(reader, kind, allow_extra_columns)
        # Without --allow-extra-columns, a nameless column (Excel's trailing ";;") is read, not refused: a row
        # with a value under one is refused, located, since that value would otherwise be dropped unseen.
        nameless = () if allow_extra_columns else tuple(i for i, name in enumerate(reader.header) if not name)
        with store.session(write=True) as session:  # waits its turn behind a run on SQLite
            report = _import_rows(session, reader, kind, creditor_ref, skip_bad_rows, rejects_path, nameless)
            report.warnings = warnings
            if report.problems and not skip_bad_rows:
                session.rollback()
                raise ImportFailed(report.problems[:MAX_PROBLEMS_KEPT], report.rejected)
        return report
    except CsvSyntaxError as exc:
        # Nothing of the file goes in, even with skip_bad_rows: past a broken quote, or bytes that are not text
        # in the file's encoding, rows cannot be told apart.
        raise ImportFailed([ImportProblem(str(source), exc.line, exc.column, exc.reason)], whole_file=True) from None
    finally:
        reader.close()


def _check_header(reader: CsvFile, kind: str | None, allow_extra_columns: bool) -> tuple[str, list[ImportProblem]]:
    """The kind of the file, and the warnings about columns it ignores; ImportFailed for a header that
    would lose data (a required column missing, a column named twice, an unknown one not allowed)."""
    file = str(reader.path)
    if not reader.header:
        raise ImportFailed([ImportProblem(file, 1, None, "empty file: no header line")])
    if kind is None:
        kind = infer_kind(reader.header)
        if kind is None:
            raise ImportFailed([ImportProblem(
                file, 1, None,
                f"cannot tell what this file holds from its header {reader.header}; "
                f"name the kind ({', '.join(COLUMNS)})",
            )])
    if kind not in COLUMNS:
        raise ImportFailed([ImportProblem(file, 1, None, f"unknown kind {kind!r}; expected one of {', '.join(COLUMNS)}")])
    required, optional = COLUMNS[kind]
    known = (*required, *optional)
    problems = [ImportProblem(file, 1, name, f"column {name!r} appears twice in the header")
                for name in dict.fromkeys(n for n in reader.header if n and reader.header.count(n) > 1)]
    missing = [name for name in required if name not in reader.header]
    problems += [ImportProblem(file, 1, name, f"missing column {name!r} (the header has: {', '.join(reader.header)})")
                 for name in missing]
    # A column without a name is what Excel writes after the last one it saw used (trailing ";;"): it names
    # nothing, so the header does not refuse it; its cells are checked row by row (_import_rows).
    unknown = [ImportProblem(file, 1, name or f"#{i + 1}", _unknown_column(name, i, kind, known))
               for i, name in enumerate(reader.header)
               if name not in known and (name or allow_extra_columns)]
    if problems or (unknown and not allow_extra_columns):
        if unknown and not allow_extra_columns:
            problems += [replace(p, reason=p.reason + "; or pass --allow-extra-columns to ignore it")
                         for p in unknown]
        raise ImportFailed(sorted(problems, key=lambda p: reader.header.index(p.column)
                                  if p.column in reader.header else len(reader.header)), whole_file=True)
    return kind, [replace(p, reason=p.reason + ": ignored (--allow-extra-columns)") for p in unknown]


def _unknown_column(name: str, index: int, kind: str, known: tuple[str, ...]) -> str:
    what = f"unknown column {name!r}" if name else f"column {index + 1} has no name"
    return f"{what} for {kind}{_did_you_mean(name, list(known))} (known: {', '.join(known)})"


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = get_close_matches(name, candidates, n=1, cutoff=0.75) if name else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unsafe_cells(row: RawRow) -> list[RowProblem]:
    """A problem per cell holding a character relance refuses to store (engine.core.text)."""
    problems = []
    for name, value in row.cells.items():
        found = unsafe_characters(value)
        if not found:
            continue
        shown = ", ".join(dict.fromkeys(visible(char) for char in found))
        if "\n" in found or "\r" in found:
            reason = (f"a line break inside the cell (the record runs over lines {row.line}–{row.last_line}): "
                      'an unclosed quote? relance refuses line breaks in cells')
        else:
            reason = f"control or invisible character(s) {shown} in the cell: remove them"
        problems.append(RowProblem(name or None, reason))
    return problems


# A cell an accounting export writes on its totals line: TOTAL, Total général, Sous-total, Totaux...
_TOTALS = re.compile(r"(?:(?:sous|sub|grand) ?)?tota(?:l|ux)\b.*")


def totals_line(row: RawRow, header: list[str], required: tuple[str, ...], expected: int) -> RowProblem | None:
    """The problem of a row that is an export's totals line: a cell saying « total » in a row that could not be
    a record (cells missing, a required one empty); None for any other row (« Total SA » is a debtor)."""
    found = next(((i, cell.strip()) for i, cell in enumerate(row.fields) if _TOTALS.fullmatch(folded(cell))), None)
    if found is None:
        return None
    if len(row.fields) == expected and all(row.cells.get(name) for name in required):
        return None
    index, cell = found
    column = header[index] if index < len(header) and header[index] else None
    return RowProblem(column, f"looks like a totals line ({cell!r}), not a record: remove it from the file")


def _values_without_column(row: RawRow, nameless: tuple[int, ...]) -> list[RowProblem]:
    """A problem per value under a column the header leaves without a name: it would be stored nowhere."""
    return [RowProblem(f"#{i + 1}", f"a value under column {i + 1}, which has no name in the header: name the "
                                    "column, or pass --allow-extra-columns to ignore it")
            for i in nameless if i < len(row.fields) and row.fields[i].strip()]


def _import_rows(
    session: Session,
    reader: CsvFile,
    kind: str,
    creditor_ref: str,
    skip_bad_rows: bool,
    rejects_path: str | Path | None,
    nameless: tuple[int, ...] = (),
) -> ImportReport:
    file = str(reader.path)
    report = ImportReport(file=file, kind=kind)
    creditor = ensure_creditor(session, creditor_ref)
    context = BatchContext(
        session=session,
        creditor_id=creditor.id,
        debtor_ids=dict(session.execute(
            select(Debtor.ref, Debtor.id).where(Debtor.creditor_id == creditor.id)
        ).all()),
        source=reader.path.name,
    )
    writer = WRITERS[kind]
    rejects = Rejects(Path(rejects_path) if rejects_path else None, reader) if skip_bad_rows else None
    seen_keys: dict[str, int] = {}
    batch: list[tuple[RawRow, dict[str, Any]]] = []

    def refuse(row: RawRow, problems: list[RowProblem]) -> None:
        report.rejected += 1
        for problem in problems:
            if len(report.problems) < MAX_PROBLEMS_KEPT:
                report.problems.append(ImportProblem(file, row.line, problem.column, problem.reason))
        if rejects is not None:
            rejects.write(row, rejection(problems))

    def flush() -> None:
        if not batch:
            return
        outcome = writer.write(context, batch)
        for row, problems in outcome.refused:
            refuse(row, problems)
        report.inserted += outcome.inserted
        report.updated += outcome.updated
        report.unchanged += outcome.unchanged
        report.allocations += outcome.allocations
        report.events += outcome.events
        batch.clear()

    expected = len(reader.header)
    required = COLUMNS[kind][0]
    for row in reader.rows():
        report.rows += 1
        totals = totals_line(row, reader.header, required, expected)
        if totals is not None:
            refuse(row, [totals])
            continue
        if len(row.fields) != expected:
            refuse(row, [RowProblem(None, f"expected {expected} cells, found {len(row.fields)} "
                                          f"(delimiter {reader.delimiter!r})")])
            continue
        unsafe = _unsafe_cells(row) + _values_without_column(row, nameless)
        if unsafe:
            refuse(row, unsafe)
            continue
        values, problems = writer.parse(row.cells)
        if problems:
            # What the database would also refuse, said now: the clerk fixes the row once, not once per import.
            refuse(row, problems + writer.references(context, values, {p.column for p in problems}))
            continue
        key = writer.key(values)
        first = seen_keys.get(key)
        if first is not None:
            refuse(row, [RowProblem(writer.key_column,
                                    f"duplicate {writer.describe(values)} (first on line {first})")])
            continue
        seen_keys[key] = row.line
        batch.append((row, values))
        if len(batch) >= BATCH_SIZE:
            flush()
    flush()
    if rejects is not None:
        report.rejects_path = rejects.close()
    report.problems.sort(key=lambda problem: problem.line)  # database checks come after parsing ones
    return report


# The last column of every FILE.rejected.csv. Not "reason": events.csv has a `reason` column of its own, the
# event's, which the clerk re-imports; two columns of one name would leave them to guess which is which.
REJECTION_COLUMN = "rejection_reason"


def rejection(problems: Iterable[RowProblem | ImportProblem]) -> str:
    """A refused row's problems in one cell of its FILE.rejected.csv: ``column: reason; ...``."""
    return "; ".join(f"{problem.column}: {problem.reason}" if problem.column else problem.reason
                     for problem in problems)


class Rejects:
    """The rejected rows, as they were, plus a REJECTION_COLUMN; opened at the first reject. The one writer of
    every import's FILE.rejected.csv (data files here, events and tracking.csv in engine.imports.case_events)."""

    def __init__(self, path: Path | None, reader: CsvFile) -> None:
        self.path = path
        self.reader = reader
        self._handle: IO[str] | None = None
        self._writer: Any = None

    def write(self, row: RawRow, reason: str) -> None:
        if self.path is None:
            return
        if self._writer is None:
            self._handle = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csvsafe.writer(self._handle, delimiter=self.reader.delimiter)
            self._writer.writerow([*self.reader.header, REJECTION_COLUMN])
        # A short row is padded: its reason stays under the rejection column, not under one of its own.
        self._writer.writerow([*row.fields, *[""] * (len(self.reader.header) - len(row.fields)), reason])

    def close(self) -> Path | None:
        if self._handle is None:
            return None
        self._handle.close()
        return self.path


__all__ = ["REJECTION_COLUMN", "ImportFailed", "ImportProblem", "ImportReport", "Rejects", "import_csv", "rejection",
           "totals_line"]
