"""Renderer processes (SQLite `run --workers N`): the letters and timelines of a run are the same
whether its letters render inline or in other processes."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import zipfile
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.cases import batch
from engine.cases.letters import LetterWriter
from engine.cases.renderers import DEPTH, Renderers
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.letters import LetterError, build_context, sample_letter_data
from engine.store.database import connect
from engine.store.models import Case, Document, Event
from engine.store import timeline
from engine.store.timeline import verify
from tests.support import PACK, SHIPPED_WORKFLOWS, write_portfolio

B2B = SHIPPED_WORKFLOWS / "fr-b2b.yaml"


@pytest.fixture(autouse=True)
def write_while_rendering(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches of 25 write the rows of the cases whose letters are back every 4 cases (100 in a real run),
    so each batch here inserts rows before its end; how many events each such write hashed."""
    sealed: list[int] = []
    seal = timeline.seal

    def counted(session, *, until=None):
        count = seal(session, until=until)
        if until is not None:
            sealed.append(count)
        return count

    monkeypatch.setattr(batch, "WRITE_EVERY", 4)
    monkeypatch.setattr(timeline, "seal", counted)
    return sealed


def _run(tmp_path: Path, name: str, url: str, renderers: int, *, kill_after_first_batch: bool = False
         ) -> tuple[dict, dict, dict, int, int]:
    """One run over a fresh copy of a 60-debtor portfolio; (letter bytes, documents, event payloads) by case,
    how many letters went to the renderer processes, and how many batches were done again case by case.
    ``kill_after_first_batch`` kills one renderer process (SIGKILL) once the first batch has committed."""
    store = connect(url, upgrade=True)
    for csv in write_portfolio(tmp_path / f"{name}-portfolio", 60):
        import_csv(store, csv, creditor_ref="ACME")
    workflow = load_workflow(B2B)
    out = tmp_path / f"{name}-out"
    writer = LetterWriter(sample_letter_data().creditor, {"b2b": workflow}, out, renderers=renderers)
    killed: list[int] = []
    handed_before_kill: list[int] = []

    def kill_one(_report: object) -> None:
        if kill_after_first_batch and not killed:
            handed_before_kill.append(writer.renderers.submitted)
            killed.append(writer.renderers.pids[0])
            os.kill(killed[0], signal.SIGKILL)
            os.waitpid(killed[0], 0)  # dead before the next batch hands it a letter

    try:
        # Two batches of 25 and one of 10, then a second day: reminders, then second reminders.
        first = run(store, workflow, date(2025, 1, 20), perform=writer, batch_size=25, progress=kill_one)
        second = run(store, workflow, date(2025, 2, 5), perform=writer, batch_size=25)
        pooled = writer.renderers.submitted if writer.renderers is not None else 0
        if killed:
            assert killed[0] not in writer.renderers.pids and len(writer.renderers.pids) == renderers - 1
            assert pooled > handed_before_kill[0]  # the renderer left went on taking letters
    finally:
        writer.close()
    assert first.letters == 60 and second.letters == 60 and not first.errors and not second.errors
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
    return letters, documents, events, pooled, first.careful_batches + second.careful_batches


def test_letters_rendered_by_other_processes_are_the_letters_rendered_inline(tmp_path: Path,
                                                                            write_while_rendering: list[int]) -> None:
    inline = _run(tmp_path, "inline", f"sqlite:///{tmp_path / 'inline.sqlite'}", 0)
    assert write_while_rendering == []  # rendered inline, a batch is written at its end
    pooled = _run(tmp_path, "pooled", f"sqlite:///{tmp_path / 'pooled.sqlite'}", 2)
    assert sum(write_while_rendering) > 0  # events hashed and inserted while letters were still rendering
    assert len(inline[0]) == 120
    assert inline[3] == 0 and pooled[3] > 0  # some letters rendered elsewhere (the run renders the rest)
    assert inline[4] == pooled[4] == 0  # every batch kept whole
    assert pooled[0] == inline[0]  # byte for byte
    assert pooled[1] == inline[1]
    assert all(sha == hashlib.sha256(pooled[0][path]).hexdigest() for (_ref, path), sha in pooled[1].items())
    assert pooled[2] == inline[2]  # each letter event carries its letter's SHA-256


def test_a_renderer_that_dies_costs_a_careful_batch_and_no_letter(tmp_path: Path) -> None:
    inline = _run(tmp_path, "inline", f"sqlite:///{tmp_path / 'inline.sqlite'}", 0)
    survived = _run(tmp_path, "killed", f"sqlite:///{tmp_path / 'killed.sqlite'}", 2, kill_after_first_batch=True)
    # The letter handed to the dead renderer failed its batch's whole attempt; the batch was done again
    # (its letters rendered by the run), and the other renderer went on with the later batches.
    assert survived[4] == 1
    assert survived[3] > 0
    assert survived[0] == inline[0] and survived[1] == inline[1] and survived[2] == inline[2]


def test_the_pool_returns_each_letters_sha256_and_its_failure_and_ends_cleanly(tmp_path: Path) -> None:
    template = PACK / "relance_1.docx"
    broken = tmp_path / "broken.docx"
    broken.write_bytes(_with_body_text(template.read_bytes(), "{{ montant_du | inconnu }}"))
    context = build_context(sample_letter_data())
    pool = Renderers(2)
    assert not pool.busy and pool.pids == []  # nothing started before the first letter
    futures = [pool.submit(template, context, tmp_path / f"{n}.docx", None) for n in range(DEPTH * 2)]
    failing = pool.submit(broken, context, tmp_path / "broken-out.docx", None)
    assert len(pool.pids) == 2 and os.getpid() not in pool.pids
    pool.drain()
    assert all(f.result() == hashlib.sha256((tmp_path / f"{n}.docx").read_bytes()).hexdigest()
               for n, f in enumerate(futures))
    with pytest.raises(LetterError, match="inconnu"):  # the renderer's exception, its type kept
        failing.result()
    assert not (tmp_path / "broken-out.docx").exists()
    after = pool.submit(template, context, tmp_path / "after.docx", None)  # a failed letter breaks no renderer
    assert after.result() == hashlib.sha256((tmp_path / "after.docx").read_bytes()).hexdigest()
    assert pool.submitted == DEPTH * 2 + 2
    assert pool.close() == [0, 0]  # each renderer ended on being told to, none killed after a wait


def _with_body_text(docx: bytes, text: str) -> bytes:
    """``docx`` with ``text`` as an extra paragraph at the start of its body."""
    source, out = zipfile.ZipFile(io.BytesIO(docx)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "word/document.xml":
                content = content.replace(b"<w:body>", f"<w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode(), 1)
            target.writestr(item, content)
    return out.getvalue()
