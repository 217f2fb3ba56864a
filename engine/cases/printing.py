"""The day's post: one PDF of every letter to send by post on a day, in order, behind a cover sheet.

`relance print --date D` (or `relance run --print`) gathers the letters the day's steps sent by post
(`channel: letter` or `registered_letter`; an e-mail's letter is not printed), writes a cover sheet
(how many, which are registered), converts whatever has no PDF yet in one LibreOffice batch — after the
commits, never inside a case's transaction — and binds it all into `output/_print/<D>.pdf`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cases.documents import DocumentError, recorded_letter
from engine.cases.letters import PRINT_FOLDER
from engine.core.money import format_date, format_long_date
from engine.letters.pdf import bind, convert_batch
from engine.store.database import Store
from engine.store.events import LetterSent, StateChange, read_event
from engine.store.models import Case, Debtor, Document, Event

POSTAL = ("letter", "registered_letter")


@dataclass(frozen=True)
class PostalLetter:
    case_ref: str
    debtor_ref: str
    debtor_name: str
    city: str
    state: str
    registered: bool
    path: str  # the DOCX, relative to the output folder
    sha256: str  # the DOCX's, as its timeline recorded it
    state_label: str = ""  # the step's name as its timeline recorded it (« Mise en demeure »); else ``state``


@dataclass
class PrintBundle:
    on: date
    letters: list[PostalLetter] = field(default_factory=list)
    path: Path | None = None  # None when there was nothing to print
    pages: int = 0
    soffice_processes: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def registered(self) -> int:
        return sum(1 for letter in self.letters if letter.registered)


def postal_letters(store: Store, on: date) -> list[PostalLetter]:
    """The letters sent by post on ``on``, registered ones first, then by case (the order they print in)."""
    found: dict[str, PostalLetter] = {}
    query = (select(Event, Document, Case, Debtor).join(Document, Document.event_id == Event.id)
             .join(Case, Case.id == Event.case_id).join(Debtor, Debtor.id == Case.debtor_id)
             .where(Event.kind == LetterSent.kind, Event.occurred_on == on).order_by(Case.ref, Event.seq))
    with store.session() as session:
        posted: list[tuple[LetterSent, Document, Case, Debtor]] = []
        for event, document, case, debtor in session.execute(query).all():
            letter = read_event(event.kind, event.payload)
            if isinstance(letter, LetterSent) and letter.channel in POSTAL:
                posted.append((letter, document, case, debtor))
        labels = _step_labels(session, {(case.id, letter.step_key) for letter, _document, case, _debtor in posted})
        for letter, document, case, debtor in posted:
            registered = letter.channel == "registered_letter" or (
                document.path in found and found[document.path].registered)
            found[document.path] = PostalLetter(case.ref, debtor.ref, debtor.name, debtor.city or "",
                                                document.state, registered, document.path, document.sha256,
                                                labels.get((case.id, letter.step_key), ""))
    return sorted(found.values(), key=lambda letter: (not letter.registered, letter.case_ref, letter.path))


def _step_labels(session: Session, steps: set[tuple[int, str | None]]) -> dict[tuple[int, str | None], str]:
    """The name each step's state change recorded for its state (« Mise en demeure »), by (case, step key): what
    the team read when the step was taken, whatever the workflow says today."""
    if not steps:
        return {}
    rows = session.execute(select(Event.case_id, Event.step_key, Event.kind, Event.payload).where(
        Event.kind == StateChange.kind, Event.case_id.in_({case_id for case_id, _key in steps}),
        Event.step_key.in_({key for _case_id, key in steps if key is not None})))
    labels: dict[tuple[int, str | None], str] = {}
    for case_id, key, kind, payload in rows:
        change = read_event(kind, payload)
        if (case_id, key) in steps and isinstance(change, StateChange) and change.dest_label:
            labels[(case_id, key)] = change.dest_label
    return labels


def print_day(store: Store, output_dir: Path, on: date, *, creditor: str) -> PrintBundle:
    """Bind the day's postal letters into one PDF with its cover sheet (see the module docstring)."""
    bundle = PrintBundle(on)
    for letter in postal_letters(store, on):
        # Only the letter the timeline recorded goes to the post: a file saved over since (another client's
        # letter, an edit) is left out and named, for a person to put back (relance verify).
        try:
            recorded_letter(output_dir, letter.path, letter.sha256, f"the letter of {letter.case_ref}",
                            f"le courrier du dossier {letter.case_ref}")
        except DocumentError as exc:
            bundle.failures[letter.path] = str(exc)
        else:
            bundle.letters.append(letter)
    if not bundle.letters:
        return bundle
    folder = output_dir / PRINT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    cover = _cover(bundle, folder / f"{on.isoformat()}-cover.docx", creditor)
    docx = [output_dir / letter.path for letter in bundle.letters]
    stale = [path for path in docx
             if not path.with_suffix(".pdf").is_file()
             or path.with_suffix(".pdf").stat().st_mtime_ns < path.stat().st_mtime_ns]
    done = convert_batch([cover, *stale])  # one soffice process for the cover and every missing PDF
    bundle.soffice_processes = done.processes
    bundle.failures.update({str(path.relative_to(output_dir)): why for path, why in done.failed.items()})
    if str(cover.relative_to(output_dir)) in bundle.failures:
        return bundle
    pdfs = [cover.with_suffix(".pdf")] + [path.with_suffix(".pdf") for path in docx
                                          if str(path.relative_to(output_dir)) not in bundle.failures]
    bundle.path = folder / f"{on.isoformat()}.pdf"
    bundle.pages = bind(pdfs, bundle.path)
    return bundle


def _cover(bundle: PrintBundle, path: Path, creditor: str) -> Path:
    """The cover sheet: what the bundle holds, registered letters flagged (they go to the post office)."""
    from docx import Document as Word
    from docx.shared import Pt

    word = Word()
    word.styles["Normal"].font.size = Pt(10)
    word.add_heading(f"Courriers à poster — {format_long_date(bundle.on)}", level=1)
    word.add_paragraph(creditor)
    count, registered = len(bundle.letters), bundle.registered
    word.add_paragraph(f"{count} courrier{'s' if count > 1 else ''}, dont {registered} en recommandé avec accusé "
                       f"de réception (marqués « LRAR » : à déposer au guichet, le numéro de suivi à reporter "
                       f"dans tracking.csv).")
    table = word.add_table(rows=1, cols=5)
    table.style = "Table Grid"
    for cell, title in zip(table.rows[0].cells, ("n°", "dossier", "destinataire", "étape", "envoi"), strict=True):
        cell.text = title
    for number, letter in enumerate(bundle.letters, start=1):
        cells = table.add_row().cells
        values = (str(number), letter.case_ref, f"{letter.debtor_name} ({letter.city})" if letter.city
                  else letter.debtor_name, letter.state_label or letter.state,
                  "LRAR" if letter.registered else "lettre simple")
        for cell, value in zip(cells, values, strict=True):
            cell.text = value
    # The day is the letters' (`relance print --date`), not the day this sheet is printed: say only that.
    word.add_paragraph(f"Liasse des courriers produits le {format_date(bundle.on)}, préparée par relance.")
    word.save(str(path))
    return path


__all__ = ["PostalLetter", "PrintBundle", "postal_letters", "print_day"]
