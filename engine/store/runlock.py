"""One run at a time on a SQLite file: a lock file beside the database, held for the whole run.

SQLite lets one process write at a time; two runs at once would not split the work as they do on
PostgreSQL (row locks, SKIP LOCKED) but queue on the database's write lock until one gives up with
"database is locked". So a run on SQLite first takes an exclusive, non-blocking lock on
``<database>.run-lock`` and writes its pid there; a second run is refused in one line naming that pid.
The operating system releases the lock when the process ends, however it ends (a killed run leaves no
stale lock to clean up), and the file itself stays: removing it would let two runs lock two files.
On PostgreSQL there is nothing to take: any number of runs and workers may share the database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.store.database import Store, StoreError

SUFFIX = ".run-lock"


class RunInProgress(StoreError):
    """Another run holds the SQLite database."""


def lock_path(store: Store) -> Path | None:
    """The lock file of a SQLite store's database, or None (PostgreSQL, an in-memory database)."""
    if store.is_postgresql:
        return None
    database = store.url.database
    if not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + SUFFIX)


@contextmanager
def run_lock(store: Store) -> Iterator[None]:
    """Hold the run lock of ``store`` for the block; RunInProgress when another process holds it."""
    path = lock_path(store)
    if path is None:
        yield
        return
    try:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the run lock beside the database ({exc.strerror})") from None
    try:
        if not _try_lock(handle):
            raise RunInProgress(
                f"another run is in progress (pid {_holder(handle)}) on {store.url.database}: wait for it to end "
                f"(SQLite takes one run at a time; PostgreSQL takes several)"
            )
        os.ftruncate(handle, 0)
        os.pwrite(handle, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(handle)  # releases the lock


def _try_lock(handle: int) -> bool:
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock (SQLite's own lock still keeps the data whole)
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # BlockingIOError: held by another process
        return False
    return True


def _holder(handle: int) -> str:
    """The pid the holder wrote (it may not have written it yet: then 'unknown')."""
    try:
        text = os.pread(handle, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


__all__ = ["RunInProgress", "lock_path", "run_lock"]
