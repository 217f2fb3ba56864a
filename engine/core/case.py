"""The in-memory case the core moves, and the steps and actions it reports.

These are plain objects on purpose: the shared `transitions.Machine` fires on them directly
(no per-case machine, no `add_model`), and the shell maps them to and from database rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any


# What a recorded phone call can have led to (`relance case call --outcome`, events.csv `outcome`).
CALL_OUTCOMES = ("reached", "no_answer", "promise", "dispute", "wrong_number")


@dataclass(eq=False)
class CaseState:
    """What the core knows of one case: its state, its money and the dates that drive delays."""

    state: str
    state_entered: date
    due_date: date  # the earliest due date of the invoices still owed (engine.cases.invoices.fill_state)
    principal: Decimal
    paid: Decimal = Decimal("0")
    invoice_count: int = 1
    letters_sent: int = 0
    debtor_kind: str = "b2b"
    debtor_country: str = "FR"
    currency: str = "EUR"  # the case's ISO 4217 code: one case per debtor and currency, so one per case
    disputed: bool = False
    promise_until: date | None = None
    on_hold: bool = False
    # The state to go back to when a pause (dispute, promise, hold) ends.
    resume_state: str | None = None
    # States entered by timed steps, so a step is never taken twice.
    steps_taken: list[str] = field(default_factory=list)
    # Per-invoice escalation facts, summed over the case's invoices still owed (see engine.cases.invoices):
    # what a formal notice covered (and is not time-barred), what is time-barred, the earliest
    # prescription date of an invoice still owed, and when the formal notice was received.
    noticed: Decimal = Decimal("0")
    barred: Decimal = Decimal("0")
    prescription_on: date | None = None
    notice_received: date | None = None
    # Opaque to the core: the shell's key for the case (database id, invoice number...).
    key: Any = None
    # The state a due step would enter but that waits for a person's approval (StateSpec.approval).
    awaiting_approval: str | None = None
    # The debtor is not to be chased (`do_not_chase`): no timed step fires for any of its cases.
    debtor_hold: bool = False

    @property
    def balance(self) -> Decimal:
        return self.principal - self.paid

    @property
    def claimable(self) -> Decimal:
        """What may still be put on notice or taken to court: the balance less time-barred invoices."""
        return self.balance - self.barred


@dataclass(frozen=True)
class Action:
    """Something the shell must do because a step happened: a letter to render, a call to make."""

    kind: str  # "letter" | "email" | "registered_letter" | "phone"
    state: str  # the state whose entry called for it
    template: str | None = None  # letter template file name, relative to the workflow's letters folder
    pay_within_days: int | None = None  # deadline printed in the letter, in calendar days


@dataclass(frozen=True)
class Step:
    """One move of a case: which trigger, from where to where, on which day, and why."""

    trigger: str
    source: str
    dest: str
    on: date
    facts: dict[str, Any]  # the guard facts that decided it, for the timeline
    actions: tuple[Action, ...] = ()
    reason: str | None = None  # for manual steps (jump, hold): who and why
    by: str | None = None
