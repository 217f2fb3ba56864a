"""Reading a file a person names (a workflow, a letter template): only a regular file, never past its limit.

A FIFO waits for ever for a writer, /dev/zero never ends and says it holds 0 bytes, and a folder is not a
text: the kind of file is checked on the name, then again on the open descriptor (the name may have
changed between the two), and a read stops one byte past the limit, whatever the size claims.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path


class NotRegularFile(OSError):
    """A path naming a FIFO, a device, a folder...: never opened as a workflow or a template (a FIFO waits for
    ever for a writer, /dev/zero never ends and says it holds 0 bytes)."""


class FileTooLarge(OSError):
    """A file past its size limit; ``size`` is the file system's, None when the file held more than
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
        raise NotRegularFile(errno.EINVAL, f"not a regular file: {file_kind(mode)}", os.fspath(path))


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words (\"a FIFO (named pipe)\")."""
    return next((name for test, name in _KINDS if test(mode)), "not a file")


__all__ = ["FileTooLarge", "NotRegularFile", "file_kind", "read_regular_file", "regular_file_digest"]
