"""Renderer processes: on SQLite, one writer and N processes that render the letters beside it.

SQLite takes one writer at a time, so a run there is one process; rendering a letter (docxtpl's XML
work, zip, file write) is most of a step's time, and it needs nothing but the template and the
variables. A run with ``--workers N`` on SQLite hands each letter of a batch to a pool of N
processes (forked on Linux, with the templates already compiled; spawned elsewhere) and goes on with the
next case; the batch waits for its letters before it records their SHA-256 and commits (engine.cases.batch).
When every renderer has a letter in hand and one queued, the run renders the next letter itself: the
work balances between the writer and the renderers, and a batch's end waits on a short queue only.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from engine.core.limits import Limits
from engine.letters.render import render_file

# The GIL switch interval while renderer processes run (seconds; Python's default is 0.005).
HANDOFF_INTERVAL = 0.0005


class Renderers:
    """A pool of ``count`` renderer processes, started on first use."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future[str]] = []
        # Each counter is written by one thread only: the run's (submitted), the pool's callbacks (finished).
        self._submitted = 0
        self._finished = 0
        self._switch_interval = sys.getswitchinterval()

    @property
    def submitted(self) -> int:
        """How many letters were handed to the renderers so far."""
        return self._submitted

    @property
    def busy(self) -> bool:
        """True when every renderer has a letter in hand and another waiting: the run then renders the next
        letter itself rather than queue it (so the batch's end never waits on a long queue)."""
        return self._submitted - self._finished >= 2 * self.count

    def submit(self, template: Path, context: dict[str, Any], out: Path, limits: Limits | None) -> Future[str]:
        """Render ``template`` with ``context`` into ``out`` (not synced: the batch syncs its letters); the
        future's result is the file's SHA-256, or it raises what rendering raised (LetterError...)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.count, mp_context=start_method())
            # The pool's threads hand each letter to a renderer, and they need the GIL for that: at Python's
            # 5 ms switch interval, the run (busy building the next letter) kept them waiting, the renderers
            # idled and the run rendered a third of the letters itself. At 0.5 ms, 2,000 letters with 2
            # renderers took 6.76 s against 7.36 s (median of 4, interleaved). Restored at close.
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, HANDOFF_INTERVAL))
        future = self._pool.submit(render_file, str(template), context, str(out), limits=limits, durable=False)
        self._submitted += 1
        future.add_done_callback(self._done)
        self._pending.append(future)
        return future

    def _done(self, _future: Future[str]) -> None:
        self._finished += 1

    def drain(self) -> None:
        """Wait until no renderer is writing (before letters are removed, or written again inline)."""
        pending, self._pending = self._pending, []
        wait(pending)

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
            sys.setswitchinterval(self._switch_interval)


def start_method() -> Any:
    """fork where it is safe and cheap, spawn elsewhere: a forked process starts with the imports and the
    compiled templates of its parent (a second of CPU each, on cores it shares), and runs only what it is
    sent. Safe here means Linux and no other thread in the parent: a lock another thread held at the fork
    would stay held in the child. The child never touches the connections it inherits, and ends without
    closing them (multiprocessing leaves with os._exit)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


__all__ = ["Renderers", "start_method"]
