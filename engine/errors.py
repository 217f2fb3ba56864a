"""The one base class of every mistake a user can fix, and the few errors that belong to no module.

Each module raises its own precise error (WorkflowError, ImportFailed, LetterError...), each a
``RelanceError``; the command line turns exactly these into a one-line message and exit code 1 and
lets anything else surface, so a real bug still shows its traceback. A leaf: it imports nothing of
relance, so the pure core may import it too.
"""

from __future__ import annotations


class RelanceError(Exception):
    """A mistake in the user's input (a file, an option, a database URL): the message says what to fix.

    ``french``: the same message in French, for the web app's team (the command line speaks English)."""

    def __init__(self, *args: object, french: str | None = None) -> None:
        super().__init__(*args)
        self.french = french


class CaseError(RelanceError):
    """A case command that cannot apply (unknown case, an action the case does not allow)."""


class BusyError(RelanceError):
    """A unit of work that could not be done now, and of which nothing was recorded: trying again is safe."""


class DatabaseBusy(BusyError):
    """SQLite's one writer (a run, an import) held the database longer than the busy timeout."""


class ConcurrentChange(BusyError):
    """Someone else wrote to the same case's timeline at the same moment: theirs is kept, this one is not."""


__all__ = ["BusyError", "CaseError", "ConcurrentChange", "DatabaseBusy", "RelanceError"]
