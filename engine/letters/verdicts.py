"""Templates found sound, remembered across processes: a run does not check them again.

Checking a template (engine.letters.check) renders it with the sample cases and reads its wording:
0.1-0.3 s a template, paid by every `relance run` before its first case. A template that passed is
remembered by what decides the verdict: its bytes, its file name and kind, and the code that checks
and renders (relance's version, docxtpl's and Jinja's, the source of engine.letters). Any of them
changed, and it is checked again; the same template in another workspace is the same verdict. Only sound verdicts are kept: a template with problems is checked, and reported, every time.

The list lives in the user's cache folder (``$XDG_CACHE_HOME/relance``, or ``~/.cache/relance``); a
folder that cannot be written only means templates are checked each time.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from engine.core.files import regular_file_digest

# Past this size the list starts again (old template versions pile up otherwise).
MAX_BYTES = 1_000_000
_FILE = "sound-templates.txt"


def is_known_sound(path: Path, kind: str | None, checks: str = "") -> bool:
    """True when this very template (bytes, file name, kind) passed the same checks before (``checks``: the
    workspace's limits and agency mode when they are not the defaults)."""
    key = _key(path, kind, checks)
    return key is not None and key in _known()


def remember_sound(path: Path, kind: str | None, checks: str = "") -> None:
    """Note that this template passed (one line appended; concurrent runs append whole lines)."""
    key = _key(path, kind, checks)
    folder = _folder()
    if key is None or folder is None or key in _known():
        return
    _known().add(key)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / _FILE
        if target.exists() and target.stat().st_size > MAX_BYTES:
            target.unlink(missing_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, (key + "\n").encode("ascii"))
        finally:
            os.close(fd)
    except OSError:
        return  # no cache folder: the next run checks again


def _key(path: Path, kind: str | None, checks: str) -> str | None:
    try:
        # Asked before the template is checked: a FIFO or /dev/zero must not be read here either.
        content = regular_file_digest(path)
    except OSError:
        return None  # no verdict: the check says what is wrong with the file
    digest = hashlib.sha256()
    # The name, not the folder: problems are reported by name, and `letters check` reads the kind from it.
    # Default checks add nothing: the verdicts kept before limits and agency counted stay valid.
    for part in (_code(), path.name, kind or "", content, *([checks] if checks else [])):
        digest.update(part.encode("utf-8") + b"\0")
    return digest.hexdigest()


@cache
def _known() -> set[str]:
    folder = _folder()
    try:
        text = (folder / _FILE).read_text(encoding="ascii") if folder is not None else ""
    except (OSError, UnicodeDecodeError):
        text = ""
    return {line for line in text.split("\n") if len(line) == 64}


@cache
def _code() -> str:
    """relance's version and the source of the package that checks and renders letters."""
    from importlib.metadata import version

    from engine import __version__

    digest = hashlib.sha256(" ".join([__version__, version("docxtpl"), version("jinja2")]).encode("utf-8"))
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode("utf-8") + source.read_bytes())
    return digest.hexdigest()


@cache
def _folder() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:  # no home folder: nothing is remembered
            return None
    return Path(base) / "relance"


__all__ = ["is_known_sound", "remember_sound"]
