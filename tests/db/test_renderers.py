"""Renderer processes (SQLite `run --workers N`): the letters and timelines of a run are the same
whether its letters render inline or in other processes."""

from __future__ import annotations

import hashlib
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select

from engine.cases.letters import LetterWriter
from engine.cases.renderers import HANDOFF_INTERVAL
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.letters import sample_letter_data
from engine.store.database import connect
from engine.store.models import Case, Document, Event
from engine.store.timeline import verify
from tests.support import SHIPPED_WORKFLOWS, write_portfolio

B2B = SHIPPED_WORKFLOWS / "fr-b2b.yaml"


def _run(tmp_path: Path, name: str, url: str, renderers: int
         ) -> tuple[dict, dict, dict, int, tuple[float, float]]:
    """One run over a fresh copy of a 60-debtor portfolio; (letter bytes, documents, event payloads) by case,
    how many letters went to the renderer processes, and the GIL switch interval while they ran and after."""
    store = connect(url, upgrade=True)
    for csv in write_portfolio(tmp_path / f"{name}-portfolio", 60):
        import_csv(store, csv, creditor_ref="ACME")
    workflow = load_workflow(B2B)
    out = tmp_path / f"{name}-out"
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, out, renderers=renderers)
    try:
        # Two batches of 25 and one of 10, then a second day: reminders, then second reminders.
        first = run(store, workflow, date(2025, 1, 20), perform=writer, batch_size=25)
        second = run(store, workflow, date(2025, 2, 5), perform=writer, batch_size=25)
        pooled = writer.renderers.submitted if writer.renderers is not None else 0
        during = sys.getswitchinterval()
    finally:
        writer.close()
    intervals = (during, sys.getswitchinterval())
    assert first.letters == 60 and second.letters == 60 and not first.errors and not second.errors
    assert first.careful_batches == second.careful_batches == 0  # every batch kept whole
    letters = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.docx"))}
    with store.session() as s:
        assert verify(s, out) == []  # every chain, every letter's SHA-256
        documents = {(ref, d.path): d.sha256 for ref, d in s.execute(
            select(Case.ref, Document).join(Case, Case.id == Document.case_id))}
        events = {}
        for ref, event in s.execute(select(Case.ref, Event).join(Case, Case.id == Event.case_id)
                                    .order_by(Case.ref, Event.seq)):
            events.setdefault(ref, []).append((event.kind, event.payload))
    store.dispose()
    return letters, documents, events, pooled, intervals


def test_letters_rendered_by_other_processes_are_the_letters_rendered_inline(tmp_path: Path) -> None:
    inline = _run(tmp_path, "inline", f"sqlite:///{tmp_path / 'inline.sqlite'}", 0)
    pooled = _run(tmp_path, "pooled", f"sqlite:///{tmp_path / 'pooled.sqlite'}", 2)
    assert len(inline[0]) == 120
    assert inline[3] == 0 and pooled[3] > 0  # some letters rendered elsewhere (the run renders the rest)
    assert pooled[0] == inline[0]  # byte for byte
    assert pooled[1] == inline[1]
    assert all(sha == hashlib.sha256(pooled[0][path]).hexdigest() for (_ref, path), sha in pooled[1].items())
    assert pooled[2] == inline[2]  # each letter event carries its letter's SHA-256
    # The pool's threads get the GIL often enough to keep the renderers fed, and only while they run.
    assert inline[4] == (default := sys.getswitchinterval(), default)
    assert pooled[4] == (HANDOFF_INTERVAL, default) and HANDOFF_INTERVAL < default
