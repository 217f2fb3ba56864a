"""CSV files of what happened outside the letters: events (disputes, promises, holds, calls) and
registered-letter receipts (tracking.csv). Unlike the data imports, each row is a case action.

events.csv (the format of examples/events.csv): ``event_date;debtor_ref;action;until;reason`` plus the
optional ``outcome`` (a call's) and ``case_ref`` (else the debtor's newest open case). `read_events` checks
every row (located problems) without touching the database; `apply_event` records one row as the matching
`relance case ...` command would — the demo (engine.demo) applies them day by day, `relance import`
all at once. tracking.csv: ``case_ref;tracking;presented_on;received_on`` (engine.cases.steps.record_receipt).

One file is one transaction: any bad row refuses the file (``--skip-bad-rows``: that row only, written
to FILE.rejected.csv). A row already recorded (same kind, day and words on the case) is left unchanged,
so importing a file twice records nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.actions import REASON_REQUIRED, require_not_before_last_event
from engine.cases.desk import Desk
from engine.cases.lookup import require_case
from engine.cases.steps import act, record_receipt
from engine.core.money import MoneyError, parse_date
from engine.errors import CaseError, RelanceError
from engine.imports.csvfile import CsvFile, CsvSyntaxError, infer_kind
from engine.imports.importer import ImportFailed, ImportProblem, ImportReport, Rejects, rejection, totals_line
from engine.store.events import CALL_OUTCOMES, CallRecorded, EventPayload, NoticeReceived, read_event
from engine.store.models import Case, Debtor, Event
from engine.store.timeline import append_event

ACTIONS = ("dispute", "resolve", "promise", "hold", "resume", "note", "call")
EVENT_COLUMNS = (("event_date", "debtor_ref", "action"), ("until", "reason", "outcome", "case_ref"))
TRACKING_COLUMNS = (("case_ref", "tracking"), ("presented_on", "received_on"))
KINDS = {"events": EVENT_COLUMNS, "tracking": TRACKING_COLUMNS}


R = TypeVar("R", "EventRow", "ReceiptRow")


class NoOpenCase(CaseError):
    """The row's debtor has no open case to record it on."""


@dataclass(frozen=True)
class EventRow:
    line: int
    on: date
    debtor_ref: str
    action: str
    until: date | None = None
    reason: str | None = None
    outcome: str | None = None
    case_ref: str | None = None


@dataclass(frozen=True)
class ReceiptRow:
    line: int
    case_ref: str
    tracking: str
    presented_on: date | None
    received_on: date | None


def kind_of(path: Path, encoding: str = "utf-8") -> str | None:
    """The kind of file its header says: "events", "tracking", or a data file's kind as the importer infers
    it ("debtors", "invoices"...: engine.imports.csvfile.infer_kind); None when it says none. A command's
    files are imported in the order of these kinds, whatever the files are named."""
    try:
        reader = CsvFile(path, encoding)
    except (OSError, ValueError, CsvSyntaxError):
        return None
    try:
        header = set(reader.header)
    finally:
        reader.close()
    if {"action", "event_date"} <= header:
        return "events"
    return "tracking" if "tracking" in header else infer_kind(sorted(header))


def read_events(path: Path, encoding: str = "utf-8") -> list[EventRow]:
    """Every row checked, in date order (file order within a day); ImportFailed lists each bad one."""
    rows, problems = _read_events(path, encoding)
    if problems:
        raise ImportFailed(problems)
    return rows


def _read_events(path: Path, encoding: str) -> tuple[list[EventRow], list[ImportProblem]]:
    """The good rows in date order (file order within a day), and the problems of the others."""
    rows: list[EventRow] = []
    lines, problems = _rows(path, EVENT_COLUMNS, encoding)
    for line, cells in lines:
        found: list[ImportProblem] = []
        action = cells.get("action", "").lower()
        if action not in ACTIONS:
            found.append(ImportProblem(str(path), line, "action", f"unknown action {cells.get('action')!r}; "
                                                                  f"expected one of {', '.join(ACTIONS)}"))
        on = _date(path, line, cells, "event_date", found, required=True)
        until = _date(path, line, cells, "until", found, required=action == "promise")
        outcome = cells.get("outcome") or ("reached" if action == "call" else None)
        if action == "call" and outcome not in CALL_OUTCOMES:
            found.append(ImportProblem(str(path), line, "outcome", f"unknown call outcome {outcome!r}; "
                                                                  f"expected one of {', '.join(CALL_OUTCOMES)}"))
        if action == "call" and (outcome == "promise") != (until is not None):
            found.append(ImportProblem(str(path), line, "until", "a call's promise needs `until`, and only a promise"))
        if action in REASON_REQUIRED and not cells.get("reason"):
            found.append(ImportProblem(str(path), line, "reason", f"required for {action}, but empty"))
        if not cells.get("debtor_ref"):
            found.append(ImportProblem(str(path), line, "debtor_ref", "required, but empty"))
        if found or on is None:
            problems += found
            continue
        rows.append(EventRow(line, on, cells["debtor_ref"], action, until, cells.get("reason") or None, outcome,
                             cells.get("case_ref") or None))
    return sorted(rows, key=lambda row: (row.on, row.line)), problems


