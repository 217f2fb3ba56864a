"""Renderer processes: on SQLite, one writer and N processes that render the letters beside it.

SQLite takes one writer at a time, so a run there is one process; rendering a letter (docxtpl's XML
work, zip, file write) is most of a step's time, and it needs nothing but the template and the
variables. A run with ``--workers N`` on SQLite hands each letter of a batch to a pool of N
processes (spawned, each compiling a template once) and goes on with the next case; the batch waits
for its letters before it records their SHA-256 and commits (engine.cases.batch).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from engine.core.limits import Limits
from engine.letters.render import render_file


class Renderers:
    """A pool of ``count`` renderer processes, started on first use."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future[str]] = []

    def submit(self, template: Path, context: dict[str, Any], out: Path, limits: Limits | None) -> Future[str]:
        """Render ``template`` with ``context`` into ``out`` (not synced: the batch syncs its letters); the
        future's result is the file's SHA-256, or it raises what rendering raised (LetterError...)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.count, mp_context=multiprocessing.get_context("spawn"))
        future = self._pool.submit(render_file, str(template), context, str(out), limits=limits, durable=False)
        self._pending.append(future)
        return future

    def drain(self) -> None:
        """Wait until no renderer is writing (before letters are removed, or written again inline)."""
        pending, self._pending = self._pending, []
        wait(pending)

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


__all__ = ["Renderers"]
