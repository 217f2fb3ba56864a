"""Renderer processes: on SQLite, one writer and processes that render its letters beside it.

SQLite takes one writer at a time, so a run there is one process; rendering a letter (docxtpl's XML
work, zip, file write) is most of a step's time, and it needs nothing but the template and the
variables. A run with ``--workers N`` on SQLite (N processes in all, the run being one of them) hands
each letter of a batch to one of N-1 processes (forked on Linux, with the templates already compiled;
spawned elsewhere) and goes on with the next case; the batch waits for its letters before it records
their SHA-256 and commits (engine.cases.batch).

Each renderer has a pipe of its own, written and read by the run's thread alone: the run knows at
every letter which renderer is free, with no helper thread between them. (A ProcessPoolExecutor's
threads needed the GIL the run was holding: its count of finished letters lagged, and the run rendered
720 of 2,000 letters itself while the renderers idled.) When every renderer holds DEPTH letters, the run
renders the next letter itself: the queue is deep enough that the run, the busier process, rarely does,
and short enough that a batch's end waits a few tens of milliseconds for it. A renderer that dies fails
the letters it held (the batch is then done again, its letters rendered by the run) and is not used
again; without any renderer left, the run renders every letter itself.
"""

from __future__ import annotations

import multiprocessing
import select
import signal
import sys
import threading
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from engine.core.limits import Limits
from engine.letters.render import compiled_template, render_file

# Letters a renderer holds at most. The run is the busier process (it reads, advances, records and hashes every
# case; the renderer only renders), so a letter it renders itself (1.4-1.7 ms with its file, against 0.1 ms to
# hand it over) lengthens the whole run (with 6, the renderer still idled about a third of the time). A run hands
# letters over faster than one renderer renders them between two writes of a batch's rows (WRITE_EVERY), and
# the renderer catches up while the run writes them: the queue must hold that burst (about 20 letters a
# hundred cases) without the run rendering. 2,000 letters beside one renderer, interleaved pairs: 6 → 32
# took 2.86 → 2.67 s (medians of 5, every pair faster); 16 took 2.75 s against 32's 2.61 s, and 100
# 2.88 s against 2.76 s: the batch's end then waits for a longer queue.
DEPTH = 32


class RendererDied(RuntimeError):
    """A renderer process ended (killed, out of memory) with letters in hand."""


