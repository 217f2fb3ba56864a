"""What a use case needs from the application: units of work, the escalator of a case, the letter writer.

``engine.app.App`` is the desk of a workspace; a test or another front end may bring its own.
Defined here, beside the use cases, so they depend on this shape and not on the App that wires them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

from engine.core.case import Action, Step
from engine.core.machine import Escalator
from engine.store.models import Case

# Called for each action of each step, inside the case's transaction: returns the Document it wrote, if any.
Perform = Callable[[Session, Case, Step, Action], Any]


@runtime_checkable
class Desk(Protocol):
    """Where the use cases work: ``session()`` is one unit of work (commit on success).

    Runtime-checkable so a front end can check what it was handed (``isinstance(app, Desk)``); that
    checks the three methods are there, not their signatures.
    """

    def session(self) -> AbstractContextManager[Session]: ...

    def escalator_for(self, case: Case) -> Escalator: ...

    def letter_writer(self, *, pdf: bool = False) -> Perform: ...


class WritingDesk:
    """A desk whose units of work write (``session(write=True)`` of engine.store's Store): a person's action or
    an import, which on SQLite waits its turn behind a run instead of failing on its first write, and says
    the database is busy (DatabaseBusy) when the turn does not come."""

    def __init__(self, desk: Any) -> None:
        self._desk = desk

    def __getattr__(self, name: str) -> Any:  # escalators, workflows, the letter writer: the desk's own
        return getattr(self._desk, name)

    def session(self) -> AbstractContextManager[Session]:
        # The workflows first, in units of work of their own: the first read after a version raise keeps the new
        # text (engine.store.versions.register), and from inside this unit of work that insert would wait, on
        # SQLite, for the write lock this one holds: « database busy », nothing recorded.
        getattr(self._desk, "workflows", None)
        return self._desk.session(write=True)


__all__ = ["Desk", "Perform", "WritingDesk"]
