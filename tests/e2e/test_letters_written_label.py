"""A case's letter count says what the timeline recorded: letters written, not sent.

The web workspace's cases each have a first reminder for the e-mail channel and no [smtp]: the e-mail waits in
the outbox and the timeline says « envoi non enregistré ». The case page said « Courriers envoyés : 1 » and
`relance case show` "letters sent 1" all the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.app import App
from engine.cli.main import cli
from engine.store.models import Case
from tests.e2e.web_client import client, open_app, sign_in
from tests.support import web_workspace


@pytest.fixture
def workspace(tmp_path: Path, database_url: str) -> Iterator[tuple[Path, App]]:
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=1)
    app = open_app(root, database_url)
    yield root, app
    app.store.dispose()


def test_the_count_of_unsent_letters_is_not_called_sent(workspace: tuple[Path, App], database_url: str) -> None:
    root, app = workspace
    with app.session() as session:
        case_id, case_ref, letters = session.execute(select(Case.id, Case.ref, Case.letters_sent)).one()
    assert letters == 1
    http = client(app)
    sign_in(http, "viewer")
    page = http.get(f"/cases/{case_id}").text
    assert "Courriers produits" in page and "envoyés" not in page
    shown = CliRunner().invoke(cli, ["--workspace", str(root), "--db", database_url, "case", "show", case_ref],
                               env={"RELANCE_DATABASE_URL": None, "RELANCE_WORKSPACE": None}, terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "letters written" in shown.output and "letters sent" not in shown.output
