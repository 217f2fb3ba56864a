"""A batch's letters are made durable together: every file and folder synced, errors never swallowed."""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path

import pytest

from engine.letters import render
from engine.letters.render import SYNCFS_FROM, sync_files


def letters(root: Path, count: int) -> list[Path]:
    paths = []
    for number in range(count):
        path = root / f"debtor{number}" / f"case{number}" / "01-reminder1.docx"
        path.parent.mkdir(parents=True)
        render.write_whole(path, b"letter %d" % number, durable=False)
        paths.append(path)
    return paths


@pytest.mark.parametrize("count", [1, SYNCFS_FROM])  # each file fsynced, or one syncfs (Linux 5.8+)
def test_a_synced_batch_keeps_every_letter(tmp_path: Path, count: int) -> None:
    paths = letters(tmp_path, count)
    sync_files(iter(paths))  # a generator, as the run passes it
    assert [path.read_bytes() for path in paths] == [b"letter %d" % n for n in range(count)]


@pytest.mark.parametrize("count", [1, SYNCFS_FROM])
def test_a_letter_gone_before_its_sync_is_an_error(tmp_path: Path, count: int) -> None:
    paths = letters(tmp_path, count)
    gone = paths[-1].parent
    paths[-1].unlink()
    gone.rmdir()
    with pytest.raises(FileNotFoundError):
        sync_files(paths)


def test_syncfs_is_used_only_where_it_reports_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.os, "uname", lambda: type("U", (), {"release": "5.4.0-generic"})())
    assert render._load_syncfs() is None
    monkeypatch.setattr(render.os, "uname", lambda: type("U", (), {"release": "6.1.0-13-amd64"})())
    monkeypatch.setattr(render.sys, "platform", "linux")
    assert render._load_syncfs() is not None


def _failing_syncfs(code: int):
    def syncfs(_fd: int) -> int:
        ctypes.set_errno(code)
        return -1
    return syncfs


def test_a_file_system_without_syncfs_has_each_letter_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = letters(tmp_path, SYNCFS_FROM)
    monkeypatch.setattr(render, "_syncfs", _failing_syncfs(errno.EOPNOTSUPP))
    synced: list[Path] = []
    monkeypatch.setattr(render, "_fsync", synced.append)
    sync_files(paths)
    assert synced == [*paths, *(path.parent for path in paths)]  # each file, then each folder


def test_a_write_back_error_from_syncfs_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = letters(tmp_path, SYNCFS_FROM)
    monkeypatch.setattr(render, "_syncfs", _failing_syncfs(errno.EIO))
    with pytest.raises(OSError) as raised:
        sync_files(paths)
    assert raised.value.errno == errno.EIO
