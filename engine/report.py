"""The manager's view: the aging balance of unpaid invoices and the escalation funnel, as of a date.

Both are a handful of aggregate queries (GROUP BY with CASE expressions), never a Python loop over
invoices or events, so they stay fast on a million invoices. Money is summed in integer cents in
SQL (SQLite sums NUMERIC as floats) and comes back as Decimal. Everything is "as of" a date: an
allocation, an event or an invoice dated after ``as_of`` does not exist yet for the report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, case, cast, distinct, func, select
from sqlalchemy.orm import Session, aliased

from engine.models import Case, CreditNote, Creditor, Debtor, Event, Invoice, Payment, PaymentAllocation
from engine.workflow import Workflow

ZERO = Decimal("0.00")

# (key, label, oldest day past due it holds); days past due = as_of - due_date.
BUCKETS: tuple[tuple[str, str, int | None], ...] = (
    ("not_due", "not yet due", None),
    ("1_30", "1–30", 30),
    ("31_60", "31–60", 60),
    ("61_90", "61–90", 90),
    ("over_90", "over 90", None),
)


@dataclass(frozen=True)
class AgingBucket:
    """Unpaid invoices whose days past due fall in one range (or the total)."""

    key: str
    label: str
    invoices: int
    debtors: int
    amount: Decimal


@dataclass(frozen=True)
class DebtorAging:
    """One debtor's outstanding balance, split by bucket (same order as ``Aging.buckets``)."""

    ref: str
    name: str
    kind: str
    invoices: int
    amounts: tuple[Decimal, ...]
    total: Decimal


