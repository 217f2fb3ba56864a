"""One run: open cases for newly overdue invoices, then advance the due cases batch by batch.

Opening reads the overdue invoices a batch at a time and gives each a case (or joins its debtor's).
Advancing is engine.cases.batch: due cases are claimed in batches, each advanced and committed in one
transaction, a case's new state, events, documents and letters kept together or not at all. The step
key on the event (see engine.store.models) turns a second run, or a second worker, into a no-op. A
dry run does the same work inside one outer transaction that is rolled back, and never calls ``perform``.

A failure while advancing one case (a guard, a template, a missing rate, the disk) stays with that
case: it rolls back alone, its letters of that attempt are removed, the reason goes in the report and
on the case (engine.cases.failures), and the batch goes on with the next case. Only a database that
stops answering ends the run; an interrupted batch keeps none of its letters.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from functools import partial

from sqlalchemy.orm import Session

from engine.cases.batch import Batch, PlannedStep, RunReport, advance_batch
from engine.cases.desk import Perform
from engine.cases.opening import open_cases
from engine.core.machine import Escalator
from engine.core.workflow import Workflow
from engine.store.database import Store

Unit = Callable[[], AbstractContextManager[Session]]


def run(
    store: Store,
    workflow: Workflow,
    as_of: date,
    *,
    perform: Perform | None = None,
    dry_run: bool = False,
    batch_size: int = 500,
    progress: Callable[[RunReport], None] | None = None,
    debtor_kinds: tuple[str, ...] | None = None,
    stop: Callable[[], bool] | None = None,
    open_new: bool = True,
    advance: bool = True,
    workers: int = 1,
) -> RunReport:
    """Run ``workflow`` on ``as_of``: open overdue cases, then advance every case due that day.

    ``debtor_kinds`` limits the cases opened to debtors of those kinds ("b2b", "b2c"), so a
    workspace can run one policy for businesses and another for consumers. ``stop`` is asked
    between cases (a worker told to stop ends after the case in hand, never inside one).
    Only cases on this workflow's version are advanced; ``open_new=False`` runs an older version
    for the cases still on it, without opening new cases on it; ``advance=False`` only opens cases
    (a parallel run's parent, while its workers start: engine.workers). ``workers``: how many processes of
    a parallel run claim beside this one, its own included (they then claim smaller batches as the cases
    run out, so that they end together).

    Any number of runs may share a PostgreSQL database at once: opening cases is serialized by
    an advisory lock, and each case is claimed with ``FOR UPDATE SKIP LOCKED`` in the very
    transaction that advances it, so concurrent runs split the due cases between them.
    """
    escalator = Escalator(workflow)
    report = RunReport(as_of=as_of, dry_run=dry_run)
    stop = stop or _never
    shared = store.is_postgresql
    with _units(store, dry_run) as unit, _fewer_collections():
        if open_new:
            began = time.perf_counter()
            open_cases(unit, workflow, as_of, report, batch_size=batch_size, debtor_kinds=debtor_kinds,
                       serialize=shared and not dry_run)
            report.phases["open cases"] += time.perf_counter() - began
        if not advance:
            return report
        batch = Batch(escalator, as_of, None if dry_run else perform, report, record=not dry_run, lock=shared,
                      stop=stop, workers=workers)
        after: int | None = 0
        while after is not None and not stop():
            after = advance_batch(unit, batch, after=after, size=batch_size, workflow=workflow)
            if progress is not None:
                progress(report)
    return report


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The cyclic collector, tuned for a run: what is alive when the first run starts (modules, the workflow,
    compiled templates) is set aside, and the youngest objects are collected every 10,000 allocations, not 700."""
    # A run allocates millions of short-lived objects (ORM rows, contexts, XML) that reference counting frees;
    # with the defaults the collector ran about 290 times in a 2,000-letter run, rescanning the long-lived
    # objects in each older collection: 5-8 % of the run's CPU. Frozen objects also stay unwritten, so shared,
    # in the renderer processes forked during the run. Runs overlap in a web app's threads: the first to
    # start tunes, the last to end restores.
    global _tuned_runs, _threshold
    with _tuning:
        if _tuned_runs == 0:
            _threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(10_000, 10, 10)
        _tuned_runs += 1
    try:
        yield
    finally:
        with _tuning:
            _tuned_runs -= 1
            if _tuned_runs == 0:
                gc.set_threshold(*_threshold)
                gc.unfreeze()


_tuning = threading.Lock()
_tuned_runs = 0
_threshold = gc.get_threshold()


def _never() -> bool:
    return False


@contextmanager
def _units(store: Store, dry_run: bool) -> Iterator[Unit]:
    if not dry_run:
        # On SQLite a batch takes the write lock when it begins (BEGIN IMMEDIATE). Begun as a reader, a person's
        # payment committed meanwhile made its snapshot stale, and SQLite refused its first write at once
        # ('database is locked'), ending the run. The person's action now waits for the batch's commit.
        # (On PostgreSQL the batch claims its cases with FOR UPDATE SKIP LOCKED: it stays a plain unit.)
        yield partial(store.session, write=True) if store.is_sqlite else store.session
        return
    with store.rehearsal() as unit:
        yield unit


__all__ = [
    "PlannedStep", "RunReport", "open_cases", "run",
]
