"""relance.toml read with types: a value of the wrong type or a misspelt key is one line naming table and key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli
from engine.workspace import WorkspaceError, init_workspace, load_workspace

# (what the shipped relance.toml says, what a user wrote instead, what the error must name)
EDITS = [
    ('address_lines = ["18 rue de la Roquette"]', 'address_lines = "18 rue de la Roquette"',
     "[creditor] address_lines must be a list of texts"),
    ('url = "sqlite:///relance.sqlite"', "url = 5", "[database] url must be text"),
    ('b2b = "workflows/fr-b2b.yaml"', "b2b = 3", "[workflows] b2b must be text"),
    ('output = "output"', 'output = ["out"]', "[paths] output must be text"),
    ('letters = "letters/fr"', "letters = 7", "[paths] letters must be text"),
    ('postal_code = "75009"', "postal_code = 75009", "[counsel] postal_code must be text"),
    ('siren = "812649176"', 'sirne = "812649176"', "[creditor] unknown key 'sirne' (did you mean 'siren'?)"),
    ("[database]", "[databse]", "unknown table or key 'databse' (did you mean 'database'?)"),
    ('b2c = "workflows/fr-b2c.yaml"', 'b2x = "workflows/fr-b2c.yaml"', "[workflows] unknown key 'b2x'"),
]


@pytest.fixture(scope="module")
def shipped_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    return init_workspace(tmp_path_factory.mktemp("settings") / "ws").read_text(encoding="utf-8")


def workspace_with(tmp_path: Path, config: str) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "relance.toml").write_text(config, encoding="utf-8")
    return root


@pytest.mark.parametrize(("shipped", "written", "reason"), EDITS)
def test_a_setting_of_the_wrong_type_or_name_is_refused_by_table_and_key(
        tmp_path: Path, shipped_config: str, shipped: str, written: str, reason: str) -> None:
    assert shipped in shipped_config
    root = workspace_with(tmp_path, shipped_config.replace(shipped, written, 1))
    with pytest.raises(WorkspaceError) as caught:
        load_workspace(root)
    assert str(caught.value).startswith(f"{root / 'relance.toml'}: ")
    assert reason in str(caught.value)


def test_the_shipped_settings_still_load_with_their_address_as_lines(tmp_path: Path, shipped_config: str) -> None:
    workspace = load_workspace(workspace_with(tmp_path, shipped_config))
    assert workspace.creditor.address_lines == ("18 rue de la Roquette",)
    assert workspace.counsel is not None and workspace.counsel.postal_code == "75009"


def test_a_wrong_setting_is_one_line_on_the_command_line_not_a_traceback(tmp_path: Path, shipped_config: str) -> None:
    root = workspace_with(tmp_path, shipped_config.replace('b2b = "workflows/fr-b2b.yaml"', "b2b = 3", 1))
    result = CliRunner().invoke(cli, ["--workspace", str(root), "case", "list"],
                                env={"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "[workflows] b2b must be text" in result.output
