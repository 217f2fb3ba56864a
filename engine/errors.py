"""Which exceptions mean "the input is wrong, here is what to fix" rather than a bug.

Each module raises its own precise error (WorkflowError, ImportFailed, LetterError...); the command
line turns exactly these into a one-line message and exit code 1, and lets anything else surface,
so a real bug still shows its traceback instead of hiding behind a polite message.
"""

from __future__ import annotations

from engine.calendar import DelayError
from engine.guards import GuardError
from engine.importer import ImportFailed
from engine.letters import LetterError
from engine.machine import EngineError
from engine.rates import AmountError, MissingRate, RatesFileError
from engine.store import StoreError
from engine.versions import WorkflowVersionError
from engine.workflow import WorkflowError
from engine.workspace import WorkspaceError


class CaseError(Exception):
    """A case command that cannot apply (unknown case, bad amount)."""


# Imported directly, not looked up by name: a renamed or moved class must break loudly here,
# never silently turn its user mistakes back into tracebacks.
USER_ERRORS: tuple[type[BaseException], ...] = (
    WorkspaceError,
    WorkflowError,
    WorkflowVersionError,
    GuardError,
    DelayError,
    EngineError,
    AmountError,
    MissingRate,
    RatesFileError,
    StoreError,
    ImportFailed,
    LetterError,
    CaseError,
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The exception classes the command line reports as `Error: ...` with exit code 1."""
    return USER_ERRORS


def is_user_error(exc: BaseException) -> bool:
    """Whether `exc` is a mistake in the user's input (files, options, database URL)."""
    return isinstance(exc, USER_ERRORS)
