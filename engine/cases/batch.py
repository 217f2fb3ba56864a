"""One batch of due cases: claimed, read in a few queries, advanced, written in one flush, committed once.

A batch is first tried whole: every case advanced in memory (no flush, no savepoint between cases),
then one flush writes all their rows with bulk inserts, inside a savepoint. That is the common case
and the fast one: a savepoint and a flush a case cost more than the case. With renderer processes
(SQLite, --workers N), the rows of the cases whose letters are back are inserted every WRITE_EVERY
cases, in the same savepoint, while the renderers render the others (``_write_ready``).

When anything goes wrong in that attempt (a guard, a template or the disk fails on one case, or the
flush meets a step another run already took), the savepoint rolls the whole attempt back, its letters
are removed, and the batch is done again carefully: one savepoint per case, so a failing case rolls
back alone and the reason is recorded on it, and a lost race counts as skipped. Both ways keep the
same promise: a case's new state, its events, its documents and its letters are kept together or
not at all, and the batch commits once. Only a database that stops answering ends the run.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, joinedload

from engine.cases.desk import Perform
from engine.cases.failures import clear_failure, failure_reason, record_failure
from engine.cases.steps import apply_steps, case_state, reconcile
from engine.core.case import Action, Step
from engine.core.machine import Escalator
from engine.core.workflow import Workflow
from engine.errors import DatabaseBusy
from engine.store import books, timeline
from engine.store.database import StoreError, claim_due_cases, count_due_cases
from engine.store.keys import insert_new
from engine.store.models import Case, Document, Event, Outbox, Task

Unit = Callable[[], AbstractContextManager[Session]]
# What a batch adds and never reads back through its session: written by Core (engine.store.keys.insert_new),
# events before the documents that point at them.
APPEND_ONLY = (Event, Document, Outbox, Task)
# With renderer processes, the cases whose letters are back are written every WRITE_EVERY cases of a batch.
WRITE_EVERY = 100
# The smallest batch a worker of a parallel run claims as the due cases run out (``_share``): below it, a
# batch's own queries and commit would cost more than the balance gains.
MIN_SHARE = 50


@dataclass(frozen=True)
class PlannedStep:
    """A step the run made (or, in a dry run, would make)."""

    case_ref: str
    trigger: str
    source: str
    dest: str
    on: date
    letters: tuple[str, ...] = ()


@dataclass
class RunReport:
    """What one run did: counts and the steps, in case order."""

    as_of: date
    dry_run: bool
    cases_opened: int = 0
    invoices_added: int = 0
    cases_examined: int = 0
    steps: int = 0
    letters: int = 0
    skipped: int = 0  # cases another worker held or had already advanced
    by_state: Counter[str] = field(default_factory=Counter)
    planned: list[PlannedStep] = field(default_factory=list)
    # Cases the run could not advance (rolled back, left as they were): (case ref, why), in case order.
    errors: list[tuple[str, str]] = field(default_factory=list)
    # Seconds by phase (claim, load, advance, letters, steps and events, flush, commit): the next bottleneck.
    # "letters" is the time in the letter writer (``perform``): each letter rendered, or handed to a renderer
    # process, its e-mail rendered, its call task opened; "steps and events" the rest of recording the steps.
    phases: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    # Batches the whole-batch attempt could not keep, done again case by case.
    careful_batches: int = 0


@dataclass
class Batch:
    """What one batch needs besides its session: the escalator, the day, the letter writer, the report."""

    escalator: Escalator
    as_of: date
    perform: Perform | None
    report: RunReport
    record: bool  # failures go on the case (not in a dry run)
    lock: bool  # PostgreSQL: row locks on the claimed cases
    stop: Callable[[], bool]
    workers: int = 1  # the processes of a parallel run claiming beside each other (engine.workers)

    def __post_init__(self) -> None:
        self.timed_perform = _timed(self.perform, self.report) if self.perform is not None else None


def advance_batch(unit: Unit, batch: Batch, *, after: int, size: int, workflow: Workflow) -> int | None:
    """Claim up to ``size`` due cases after id ``after`` and advance them in one transaction; returns the
    last id looked at, or None when nothing was left to claim.

    On PostgreSQL the claim locks the rows (``FOR UPDATE SKIP LOCKED``) until the commit, so concurrent
    runs split the cases. An interrupted batch keeps none of its steps and none of its letters.
    """
    report, perform = batch.report, batch.perform
    attempted: list[int] = []
    tried: list[int] = []  # the cases of a whole-batch attempt that rolled back
    done: list[tuple[str, list[Step]]] = []
    rows: dict[int, Case] = {}
    began = time.perf_counter()
    try:
        with unit() as session:
            limit = _share(session, batch, after, size, workflow)
            ids = claim_due_cases(session, batch.as_of, after_id=after, limit=limit, workflow_name=workflow.name,
                                  workflow_version=workflow.version, lock=batch.lock)
            report.phases["claim"] += time.perf_counter() - began
            if not ids:
                return None
            loading = time.perf_counter()
            rows = _load_cases(session, ids)
            with books.preloaded(session, ids), _letters_batch(perform, report):
                report.phases["load"] += time.perf_counter() - loading
                whole = _whole(session, batch, ids, rows, attempted)
                if whole is not None:
                    done = whole
                else:
                    report.careful_batches += 1
                    # The careful pass writes the same letters at the same paths again; a lost race's letter
                    # is the other run's, so nothing is removed before that pass says which cases failed.
                    tried[:], attempted[:] = attempted, []
                    _finish_all(perform, tried, failed=False)
                    done = _careful(session, batch, ids, rows, attempted)
                    _finish_all(perform, _not_in(tried, attempted), failed=True)  # not reached again: orphans
            committing = time.perf_counter()
        report.phases["commit"] += time.perf_counter() - committing
    except (OperationalError, InterfaceError, DatabaseBusy) as exc:  # DatabaseBusy: SQLite locked past its timeout
        _finish_all(perform, attempted + _not_in(tried, attempted), failed=True)
        raise _database_failed(exc, _ref(rows, attempted, after)) from exc
    except BaseException:
        # Interrupted (or a failure no case owns): nothing of the batch committed, so none of its letters stay.
        _finish_all(perform, attempted + _not_in(tried, attempted), failed=True)
        raise
    _finish_all(perform, attempted, failed=False)
    # Counted only once the transaction committed (or, in a dry run, its savepoint was released).
    for case_ref, steps in done:
        report.cases_examined += 1
        for step in steps:
            letters = tuple(dict.fromkeys(a.template for a in step.actions if a.template))  # one file per step
            report.planned.append(PlannedStep(case_ref, step.trigger, step.source, step.dest, step.on, letters))
            report.steps += 1
            report.letters += len(letters)
            report.by_state[step.dest] += 1
    return attempted[-1] if attempted else None


def _share(session: Session, batch: Batch, after: int, size: int, workflow: Workflow) -> int:
    """How many cases to claim: ``size``, or in a parallel run a part of what is left, so that the workers
    end together. With fixed batches, the worker that took the last one ran alone to the end: 2,000 cases in
    batches of 500 on 2 workers, one idled the last 0.7 s of a 3.2 s run. Each claim takes half of one
    worker's part of what is left (what other workers hold counted in: at most their batches too many),
    between MIN_SHARE and ``size``; a bounded count, so a run of a million due cases never counts them all."""
    if batch.workers <= 1:
        return size
    left = count_due_cases(session, batch.as_of, after_id=after, up_to=2 * batch.workers * size,
                           workflow_name=workflow.name, workflow_version=workflow.version)
    return max(MIN_SHARE, min(size, -(-left // (2 * batch.workers))))


def _whole(session: Session, batch: Batch, ids: list[int], rows: dict[int, Case], attempted: list[int]
           ) -> list[tuple[str, list[Step]]] | None:
    """Every case of the batch in memory, then one flush, in one savepoint; None when it rolled back."""
    done: list[tuple[str, list[Step]]] = []
    skipped: list[int] = []
    savepoint = session.begin_nested()  # nothing is pending here: everything it holds is this attempt's
    try:
        with timeline.preloaded(session, ids), timeline.sealed_later(session), _deferred(batch.perform), \
                session.no_autoflush:
            aside = _rendering_aside(batch.perform)
            for row in _due_rows(batch, ids, rows, attempted, skipped):
                done.append((row.ref, _step_case(session, row, batch)))
                if aside and len(done) % WRITE_EVERY == 0:
                    _write_ready(session, batch)
            waiting = time.perf_counter()
            _resolve(batch.perform)  # the letters' SHA-256 from the renderer processes, if any
            timeline.seal(session)  # then every event of the batch is chained and hashed, in order
            batch.report.phases["wait for renderers, seal"] += time.perf_counter() - waiting
        flushing = time.perf_counter()
        insert_new(session, APPEND_ONLY)
        session.flush()
        batch.report.phases["flush"] += time.perf_counter() - flushing
    except (OperationalError, InterfaceError):
        raise
    except Exception:  # a case failed, or a step was already taken: the batch is done again case by case
        savepoint.rollback()
        for pending in list(session.new):
            session.expunge(pending)
        session.expire_all()  # changes never flushed are not undone by the rollback: read the rows again
        return None
    savepoint.commit()
    batch.report.skipped += len(skipped)
    return done


def _write_ready(session: Session, batch: Batch) -> None:
    """While renderer processes render the batch's letters: the rows of the cases whose letters are back
    completed, hashed and inserted now, in the batch's savepoint as the rest. The batch's end then writes
    only its last cases, instead of every row while the renderers' core idles."""
    began = time.perf_counter()
    perform = batch.perform
    perform.resolve_ready()  # type: ignore[union-attr]  # _rendering_aside said it renders aside
    awaited = {id(event) for event in perform.awaited_events()}  # type: ignore[union-attr]
    timeline.seal(session, until=lambda event: id(event) in awaited)
    insert_new(session, APPEND_ONLY, ready=_sealed)
    batch.report.phases["flush while rendering"] += time.perf_counter() - began


