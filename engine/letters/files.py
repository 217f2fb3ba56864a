"""Letter files written on a thread beside the run: the file system's latency off the run's own thread.

Creating a letter's two folders and its file took 0.3 to 1 ms of system calls a letter on this project's
test machine, time the run's thread only waited through. Inside a batch the run renders a letter,
hands its bytes here and goes on with the next case; before it syncs the batch's letters and commits,
it waits for every write (`drain`), which raises the first failure: a letter that could not be
written fails its batch's attempt exactly as one written inline would (engine.cases.batch then
advances the batch case by case, writing inline, and the failing case alone rolls back).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

from engine.letters.render import write_letter


class FileQueue:
    """Letter files waiting to be written, in order, by one thread (started on first use)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def put(self, out: Path, content: bytes, *, durable: bool) -> None:
        """Write ``content`` to ``out`` whole (engine.letters.render.write_letter), on the thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="relance-letter-files")
        self._pending.append(self._pool.submit(write_letter, out, content, durable=durable))

    def drain(self, *, check: bool = True) -> None:
        """Wait until every file handed over is written (or failed); with ``check``, raise the first
        failure. Before letters are removed or written again, nothing may still be writing them."""
        pending, self._pending = self._pending, []
        wait(pending)
        if check:
            for future in pending:
                failure = future.exception()
                if failure is not None:
                    raise failure

    def close(self) -> None:
        self.drain(check=False)
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


__all__ = ["FileQueue"]
