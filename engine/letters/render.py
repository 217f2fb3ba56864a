"""Render one letter to a file, safely: compiled template, temporary name, atomic rename.

`render_letter` is what the runner calls for each step. Templates are compiled once per file
version (path, size, mtime) and kept, so a batch pays the compile once. `to_pdf` converts a
letter with LibreOffice when it is installed, for `relance run --pdf`.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.letters.compiled import CompiledTemplate
from engine.letters.context import LetterData, build_context
from engine.letters.environment import LetterError
from engine.letters.versions import file_stat

_cache: dict[tuple[str, int, int, Limits], CompiledTemplate] = {}
_cache_lock = threading.Lock()


def render_letter(template_path: str | Path, letter: LetterData, out_path: str | Path, *,
                  limits: Limits | None = None, context: Mapping[str, Any] | None = None,
                  durable: bool = True) -> str:
    """Write the letter for `letter` to `out_path` and return the file's SHA-256 (hex).

    The file appears whole or not at all: it is written under a temporary name in the same
    folder, flushed, then renamed over `out_path`. A template error, or one beyond `limits`
    (engine.core.limits), raises LetterError and leaves nothing behind. ``context`` is
    ``build_context(letter)`` when the caller built it already; ``durable=False`` leaves the fsync
    to the caller (a run syncs a whole batch of letters once, before its commit: see `sync_files`).
    """
    return render_file(template_path, context if context is not None else build_context(letter), out_path,
                       limits=limits, durable=durable)


def render_file(template_path: str | Path, context: Mapping[str, Any], out_path: str | Path, *,
                limits: Limits | None = None, durable: bool = True) -> str:
    """``render_letter`` from the template variables themselves: what a renderer process is sent (the
    context pickles; the letter data holds database rows). Returns the file's SHA-256 (hex)."""
    content = render_content(template_path, context, limits=limits)
    write_letter(Path(out_path), content, durable=durable)
    return hashlib.sha256(content).hexdigest()


def render_content(template_path: str | Path, context: Mapping[str, Any], *, limits: Limits | None = None) -> bytes:
    """The letter's DOCX bytes, from the template compiled once per file version; raises LetterError."""
    return compiled_template(template_path, limits).render(context)


def write_letter(out: Path, content: bytes, *, durable: bool = True) -> None:
    """A rendered letter's file, its folders created as needed (``write_whole``)."""
    if not out.parent.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
    write_whole(out, content, durable=durable)


def write_whole(path: Path, content: bytes, *, durable: bool = True) -> None:
    """Write the file whole or not at all: a temporary name in the same folder, fsync, rename."""
    # The temporary file is created inside the try (not by tempfile.mkstemp): a Ctrl-C arrives when a system
    # call returns, and creating a file is the slow call here, so an interrupt just after it left the
    # temporary file behind, which `verify` then reported as an orphan.
    tmp_name = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(content)
            if durable:
                tmp.flush()
                os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o644)  # whatever the umask: a letter is meant to be read by the team
        os.replace(tmp_name, path)
    except FileExistsError:
        raise  # the random name was taken: that file is someone else's
    except BaseException:
        tmp_name.unlink(missing_ok=True)
        raise


def sync_files(paths: Iterable[Path]) -> None:
    """Make written files and their folders durable: each file, then each folder once (the renames).

    Syncing a batch's letters together, after they are all written, costs one journal commit for
    the lot rather than one per letter; the run does it before the commit that records them. From
    SYNCFS_FROM files on, where Linux reports write-back errors to syncfs(2) (5.8 and later), one
    syncfs per file system replaces the two fsyncs a letter (PostgreSQL's syncfs mode does the same).
    """
    files = list(paths)
    folders = list(dict.fromkeys(path.parent for path in files))
    if len(files) >= SYNCFS_FROM and _syncfs is not None:
        try:
            for folder in {os.stat(folder).st_dev: folder for folder in folders}.values():
                _sync_file_system(folder)
            return
        except OSError as exc:
            if exc.errno not in _NO_SYNCFS:
                raise  # a write-back error: the letters may not be on disk
    for path in files:
        _fsync(path)
    for folder in folders:
        _fsync(folder)


class Syncing:
    """``sync_files`` of letters on a thread while the caller goes on (the run hashes and flushes its batch
    meanwhile: the disk's wait, tens of milliseconds a batch, no longer holds the cores up)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.failure: BaseException | None = None
        self._thread = threading.Thread(target=self._sync, name="relance-letter-sync", daemon=True)
        self._thread.start()

    def wait(self) -> BaseException | None:
        """Until the thread is done; what syncing raised, if anything."""
        self._thread.join()
        return self.failure

    def _sync(self) -> None:
        try:
            sync_files(path for path in self.paths if path.exists())
        except BaseException as exc:  # for `wait`, in the caller's thread
            self.failure = exc


SYNCFS_FROM = 16
# A file system that cannot syncfs (some FUSE mounts): fsync each file instead.
_NO_SYNCFS = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP})


def _sync_file_system(folder: Path) -> None:
    assert _syncfs is not None
    fd = os.open(folder, os.O_RDONLY)
    try:
        if _syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"syncfs: {os.strerror(code)}", str(folder))
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    """libc's syncfs where it reports errors (Linux 5.8+), else None: fsync each file then."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(part) for part in os.uname().release.split(".")[:2])
        if (major, minor) < (5, 8):
            return None
        function: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
    except (ValueError, OSError, AttributeError):
        return None
    return function


_syncfs = _load_syncfs()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compiled_template(template_path: str | Path, limits: Limits | None = None) -> CompiledTemplate:
    """The compiled template for this file version (and limits), compiling it on first use."""
    # abspath, not resolve: the key only names the file (its size and mtime tell versions apart), and
    # resolving every component cost more than the rest of the lookup.
    path = Path(os.path.abspath(template_path))
    limits = limits or DEFAULT_LIMITS
    try:
        stat = file_stat(path)
    except OSError as exc:
        raise LetterError(path.name, None, f"cannot read the template: {exc.strerror or exc}") from None
    key = (str(path), stat.st_size, stat.st_mtime_ns, limits)
    with _cache_lock:
        compiled = _cache.get(key)
    if compiled is None:
        compiled = CompiledTemplate(path, limits=limits)
        with _cache_lock:
            # Drop older versions of the same file: an edited template must not linger.
            for old in [k for k in _cache if k[0] == key[0]]:
                del _cache[old]
            _cache[key] = compiled
    return compiled


def to_pdf(docx_path: str | Path, out_dir: str | Path | None = None, timeout: float = 120) -> Path | None:
    """Convert a DOCX to PDF with LibreOffice; None when `soffice` is not installed.

    Each call uses its own LibreOffice profile, so parallel conversions do not clash.
    """
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        return None
    source = Path(docx_path).resolve()
    target_dir = Path(out_dir).resolve() if out_dir else source.parent
    with tempfile.TemporaryDirectory(prefix="relance-soffice-") as profile:
        result = subprocess.run(
            [
                soffice, f"-env:UserInstallation=file://{profile}", "--headless",
                "--convert-to", "pdf", "--outdir", str(target_dir), str(source),
            ],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    pdf = target_dir / (source.stem + ".pdf")
    if result.returncode != 0 or not pdf.exists():
        raise RuntimeError(
            f"LibreOffice could not convert {source.name}: {result.stderr.strip() or result.stdout}"
        )
    return pdf
