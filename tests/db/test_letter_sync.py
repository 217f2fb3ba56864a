"""A batch's letters are synced on a thread while the run hashes and flushes, and always before its commit."""

from __future__ import annotations

import errno
import os
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from engine.cases.letters import LetterWriter
from engine.cases.run import run
from engine.core.workflow import load_workflow
from engine.imports.importer import import_csv
from engine.letters import render, sample_letter_data
from engine.store import timeline
from engine.store.database import Store, connect
from engine.store.models import Document
from tests.support import SHIPPED_WORKFLOWS, write_portfolio

AS_OF = date(2025, 1, 20)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = connect(f"sqlite:///{tmp_path / 'relance.sqlite'}", upgrade=True)
    for csv in write_portfolio(tmp_path / "portfolio", 30):
        import_csv(store, csv, creditor_ref="ACME")
    return store


class Disk:
    """Records each letter file synced (slowly: a sync that is not waited for ends after the commit), by path
    and inode (a letter written again is a new file), and the letters on disk not synced at each commit."""

    def __init__(self, store: Store, out: Path, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.synced: set[tuple[Path, int]] = set()
        self.threads: set[str] = set()
        self.unsynced_at_commit: list[set[Path]] = []
        self.out, self.fail = out, fail
        monkeypatch.setattr(render, "_syncfs", None)  # each file fsynced: the test sees which
        monkeypatch.setattr(render, "_fsync", self.fsync)
        event.listen(store.bind, "commit", self.commit)

    def fsync(self, path: Path) -> None:
        time.sleep(0.01)
        name = threading.current_thread().name
        if self.fail and name == "relance-letter-sync":
            raise OSError(errno.EIO, "write-back error", str(path))
        self.threads.add(name)
        self.synced.add((path, os.stat(path).st_ino))

    def on_disk(self) -> set[tuple[Path, int]]:
        return {(path, os.stat(path).st_ino) for path in self.out.rglob("*.docx")}

    def commit(self, _connection: object) -> None:
        self.unsynced_at_commit.append({path for path, _inode in self.on_disk() - self.synced})


def _writer(out: Path) -> LetterWriter:
    return LetterWriter(sample_letter_data().creditor, {"b2b": load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")}, out)


def test_every_letter_is_synced_on_a_thread_and_before_its_batch_commits(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    disk = Disk(store, out, monkeypatch)
    writer = _writer(out)
    try:
        report = run(store, load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"), AS_OF, perform=writer, batch_size=10)
    finally:
        writer.close()
    assert report.letters == 30 and report.careful_batches == 0
    assert all(not unsynced for unsynced in disk.unsynced_at_commit)
    assert len(disk.on_disk()) == 30 and disk.on_disk() <= disk.synced
    assert "relance-letter-sync" in disk.threads


def test_a_write_back_error_on_the_thread_fails_the_batch_and_keeps_none_of_it(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    Disk(store, out, monkeypatch, fail=True)
    writer = _writer(out)
    try:
        with pytest.raises(OSError, match="write-back error"):
            run(store, load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"), AS_OF, perform=writer, batch_size=10)
    finally:
        writer.close()
    assert list(out.rglob("*.docx")) == []
    with store.session() as s:
        assert s.scalar(select(func.count(Document.id))) == 0


def test_letters_written_again_by_a_careful_pass_are_synced_too(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole batch's attempt fails after its letters began syncing (here: at its hashing); the batch is
    done again case by case, which writes its letters again: those are synced before the commit as well."""
    out = tmp_path / "out"
    disk = Disk(store, out, monkeypatch)
    seal, failed = timeline.seal, []

    def seal_failing_once(session: object) -> int:
        if not failed:
            failed.append(True)
            raise RuntimeError("the whole batch's attempt fails here")
        return seal(session)  # type: ignore[arg-type]

    monkeypatch.setattr(timeline, "seal", seal_failing_once)
    writer = _writer(out)
    try:
        report = run(store, load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml"), AS_OF, perform=writer, batch_size=10)
    finally:
        writer.close()
    assert report.letters == 30 and report.careful_batches == 1 and not report.errors
    assert all(not unsynced for unsynced in disk.unsynced_at_commit)
    assert len(disk.on_disk()) == 30 and disk.on_disk() <= disk.synced
