"""The Desk protocol (engine.cases.desk): App is one, and the use cases run on any object that is one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.app import App
from engine.cases import actions
from engine.cases.desk import Desk, Perform
from engine.cases.lookup import find_case
from engine.cases.run import run
from engine.core.machine import Escalator
from engine.core.workflow import Workflow, load_workflow
from engine.imports.importer import import_csv
from engine.store.database import Store, connect
from engine.store.models import Case, Event
from engine.workspace import init_workspace, load_workspace
from tests.support import CSV, SHIPPED_WORKFLOWS


class StoreDesk:
    """The smallest desk: a store and one workflow, no letters (what a test or a phone-only front end brings)."""

    def __init__(self, store: Store, workflow: Workflow) -> None:
        self.store, self.workflow = store, workflow
        self.performed: list[tuple[str, str]] = []

    def session(self) -> AbstractContextManager[Session]:
        return self.store.session()

    def escalator_for(self, case: Case) -> Escalator:
        return Escalator(self.workflow)

    def letter_writer(self, *, pdf: bool = False) -> Perform:
        def perform(session, case, step, action) -> None:
            self.performed.append((step.dest, action.kind))
        return perform


class NoEscalator:
    """Units of work and letters, but no way to get a case's escalator."""

    def session(self) -> AbstractContextManager[Session]:
        raise NotImplementedError

    def letter_writer(self, *, pdf: bool = False) -> Perform:
        raise NotImplementedError


@pytest.fixture
def desk(database_url: str) -> Iterator[StoreDesk]:
    store = connect(database_url, upgrade=True)
    for name in ("debtors.csv", "invoices.csv"):
        import_csv(store, CSV / name, creditor_ref="ACME")
    workflow = load_workflow(SHIPPED_WORKFLOWS / "fr-b2b.yaml")
    run(store, workflow, date(2025, 2, 3))
    yield StoreDesk(store, workflow)
    store.dispose()


def test_app_is_a_desk(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws")
    app = App(load_workspace(tmp_path / "ws", f"sqlite:///{tmp_path / 'relance.sqlite'}"))
    try:
        assert isinstance(app, Desk)
    finally:
        app.store.dispose()


def test_an_object_without_escalator_for_is_not_a_desk() -> None:
    assert not isinstance(NoEscalator(), Desk)
    assert not isinstance(object(), Desk)


def test_the_use_cases_run_on_any_desk(desk: StoreDesk) -> None:
    assert isinstance(desk, Desk)
    outcome = actions.jump(desk, "ACME-F-001", "reminder2", date(2025, 2, 5), by="alice", reason="known debtor")
    assert (outcome.case_ref, outcome.state) == ("ACME-F-001", "reminder2")
    assert desk.performed == [("reminder2", "letter")]  # the desk's own letter writer was handed the step
    with desk.session() as s:
        kinds = s.scalars(select(Event.kind).where(Event.case_id == find_case(s, "ACME-F-001").id)
                          .order_by(Event.seq)).all()
    assert kinds == ["case_opened", "jump", "state_change"]  # no document returned: no letter event