def apply_event(session: Session, desk: Desk, row: EventRow, *, by: str) -> str | None:
    """Record one events.csv row on its case; what was done, or None when it was already recorded."""
    case = _case_of(session, row)
    if row.action == "call":
        assert row.outcome is not None
        if _already(session, case, CallRecorded.kind, row.on, row.reason, outcome=row.outcome):
            return None
        if row.outcome in ("promise", "dispute"):  # checked before the call goes in: it would be the last event
            require_not_before_last_event(session, case, row.outcome, row.on)
        append_event(session, case, CallRecorded(row.outcome, row.reason, case.debtor.phone, row.until), row.on,
                     actor=by)
        if row.outcome in ("promise", "dispute"):
            act(session, case, desk.escalator_for(case), row.outcome, row.on, by=by, until=row.until,
                reason=row.reason or f"{row.outcome} lors d'un appel", perform=desk.letter_writer())
        return f"{row.on}: call ({row.outcome}) on {case.ref} ({row.debtor_ref}) → {case.state}"
    if _already(session, case, row.action, row.on, row.reason):
        return None
    require_not_before_last_event(session, case, row.action, row.on)
    act(session, case, desk.escalator_for(case), row.action, row.on, by=by, reason=row.reason, until=row.until,
        perform=desk.letter_writer())
    return f"{row.on}: {row.action} on {case.ref} ({row.debtor_ref}) → {case.state}"


def import_events(desk: Desk, path: Path, *, by: str, skip_bad_rows: bool = False,
                  encoding: str = "utf-8") -> ImportReport:
    rows, problems = _read_events(path, encoding)
    return _apply_all(desk, path, "events", rows, problems, lambda session, row: apply_event(session, desk, row, by=by),
                      skip_bad_rows, encoding)


def read_receipts(path: Path, encoding: str = "utf-8") -> list[ReceiptRow]:
    rows, problems = _read_receipts(path, encoding)
    if problems:
        raise ImportFailed(problems)
    return rows


def _read_receipts(path: Path, encoding: str) -> tuple[list[ReceiptRow], list[ImportProblem]]:
    rows = []
    lines, problems = _rows(path, TRACKING_COLUMNS, encoding)
    for line, cells in lines:
        found: list[ImportProblem] = []
        presented = _date(path, line, cells, "presented_on", found)
        received = _date(path, line, cells, "received_on", found)
        for column in ("case_ref", "tracking"):
            if not cells.get(column):
                found.append(ImportProblem(str(path), line, column, "required, but empty"))
        if presented is None and received is None and not found:
            found.append(ImportProblem(str(path), line, "received_on", "give received_on, presented_on or both"))
        if found:
            problems += found
            continue
        rows.append(ReceiptRow(line, cells["case_ref"], cells["tracking"], presented, received))
    return rows, problems


def import_receipts(desk: Desk, path: Path, on: date, *, by: str, skip_bad_rows: bool = False,
                    encoding: str = "utf-8") -> ImportReport:
    def apply(session: Session, row: ReceiptRow) -> str | None:
        case = require_case(session, row.case_ref)
        for event in session.scalars(select(Event).where(Event.case_id == case.id, Event.kind == NoticeReceived.kind)):
            known = read_event(event.kind, event.payload)
            if isinstance(known, NoticeReceived) and (known.tracking, known.presented_on, known.received_on) == (
                    row.tracking, row.presented_on, row.received_on):
                return None
        record_receipt(session, case, desk.escalator_for(case), tracking=row.tracking, presented_on=row.presented_on,
                       received_on=row.received_on, on=on, by=by)
        return f"receipt {row.tracking} on {case.ref}"

    rows, problems = _read_receipts(path, encoding)
    return _apply_all(desk, path, "tracking", rows, problems, apply, skip_bad_rows, encoding)


def _apply_all(desk: Desk, path: Path, kind: str, rows: Sequence[R], bad: list[ImportProblem],
               apply: Callable[[Session, R], str | None], skip_bad_rows: bool, encoding: str) -> ImportReport:
    """Record the good rows; ``bad`` are the problems of the rows refused when read. With ``skip_bad_rows``
    those are skipped like a row its case refuses, else any problem refuses the file: after the good rows
    were tried, so that the refusal lists what their cases refuse too."""
    report = ImportReport(file=str(path), kind=kind, rows=len(rows) + len({problem.line for problem in bad}),
                          rejected=len({problem.line for problem in bad}), problems=list(bad))
    with desk.session() as session:
        for row in rows:
            try:
                with session.begin_nested():  # a refused row leaves nothing behind, even half an action
                    done = apply(session, row)
            except RelanceError as exc:
                report.rejected += 1
                report.problems.append(ImportProblem(str(path), row.line, None, str(exc)))
                continue
            if done is None:
                report.unchanged += 1
            else:
                report.inserted += 1
                report.events += 1
        report.problems.sort(key=lambda problem: problem.line)
        if report.problems and not skip_bad_rows:
            session.rollback()
            raise ImportFailed(report.problems, report.rejected)
    if report.problems:
        report.rejects_path = _write_rejects(path, report.problems, encoding)
    return report