@dataclass(frozen=True)
class Aging:
    """The aging balance as of ``as_of``, in one currency."""

    as_of: date
    currency: str
    buckets: tuple[AgingBucket, ...]
    total: AgingBucket
    debtors: tuple[DebtorAging, ...]  # the top debtors by outstanding amount, largest first
    # Unpaid invoices left out because they are in another currency (sums across currencies mean nothing).
    other_currencies: dict[str, int] = field(default_factory=dict)

    @property
    def overdue(self) -> Decimal:
        """Outstanding amount past its due date."""
        return sum((b.amount for b in self.buckets if b.key != "not_due"), ZERO)

    @property
    def overdue_share(self) -> Decimal | None:
        """Overdue / outstanding, 0..1 to four places; None when nothing is outstanding."""
        if self.total.amount <= 0:
            return None
        return (self.overdue / self.total.amount).quantize(Decimal("0.0001"))


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
    recovered: Decimal  # payments received while the case was in this state
    payments: int  # how many payment events make up ``recovered``

    @property
    def resolution_rate(self) -> Decimal | None:
        """resolved / reached, 0..1 to four places: "this level settled that share of its cases"."""
        if self.reached == 0 or self.stage != "escalation":
            return None
        return (Decimal(self.resolved) / Decimal(self.reached)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Funnel:
    """The escalation funnel of every case opened on or before ``as_of``."""

    as_of: date
    cases: int
    steps: tuple[FunnelStep, ...]

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


def aging(
    session: Session,
    as_of: date,
    *,
    creditor_ref: str | None = None,
    currency: str = "EUR",
    top: int = 10,
) -> Aging:
    """The outstanding balance of every unpaid invoice as of ``as_of``, bucketed by days past due.

    Outstanding = amount minus the payments and credit notes allocated to it and dated on or
    before ``as_of``; invoices issued after ``as_of`` are not counted.
    """
    allocated = _allocated_cents(as_of)
    owed = _cents(Invoice.amount) - func.coalesce(allocated.c.cents, 0)
    bucket = case(
        (Invoice.due_date >= as_of, 0),
        (Invoice.due_date >= as_of - timedelta(days=30), 1),
        (Invoice.due_date >= as_of - timedelta(days=60), 2),
        (Invoice.due_date >= as_of - timedelta(days=90), 3),
        else_=4,
    )
    conditions: list[ColumnElement[bool]] = [Invoice.issue_date <= as_of, owed > 0]
    if creditor_ref is not None:
        conditions.append(Invoice.creditor_id == _creditor_id(creditor_ref))
    base = select(Invoice.debtor_id.label("debtor_id"), owed.label("owed"), bucket.label("bucket")).outerjoin(
        allocated, allocated.c.invoice_id == Invoice.id
    )
    unpaid = base.where(*conditions, Invoice.currency == currency).subquery()

    by_bucket = {
        row.bucket: row
        for row in session.execute(
            select(unpaid.c.bucket, func.count().label("invoices"),
                   func.count(distinct(unpaid.c.debtor_id)).label("debtors"),
                   func.sum(unpaid.c.owed).label("cents"))
            .group_by(unpaid.c.bucket)
        )
    }
    buckets = tuple(
        AgingBucket(key, label, by_bucket[i].invoices, by_bucket[i].debtors, _money(by_bucket[i].cents))
        if i in by_bucket else AgingBucket(key, label, 0, 0, ZERO)
        for i, (key, label, _limit) in enumerate(BUCKETS)
    )
    count, debtors, cents = session.execute(
        select(func.count(), func.count(distinct(unpaid.c.debtor_id)), func.sum(unpaid.c.owed))
    ).one()
    total = AgingBucket("total", "total", count, debtors, _money(cents))

    debtor_total = func.sum(unpaid.c.owed)
    per_debtor = session.execute(
        select(Debtor.ref, Debtor.name, Debtor.kind, func.count(), debtor_total,
               *[func.sum(case((unpaid.c.bucket == i, unpaid.c.owed), else_=0)) for i in range(len(BUCKETS))])
        .join(Debtor, Debtor.id == unpaid.c.debtor_id)
        .group_by(Debtor.id, Debtor.ref, Debtor.name, Debtor.kind)
        .order_by(debtor_total.desc(), Debtor.ref)
        .limit(top)
    ).all()
    top_debtors = tuple(
        DebtorAging(ref, name, kind, invoices, tuple(_money(c) for c in split), _money(sum_cents))
        for ref, name, kind, invoices, sum_cents, *split in per_debtor
    )

    others = dict(session.execute(
        base.with_only_columns(Invoice.currency, func.count())
        .where(*conditions, Invoice.currency != currency)
        .group_by(Invoice.currency)
    ).all())
    return Aging(as_of, currency, buckets, total, top_debtors, others)


def funnel(
    session: Session,
    as_of: date,
    workflows: Workflow | Sequence[Workflow],
    *,
    creditor_ref: str | None = None,
) -> Funnel:
    """For each state of ``workflows`` (ladder first, then outcomes): reached, current, resolved, recovered.

    Read from the timeline, so a past ``as_of`` gives the funnel as it stood that day: the state
    of a case on a day is the destination of its last ``state_change`` on or before it (its
    workflow's initial state before any). A payment is credited to the state the case was in the
    day before it arrived: a letter sent the same day did not cause it, and the "paid" step the
    payment itself triggers must not take the credit.
    """
    flows = [workflows] if isinstance(workflows, Workflow) else list(workflows)
    initial = {wf.name: wf.initial for wf in flows}
    ladder, outcomes, specs = _ladder(flows)
    rank = {state: i for i, state in enumerate(ladder)}
    paid_states = _paid_states(flows)

    scope: list[ColumnElement[bool]] = [Case.workflow_name.in_(list(initial)), Case.opened_on <= as_of]
    if creditor_ref is not None:
        scope.append(Case.creditor_id == _creditor_id(creditor_ref))
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

    recovered, payments = _recovered(session, as_of, scope, initial)
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
    return Funnel(as_of, cases, steps)


def report_as_dict(aging_: Aging, funnel_: Funnel) -> dict[str, Any]:
    """Both reports as JSON-ready data (amounts and rates as strings, dates ISO), for ``--json``."""
    def bucket(b: AgingBucket) -> dict[str, Any]:
        return {"key": b.key, "label": b.label, "invoices": b.invoices, "debtors": b.debtors, "amount": str(b.amount)}

    return {
        "as_of": aging_.as_of.isoformat(),
        "aging": {
            "currency": aging_.currency,
            "buckets": [bucket(b) for b in aging_.buckets],
            "total": bucket(aging_.total),
            "overdue": str(aging_.overdue),
            "overdue_share": _str_or_none(aging_.overdue_share),
            "top_debtors": [
                {"ref": d.ref, "name": d.name, "kind": d.kind, "invoices": d.invoices, "total": str(d.total),
                 "buckets": {key: str(amount) for (key, _l, _x), amount in zip(BUCKETS, d.amounts)}}
                for d in aging_.debtors
            ],
            "other_currencies": aging_.other_currencies,
        },
        "funnel": {
            "cases": funnel_.cases,
            "recovered": str(funnel_.recovered),
            "in_litigation": funnel_.in_litigation,
            "steps": [
                {"state": s.state, "label": s.label, "stage": s.stage, "reached": s.reached, "current": s.current,
                 "resolved": s.resolved, "resolution_rate": _str_or_none(s.resolution_rate),
                 "recovered": str(s.recovered), "payments": s.payments}
                for s in funnel_.steps
            ],
        },
    }


def _recovered(session: Session, as_of: date, scope: list[ColumnElement[bool]],
               initial: dict[str, str]) -> tuple[dict[str, Decimal], dict[str, int]]:
    """Payment events summed by the state their case was in the day before each payment."""
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
               _cents(paid.payload["amount"].as_numeric(14, 2)).label("cents"))
        .join(Case, Case.id == paid.case_id)
        .where(*scope, paid.kind == "payment", paid.occurred_on <= as_of)
        .subquery()
    )
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    counts: dict[str, int] = defaultdict(int)
    for name, state, cents, count in session.execute(
        select(rows.c.workflow, rows.c.state, func.sum(rows.c.cents), func.count())
        .group_by(rows.c.workflow, rows.c.state)
    ):
        state = state or initial[name]
        amounts[state] += _money(cents)
        counts[state] += count
    return amounts, counts


