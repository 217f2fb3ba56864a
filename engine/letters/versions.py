"""Which version of a template file is in use: its stat (size, mtime), read once per batch of letters.

Compiled templates, template checks and e-mail templates are cached by file version, so an edited
template is compiled and checked again. Reading the version for every letter cost six `stat` calls a
case (the letter, its check, the e-mail's text and HTML and their defaults): about 5% of the run process's
time beside renderer processes. Inside ``held`` (a batch of letters: engine.cases.letters) each path is read
once, missing files included; a template edited during a batch is taken up by the next one.

A template is read only when it is a regular file, and never past its size limit
(engine.core.files.read_regular_file).
"""

from __future__ import annotations

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


__all__ = ["file_stat", "held", "is_file", "is_present"]