class Renderers:
    """A pool of ``count`` renderer processes, started on first use."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._renderers: list[_Renderer] | None = None
        self._submitted = 0

    @property
    def submitted(self) -> int:
        """How many letters were handed to the renderers so far."""
        return self._submitted

    @property
    def pids(self) -> list[int]:
        """The process ids of the renderers still in use (none before the first letter)."""
        return [renderer.process.pid for renderer in self._renderers or ()]

    @property
    def busy(self) -> bool:
        """True when every renderer holds DEPTH letters (or none is left): the run then renders the next
        letter itself rather than queue it (so the batch's end never waits on a long queue)."""
        if self._renderers is None:
            return False
        self._collect()
        return all(len(renderer.pending) >= DEPTH for renderer in self._renderers)

    def submit(self, template: Path, context: dict[str, Any], out: Path, limits: Limits | None) -> Rendering:
        """Render ``template`` with ``context`` into ``out`` (not synced: the batch syncs its letters); the
        rendering's result is the file's SHA-256, or it raises what rendering raised (LetterError...)."""
        if self._renderers is None:
            # Compiled here first (40 ms for a shipped letter): forked renderers start with it, and the run has
            # it too for the letters it renders itself, rather than each process compiling it on its own.
            compiled_template(template, limits)
            self._renderers = [_Renderer.start() for _ in range(self.count)]
        self._collect()
        rendering = Rendering(self)
        if not self._renderers:
            rendering.fail(RendererDied("no renderer process is left"))
            return rendering
        renderer = min(self._renderers, key=lambda r: len(r.pending))
        try:
            renderer.connection.send((str(template), context, str(out), limits))
        except (OSError, EOFError):
            self._bury(renderer)
            rendering.fail(RendererDied(f"renderer process {renderer.process.pid} ended"))
            return rendering
        renderer.pending.append(rendering)
        self._submitted += 1
        return rendering

    def collect(self) -> None:
        """Take the answers already back from the renderers, without waiting for any."""
        self._collect()

    def drain(self) -> None:
        """Wait until no renderer is writing (before letters are removed, or written again inline)."""
        for renderer in list(self._renderers or ()):
            while renderer.pending and self._receive(renderer):
                pass

    def close(self) -> list[int | None]:
        """Wait for the letters in hand, then end the renderer processes; their exit codes (0 when each
        ended on being told to)."""
        self.drain()
        codes = [renderer.stop() for renderer in self._renderers or ()]
        self._renderers = None
        return codes

    def _await(self, rendering: Rendering) -> None:
        """Receive results until ``rendering`` has its own."""
        for renderer in list(self._renderers or ()):
            while rendering in renderer.pending and self._receive(renderer):
                pass

    def _collect(self) -> None:
        """Take the results already waiting in the pipes, without blocking."""
        for renderer in list(self._renderers or ()):
            while renderer.pending and renderer.ready() and self._receive(renderer):
                pass

    def _receive(self, renderer: _Renderer) -> bool:
        """One result from ``renderer`` onto its oldest letter (blocking); False when the renderer died."""
        try:
            succeeded, value = renderer.connection.recv()
        except (OSError, EOFError):
            self._bury(renderer)
            return False
        except Exception as exc:  # an answer that does not unpickle here: that letter's failure
            succeeded, value = False, RuntimeError(f"a renderer's answer could not be read: {exc}")
        rendering = renderer.pending.popleft()
        if succeeded:
            rendering.succeed(value)
        else:
            rendering.fail(value)
        return True

    def _bury(self, renderer: _Renderer) -> None:
        """Fail the letters a dead renderer held and stop using it."""
        why = RendererDied(f"renderer process {renderer.process.pid} ended (exit code {renderer.stop()})")
        while renderer.pending:
            renderer.pending.popleft().fail(why)
        if self._renderers is not None and renderer in self._renderers:
            self._renderers.remove(renderer)


class Rendering:
    """One letter handed to a renderer: its file's SHA-256 once the renderer answered."""

    def __init__(self, pool: Renderers) -> None:
        self._pool = pool
        self._sha256: str | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        """True once the renderer answered (or died): ``result`` then returns, or raises, at once."""
        return self._sha256 is not None or self._error is not None

    def result(self) -> str:
        """The letter file's SHA-256, waiting for the renderer if need be; raises what rendering raised."""
        if self._sha256 is None and self._error is None:
            self._pool._await(self)
        if self._error is not None:
            raise self._error
        assert self._sha256 is not None
        return self._sha256

    def succeed(self, sha256: str) -> None:
        self._sha256 = sha256

    def fail(self, error: BaseException) -> None:
        self._error = error


def start_method() -> Any:
    """fork where it is safe and cheap, spawn elsewhere: a forked process starts with the imports and the
    compiled templates of its parent (a second of CPU each, on cores it shares), and runs only what it is
    sent. Safe here means Linux and no other thread in the parent: a lock another thread held at the fork
    would stay held in the child. The child never touches the connections it inherits, and ends without
    closing them (multiprocessing leaves with os._exit)."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class _Renderer:
    """One renderer process, its end of the pipe, and the letters it holds, oldest first."""

    def __init__(self, process: Any, connection: Connection) -> None:
        self.process = process
        self.connection = connection
        self.pending: deque[Rendering] = deque()
        # Asked at every letter whether an answer is back: Connection.poll builds a selector each time (5 us),
        # a poll object kept for the pipe answers in 0.5 us.
        self._poller: Any = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(connection.fileno(), select.POLLIN)

    @classmethod
    def start(cls) -> _Renderer:
        context = start_method()
        ours, theirs = context.Pipe()
        process = context.Process(target=_serve, args=(theirs,), name="relance-renderer", daemon=True)
        process.start()
        theirs.close()  # the renderer's end lives in the renderer: its exit then reads as EOF here
        return cls(process, ours)

    def ready(self) -> bool:
        """True when an answer (or the renderer's end) is waiting in the pipe."""
        try:
            return bool(self._poller.poll(0)) if self._poller is not None else self.connection.poll(0)
        except (OSError, EOFError, ValueError):
            return True  # the next receive meets the same error and buries the renderer

    def stop(self) -> int | None:
        """Tell the renderer to end, and wait for it; its exit code. (Closing the pipe is not enough: a
        renderer forked later holds a copy of this end.)"""
        try:
            self.connection.send(None)
        except (OSError, EOFError):
            pass  # it has ended already
        self.connection.close()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        return self.process.exitcode


def _serve(connection: Connection) -> None:
    """A renderer's loop: letters in, (True, SHA-256) or (False, the exception) out, until the pipe closes."""
    # Ctrl-C reaches the whole process group: the run stops and says so; a renderer finishes the letter in
    # hand and ends when the run tells it to (or the run is gone), without a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            letter = connection.recv()
        except (EOFError, OSError):
            return
        if letter is None:
            return
        template, context, out, limits = letter
        try:
            result: tuple[bool, Any] = (True, render_file(template, context, out, limits=limits, durable=False))
        except Exception as exc:  # the letter's failure, raised again in the run, on its case
            result = (False, exc)
        try:
            connection.send(result)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an exception that does not pickle: its type and message still go back
            connection.send((False, RuntimeError(f"{type(result[1]).__name__}: {result[1]} ({exc})")))


__all__ = ["DEPTH", "RendererDied", "Renderers", "Rendering", "start_method"]