def _sealed(row: object) -> bool:
    """A row ``_write_ready`` may insert: an event once hashed, a document once its letter event is; an outbox
    row or a task waits for nothing."""
    if isinstance(row, Event):
        return row.hash is not None
    if isinstance(row, Document):
        return row.event is not None and row.event.hash is not None
    return True


def _careful(session: Session, batch: Batch, ids: list[int], rows: dict[int, Case], attempted: list[int]
             ) -> list[tuple[str, list[Step]]]:
    """The batch one savepoint per case: a failing case rolls back alone and its failure is recorded."""
    report = batch.report
    done: list[tuple[str, list[Step]]] = []
    skipped: list[int] = []
    with timeline.preloaded(session, ids):
        for row in _due_rows(batch, ids, rows, attempted, skipped):
            case_id, ref = row.id, row.ref
            outcome = _advance_case(session, row, batch)
            if isinstance(outcome, list):
                done.append((ref, outcome))
            elif outcome is not None:
                _failed(session, case_id, ref, outcome, batch)
    report.skipped += len(skipped)
    return done


def _due_rows(batch: Batch, ids: list[int], rows: dict[int, Case], attempted: list[int], skipped: list[int]
              ) -> Iterator[Case]:
    """The claimed cases still due, in id order, until the run is told to stop; each one looked at goes in
    ``attempted``, and one another run advanced since the ids were read goes in ``skipped``."""
    for case_id in ids:
        if batch.stop():
            return
        attempted.append(case_id)
        row = rows.get(case_id)
        if row is None or not _due(row, batch.as_of):
            skipped.append(case_id)
            continue
        yield row


