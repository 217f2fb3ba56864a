"""Letters to PDF with LibreOffice, many at a time, and PDFs bound into one.

One `soffice` process converts a whole batch (starting LibreOffice costs about three seconds, converting
one more letter a fraction of that), and it runs after the cases' transactions committed: a run never
holds a case's lock while LibreOffice starts. `convert_batch` is what `relance run --pdf`, the e-mail
sender and `relance print` call; `bind` puts PDFs one after the other into one file (pypdf).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import RelanceError

# Files per soffice process: bounded so a huge day neither exceeds the command line nor loses everything
# to one stuck conversion.
BATCH = 400


class PdfError(RelanceError):
    """LibreOffice is missing or failed; the letters (DOCX) are untouched."""


@dataclass
class Conversion:
    """What one `convert_batch` did: the PDFs made (beside each DOCX), the failures, the soffice processes."""

    made: dict[Path, Path] = field(default_factory=dict)
    failed: dict[Path, str] = field(default_factory=dict)
    processes: int = 0


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_batch(sources: Iterable[Path], *, timeout: float = 600, batch: int = BATCH) -> Conversion:
    """Convert each DOCX (or any file LibreOffice opens) to a PDF beside it, BATCH files per soffice process.

    The inputs are copied under unique names into one scratch folder, so two letters with the same
    file name in different case folders do not overwrite each other's PDF; each PDF is then moved
    beside its source with an atomic rename. Raises PdfError when LibreOffice is not installed.
    """
    files = list(dict.fromkeys(Path(p).resolve() for p in sources))
    result = Conversion()
    if not files:
        return result
    soffice = soffice_path()
    if soffice is None:
        raise PdfError("LibreOffice (soffice) is not installed: cannot make PDFs; install it, or attach DOCX")
    for start in range(0, len(files), batch):
        _convert(soffice, files[start:start + batch], result, timeout)
    return result


def _convert(soffice: str, files: Sequence[Path], result: Conversion, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="relance-pdf-") as scratch:
        folder = Path(scratch)
        inputs, outputs = folder / "in", folder / "out"
        inputs.mkdir()
        staged = []
        for index, source in enumerate(files):
            name = f"{index:05d}{source.suffix}"
            try:
                shutil.copyfile(source, inputs / name)
            except OSError as exc:
                result.failed[source] = f"cannot read: {exc.strerror or exc}"
                continue
            staged.append((source, name))
        if not staged:
            return
        result.processes += 1
        try:
            done = subprocess.run(
                [soffice, f"-env:UserInstallation=file://{folder / 'profile'}", "--headless",
                 "--convert-to", "pdf", "--outdir", str(outputs), *(str(inputs / name) for _, name in staged)],
                capture_output=True, text=True, timeout=timeout, check=False,
            )
            why = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
        except (subprocess.SubprocessError, OSError) as exc:
            why = str(exc)
        for source, name in staged:
            made = outputs / (Path(name).stem + ".pdf")
            if not made.is_file():
                result.failed[source] = f"LibreOffice could not convert {source.name}: {why}"
                continue
            target = source.with_suffix(".pdf")
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.move(str(made), tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            result.made[source] = target


def bind(pdfs: Sequence[Path], out: Path) -> int:
    """Write the PDFs one after the other into ``out`` (atomically); returns its number of pages."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(str(pdf))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("wb") as handle:
        writer.write(handle)
    os.replace(tmp, out)
    return len(writer.pages)


__all__ = ["BATCH", "Conversion", "PdfError", "bind", "convert_batch", "soffice_path"]
