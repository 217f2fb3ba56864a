"""What `relance verify` can prove about the files an e-mail carried (`email_sent`'s ``files``).

An e-mail's attachments are the step's letter (the DOCX) and the PDF made from it, hashed as they left
(engine.cases.outbox). The DOCX sent must be the letter the step recorded (its `letter` event's SHA-256);
each attachment must still be on disk, beside that letter, with the SHA-256 it left with. Events recorded
before ``files`` existed name their attachments only: nothing to compare, nothing reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.events import EmailSent, LetterSent, read_event
from engine.store.models import Case, Event
from engine.store.timeline import TamperFinding, file_sha256


def verify_sent_files(session: Session, documents_root: Path | str | None = None) -> list[TamperFinding]:
    """Every recorded e-mail attachment checked against its step's letter and the file on disk."""
    root = Path(documents_root) if documents_root is not None else None
    findings: list[TamperFinding] = []
    letters: dict[tuple[int, str], LetterSent] = {}  # (case id, step key) → the step's letter
    for case_id, ref, seq, payload in _events(session):
        if isinstance(payload, LetterSent):
            if payload.step_key:
                letters[(case_id, payload.step_key)] = payload
            continue
        if not isinstance(payload, EmailSent) or not payload.files:
            continue
        letter = letters.get((case_id, payload.step_key))
        if letter is None:
            findings.append(TamperFinding(ref, seq, "e-mail sent with attachments but its step recorded no letter"))
            continue
        docx = Path(letter.path)
        for sent in payload.files:
            path = docx.with_name(sent.name)
            shown = str(Path(letter.path).with_name(sent.name))
            if sent.name == docx.name and sent.sha256 != letter.sha256:
                findings.append(TamperFinding(ref, seq, "the letter sent by e-mail is not the one its step recorded "
                                              "(SHA-256 differs)", shown))
                continue
            if not path.is_absolute() and root is not None:
                path = root / path
            if not path.is_file():
                findings.append(TamperFinding(ref, seq, "file sent by e-mail is missing (its SHA-256 is recorded)",
                                              shown))
            elif file_sha256(path) != sent.sha256:
                findings.append(TamperFinding(ref, seq, "file sent by e-mail changed since it left (SHA-256 differs)",
                                              shown))
    return findings


def _events(session: Session) -> Iterator[tuple[int, str, int, object]]:
    """The letter and e-mail events of every case, in timeline order, typed."""
    query = (select(Event.case_id, Case.ref, Event.seq, Event.kind, Event.payload)
             .join(Case, Case.id == Event.case_id)
             .where(Event.kind.in_((LetterSent.kind, EmailSent.kind)))
             .order_by(Event.case_id, Event.seq).execution_options(yield_per=1000))
    for case_id, ref, seq, kind, payload in session.execute(query):
        yield case_id, ref, seq, read_event(kind, payload)


__all__ = ["verify_sent_files"]