def _step_case(session: Session, row: Case, batch: Batch) -> list[Step]:
    """Advance one case and record its steps, letters and events on the session (not flushed)."""
    report, escalator, as_of = batch.report, batch.escalator, batch.as_of
    began = time.perf_counter()
    state = case_state(session, row, as_of)
    steps = reconcile(session, row, state, escalator, as_of)
    steps += escalator.advance(state, as_of)
    clear_failure(session, row, as_of)
    advanced = time.perf_counter()
    report.phases["advance"] += advanced - began
    letters = report.phases["letters"]
    apply_steps(session, row, state, steps, escalator, batch.timed_perform, as_of=as_of, flush=False)
    letters = report.phases["letters"] - letters
    report.phases["steps and events"] += time.perf_counter() - advanced - letters
    return steps


def _timed(perform: Perform, report: RunReport) -> Perform:
    """``perform``, its time added to the report's "letters" phase."""
    def timed(session: Session, case: Case, step: Step, action: Action) -> object:
        began = time.perf_counter()
        try:
            return perform(session, case, step, action)
        finally:
            report.phases["letters"] += time.perf_counter() - began
    return timed


def _advance_case(session: Session, row: Case, batch: Batch) -> list[Step] | Exception | None:
    """One case in a savepoint: its steps, or the exception that rolled it back, or None for a lost race."""
    savepoint = session.begin_nested()
    case_id = row.id
    try:
        steps = _step_case(session, row, batch)
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        timeline.forget(session, case_id)
        _finish(batch.perform, case_id, failed=False)  # another run took this step: its letter stays
        batch.report.skipped += 1
        return None
    except (OperationalError, InterfaceError):
        raise
    except Exception as exc:  # whatever one case's data or templates did, the other cases go on
        # Still holding the case (its row lock, or the SQLite writer): remove this attempt's letters
        # before anything lets another worker write the same paths.
        _finish(batch.perform, case_id, failed=True)
        savepoint.rollback()
        timeline.forget(session, case_id)
        return exc
    savepoint.commit()
    return steps


