"""Sound templates are remembered across processes; a changed or faulty template is checked every time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.letters import check, verdicts
from tests.support import PACK

TEMPLATE = "relance_1.docx"


@pytest.fixture
def fresh_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A cache folder of the test's own, and a way to forget what this process knows (a new process)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def forget() -> None:
        check._checked.clear()
        verdicts._known.cache_clear()
        verdicts._folder.cache_clear()

    forget()
    yield forget
    forget()


def _counting_checks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = check.check_template

    def counted(path, kind=None, **options):
        calls.append(Path(path))
        return real(path, kind, **options)

    monkeypatch.setattr(check, "check_template", counted)
    return calls


def test_a_sound_template_is_checked_once_then_remembered_by_a_new_process(
        fresh_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = tmp_path / TEMPLATE
    shutil.copy(PACK / TEMPLATE, template)
    calls = _counting_checks(monkeypatch)
    check.require_sound_template(template, "reminder")
    assert len(calls) == 1
    fresh_process()
    check.require_sound_template(template, "reminder")
    assert len(calls) == 1  # not checked again
    assert (tmp_path / "cache" / "relance" / "sound-templates.txt").read_text().count("\n") == 1


def test_a_changed_template_is_checked_again(fresh_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = tmp_path / TEMPLATE
    shutil.copy(PACK / TEMPLATE, template)
    calls = _counting_checks(monkeypatch)
    check.require_sound_template(template, "reminder")
    fresh_process()
    template.write_bytes(template.read_bytes() + b"\0")  # other bytes (zip readers skip the trailing one)
    check.require_sound_template(template, "reminder")
    assert len(calls) == 2


def test_a_faulty_template_is_never_remembered(fresh_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = tmp_path / TEMPLATE
    template.write_bytes(b"not a docx")
    calls = _counting_checks(monkeypatch)
    for _ in range(2):
        with pytest.raises(check.TemplateRefused):
            check.require_sound_template(template, "reminder")
        fresh_process()
    assert len(calls) == 2
    assert not (tmp_path / "cache" / "relance" / "sound-templates.txt").exists()


def test_a_cache_folder_that_cannot_be_written_only_means_checking_again(
        fresh_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cache").write_text("a file where the folder would be")
    template = tmp_path / TEMPLATE
    shutil.copy(PACK / TEMPLATE, template)
    calls = _counting_checks(monkeypatch)
    check.require_sound_template(template, "reminder")
    fresh_process()
    check.require_sound_template(template, "reminder")
    assert len(calls) == 2


def test_the_same_template_in_another_workspace_is_the_same_verdict(
        fresh_process, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a" / TEMPLATE, tmp_path / "b" / TEMPLATE
    for template in (first, second):
        template.parent.mkdir()
        shutil.copy(PACK / TEMPLATE, template)
    calls = _counting_checks(monkeypatch)
    check.require_sound_template(first, "reminder")
    fresh_process()
    check.require_sound_template(second, "reminder")
    assert calls == [first.resolve()]
    fresh_process()
    renamed = tmp_path / "b" / "relance_2.docx"  # another name: checked (a second reminder must say more)
    second.rename(renamed)
    assert check.checked_template(renamed, "reminder")
    assert calls == [first.resolve(), renamed.resolve()]
