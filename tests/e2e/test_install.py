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
