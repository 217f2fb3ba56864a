"""A newcomer's first steps and an existing user's upgrade, as the README tells them.

The README's "five minutes" begin with `relance init acme --examples && cd acme` and import the example
data from there: it must work with no checkout beside the workspace (an installed wheel has none)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli

CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}


def relance(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=CLEAN_ENV)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_init_with_examples_gives_the_data_the_next_line_imports(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`relance init acme` then `relance import ../examples/debtors.csv …` needed a checkout's examples/:
    from an installed wheel the example data sat unreachable inside site-packages."""
    output = relance("init", str(tmp_path / "acme"), "--examples")
    root = tmp_path / "acme"
    assert "relance import examples/debtors.csv examples/invoices.csv examples/payments.csv" in output
    assert not (root / "examples" / "creditor.toml").exists()  # already relance.toml's [creditor]
    monkeypatch.chdir(root)
    imported = json.loads(relance("import", "examples/debtors.csv", "examples/invoices.csv",
                                  "examples/payments.csv", "--json"))
    assert [entry["inserted"] for entry in imported] == [48, 172, 65]


def test_init_without_examples_copies_none_and_says_how(tmp_path: Path) -> None:
    output = relance("init", str(tmp_path / "acme"))
    assert not (tmp_path / "acme" / "examples").exists()
    assert "--examples" in output


def test_every_shipped_workflow_and_letter_is_in_the_history() -> None:
    """A shipped file changed without `python -m engine.shipped_history`: the next release could not tell a
    workspace's untouched copy of this version from one the team edited."""
    from engine.shipped_history import COPIED, SUFFIXES, digest, known_digests
    from engine.workspace import shipped

    known = known_digests()
    for top in COPIED:
        for path in shipped(top).rglob("*"):
            if path.suffix in SUFFIXES and path.name != "README.md" and "__pycache__" not in path.parts:
                name = f"{top}/{path.relative_to(shipped(top)).as_posix()}"
                assert digest(path) in known.get(name, set()), name


def test_an_upgraded_workspace_is_told_which_untouched_copies_are_out_of_date(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After `relance db upgrade` an old workspace kept the earlier release's fr-b2b.yaml (version 2, the 300 EUR
    threshold applied to every currency) and relance_3.docx, and nothing said the release had improved them."""
    import engine.shipped_history as history

    root = tmp_path / "acme"
    relance("init", str(root))
    workflow, letter = root / "workflows" / "fr-b2b.yaml", root / "letters" / "fr" / "relance_3.docx"
    workflow.write_text(workflow.read_text(encoding="utf-8").replace("version: 3", "version: 2"), encoding="utf-8")
    letter.write_bytes(letter.read_bytes() + b"\0")  # stands for an earlier release's letter
    edited = root / "workflows" / "fr-b2c.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "# ours\n", encoding="utf-8")  # the team's own edit
    old = tmp_path / "history.txt"
    old.write_text(history.HISTORY.read_text(encoding="utf-8")
                   + f"{history.digest(workflow)} workflows/fr-b2b.yaml\n"
                   + f"{history.digest(letter)} letters/fr/relance_3.docx\n", encoding="utf-8")
    monkeypatch.setattr(history, "HISTORY", old)

    upgraded = CliRunner().invoke(cli, ["--workspace", str(root), "db", "upgrade"], env=CLEAN_ENV)
    assert upgraded.exit_code == 0, upgraded.output
    notes = [line for line in upgraded.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 2, upgraded.output  # the edited fr-b2c.yaml is the team's: not named
    assert any("workflows/fr-b2b.yaml" in note and "cp " in note for note in notes)
    checked = json.loads(relance("--workspace", str(root), "letters", "check", "--json"))
    assert [p["file"] for p in checked["problems"] if "earlier release" in str(p["text"])] == [str(letter)]
    validated = json.loads(relance("--workspace", str(root), "validate", str(workflow), "--json"))
    assert [p["file"] for p in validated["problems"] if "earlier release" in str(p["text"])] == [str(workflow)]
