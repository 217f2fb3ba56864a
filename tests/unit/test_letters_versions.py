"""Template file versions: read on every call, except inside `held` (a batch of letters), where each path's
first answer stands until the block ends, missing files included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from docx import Document

from engine.letters import sample_letter_data
from engine.letters.render import render_letter
from engine.letters.versions import file_stat, held, is_file


def test_outside_a_batch_every_call_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "default.txt"
    assert not is_file(path)
    path.write_text("un")
    assert is_file(path) and file_stat(path).st_size == 2
    path.write_text("deux")
    assert file_stat(path).st_size == 4


def test_inside_a_batch_the_first_answer_stands_until_the_batch_ends(tmp_path: Path) -> None:
    present, absent = tmp_path / "default.txt", tmp_path / "first_reminder.txt"
    present.write_text("un")
    with held():
        assert file_stat(present).st_size == 2 and not is_file(absent)
        present.write_text("trois")
        absent.write_text("x")
        with held():  # a nested block shares the batch's answers
            assert file_stat(present).st_size == 2 and not is_file(absent)
        with pytest.raises(FileNotFoundError) as missing:
            file_stat(absent)
        assert missing.value.filename == os.fspath(absent)
        assert not is_file(tmp_path)  # a folder is not a file, held or not
    assert file_stat(present).st_size == 5 and is_file(absent)


def test_a_template_edited_during_a_batch_is_used_from_the_next_one(tmp_path: Path) -> None:
    """The compiled template follows the held version: the whole batch renders one version of the file."""
    path = tmp_path / "t.docx"

    def save(word: str) -> None:
        doc = Document()
        doc.add_paragraph(f"{word} {{{{ case_ref }}}}")
        doc.save(str(path))
        os.utime(path, ns=(0, len(word) * 10**9))  # a distinct mtime even on a coarse clock

    def rendered(name: str) -> str:
        out = tmp_path / name
        render_letter(path, sample_letter_data(), out)
        return str(Document(str(out)).paragraphs[0].text)

    save("avant")
    with held():
        assert rendered("1.docx").startswith("avant ")
        save("ensuite")
        assert rendered("2.docx").startswith("avant ")
    assert rendered("3.docx").startswith("ensuite ")