def _case_of(session: Session, row: EventRow) -> Case:
    if row.case_ref:
        case = require_case(session, row.case_ref)
        if case.debtor.ref != row.debtor_ref:
            raise CaseError(f"case {case.ref} is not debtor {row.debtor_ref}'s")
        return case
    found = session.scalar(select(Case).join(Debtor, Debtor.id == Case.debtor_id)
                           .where(Debtor.ref == row.debtor_ref, Case.closed.is_(False))
                           .order_by(Case.id.desc()).limit(1))
    if found is None:
        raise NoOpenCase(f"debtor {row.debtor_ref} has no open case to record the {row.action} on")
    return found


def _already(session: Session, case: Case, kind: str, on: date, reason: str | None, *, outcome: str | None = None) -> bool:
    for event in session.scalars(select(Event).where(Event.case_id == case.id, Event.kind == kind,
                                                     Event.occurred_on == on)):
        payload: EventPayload = read_event(event.kind, event.payload)
        said = getattr(payload, "note", None) if kind == CallRecorded.kind else getattr(payload, "reason", None)
        if said == reason and (outcome is None or getattr(payload, "outcome", None) == outcome):
            return True
    return False


def _rows(path: Path, columns: tuple[tuple[str, ...], tuple[str, ...]],
          encoding: str) -> tuple[list[tuple[int, dict[str, str]]], list[ImportProblem]]:
    """The rows of the file by line, and a problem per row with the wrong number of cells. ImportFailed (the
    whole file: skipping rows cannot help) for a file that cannot be read, its quoting or its header."""
    try:
        reader = CsvFile(path, encoding)
    except (OSError, ValueError) as exc:
        raise ImportFailed([ImportProblem(str(path), 1, None, f"cannot read the file: {exc}")],
                           whole_file=True) from None
    except CsvSyntaxError as exc:
        raise ImportFailed([ImportProblem(str(path), exc.line, exc.column, exc.reason)], whole_file=True) from None
    try:
        missing = [name for name in columns[0] if name not in reader.header]
        if missing:
            raise ImportFailed([ImportProblem(str(path), 1, name, f"missing column {name!r} (the header has: "
                                              f"{', '.join(reader.header)})") for name in missing], whole_file=True)
        rows, problems = [], []
        for row in reader.rows():
            totals = totals_line(row, reader.header, columns[0], len(reader.header))
            if totals is not None:
                problems.append(ImportProblem(str(path), row.line, totals.column, totals.reason))
            elif len(row.fields) != len(reader.header):
                problems.append(ImportProblem(str(path), row.line, None, f"expected {len(reader.header)} cells, "
                                              f"found {len(row.fields)} (delimiter {reader.delimiter!r})"))
            else:
                rows.append((row.line, row.cells))
        return rows, problems
    except CsvSyntaxError as exc:
        raise ImportFailed([ImportProblem(str(path), exc.line, exc.column, exc.reason)], whole_file=True) from None
    finally:
        reader.close()


def _date(path: Path, line: int, cells: dict[str, str], column: str, problems: list[ImportProblem], *,
          required: bool = False) -> date | None:
    value = cells.get(column, "")
    if not value:
        if required:
            problems.append(ImportProblem(str(path), line, column, "required, but empty"))
        return None
    try:
        return parse_date(value)
    except MoneyError as exc:
        problems.append(ImportProblem(str(path), line, column, str(exc)))
        return None


def _write_rejects(path: Path, problems: list[ImportProblem], encoding: str) -> Path:
    """The refused rows as they were, with their problems, written as the data imports write theirs
    (engine.imports.importer.Rejects): FILE.rejected.csv, one rejection_reason column."""
    by_line: dict[int, list[ImportProblem]] = {}
    for problem in problems:
        by_line.setdefault(problem.line, []).append(problem)
    out = path.with_name(f"{path.stem}.rejected.csv")
    reader = CsvFile(path, encoding)
    rejects = Rejects(out, reader)
    try:
        for row in reader.rows():
            if row.line in by_line:
                rejects.write(row, rejection(by_line[row.line]))
    finally:
        reader.close()
        rejects.close()
    return out


__all__ = ["ACTIONS", "KINDS", "EventRow", "NoOpenCase", "ReceiptRow", "apply_event", "import_events",
           "import_receipts", "kind_of", "read_events", "read_receipts"]
