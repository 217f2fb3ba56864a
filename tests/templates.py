"""Letter templates broken on purpose, as a colleague's Word editing breaks them, for the run's tests."""

from __future__ import annotations

from pathlib import Path

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn


def add_paragraph(template: Path, text: str) -> Path:
    """Insert a paragraph (one run holding ``text``) in ``template``, in place: before its closing formula,
    which every letter prints (the middle of a template may fall inside a block it prints only sometimes,
    such as a foreign address's country line), or in the middle when it has none."""
    doc = Document(str(template))
    middle = doc.paragraphs[len(doc.paragraphs) // 2]
    next((p for p in doc.paragraphs if "salutations distinguées" in p.text), middle).insert_paragraph_before(text)
    doc.save(str(template))
    return template


def split_tag_in_tracked_change(template: Path) -> Path:
    """Insert, in the middle of ``template``, a paragraph whose tag ``{{ creditor.name }}`` was typed half
    inside a Word tracked change (``<w:ins>``): docxtpl cannot repair it, and a letter rendered from it
    stops there (its closing, signature and footer gone)."""
    doc = Document(str(template))
    paragraph = doc.paragraphs[len(doc.paragraphs) // 2].insert_paragraph_before()
    paragraph.add_run("Dossier suivi par {{ creditor")
    second = paragraph.add_run(".name }}.")
    inserted = OxmlElement("w:ins")
    inserted.set(qn("w:id"), "7")
    inserted.set(qn("w:author"), "Avocat")
    second._r.addprevious(inserted)
    inserted.append(second._r)
    doc.save(str(template))
    return template
