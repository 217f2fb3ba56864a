"""CSV in, located errors out: debtors, invoices, payments and credit notes.

One file is one transaction: if any row is bad nothing is imported and ``ImportFailed`` lists every
problem with file, line, column and reason; with ``skip_bad_rows`` the good rows go in and the bad
ones are written, with a ``reason`` column, to ``rejects_path``. Rows are upserted by natural key
so importing the same file twice changes nothing:

- debtors by (creditor, debtor_ref), updated when a field changed;
- invoices by (creditor, invoice_number), updated when dates, amount or currency changed;
- credit notes by (creditor, credit_note_number), never edited once imported;
- payments by (creditor, debtor_ref, reference) when the row has a reference, otherwise by
  (creditor, debtor_ref, payment_date, amount, invoice_number). Two identical payments without a
  reference in one file are reported as duplicates: give them references.

A payment or credit note is allocated to the invoice its row names (up to what that invoice still
owes), then to the debtor's open invoices oldest due date first; any excess stays unallocated on
the payment. An allocation to an invoice in a case (open, or closed: a late payment still settles it) appends a ``payment`` (or
``credit_note``) event to that case and pulls its next_check_at back so the next run reconciles it.

The file is streamed and written in batches with executemany inserts; only a key → line map of
the file and the creditor's debtor refs are held in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import RelanceError
from engine.imports.csvfile import COLUMNS, CsvFile, RawRow, infer_kind
from engine.imports.writers import WRITERS, BatchContext, RowProblem
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

    def __init__(self, problems: list[ImportProblem], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
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


def import_csv(
    store: Store,
    path: str | Path,
    kind: str | None = None,
    *,
    creditor_ref: str,
    skip_bad_rows: bool = False,
    rejects_path: str | Path | None = None,
) -> ImportReport:
    """Import one CSV file of ``kind`` (debtors|invoices|payments|credit_notes, or from its header).

    The creditor is created with its ref as name if it does not exist yet.
    """
    source = Path(path)
    if not source.is_file():
        raise ImportFailed([ImportProblem(str(source), 0, None, "file not found")])
    try:
        reader = CsvFile(source)
    except UnicodeDecodeError as exc:
        raise ImportFailed([ImportProblem(str(source), 1, None, f"not UTF-8 text ({exc.reason})")]) from exc
    try:
        kind = _check_header(reader, kind)
        with store.session() as session:
            report = _import_rows(session, reader, kind, creditor_ref, skip_bad_rows, rejects_path)
            if report.problems and not skip_bad_rows:
                session.rollback()
                raise ImportFailed(report.problems[:MAX_PROBLEMS_KEPT], report.rejected)
        return report
    except UnicodeDecodeError as exc:
        raise ImportFailed([ImportProblem(str(source), 0, None, f"not UTF-8 text ({exc.reason})")]) from exc
    finally:
        reader.close()


def _check_header(reader: CsvFile, kind: str | None) -> str:
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
    required, _optional = COLUMNS[kind]
    missing = [name for name in required if name not in reader.header]
    if missing:
        raise ImportFailed([ImportProblem(
            file, 1, name, f"missing column {name!r} (the header has: {', '.join(reader.header)})"
        ) for name in missing])
    return kind


def _import_rows(
    session: Session,
    reader: CsvFile,
    kind: str,
    creditor_ref: str,
    skip_bad_rows: bool,
    rejects_path: str | Path | None,
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
    )
    writer = WRITERS[kind]
    rejects = _Rejects(Path(rejects_path) if rejects_path else None, reader) if skip_bad_rows else None
    seen_keys: dict[str, int] = {}
    batch: list[tuple[RawRow, dict[str, Any]]] = []

    def refuse(row: RawRow, problems: Iterable[RowProblem]) -> None:
        report.rejected += 1
        reasons = []
        for problem in problems:
            reasons.append(f"{problem.column}: {problem.reason}" if problem.column else problem.reason)
            if len(report.problems) < MAX_PROBLEMS_KEPT:
                report.problems.append(ImportProblem(file, row.line, problem.column, problem.reason))
        if rejects is not None:
            rejects.write(row, "; ".join(reasons))

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
    for row in reader.rows():
        report.rows += 1
        if len(row.fields) != expected:
            refuse(row, [RowProblem(None, f"expected {expected} cells, found {len(row.fields)} "
                                          f"(delimiter {reader.delimiter!r})")])
            continue
        values, problems = writer.parse(row.cells)
        if problems:
            refuse(row, problems)
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


class _Rejects:
    """The rejected rows, as they were, plus a ``reason`` column; opened at the first reject."""

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
            self._writer = csv.writer(self._handle, delimiter=self.reader.delimiter)
            self._writer.writerow([*self.reader.header, "reason"])
        self._writer.writerow([*row.fields, reason])

    def close(self) -> Path | None:
        if self._handle is None:
            return None
        self._handle.close()
        return self.path


__all__ = ["ImportFailed", "ImportProblem", "ImportReport", "import_csv"]
