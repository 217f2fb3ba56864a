"""The engine: one shared `transitions.Machine` per workflow, moving plain CaseState objects.

`advance(case, as_of)` takes at most one timed step; external events (payment, dispute, promise,
hold, manual jump) go through the workflow's own transitions when it declares them, and fall back
to built-in behaviour otherwise (see workflows/README.md, "Events"). Every call mutates the case and
returns the state changes as Steps, each carrying the facts that decided it and the actions to perform.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from transitions import Machine

from engine.core.calendar import Delay, add_delay
from engine.core.case import Action, CaseState, Step
from engine.core.guards import Guard, GuardError, case_facts
from engine.core.workflow import StateSpec, TransitionSpec, Workflow
from engine.errors import RelanceError

LETTER_CHANNELS = frozenset({"letter", "email", "registered_letter"})
# State kinds a time-barred invoice never reaches (engine.core.prescription).
LEGAL_KINDS = frozenset({"formal_notice", "litigation"})


class EscalationError(RelanceError, ValueError):
    """An event the case cannot take (unknown state, closed case, promise in the past...), with why."""


def require_not_before_state(case: CaseState, on: date, action: str) -> None:
    """Refuse an action by hand (``action``: dispute, jump...) dated before the case entered its state: the
    timeline would hold a step, or a dispute, before the letter it follows, and a letter dated that day would
    recall contacts made after it. (A payment is not refused: money received before a letter went out is a
    fact with its bank date.)"""
    if on < case.state_entered:
        raise EscalationError(
            f"a {action} dated {on:%d/%m/%Y}: the case entered {case.state!r} on {case.state_entered:%d/%m/%Y}, "
            "and nothing done by hand may be dated before that (date it that day or later; the reason may say "
            "when it happened)",
            french=f"{_ACTION_NAMES.get(action, action)} datée du {on:%d/%m/%Y} : le dossier est entré dans l'état "
                   f"« {case.state} » le {case.state_entered:%d/%m/%Y}, et rien de ce qui est fait à la main ne peut "
                   "être daté d'avant (datez-la de ce jour ou d'après ; le motif peut dire quand c'est arrivé)")


# The manual actions as the web app's French messages name them.
_ACTION_NAMES = {"dispute": "contestation", "resolve": "levée de contestation", "promise": "promesse de paiement",
                 "hold": "suspension", "resume": "reprise", "jump": "étape à la main"}


class Escalator:
    """Moves cases through one workflow. Cheap to create: the machine is built once per workflow version."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self._compiled = _compile(workflow)
        self._plans = self._compiled.plans
        self._calendar = (workflow.calendar, workflow.calendar_subdivision)

    @property
    def machine(self) -> Machine:
        """The shared transitions.Machine (model=None): fire with machine.events[trigger].trigger(case)."""
        return self._compiled.machine

    def advance(self, case: CaseState, as_of: date, *, approved: str | None = None) -> list[Step]:
        """At most one timed step due on `as_of`; the step is dated `as_of` and the next delay counts from it.

        A due step into a state with `approval: required` is not taken unless ``approved`` names that
        state: the case is left where it is with ``awaiting_approval`` set (see engine.cases.approvals).
        """
        plan = self._plan(case)
        if plan.final or case.debtor_hold:
            return []
        if case.promise_until is not None:
            if as_of <= case.promise_until:
                return []
            lapsed = self._lapse(case, plan, as_of)
            if lapsed is not None:
                return lapsed
            plan = self._plans[case.state]
        if plan.pause or case.on_hold or case.disputed:
            return []
        country, subdivision = self._calendar
        case.awaiting_approval = None  # judged afresh: the step it waited for may no longer be due
        deadline = self._deadline(case)
        for timed in plan.timed:
            if timed.dest in case.steps_taken:
                continue
            base = _start(case, timed.since)
            due_on = base if timed.delay is None else add_delay(base, timed.delay, country, subdivision)
            if as_of < due_on:
                continue
            if deadline is not None and as_of <= deadline:
                continue  # the letter of this step gave the debtor until then: nothing escalates before
            if timed.legal and case.claimable <= 0:
                continue  # only time-barred invoices left: never put on notice nor taken to court
            facts = case_facts(case, as_of, timed.names) if timed.names else {}
            try:
                if timed.when is not None and not timed.when(facts):
                    continue
                if timed.unless is not None and timed.unless(facts):
                    continue
            except GuardError as exc:
                raise located(exc, self.workflow.path, timed.spec) from exc
            facts["due_on"] = due_on
            if deadline is not None and due_on <= deadline:
                facts["deadline_on"] = deadline  # the step waited for the letter's deadline, and says so
            facts["rule"] = timed.rule
            if timed.since == "notice_received":  # the reason must not claim a receipt nobody recorded
                facts["counted_from"] = _counted_from(case, timed.since)
            if self.workflow.states[timed.dest].approval and approved != timed.dest:
                case.awaiting_approval = timed.dest
                return []
            return [self._fire(case, timed.spec, as_of, facts, timed=True)]
        return []

    def next_check(self, case: CaseState) -> date | None:
        """The earliest day a timed step (guards aside) or a promise lapse could happen; None when none can."""
        plan = self._plan(case)
        if plan.final or case.debtor_hold or case.awaiting_approval is not None:
            return None  # a held debtor, or a step waiting for approval: nothing until a person acts
        if case.promise_until is not None:
            return case.promise_until + timedelta(days=1)
        if plan.pause or case.on_hold or case.disputed:
            return None
        country, subdivision = self._calendar
        deadline = self._deadline(case)
        floor = deadline + timedelta(days=1) if deadline is not None else date.min
        days = [
            max(floor, _start(case, t.since) if t.delay is None
                else add_delay(_start(case, t.since), t.delay, country, subdivision))
            for t in plan.timed if t.dest not in case.steps_taken
        ]
        return min(days, default=None)

    def _deadline(self, case: CaseState) -> date | None:
        """The last day to pay that the letter of the case's state gave (``pay_within`` days from its date, the
        day the case entered the state): a policy whose next delay is shorter, or counts from the due date, must
        not take the debtor to the next step while the letter still says it may pay."""
        spec = self.workflow.states.get(case.state)
        within = spec.pay_within if spec is not None and spec.letter else None
        return case.state_entered + timedelta(days=within) if within else None

    def pay(self, case: CaseState, amount: Decimal, on: date, by: str | None = None) -> list[Step]:
        """Record a payment; the `payment` trigger decides (default: a full payment ends in state 'paid')."""
        amount = Decimal(amount)
        if amount <= 0:
            raise EscalationError(f"a payment must be positive, not {amount}",
                                  french=f"un paiement est un montant positif, pas {amount}")
        case.paid += amount
        if case.balance <= 0:
            case.promise_until = None  # settled: nothing left to wait for
        extra = {"amount": amount}
        step = self._event(case, "payment", on, by=by, extra=extra)
        if step is not _UNDECLARED:
            return step
        paid = self.workflow.states.get("paid")
        if case.balance <= 0 and paid is not None and paid.final and case.state != "paid":
            return [self._move(case, "paid", on, "payment", by=by, extra=extra)]
        return []

    def dispute(self, case: CaseState, on: date, reason: str, by: str | None = None) -> list[Step]:
        """The debtor contests the debt: escalation stops (flag `disputed`), `dispute` may move the case."""
        self._open(case, "dispute")
        case.disputed = True
        case.awaiting_approval = None  # a contested claim is not escalated: its approval request lapses
        self._remember(case)
        steps = self._event(case, "dispute", on, reason=reason, by=by)
        return [] if steps is _UNDECLARED else steps

    def resolve_dispute(self, case: CaseState, on: date, reason: str, by: str | None = None) -> list[Step]:
        """The dispute is settled: `resolve` if declared, else back to the state the case was in."""
        if not case.disputed:
            raise EscalationError("the case has no open dispute to resolve",
                                  french="le dossier n'a pas de contestation en cours à lever")
        case.disputed = False
        steps = self._event(case, "resolve", on, reason=reason, by=by)
        if steps is not _UNDECLARED:
            return steps
        return self._return(case, on, "resolve", reason=reason, by=by)

    def promise(self, case: CaseState, until: date, on: date, by: str | None = None) -> list[Step]:
        """The debtor promises to pay by `until`: no timed step until then; escalation resumes after."""
        self._open(case, "promise")
        if until < on:
            raise EscalationError(f"a promise to pay by {until} is already past on {on}",
                                  french=f"une promesse de payer au plus tard le {until:%d/%m/%Y} est déjà dépassée "
                                         f"le {on:%d/%m/%Y}")
        case.promise_until = until
        self._remember(case)
        steps = self._event(case, "promise", on, by=by, extra={"until": until})
        return [] if steps is _UNDECLARED else steps

    def hold(self, case: CaseState, on: date, reason: str, by: str | None = None) -> list[Step]:
        """Stop escalation by hand (flag `on_hold`); `hold` may move the case."""
        self._open(case, "hold")
        case.on_hold = True
        case.awaiting_approval = None  # a held case is not escalated: its approval request lapses
        self._remember(case)
        steps = self._event(case, "hold", on, reason=reason, by=by)
        return [] if steps is _UNDECLARED else steps

    def resume(self, case: CaseState, on: date, by: str | None = None) -> list[Step]:
        """Lift a hold: `resume` if declared, else back to the state held from (when the hold moved it)."""
        if not case.on_hold:
            raise EscalationError("the case is not on hold", french="le dossier n'est pas suspendu")
        case.on_hold = False
        steps = self._event(case, "resume", on, by=by)
        if steps is not _UNDECLARED:
            return steps
        return self._return(case, on, "resume", by=by)

    def jump(self, case: CaseState, dest: str, on: date, reason: str, by: str | None = None,
             approved: bool = False) -> list[Step]:
        """Move the case by hand to any declared state; its letter and actions go out as on a timed step.
        A state with `approval: required` is entered only ``approved``: otherwise the case waits for it."""
        require_not_before_state(case, on, "jump")
        if dest not in self.workflow.states:
            close = difflib.get_close_matches(str(dest), list(self.workflow.states), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (states: {', '.join(self.workflow.states)})"
            indice = f" (vouliez-vous dire « {close[0]} » ?)" if close else f" (états : {', '.join(self.workflow.states)})"
            raise EscalationError(f"cannot jump to {dest!r}: no such state in {self.workflow.name}{hint}",
                                  french=f"impossible de passer à « {dest} » : la politique {self.workflow.name} "
                                         f"n'a pas cet état{indice}")
        self._plan(case)
        kind = self.workflow.states[dest].kind
        if kind in LEGAL_KINDS and case.barred > 0 and case.claimable <= 0:
            # As for a timed step (advance): time-barred invoices alone are never put on notice nor taken to court.
            raise EscalationError(f"cannot jump to {dest!r} ({kind}): every invoice still owed is time-barred, "
                                  "and a time-barred invoice is never put on notice nor taken to court",
                                  french=f"impossible de passer à « {dest} » : toutes les factures encore dues sont "
                                         "prescrites, et une facture prescrite n'est jamais mise en demeure ni "
                                         "portée en justice")
        if self.workflow.states[dest].approval and not approved:
            case.awaiting_approval = dest
            return []
        step = self._move(case, dest, on, "jump", reason=reason, by=by, with_actions=True)
        if dest not in case.steps_taken:
            case.steps_taken.append(dest)  # the timed step into it must not send the letter again
        if not self.workflow.states[dest].pause:
            case.resume_state = None
        return [step]

    # --- helpers ---

    def _plan(self, case: CaseState) -> _StatePlan:
        plan = self._plans.get(case.state)
        if plan is None:
            raise EscalationError(f"case is in state {case.state!r}, which workflow "
                              f"{self.workflow.name} v{self.workflow.version} does not declare")
        return plan

    def _open(self, case: CaseState, what: str) -> None:
        if self._plan(case).final:
            raise EscalationError(f"cannot {what}: the case is closed in final state {case.state!r}",
                                  french=f"{_ACTION_NAMES.get(what, what)} impossible : le dossier est clos "
                                         f"(état final « {case.state} »)")

    def _remember(self, case: CaseState) -> None:
        """Note the active state to come back to, unless already paused from one."""
        if case.resume_state is None and not self._plans[case.state].pause:
            case.resume_state = case.state

    def _lapse(self, case: CaseState, plan: _StatePlan, as_of: date) -> list[Step] | None:
        """A promise ran out unpaid: leave the promise's pause state (one step), else go on escalating."""
        until = case.promise_until
        case.promise_until = None
        if not plan.pause or case.disputed or case.on_hold:
            return None
        steps = self._event(case, "promise_lapsed", as_of, extra={"until": until})
        if steps is _UNDECLARED:
            steps = self._return(case, as_of, "promise_lapsed", extra={"until": until})
        return steps or None

    def _return(self, case: CaseState, on: date, trigger: str, reason: str | None = None,
                by: str | None = None, extra: dict[str, Any] | None = None) -> list[Step]:
        """Built-in end of a pause: back to `resume_state` if the case sits in a pause state and nothing
        else still holds it. No letter: the debtor already had that state's letter."""
        back = case.resume_state
        if back is None or not self._plans[case.state].pause or case.disputed or case.on_hold:
            return []
        if case.promise_until is not None and case.promise_until >= on:
            return []
        case.resume_state = None
        return [self._move(case, back, on, trigger, reason=reason, by=by, extra=extra)]

    def _event(self, case: CaseState, trigger: str, on: date, reason: str | None = None,
               by: str | None = None, extra: dict[str, Any] | None = None) -> Any:
        """Fire a declared event trigger; _UNDECLARED when the workflow has none from this state."""
        event = self._compiled.machine.events.get(trigger)
        if event is None or case.state not in event.transitions:
            return _UNDECLARED
        gate = _Gate(None, case, on)
        source = case.state
        try:
            fired = event.trigger(case, gate)
        except GuardError as exc:
            raise located(exc, self.workflow.path, gate.judging) from exc
        if not fired:
            return []
        spec = gate.chosen
        assert spec is not None
        facts = {**(gate.facts or {}), **(extra or {})}
        return [self._entered(case, spec.trigger, source, spec.dest, on, facts, reason, by, True)]

    def _fire(self, case: CaseState, spec: TransitionSpec, as_of: date, facts: dict[str, Any],
              timed: bool) -> Step:
        """Fire the transition the engine already chose: its condition only checks the choice."""
        source = case.state
        self._compiled.events[spec.trigger].trigger(case, _Gate(spec, case, as_of))
        if timed:
            case.steps_taken.append(spec.dest)
        return self._entered(case, spec.trigger, source, spec.dest, as_of, facts, None, None, True)

    def _move(self, case: CaseState, dest: str, on: date, trigger: str, reason: str | None = None,
              by: str | None = None, extra: dict[str, Any] | None = None, with_actions: bool = False) -> Step:
        """A built-in move through the machine's auto transition `to_<dest>`."""
        source = case.state
        self._compiled.machine.events["to_" + dest].trigger(case, _Gate(None, case, on))
        facts = {**case_facts(case, on), **(extra or {})}
        return self._entered(case, trigger, source, dest, on, facts, reason, by, with_actions)

    def _entered(self, case: CaseState, trigger: str, source: str, dest: str, on: date,
                 facts: dict[str, Any], reason: str | None, by: str | None, with_actions: bool) -> Step:
        case.state_entered = on
        case.awaiting_approval = None  # the case moved: whatever it waited for is moot
        actions = self._plans[dest].actions if with_actions else ()
        if actions and self._plans[dest].sends_letter:
            case.letters_sent += 1
        return Step(trigger, source, dest, on, facts, actions, reason, by)


# --- the compiled, shared part: one per workflow version ---


@dataclass(frozen=True)
class _Timed:
    """A timed transition with everything the hot path needs precomputed."""

    spec: TransitionSpec
    dest: str
    delay: Delay | None
    since: str  # state_entered | due_date | notice_received
    when: Guard | None
    unless: Guard | None
    names: frozenset[str]
    legal: bool  # into a formal notice or litigation: refused while only time-barred invoices are owed
    rule: dict[str, str]  # the delay and guards as written, recorded with the step (the timeline's "why")


@dataclass(frozen=True)
class _StatePlan:
    """Per state: its timed transitions in file order and the actions its entry calls for."""

    spec: StateSpec
    final: bool
    pause: bool
    timed: tuple[_Timed, ...]
    actions: tuple[Action, ...]
    sends_letter: bool


@dataclass(frozen=True)
class _Compiled:
    machine: Machine
    events: dict[str, Any]
    plans: dict[str, _StatePlan]


class _Gate:
    """Handed to the machine's conditions: the transition the engine chose, or the day to judge guards on."""

    __slots__ = ("target", "case", "as_of", "facts", "chosen", "judging")

    def __init__(self, target: TransitionSpec | None, case: CaseState, as_of: date) -> None:
        self.target, self.case, self.as_of = target, case, as_of
        self.facts: dict[str, Any] | None = None
        self.chosen: TransitionSpec | None = None
        self.judging: TransitionSpec | None = None  # whose guards are being judged (to locate a failure)


def _start(case: CaseState, since: str) -> date:
    """Where a delay counts from (see _counted_from)."""
    counted = _counted_from(case, since)
    if counted == "due_date":
        return case.due_date
    if counted == "notice_received" and case.notice_received is not None:
        return case.notice_received
    return case.state_entered


def _counted_from(case: CaseState, since: str) -> str:
    """The start a delay written ``since`` really counts from: `notice_received` falls back to the state's
    entry (the letter's date) until a receipt is recorded, so a receipt nobody records never stalls a case;
    and counts from the state's entry when the case came back to the state after the receipt (the end of a
    dispute, a promise or a hold restarts the delay), which the timeline must then say (`entered_after_receipt`)."""
    if since == "notice_received":
        if case.notice_received is None:
            return "state_entered"
        if case.state_entered > case.notice_received:
            return "entered_after_receipt"
    return since


def _rule(spec: TransitionSpec) -> dict[str, str]:
    """The transition as written (delay, its start, guards): kept in the step's facts as its reason."""
    rule = {"since": spec.since}
    if spec.after is not None:
        rule["after"] = str(spec.after)
    if spec.when is not None:
        rule["when"] = spec.when.source
    if spec.unless is not None:
        rule["unless"] = spec.unless.source
    return rule


def _admit(spec: TransitionSpec, gate: _Gate) -> bool:
    """The single condition of every machine transition. Timed steps were chosen by the engine (guards
    judged once there); event triggers judge their guards here, in file order, on the event's day."""
    if gate.target is not None:
        return spec is gate.target
    if gate.facts is None:
        gate.facts = case_facts(gate.case, gate.as_of)
    gate.judging = spec
    if spec.when is not None and not spec.when(gate.facts):
        return False
    if spec.unless is not None and spec.unless(gate.facts):
        return False
    gate.chosen = spec
    return True


def located(exc: GuardError, path: Path, spec: TransitionSpec | None) -> GuardError:
    """A guard that failed on a case's figures, named by workflow file and line (and by its transition)."""
    where = exc.where or (f"{path}:{spec.line}" if spec is not None and spec.line else str(path))
    transition = f" (transition {spec.trigger!r} to {spec.dest!r})" if spec is not None else ""
    return GuardError(f"{exc.reason}{transition}", where=where, guard=exc.guard)


_UNDECLARED: Any = object()
_CACHE: dict[tuple[str, int, str, Path], _Compiled] = {}


def _compile(workflow: Workflow) -> _Compiled:
    """The shared machine and plans for a workflow, built once per (name, version, file digest, path): the
    path too, since its guards name their file and line in the errors they raise on a case."""
    key = (workflow.name, workflow.version, workflow.digest, workflow.path)
    compiled = _CACHE.get(key)
    if compiled is None:
        compiled = _CACHE[key] = _build(workflow)
    return compiled


def _build(workflow: Workflow) -> _Compiled:
    machine = Machine(
        model=None,
        states=[{"name": s.name, "final": s.final} for s in workflow.states.values()],
        initial=workflow.initial,
        auto_transitions=True,  # `to_<state>`: the built-in moves (jump, back from a pause)
        send_event=False,
        ignore_invalid_triggers=False,
    )
    for spec in workflow.transitions:
        if spec.sources:
            machine.add_transition(spec.trigger, list(spec.sources), spec.dest, conditions=[partial(_admit, spec)])
    plans = {}
    for name, state in workflow.states.items():
        timed = tuple(
            _Timed(spec, spec.dest, spec.after, spec.since, spec.when, spec.unless,
                   (spec.when.names if spec.when else frozenset()) | (spec.unless.names if spec.unless else frozenset()),
                   workflow.states[spec.dest].kind in LEGAL_KINDS, _rule(spec))
            for spec in workflow.transitions if spec.timed and name in spec.sources
        )
        actions = tuple(
            Action(kind=channel, state=name, template=state.letter if channel in LETTER_CHANNELS else None,
                   pay_within_days=state.pay_within)
            for channel in state.channels
        )
        plans[name] = _StatePlan(state, state.final, state.pause, timed, actions,
                                 any(a.template for a in actions))
    return _Compiled(machine, dict(machine.events), plans)