def _failed(session: Session, case_id: int, ref: str, failure: Exception, batch: Batch) -> None:
    """The failure in the report and, unless a dry run, on the case and in its timeline (its own savepoint:
    if even that fails, the run report still says why)."""
    report = batch.report
    reason = failure_reason(failure)
    report.errors.append((ref, reason))
    if not batch.record:
        return
    try:
        with session.begin_nested():
            record_failure(session, case_id, reason, batch.as_of, lock=batch.lock)
    except (OperationalError, InterfaceError):
        raise
    except DBAPIError as exc:
        report.errors[-1] = (ref, f"{reason} (and it could not be recorded on the case: {failure_reason(exc)})")


def _due(row: Case | None, as_of: date) -> bool:
    return row is not None and row.next_check_at is not None and row.next_check_at <= as_of


def _load_cases(session: Session, ids: list[int]) -> dict[int, Case]:
    """The claimed cases with their debtors, in one query (a get per case cost a round trip each)."""
    return {case.id: case for case in session.scalars(
        select(Case).options(joinedload(Case.debtor)).where(Case.id.in_(ids)))}


def _ref(rows: dict[int, Case], attempted: list[int], after: int) -> str:
    """The case in hand when the database failed (its ref, read without asking the database again)."""
    if attempted and attempted[-1] in rows:
        return str(rows[attempted[-1]].__dict__.get("ref", f"#{attempted[-1]}"))
    return f"after #{after}"


def _not_in(case_ids: list[int], others: list[int]) -> list[int]:
    seen = set(others)
    return [case_id for case_id in case_ids if case_id not in seen]


def _finish_all(perform: Perform | None, case_ids: list[int], *, failed: bool) -> None:
    for case_id in case_ids:
        _finish(perform, case_id, failed=failed)


def _finish(perform: Perform | None, case_id: int | None, *, failed: bool) -> None:
    """Tell the letter writer the attempt on this case is over (see LetterWriter.finish)."""
    finish = getattr(perform, "finish", None)
    if finish is not None and case_id is not None:
        finish(case_id, failed=failed)


def _database_failed(exc: OperationalError | InterfaceError | DatabaseBusy, ref: str) -> StoreError:
    """The database itself failed (gone, locked for too long): no case can go on, so the run stops."""
    cause = exc.__cause__ if isinstance(exc, DatabaseBusy) else exc
    lines = str(getattr(cause, "orig", None) or cause or exc).strip().splitlines() or [type(exc).__name__]
    return StoreError(f"the database failed while the run advanced case {ref} (the cases before it are "
                      f"saved; run again once it answers): {lines[0]}")


def _deferred(perform: Perform | None) -> AbstractContextManager[bool]:
    """The letter writer's deferred rendering (LetterWriter.deferred), when it has renderer processes."""
    deferred = getattr(perform, "deferred", None)
    return deferred() if deferred is not None else nullcontext(False)


def _rendering_aside(perform: Perform | None) -> bool:
    """True when the letter writer's letters render in other processes while the batch goes on."""
    return bool(getattr(perform, "rendering_aside", False))


def _resolve(perform: Perform | None) -> None:
    resolve = getattr(perform, "resolve", None)
    if resolve is not None:
        resolve()


@contextmanager
def _letters_batch(perform: Perform | None, report: RunReport) -> Iterator[None]:
    """The letter writer's batch (LetterWriter.batch): the batch's letters synced together before the commit."""
    batch = getattr(perform, "batch", None)
    if batch is None:
        yield
        return
    with batch():
        yield
        syncing = time.perf_counter()
    report.phases["sync letters"] += time.perf_counter() - syncing


__all__ = ["Batch", "PlannedStep", "RunReport", "advance_batch"]
