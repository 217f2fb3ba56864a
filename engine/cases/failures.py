"""A case the run could not advance: the reason in one line, kept on the case and in its timeline.

Whatever goes wrong while the run advances one case (a guard failing on its figures, a template
failing on its data, a missing statutory rate, a letter the disk refuses) rolls back that case's
transaction alone; the run then records the failure in a small transaction of its own and goes on with
the other cases. The case row keeps the reason and the day it started (`Case.error`, `error_on`: what
`relance case list --errors` lists) and the timeline gains one "error" event per failure and reason,
not one per pass (a worker meeting the same failure every minute must not bury the timeline). The next
run that advances the case clears the row, with an "error_cleared" event, in that run's own transaction.
"""

from __future__ import annotations

import traceback
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from engine.errors import RelanceError
from engine.store.events import FailureCleared, RunFailed
from engine.store.models import Case
from engine.store.timeline import append_event

# A reason is one line a person reads; a hostile template or guard must not make it a megabyte.
MAX_REASON = 1000


def failure_reason(exc: BaseException) -> str:
    """One line saying what failed: the error's own message for the errors a user can fix (they name
    their file, line, template or tag), the file for a file-system error, and for anything unexpected its
    type and the line of code it came from, so it can be reported."""
    if isinstance(exc, RelanceError):
        text = str(exc)
    elif isinstance(exc, OSError):
        what = exc.strerror or type(exc).__name__
        text = f"{what}: {exc.filename}" if exc.filename else f"{type(exc).__name__}: {exc}"
    else:
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        text = f"unexpected {type(exc).__name__}: {exc}{where}"
    # One line, no control character: it is stored (PostgreSQL refuses NUL) and printed on terminals.
    text = "".join("?" if ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0 else ch for ch in " ".join(text.split()))
    text = text or type(exc).__name__
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def record_failure(session: Session, case_id: int, reason: str, on: date, *, lock: bool = False) -> bool:
    """Keep ``reason`` on the case and, unless it is the failure already recorded, in its timeline.

    ``lock`` (PostgreSQL) takes the case's row lock, so two workers meeting the same failure append one
    event after the other, and the second sees the first's. Returns True when an event was added.
    """
    case = session.get(Case, case_id, with_for_update=True if lock else None)
    if case is None:
        return False
    if case.error == reason:
        return False  # the same failure again: the timeline already says so, since case.error_on
    append_event(session, case, RunFailed(reason, case.state), on)
    case.error, case.error_on = reason, on
    return True


def clear_failure(session: Session, case: Case, on: date) -> None:
    """The run advanced ``case``: a failure it had recorded is over (called in the run's transaction)."""
    if case.error is None:
        return
    append_event(session, case, FailureCleared(case.error, case.error_on), on)
    case.error, case.error_on = None, None


__all__ = ["MAX_REASON", "clear_failure", "failure_reason", "record_failure"]
