"""Which version of a template file is in use: its stat (size, mtime), read once per batch of letters.

Compiled templates, template checks and e-mail templates are cached by file version, so an edited
template is compiled and checked again. Reading the version for every letter cost six `stat` calls a
case (the letter, its check, the e-mail's text and HTML and their defaults): about 5% of the run process's
time beside renderer processes. Inside ``held`` (a batch of letters: engine.cases.letters) each path is read
once, missing files included; a template edited during a batch is taken up by the next one.

A template is read only when it is a regular file, and never past its size limit (`read_regular_file`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_held: ContextVar[dict[str, os.stat_result | OSError] | None] = ContextVar("template_versions", default=None)


def file_stat(path: str | Path) -> os.stat_result:
    """``os.stat(path)``, or inside ``held`` the batch's first answer for this path; raises OSError."""
    found = _held.get()
    if found is None:
        return os.stat(path)
    key = os.fspath(path)
    answer = found.get(key)
    if answer is None:
        try:
            answer = found[key] = os.stat(key)
        except OSError as exc:
            answer = found[key] = exc
    if isinstance(answer, OSError):
        raise type(answer)(answer.errno, answer.strerror, answer.filename)
    return answer


def is_present(path: str | Path) -> bool:
    """Something is at ``path`` (symlinks followed), answered as ``file_stat`` is."""
    try:
        file_stat(path)
    except OSError:
        return False
    return True


def is_file(path: str | Path) -> bool:
    """``Path.is_file``, answered as ``file_stat`` is."""
    try:
        return stat.S_ISREG(file_stat(path).st_mode)
    except OSError:
        return False


class NotRegularFile(OSError):
    """A template path naming a FIFO, a device, a folder...: never opened as a template (a FIFO waits for
    ever for a writer, /dev/zero never ends and says it holds 0 bytes)."""


class FileTooLarge(OSError):
    """A template file past its size limit; ``size`` is the file system's, None when the file held more than
    that size said (the read stopped one byte past the limit)."""

    def __init__(self, path: str | Path, size: int | None, limit: int) -> None:
        super().__init__(errno.EFBIG, f"more than {limit:,} bytes", os.fspath(path))
        self.size, self.limit = size, limit

    def more_than(self, what: str) -> str:
        """'the file is N bytes, more than ``what``', for messages."""
        if self.size is None:
            return f"the file holds more than {what}"
        return f"the file is {self.size:,} bytes, more than {what}"


# O_NONBLOCK: should a FIFO take the regular file's place between the stat and the open, the open returns
# at once (and fstat refuses it) instead of waiting for a writer. No effect on reading a regular file.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """The bytes of ``path``, a regular file (symlinks followed) of at most ``limit`` bytes.

    Raises NotRegularFile before opening anything else, FileTooLarge (the size the file system gives is
    checked first, then the read stops one byte past ``limit``, as that size may be wrong: 0 for /proc's
    files, or the file grew meanwhile), or OSError."""
    _require_regular(path, os.stat(path).st_mode)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        status = os.fstat(fd)
        _require_regular(path, status.st_mode)  # what was opened may not be what was looked at
        if status.st_size > limit:
            raise FileTooLarge(path, status.st_size, limit)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, _CHUNK))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        raise FileTooLarge(path, None, limit)
    return b"".join(chunks)


def regular_file_digest(path: str | Path) -> str:
    """The SHA-256 (hex) of a regular file's bytes, read by chunks; NotRegularFile or OSError otherwise."""
    _require_regular(path, os.stat(path).st_mode)
    digest = hashlib.sha256()
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _require_regular(path, os.fstat(fd).st_mode)
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
    finally:
        os.close(fd)
    return digest.hexdigest()


def _require_regular(path: str | Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a file")
        raise NotRegularFile(errno.EINVAL, f"not a regular file: {kind}", os.fspath(path))


@contextmanager
def held() -> Iterator[None]:
    """Within the block each file's version is read once (nested blocks share the outer one's)."""
    if _held.get() is not None:
        yield
        return
    token = _held.set({})
    try:
        yield
    finally:
        _held.reset(token)


__all__ = ["FileTooLarge", "NotRegularFile", "file_stat", "held", "is_file", "is_present", "read_regular_file",
           "regular_file_digest"]