def _ladder(flows: list[Workflow]) -> tuple[list[str], list[str], dict[str, Any]]:
    """The escalation ladder (initial state, then states with a kind, in file order) and the rest.

    States of several workflows are merged in declaration order; a workflow without kinds falls
    back to its states that are neither final nor paused.
    """
    ladder: list[str] = []
    outcomes: list[str] = []
    specs: dict[str, Any] = {}
    for wf in flows:
        has_kinds = any(spec.kind for spec in wf.states.values())
        for name, spec in wf.states.items():
            specs.setdefault(name, spec)
            on_ladder = name == wf.initial or (spec.kind is not None if has_kinds else not (spec.final or spec.pause))
            if on_ladder and name not in ladder:
                ladder.append(name)
    for wf in flows:
        outcomes.extend(name for name in wf.states if name not in ladder and name not in outcomes)
    return ladder, outcomes, specs


def _paid_states(flows: list[Workflow]) -> set[str]:
    """Where a payment ends a case: the destinations of ``payment`` transitions, else ``paid``."""
    found = {t.dest for wf in flows for t in wf.transitions if t.trigger == "payment"}
    return found or {"paid"}


def _allocated_cents(as_of: date) -> Any:
    """Per invoice, the cents of payments and credit notes allocated to it and dated by ``as_of``."""
    dated = func.coalesce(Payment.payment_date, CreditNote.issue_date)
    return (
        select(PaymentAllocation.invoice_id.label("invoice_id"), func.sum(_cents(PaymentAllocation.amount)).label("cents"))
        .select_from(PaymentAllocation)
        .outerjoin(Payment, Payment.id == PaymentAllocation.payment_id)
        .outerjoin(CreditNote, CreditNote.id == PaymentAllocation.credit_note_id)
        .where(dated <= as_of)
        .group_by(PaymentAllocation.invoice_id)
        .subquery()
    )


def _creditor_id(ref: str) -> Any:
    return select(Creditor.id).where(Creditor.ref == ref).scalar_subquery()


def _cents(amount: Any) -> Any:
    # Integer cents: exact sums on SQLite too, where NUMERIC is stored and summed as a float.
    return cast(func.round(amount * 100), BigInteger)


def _money(cents: Any) -> Decimal:
    return Decimal(int(cents or 0)).scaleb(-2).quantize(ZERO)


def _str_or_none(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


__all__ = [
    "BUCKETS", "Aging", "AgingBucket", "DebtorAging", "Funnel", "FunnelStep", "aging", "funnel", "report_as_dict",
]
