"""A letter file is written whole or not at all: never a half file, never a temporary file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.letters.render import write_whole


def test_a_letter_replaces_the_old_one_whole_and_is_readable_by_the_team(tmp_path: Path) -> None:
    path = tmp_path / "01-reminder1.docx"
    path.write_bytes(b"old")
    previous = os.umask(0o077)  # a private umask still gives the team a readable letter
    try:
        write_whole(path, b"new letter", durable=True)
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"new letter"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01-reminder1.docx"]


def test_an_interrupt_as_the_temporary_file_is_created_leaves_nothing(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C is raised when a system call returns; creating the file is the slow call of a write."""
    real_open = os.open

    def interrupted_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kwargs: object) -> int:
        os.close(real_open(path, flags, mode))  # the file exists, then the interrupt arrives
        raise KeyboardInterrupt

    path = tmp_path / "01-reminder1.docx"
    path.write_bytes(b"the letter already recorded")
    monkeypatch.setattr(os, "open", interrupted_open)
    with pytest.raises(KeyboardInterrupt):
        write_whole(path, b"a newer letter", durable=False)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01-reminder1.docx"]
    assert path.read_bytes() == b"the letter already recorded"
