"""The letters a case's steps wrote, and the file of one of them: only what the Document table records.

A download names a document by its id and its case; the path comes from the database row, never
from the request, and must resolve inside the output folder (a row altered to point elsewhere is
refused, like a file whose bytes no longer match the SHA-256 recorded with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.files import regular_file_digest
from engine.errors import RelanceError
from engine.store.models import Case, Document


class DocumentError(RelanceError):
    """A letter that cannot be served: outside the output folder, missing or altered."""


class NoSuchDocument(DocumentError):
    """No letter with this id in this case."""


@dataclass(frozen=True)
class LetterFile:
    """A letter of a case as the case page lists it."""

    id: int
    state: str
    template: str | None
    created_at: datetime
    sha256: str
    name: str


def letters_of(session: Session, case_id: int) -> list[LetterFile]:
    """The case's letters in the order they were written."""
    return [LetterFile(doc.id, doc.state, doc.template, doc.created_at, doc.sha256, Path(doc.path).name)
            for doc in session.scalars(select(Document).where(Document.case_id == case_id).order_by(Document.id))]


def letter_file(session: Session, case_ref: str, document_id: int, output_dir: Path) -> tuple[Path, str]:
    """(path, file name) of document ``document_id`` of case ``case_ref``, checked: recorded for that case,
    inside ``output_dir``, present, and with the bytes whose SHA-256 the timeline holds."""
    row = session.execute(
        select(Document.path, Document.sha256).join(Case, Case.id == Document.case_id)
        .where(Document.id == document_id, Case.ref == case_ref)
    ).first()
    if row is None:
        raise NoSuchDocument(f"no letter {document_id} in case {case_ref}",
                             french=f"pas de courrier n° {document_id} dans le dossier {case_ref}")
    path = recorded_letter(output_dir, row.path, row.sha256, f"letter {document_id} of case {case_ref}",
                           f"courrier n° {document_id} du dossier {case_ref}")
    return path, path.name


def recorded_letter(output_dir: Path, relative: str, sha256: str, name: str, french_name: str) -> Path:
    """The absolute path of the letter file ``relative`` if it is still the one recorded: inside ``output_dir``,
    present, and with the SHA-256 its timeline holds; DocumentError otherwise. Every reader that hands a
    letter to someone (a download, an e-mail's attachment, the day's print batch) goes through here, so an
    altered or swapped file never leaves as the letter the timeline describes. ``name`` and ``french_name``
    say which letter in the two messages ("letter 3 of case X")."""
    base = output_dir.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise DocumentError(f"{name} points outside the output folder",
                            french=f"{french_name} : le fichier est hors du dossier des courriers")
    try:
        digest = regular_file_digest(path)
    except OSError:
        raise DocumentError(f"{name}: the file {relative} is missing",
                            french=f"{french_name} : le fichier {relative} est introuvable") from None
    if digest != sha256:
        raise DocumentError(f"{name}: the file {relative} changed since it was written (`relance verify`)",
                            french=f"{french_name} : le fichier {relative} a changé depuis qu'il a été écrit "
                            "(relance verify) ; il n'est pas utilisé")
    return path


def letter_pdf(session: Session, case_ref: str, document_id: int, output_dir: Path) -> tuple[Path, str]:
    """(path, file name) of the PDF of a checked letter (see ``letter_file``): the one `--pdf` made beside
    it, or made now by LibreOffice when there is none or the letter is newer than it."""
    from engine.letters.pdf import PdfError, convert_batch

    source, _ = letter_file(session, case_ref, document_id, output_dir)
    pdf = source.with_suffix(".pdf")
    if not pdf.is_file() or pdf.stat().st_mtime < source.stat().st_mtime:
        try:
            done = convert_batch([source], timeout=120)
        except PdfError as exc:
            raise DocumentError(str(exc), french=f"le PDF de {source.name} n'a pas pu être fait (LibreOffice) : "
                                "téléchargez le courrier .docx") from None
        if source not in done.made:
            raise DocumentError(done.failed.get(source, f"LibreOffice made no PDF of {source.name}"),
                                french=f"LibreOffice n'a pas fait le PDF de {source.name} : téléchargez le "
                                "courrier .docx")
    return pdf, pdf.name


__all__ = ["DocumentError", "NoSuchDocument", "LetterFile", "letter_file", "letter_pdf", "letters_of",
           "recorded_letter"]
