"""The escalation funnel: for each state of the workflows, how many cases reached it, are in it,
were settled from it, and how much money came in while cases stood there.

Read from the timeline (state_change and payment events) with aggregate queries, so a past
``as_of`` gives the funnel as it stood that day. Money is summed in one currency, as the aging
balance does: a case holds one currency, so its payment events are in it; the other currencies'
payments are counted aside, never added.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func, select
from sqlalchemy.orm import Session, aliased

from engine.core.workflow import Workflow
from engine.reports.aging import creditor_id
from engine.store import ledger
from engine.store.models import Case, Event

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class FunnelStep:
    """One state of the workflows and what happened to the cases that reached it."""

    state: str
    label: str
    stage: str  # "escalation" (the ladder: initial state and reminder/notice/litigation) or "outcome"
    kind: str | None  # the workflow's kind of the state: reminder, formal_notice, litigation or None
    reached: int  # cases that entered it on or before as_of
    current: int  # cases in it on as_of
    resolved: int  # cases paid as of as_of whose highest escalation step was this one
    recovered: Decimal  # payments received (in the funnel's currency) while the case was in this state
    payments: int  # how many payment events make up ``recovered``

    @property
    def resolution_rate(self) -> Decimal | None:
        """resolved / reached, 0..1 to four places: "this level settled that share of its cases"."""
        if self.reached == 0 or self.stage != "escalation":
            return None
        return (Decimal(self.resolved) / Decimal(self.reached)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Funnel:
    """The escalation funnel of every case opened on or before ``as_of``; its money in ``currency``."""

    as_of: date
    cases: int
    steps: tuple[FunnelStep, ...]
    currency: str = "EUR"
    # Payment events left out of ``recovered`` because their case is in another currency, per currency.
    other_currencies: dict[str, int] = field(default_factory=dict)

    @property
    def recovered(self) -> Decimal:
        return sum((s.recovered for s in self.steps), ZERO)

    @property
    def in_litigation(self) -> int:
        """Cases currently in a state of kind ``litigation``."""
        return sum(s.current for s in self.steps if s.kind == "litigation")

    def step(self, state: str) -> FunnelStep:
        for item in self.steps:
            if item.state == state:
                return item
        raise KeyError(state)


def funnel(
    session: Session,
    as_of: date,
    workflows: Workflow | Sequence[Workflow],
    *,
    creditor_ref: str | None = None,
    currency: str = "EUR",
) -> Funnel:
    """For each state of ``workflows`` (ladder first, then outcomes): reached, current, resolved, recovered.

    Read from the timeline, so a past ``as_of`` gives the funnel as it stood that day: the state
    of a case on a day is the destination of its last ``state_change`` on or before it (its
    workflow's initial state before any). A payment is credited to the state the case was in the
    day before it arrived: a letter sent the same day did not cause it, and the "paid" step the
    payment itself triggers must not take the credit. Money dated before its case opened (an advance, a
    part-payment made before the invoice fell due) is in the timeline but was not recovered by the
    escalation: it is left out. Only payments to cases in ``currency`` are recovered; case counts take
    every case (they add no money).
    """
    flows = [workflows] if isinstance(workflows, Workflow) else list(workflows)
    initial: dict[str, str] = {}
    for wf in flows:  # several versions of a workflow: the first given (its current one) says where cases start
        initial.setdefault(wf.name, wf.initial)
    ladder, outcomes, specs = _ladder(flows)
    rank = {state: i for i, state in enumerate(ladder)}
    paid_states = _paid_states(flows)

    scope: list[ColumnElement[bool]] = [Case.workflow_name.in_(list(initial)), Case.opened_on <= as_of]
    if creditor_ref is not None:
        scope.append(Case.creditor_id == creditor_id(creditor_ref))
    change = [Event.kind == "state_change", Event.occurred_on <= as_of]
    dest = Event.payload["dest"].as_string()

    reached: dict[str, int] = defaultdict(int)
    cases = 0
    for name, count in session.execute(select(Case.workflow_name, func.count()).where(*scope)
                                       .group_by(Case.workflow_name)):
        reached[initial[name]] += count  # every case starts in its workflow's initial state
        cases += count
    for name, state, count in session.execute(
        select(Case.workflow_name, dest, func.count(distinct(Event.case_id)))
        .join(Case, Case.id == Event.case_id).where(*scope, *change)
        .group_by(Case.workflow_name, dest)
    ):
        if state != initial[name]:  # a jump back to the start is not a second arrival
            reached[state] += count

    # Per case: its state on as_of (last change) and its highest ladder rank; counted by both.
    last = (select(Event.case_id, func.max(Event.seq).label("seq")).where(*change)
            .group_by(Event.case_id).subquery())
    highest = (select(Event.case_id, func.max(case(rank, value=dest, else_=-1)).label("rank"))
               .where(*change).group_by(Event.case_id).subquery())
    now_event = aliased(Event)
    now_state = now_event.payload["dest"].as_string()  # one object: PostgreSQL matches GROUP BY by its binds
    current: dict[str, int] = defaultdict(int)
    resolved: dict[str, int] = defaultdict(int)
    for name, state, top_rank, count in session.execute(
        select(Case.workflow_name, now_state, highest.c.rank, func.count())
        .select_from(Case)
        .outerjoin(last, last.c.case_id == Case.id)
        .outerjoin(now_event, and_(now_event.case_id == last.c.case_id, now_event.seq == last.c.seq))
        .outerjoin(highest, highest.c.case_id == Case.id)
        .where(*scope)
        .group_by(Case.workflow_name, now_state, highest.c.rank)
    ):
        state = state or initial[name]
        current[state] += count
        if state in paid_states:
            top_rank = max(top_rank if top_rank is not None else -1, rank.get(initial[name], 0))
            resolved[ladder[top_rank]] += count

    recovered, payments = _recovered(session, as_of, [*scope, Case.currency == currency], initial)
    others = dict(session.execute(
        select(Case.currency, func.count()).select_from(Event).join(Case, Case.id == Event.case_id)
        .where(*scope, Case.currency != currency, Event.kind == "payment", Event.occurred_on <= as_of,
               Event.occurred_on >= Case.opened_on)
        .group_by(Case.currency)).all())
    steps = tuple(
        FunnelStep(
            state=state,
            label=specs[state].label or state,
            stage="escalation" if state in rank else "outcome",
            kind=specs[state].kind,
            reached=reached.get(state, 0),
            current=current.get(state, 0),
            resolved=resolved.get(state, 0),
            recovered=recovered.get(state, ZERO),
            payments=payments.get(state, 0),
        )
        for state in (*ladder, *outcomes)
    )
    return Funnel(as_of, cases, steps, currency, others)


def _recovered(session: Session, as_of: date, scope: list[ColumnElement[bool]],
               initial: dict[str, str]) -> tuple[dict[str, Decimal], dict[str, int]]:
    """Payment events summed by the state their case was in the day before each payment; those dated
    before their case opened are not the escalation's (``funnel``)."""
    before = aliased(Event)
    paid = aliased(Event)
    state_then = (
        select(before.payload["dest"].as_string())
        .where(before.case_id == paid.case_id, before.kind == "state_change", before.occurred_on < paid.occurred_on)
        .order_by(before.occurred_on.desc(), before.seq.desc())
        .limit(1)
        .correlate(paid)
        .scalar_subquery()
    )
    rows = (
        select(Case.workflow_name.label("workflow"), state_then.label("state"),
               (ledger.cents(paid.payload["amount"].as_numeric(14, 2))
                # What a payment brought beyond the case's invoices went to the debtor's credit; where
                # that credit paid another case, that case has its own payment event.
                - func.coalesce(ledger.cents(paid.payload["unallocated"].as_numeric(14, 2)), 0)).label("cents"))
        .join(Case, Case.id == paid.case_id)
        .where(*scope, paid.kind == "payment", paid.occurred_on <= as_of, paid.occurred_on >= Case.opened_on)
        .subquery()
    )
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[str, int] = defaultdict(int)
    for name, state, cents, count in session.execute(
        select(rows.c.workflow, rows.c.state, func.sum(rows.c.cents), func.count())
        .group_by(rows.c.workflow, rows.c.state)
    ):
        state = state or initial[name]
        amounts[state] += ledger.money(cents)
        counts[state] += count
    return amounts, counts


def _ladder(flows: list[Workflow]) -> tuple[list[str], list[str], dict[str, Any]]:
    """The escalation ladder (initial state, then states with a kind, in file order) and the rest.

    States of several workflows (or versions of one) are merged in declaration order, a state the first ones
    lack placed after the state its own workflow climbs from (a third reminder an older version had goes
    after the second, not after litigation); a workflow without kinds falls back to its states that are
    neither final nor paused.
    """
    ladder: list[str] = []
    outcomes: list[str] = []
    specs: dict[str, Any] = {}
    for wf in flows:
        has_kinds = any(spec.kind for spec in wf.states.values())
        below: str | None = None  # this workflow's previous rung
        for name, spec in wf.states.items():
            specs.setdefault(name, spec)
            on_ladder = name == wf.initial or (spec.kind is not None if has_kinds else not (spec.final or spec.pause))
            if not on_ladder:
                continue
            if name not in ladder:
                ladder.insert(ladder.index(below) + 1 if below in ladder else len(ladder), name)
            below = name
    for wf in flows:
        outcomes.extend(name for name in wf.states if name not in ladder and name not in outcomes)
    return ladder, outcomes, specs


def _paid_states(flows: list[Workflow]) -> set[str]:
    """Where a payment ends a case: the destinations of ``payment`` transitions, else ``paid``."""
    found = {t.dest for wf in flows for t in wf.transitions if t.trigger == "payment"}
    return found or {"paid"}


__all__ = ["Funnel", "FunnelStep", "funnel"]
