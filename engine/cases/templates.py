"""Letter templates edited by the team: which templates the workflows use, their versions, an upload.

An upload is checked exactly like `relance letters check` (engine.letters.check) before anything
changes: a template with a problem is refused whole, with each problem located by template,
paragraph and tag. A good one is kept as a new version (its bytes, who, when) in the database and
becomes the file the letters are written from. The first upload of a template also keeps the file as
it was before, as version 1, so no wording is ever lost.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from engine.cases.desk import Desk
from engine.core.files import FileTooLarge, NotRegularFile, read_regular_file
from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.core.workflow import Workflow
from engine.errors import RelanceError
from engine.letters.check import check_template, template_kind
from engine.letters.paragraphs import LetterProblem
from engine.letters.render import write_whole
from engine.store.models import TemplateVersion

class TemplateError(RelanceError):
    """A template that is not one the workflows use, or an upload that cannot be read."""


@dataclass(frozen=True)
class TemplateVersionInfo:
    version: int
    sha256: str
    uploaded_by: str | None  # None: the file as it was before the first upload
    uploaded_at: datetime


@dataclass(frozen=True)
class UploadResult:
    """What an upload did: refused with its problems, or kept as ``version`` (its problems then are warnings)."""

    name: str
    problems: tuple[LetterProblem, ...]
    version: int | None = None

    @property
    def accepted(self) -> bool:
        return self.version is not None


def template_files(workflows: Iterable[Workflow]) -> dict[str, Path]:
    """File name → path of every template a state of ``workflows`` writes, in workflow order.

    Only these can be downloaded or replaced: a name from a request is looked up here, never joined to
    a folder."""
    found: dict[str, Path] = {}
    for workflow in workflows:
        for state in workflow.states.values():
            if state.letter and state.letter not in found:
                found[state.letter] = workflow.letters_dir / state.letter
    return found


def versions(desk: Desk, name: str) -> list[TemplateVersionInfo]:
    """The kept versions of template ``name``, newest first."""
    with desk.session() as session:
        return [TemplateVersionInfo(v.version, v.sha256, v.uploaded_by, v.uploaded_at)
                for v in session.scalars(select(TemplateVersion).where(TemplateVersion.name == name)
                                         .order_by(TemplateVersion.version.desc()))]


def version_content(desk: Desk, name: str, version: int) -> bytes:
    with desk.session() as session:
        content = session.scalar(select(TemplateVersion.content).where(
            TemplateVersion.name == name, TemplateVersion.version == version))
    if content is None:
        raise TemplateError(f"template {name} has no version {version}",
                            french=f"le modèle {name} n'a pas de version {version}")
    return content


def check_upload(name: str, content: bytes, *, limits: Limits = DEFAULT_LIMITS,
                 agency: bool = False) -> list[LetterProblem]:
    """The problems `relance letters check` finds in ``content`` as template ``name``, with the workspace's
    ``limits`` and, when an ``agency`` writes the letters, its mentions: what the run will check it against."""
    if len(content) > limits.docx_bytes:
        return [LetterProblem(name, "too-large", f"the file is larger than {limits.docx_bytes:,} bytes "
                              "(relance.toml [limits] docx_bytes)",
                              french=f"le fichier dépasse {limits.docx_bytes} octets "
                              f"({limits.describe('docx_bytes', french=True)})")]
    with tempfile.TemporaryDirectory(prefix="relance-upload-") as folder:
        candidate = Path(folder) / name  # the template's own name: the check names it and reads its kind
        candidate.write_bytes(content)
        return check_template(candidate, template_kind(name), limits=limits, agency=agency)


def upload(desk: Desk, templates: dict[str, Path], name: str, content: bytes, *, by: str,
           limits: Limits = DEFAULT_LIMITS, agency: bool = False) -> UploadResult:
    """Check ``content`` as template ``name`` (see ``check_upload``); when it passes, keep it as a new
    version and write it in place."""
    path = templates.get(name)
    if path is None:
        raise TemplateError(f"{name!r} is not a template of the workflows",
                            french=f"« {name} » n'est pas un modèle des workflows")
    problems = check_upload(name, content, limits=limits, agency=agency)
    if any(problem.severity == "error" for problem in problems):
        return UploadResult(name, tuple(problems))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with desk.session() as session:
        latest = session.scalar(select(func.max(TemplateVersion.version)).where(TemplateVersion.name == name)) or 0
        original = _file_in_place(name, path, limits) if latest == 0 else None
        if original is not None:
            session.add(TemplateVersion(name=name, version=1, sha256=_sha256(original), content=original,
                                        uploaded_by=None, uploaded_at=now))
            latest = 1
        session.add(TemplateVersion(name=name, version=latest + 1, sha256=_sha256(content), content=content,
                                    uploaded_by=by, uploaded_at=now))
        session.flush()  # a concurrent upload of the same version fails here, before the file is touched
        write_whole(path, content)
        return UploadResult(name, tuple(problems), latest + 1)  # kept, with its warnings


def _file_in_place(name: str, path: Path, limits: Limits) -> bytes | None:
    """The bytes of the template file the first upload replaces (None: there is none), to keep as version 1.

    Read as any template is (engine.core.files): the file may have been changed while the app runs, and a
    symbolic link to /dev/zero read whole would eat memory for ever, a FIFO wait for ever for a writer."""
    try:
        return read_regular_file(path, limits.docx_bytes)
    except FileNotFoundError:
        return None
    except FileTooLarge as exc:
        why, why_french = exc.more_than("a letter template needs"), "il dépasse la taille d'un modèle de courrier"
    except NotRegularFile as exc:  # a FIFO, a device, a folder
        why, why_french = exc.strerror or str(exc), "ce n'est pas un fichier ordinaire"
    except OSError as exc:  # unreadable
        why = exc.strerror or str(exc)
        why_french = f"il ne peut pas être lu ({why})"
    raise TemplateError(f"{name}: the file in place, {path}, cannot be kept as version 1 ({why}); nothing was "
                        "changed: put the template's .docx file back there, then upload again",
                        french=f"le fichier en place, {path.name}, ne peut pas être gardé comme version 1 ({why_french}) ; "
                        "rien n'a changé : remettez-y le fichier .docx du modèle, puis envoyez de nouveau")


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


__all__ = ["TemplateError", "TemplateVersionInfo", "UploadResult", "check_upload",
           "template_files", "upload", "version_content", "versions"]
