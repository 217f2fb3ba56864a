"""Which exceptions mean "the input is wrong, here is what to fix" rather than a bug.

Each module raises its own precise error (WorkflowError, ImportFailed, LetterError...); the command
line turns exactly these into a one-line message and exit code 1, and lets anything else surface.
"""

from __future__ import annotations

import importlib

# (module, class name) of every user-facing error in the project.
USER_ERRORS: tuple[tuple[str, str], ...] = (
    ("engine.workspace", "WorkspaceError"),
    ("engine.workflow", "WorkflowError"),
    ("engine.guards", "GuardError"),
    ("engine.calendar", "DelayError"),
    ("engine.machine", "EngineError"),
    ("engine.amounts", "MissingRate"),
    ("engine.amounts", "RatesFileError"),
    ("engine.amounts", "AmountError"),
    ("engine.store", "StoreError"),
    ("engine.importer", "ImportFailed"),
    ("engine.letters", "LetterError"),
    ("engine.cli_cases", "CaseError"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The user-facing error classes that exist in this installation."""
    found: list[type[BaseException]] = []
    for module_name, class_name in USER_ERRORS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, class_name, None)
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)
