"""Parallel runs and the long-running worker: many processes, one PostgreSQL database, no coordinator.

`run_parallel` runs in N processes (itself and N-1 forked or spawned, never threads: letters are CPU-bound),
each with its own Store, each running the same run; the run claims every case under its row lock with SKIP LOCKED, so
the processes split the due cases and a step still happens once (unique key on (case, step)).
`work` is the loop behind `relance worker`: a pass, then a sleep until the next day, the next
interval, or a `NOTIFY relance` — any number of them on any number of machines.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from engine.app import AfterRun, App
from engine.cases.letters import RatesUsed
from engine.cases.renderers import start_method
from engine.cases.run import RunReport, run
from engine.letters.check import checked_verdicts, remember_verdicts
from engine.store.database import Store, StoreError
from engine.store.runlock import RunInProgress
from engine.workspace import load_workspace

# The channel a `NOTIFY relance` (e.g. after an import) wakes sleeping workers on.
CHANNEL = "relance"


def run_parallel(app: App, as_of: date, *, workers: int, pdf: bool = False) -> list[RunReport]:
    """One run of the workspace on ``as_of`` by ``workers`` processes; their reports merged.

    Afterwards ``app.after_run`` and ``app.rates_used`` hold the whole run's: each worker's PDFs (it
    converts the letters it wrote) and rates, and one delivery of the outbox, sent by this process once
    every worker has committed (one SMTP connection, one count of the e-mails left waiting).

    Refused on SQLite above one worker (StoreError): SQLite lets one process write at a time, so
    parallel processes would only queue on its lock.
    """
    refuse_sqlite(app.store, workers)
    if workers == 1:
        return run_once(app, as_of, pdf=pdf)
    # A broken template or output folder: one line here, not N processes failing. The verdicts go to the
    # workers, which then check nothing again (each template's file version is in the key).
    plan, _writer = app.prepare_run(pdf=pdf)
    job = _Job(str(app.workspace.root), app.workspace.database_url, as_of, pdf, checked_verdicts(), workers)
    app.store.dispose()  # no pooled connection crosses into a forked worker
    with start_method().Pool(workers - 1) as pool:
        running = pool.map_async(_run_job, [job] * (workers - 1))
        # While the other workers start (a second or two of imports), this process opens the day's cases,
        # then works as the last worker: its imports and template checks are already paid. The advisory
        # lock keeps the opening correct whoever gets there first.
        opened = [run(app.store, workflow, as_of, debtor_kinds=kinds, advance=False) if kinds is not None
                  else RunReport(as_of=as_of, dry_run=False) for workflow, kinds in plan]
        own = _worker_run(app, as_of, pdf, workers, open_new=False)  # it has just opened every bucket
        results = running.get()
    _merge_after_runs(app, [own, *results])
    app.after_run.delivery = app.deliver(as_of)
    return merge_reports([opened, own.reports, *(result.reports for result in results)])


def run_once(app: App, as_of: date, *, pdf: bool = False, stop: Callable[[], bool] | None = None,
             progress: Callable[[RunReport], None] | None = None) -> list[RunReport]:
    """One run of the workspace (``App.run``: every workflow, and older versions cases still use)."""
    return app.run(as_of, pdf=pdf, stop=stop, progress=progress)


def work(app: App, *, as_of: date | None = None, once: bool = False, pdf: bool = False, interval: float = 60.0,
         stop: threading.Event | None = None,
         on_pass: Callable[[date, list[RunReport]], None] | None = None,
         on_busy: Callable[[date, RunInProgress], None] | None = None,
         clock: Callable[[], datetime] = datetime.now) -> int:
    """Run passes until ``stop`` is set (or one pass with ``once``); returns the number of passes.

    Each pass runs as of ``as_of``, or today by ``clock`` (the shell reads the time, the core
    never does). Between passes it sleeps until the next day begins, ``interval`` seconds pass,
    or, on PostgreSQL, a notification arrives on the ``relance`` channel. A case that fails is
    that pass's error (in its report), never the worker's end. On SQLite, a pass that finds another
    run in progress is skipped (``on_busy``) and tried again after the sleep; with ``once`` it raises.
    """
    stop = stop or threading.Event()
    passes = 0
    while not stop.is_set():
        day = as_of or clock().date()
        try:
            reports = run_once(app, day, pdf=pdf, stop=stop.is_set)
        except RunInProgress as busy:
            if once or on_busy is None:
                raise
            on_busy(day, busy)
        else:
            passes += 1
            if on_pass is not None:
                on_pass(day, reports)
        if once or stop.is_set():
            break
        now = clock()
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
        _sleep(app.store, stop, min(interval, (midnight - now).total_seconds() + 1))
    return passes


def wake_workers(store: Store) -> None:
    """Tell sleeping workers there is new work (after an import); nothing on SQLite."""
    if store.is_postgresql:
        with store.bind.begin() as conn:
            conn.execute(text(f"NOTIFY {CHANNEL}"))


def refuse_sqlite(store: Store, workers: int) -> None:
    """Raise StoreError when more than one worker is asked of a SQLite database."""
    if workers > 1 and not store.is_postgresql:
        raise StoreError(
            f"--workers {workers} needs PostgreSQL (SQLite lets one process write at a time): "
            "use --workers 1, or --db postgresql+psycopg://user@host/db"
        )


def merge_reports(per_worker: list[list[RunReport]]) -> list[RunReport]:
    """The reports of several processes as one run's: counts summed per workflow, steps in case order."""
    merged: list[RunReport] = []
    for parts in zip(*per_worker, strict=True):
        total = RunReport(as_of=parts[0].as_of, dry_run=parts[0].dry_run)
        for part in parts:
            for name in ("cases_opened", "invoices_added", "cases_examined", "steps", "letters", "skipped"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
            total.by_state.update(part.by_state)
            for phase, seconds in part.phases.items():
                total.phases[phase] += seconds
            total.planned += part.planned
            total.errors += part.errors
        total.planned.sort(key=lambda step: step.case_ref)
        merged.append(total)
    return merged


@dataclass(frozen=True)
class _WorkerResult:
    """What one worker of a parallel run did: its reports, its PDFs and the rates its letters relied on."""

    reports: list[RunReport]
    after_run: AfterRun
    rates_used: RatesUsed


@dataclass(frozen=True)
class _Job:
    """What a spawned process needs to rebuild the App: plain values, picklable."""

    root: str
    database_url: str
    as_of: date
    pdf: bool
    verdicts: dict[Any, Any]  # the parent's template checks (engine.letters.check.checked_verdicts)
    workers: int  # the processes of the run, the parent included


def _run_job(job: _Job) -> _WorkerResult:
    remember_verdicts(job.verdicts)
    app = App(load_workspace(Path(job.root), job.database_url))
    try:
        return _worker_run(app, job.as_of, job.pdf, job.workers)
    finally:
        app.store.dispose()


def _worker_run(app: App, as_of: date, pdf: bool, workers: int, *, open_new: bool = True) -> _WorkerResult:
    """One worker's share of a parallel run; the outbox is left to the parent (run_parallel)."""
    reports = app.run(as_of, pdf=pdf, deliver=False, workers=workers, open_new=open_new)
    return _WorkerResult(reports, app.after_run, app.rates_used)


def _merge_after_runs(app: App, results: list[_WorkerResult]) -> None:
    """The workers' PDFs and rates as the run's, on ``app`` (each worker converted its own letters)."""
    app.after_run = AfterRun(pdf_processes=sum(result.after_run.pdf_processes for result in results),
                             pdf_failures=[failure for result in results for failure in result.after_run.pdf_failures])
    app.rates_used = RatesUsed()
    for result in results:
        app.rates_used.add(tuple(result.rates_used.assumed), tuple(result.rates_used.unverified))


def _sleep(store: Store, stop: threading.Event, seconds: float) -> None:
    """Wait ``seconds`` in short slices (so a stop is honoured within a second); on PostgreSQL a
    notification on the channel ends the wait early."""
    deadline = datetime.now() + timedelta(seconds=max(seconds, 0))
    listener = _listen(store)
    try:
        while not stop.is_set() and datetime.now() < deadline:
            if listener is None:
                stop.wait(1.0)
            elif any(True for _ in listener.notifies(timeout=1.0, stop_after=1)):
                return
    finally:
        if listener is not None:
            listener.close()


def _listen(store: Store) -> Any:
    """A raw psycopg connection listening on the channel, or None (SQLite, or no server)."""
    if not store.is_postgresql:
        return None
    try:
        import psycopg

        url = store.url.set(drivername="postgresql")
        conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn
    except Exception:  # the wait still works by timer; the next pass reports a dead server
        return None


__all__ = ["CHANNEL", "merge_reports", "refuse_sqlite", "run_once", "run_parallel", "wake_workers", "work"]
