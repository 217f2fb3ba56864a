"""The thread that writes a run's letter files: every file whole, in order, and its failures raised at the drain."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from engine.letters.files import FileQueue


def test_files_handed_over_are_whole_once_drained_in_their_folders(tmp_path: Path) -> None:
    queue = FileQueue()
    try:
        letters = {tmp_path / "D1" / f"C{n}" / "01-reminder1.docx": bytes([n]) * 40_000 for n in range(20)}
        for path, content in letters.items():
            queue.put(path, content, durable=False)
        queue.drain()
        for path, content in letters.items():
            assert path.read_bytes() == content
            assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by the team, like an inline letter
        assert [p.name for p in tmp_path.rglob(".*.tmp")] == []
    finally:
        queue.close()


def test_the_drain_raises_the_first_failure_after_every_write_ended(tmp_path: Path) -> None:
    (tmp_path / "D1").write_text("a file where a folder should be", encoding="utf-8")
    queue = FileQueue()
    try:
        queue.put(tmp_path / "D1" / "C1" / "01-reminder1.docx", b"refused", durable=False)
        queue.put(tmp_path / "D2" / "C2" / "01-reminder1.docx", b"written", durable=True)
        with pytest.raises(OSError) as refused:
            queue.drain()
        assert refused.value.filename is not None and "D1" in str(refused.value.filename)
        # The write after the failure ran too: a drain leaves nothing still writing.
        assert (tmp_path / "D2" / "C2" / "01-reminder1.docx").read_bytes() == b"written"
        queue.drain()  # the failure was reported once; nothing is pending now
    finally:
        queue.close()


def test_an_unchecked_drain_waits_without_raising_and_the_queue_restarts_after_close(tmp_path: Path) -> None:
    (tmp_path / "D1").write_text("not a folder", encoding="utf-8")
    queue = FileQueue()
    queue.put(tmp_path / "D1" / "C1" / "letter.docx", b"refused", durable=False)
    queue.drain(check=False)
    queue.close()
    queue.put(tmp_path / "D3" / "letter.docx", b"after close", durable=False)
    queue.close()  # drains before it stops
    assert (tmp_path / "D3" / "letter.docx").read_bytes() == b"after close"
