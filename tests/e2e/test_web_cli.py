"""`relance user add|list|disable` and `relance serve --help`, on SQLite and PostgreSQL: the password comes
from standard input, only its argon2 hash is stored, mistakes are one line and exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.cli.main import cli
from engine.store.database import connect
from engine.store.models import User

CLEAN_ENV = {"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}


@pytest.fixture
def workspace(tmp_path: Path, database_url: str) -> tuple[Path, str]:
    root = tmp_path / "ws"
    assert CliRunner().invoke(cli, ["--db", database_url, "init", str(root)], env=CLEAN_ENV).exit_code == 0
    return root, database_url


def relance(workspace: tuple[Path, str], *args: str, stdin: str | None = None, code: int = 0) -> str:
    root, db = workspace
    result = CliRunner().invoke(cli, ["--workspace", str(root), "--db", db, *args], input=stdin, env=CLEAN_ENV)
    assert result.exit_code == code, (args, result.output, result.exception)
    assert "Traceback" not in result.output
    return result.output


def test_users_are_added_listed_and_disabled_with_hashed_passwords(workspace: tuple[Path, str]) -> None:
    assert "user ana added, role legal" in relance(workspace, "user", "add", "ana", "--role", "legal",
                                                   stdin="correct horse battery\n")
    relance(workspace, "user", "add", "bob", "--role", "viewer", stdin="another-password\n")
    listed = json.loads(relance(workspace, "user", "list", "--json"))
    assert [(u["name"], u["role"], u["active"]) for u in listed] == [("ana", "legal", True), ("bob", "viewer", True)]
    store = connect(workspace[1])
    with store.session() as session:
        stored = session.scalar(select(User.password_hash).where(User.name == "ana"))
    store.dispose()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert "user bob disabled" in relance(workspace, "user", "disable", "bob")
    assert [u["active"] for u in json.loads(relance(workspace, "user", "list", "--json"))] == [True, False]


def test_user_mistakes_are_one_line_and_exit_1(workspace: tuple[Path, str]) -> None:
    relance(workspace, "user", "add", "ana", "--role", "admin", stdin="long enough pass\n")
    assert "already exists" in relance(workspace, "user", "add", "ana", "--role", "admin", stdin="long enough pass\n",
                                       code=1)
    assert "at least 8 characters" in relance(workspace, "user", "add", "cy", "--role", "admin", stdin="short\n",
                                              code=1)
    assert "a user name is" in relance(workspace, "user", "add", "no spaces", "--role", "admin",
                                       stdin="long enough pass\n", code=1)
    assert "no user 'zed'" in relance(workspace, "user", "disable", "zed", code=1)
    relance(workspace, "user", "add", "dan", "--role", "superuser", stdin="long enough pass\n", code=2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_has_help(workspace: tuple[Path, str]) -> None:
    text = relance(workspace, "serve", "--help")
    assert "--host" in text and "--port" in text and "relance user add" in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_serve_on_a_taken_port_is_one_line_and_exit_1(workspace: tuple[Path, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = relance(workspace, "serve", "--port", str(port), code=1)
    assert f"cannot listen on 127.0.0.1:{port}" in text
