"""A workflow file read into a frozen, validated Workflow, with every problem located (file:line: key).

`check_workflow` never raises for user mistakes: it returns every problem at once, errors and
warnings, so a policy author fixes them in one pass. `load_workflow` raises WorkflowError when
there is any error. The file format is described in workflows/README.md.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from engine.core.calendar import (
    Delay,
    DelayError,
    check_country,
    parse_delay,
    resolve_subdivision,
)
from engine.core.guards import Guard, check_guard, compile_guard
from engine.core.yamlsource import (
    LocatedDict,
    LocatedList,
    iter_duplicates,
    line_of,
    load_located,
)
from engine.errors import RelanceError

TOP_KEYS = ("name", "version", "description", "locale", "currency", "calendar", "calendar_subdivision",
            "grouping", "letters", "initial", "states", "transitions")
STATE_KEYS = ("letter", "channel", "pay_within", "final", "pause", "label", "kind", "description", "approval", "attach")
TRANSITION_KEYS = ("trigger", "source", "dest", "after", "since", "when", "unless", "description")
CHANNELS = ("letter", "email", "registered_letter", "phone", "none")
KINDS = ("reminder", "formal_notice", "litigation")
GROUPINGS = ("debtor", "invoice")
SINCE = ("state_entered", "due_date")
APPROVALS = ("required", "none")
ATTACHMENTS = ("pdf", "docx")  # the formats an e-mail carries its letter in
# Triggers fired by external events (Escalator.pay, dispute...). Every other trigger is timed: the run fires it.
EVENT_TRIGGERS = ("payment", "dispute", "resolve", "promise", "promise_lapsed", "hold", "resume")


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or dubious) in a workflow file, where it is and why."""

    severity: str  # "error" | "warning"
    file: str
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        key = f" {self.key}:" if self.key else ""
        level = " warning:" if self.severity == "warning" else ""
        return f"{where}:{key}{level} {self.message}"


class WorkflowError(RelanceError, ValueError):
    """A workflow with errors; `.problems` lists all of them (and the warnings)."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__("\n".join(str(p) for p in errors))


@dataclass(frozen=True)
class StateSpec:
    """A declared state and what entering it calls for."""

    name: str
    letter: str | None = None  # template file, relative to Workflow.letters_dir
    channels: tuple[str, ...] = ()
    pay_within: int | None = None  # days given to pay, printed in the letter
    final: bool = False
    pause: bool = False  # no timed transition fires while a case is here
    label: str | None = None  # French label for letters and the timeline
    kind: str | None = None  # reminder | formal_notice | litigation: which letter checks apply
    line: int | None = None
    approval: bool = False  # `approval: required`: a due step into this state waits for `relance approve`
    attach: tuple[str, ...] = ("pdf",)  # the formats an e-mail of this state attaches its letter in


@dataclass(frozen=True)
class TransitionSpec:
    """A declared transition; `sources` has "*" expanded (every state but the destination)."""

    trigger: str
    sources: tuple[str, ...]
    dest: str
    after: Delay | None = None
    since: str = "state_entered"
    when: Guard | None = None
    unless: Guard | None = None
    line: int | None = None

    @property
    def timed(self) -> bool:
        """Fired by the run when its delay has passed, rather than by an external event."""
        return self.trigger not in EVENT_TRIGGERS


@dataclass(frozen=True, eq=False)
class Workflow:
    """A validated escalation policy. Frozen: the engine caches its machine by (name, version, digest)."""

    name: str
    version: int
    locale: str
    currency: str
    calendar: str
    calendar_subdivision: str | None
    grouping: str
    letters_dir: Path
    initial: str
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    path: Path
    digest: str = field(default="")  # sha256 of the file: two edits of one version never share a machine


def check_workflow(path: str | Path) -> list[Problem]:
    """Every error and warning in the workflow file; never raises for the user's mistakes."""
    return _Reader(Path(path)).read()[1]


def load_workflow(path: str | Path, *, source: str | None = None) -> Workflow:
    """The validated workflow; raises WorkflowError (with `.problems`) when the file has any error.

    `source`, when given, is the file's text as it was (a version kept in the database for the
    cases that started on it); `path` still anchors the letters folder and the messages.
    """
    workflow, problems = _Reader(Path(path), source).read()
    if workflow is None or any(p.severity == "error" for p in problems):
        raise WorkflowError(problems)
    return workflow


class _Reader:
    """Reads one file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, source: str | None = None) -> None:
        self.path = path
        self.source = source
        self.file = str(path)
        self.problems: list[Problem] = []

    def error(self, container: Any, key: Any, path: str | None, message: str) -> None:
        self.problems.append(Problem("error", self.file, line_of(container, key), path, message))

    def warn(self, container: Any, key: Any, path: str | None, message: str) -> None:
        self.problems.append(Problem("warning", self.file, line_of(container, key), path, message))

    def read(self) -> tuple[Workflow | None, list[Problem]]:
        try:
            text = self.source if self.source is not None else self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(Problem("error", self.file, None, None, f"cannot read the file: {exc}"))
            return None, self.problems
        try:
            root = load_located(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            reason = getattr(exc, "problem", None) or str(exc)
            line = mark.line + 1 if mark is not None else None
            self.problems.append(Problem("error", self.file, line, None, f"YAML syntax error: {reason}"))
            return None, self.problems
        if not isinstance(root, LocatedDict):
            self.problems.append(Problem("error", self.file, 1, None, "a workflow must be a YAML mapping"))
            return None, self.problems
        for where, key, line in iter_duplicates(root):
            shown = f"{where}.{key}" if where else str(key)
            self.problems.append(Problem("error", self.file, line, shown, f"duplicate key {key!r}"))
        workflow = self.build(root, hashlib.sha256(text.encode()).hexdigest())
        ok = not any(p.severity == "error" for p in self.problems)
        return (workflow if ok else None), self.problems

    def build(self, root: LocatedDict, digest: str) -> Workflow | None:
        self.unknown_keys(root, TOP_KEYS, "")
        name = self.required(root, "name", str)
        version = self.required(root, "version", int)
        locale = self.optional(root, "locale", str, "fr_FR")
        currency = self.optional(root, "currency", str, "EUR")
        calendar = self.optional(root, "calendar", str, "FR")
        subdivision = root.get("calendar_subdivision")
        try:
            check_country(calendar)
            if subdivision is not None:
                resolve_subdivision(calendar, str(subdivision))
        except DelayError as exc:
            self.error(root, "calendar_subdivision" if subdivision is not None else "calendar",
                       "calendar_subdivision" if subdivision is not None else "calendar", str(exc))
        grouping = self.choice(root, "grouping", "grouping", GROUPINGS, "debtor")
        letters = self.optional(root, "letters", str, ".")
        letters_dir = (self.path.parent / letters).resolve()
        states = self.states(root, letters_dir)
        transitions = self.transitions(root, states)
        initial = root.get("initial")
        if "initial" not in root:
            self.error(root, None, "initial", "missing required key 'initial' (the state a new case starts in)")
        elif initial not in states:
            self.error(root, "initial", "initial", f"unknown initial state {initial!r}{_hint(initial, states)}")
        elif states:
            self.graph(root, states, transitions, initial)
        if any(p.severity == "error" for p in self.problems):
            return None
        return Workflow(
            name=name, version=version, locale=locale, currency=currency, calendar=calendar,
            calendar_subdivision=None if subdivision is None else str(subdivision), grouping=grouping,
            letters_dir=letters_dir, initial=str(initial), states=MappingProxyType(states),
            transitions=tuple(transitions), path=self.path.resolve(), digest=digest,
        )

    def states(self, root: LocatedDict, letters_dir: Path) -> dict[str, StateSpec]:
        raw = root.get("states")
        if not isinstance(raw, LocatedDict) or not raw:
            self.error(root, "states" if "states" in root else None, "states",
                       "'states' must be a non-empty mapping of state names")
            return {}
        letter_dir_ok = letters_dir.is_dir()
        if not letter_dir_ok and any(isinstance(v, dict) and v.get("letter") for v in raw.values()):
            self.error(root, "letters", "letters", f"letters folder not found: {letters_dir}")
        states: dict[str, StateSpec] = {}
        for name, body in raw.items():
            where = f"states.{name}"
            if not isinstance(name, str) or not name.isidentifier() or name.startswith("to_"):
                self.error(raw, name, where, f"state name {name!r} must be an identifier not starting with 'to_'")
                continue
            body = LocatedDict() if body is None else body
            if not isinstance(body, LocatedDict):
                self.error(raw, name, where, "a state must be a mapping (use {} for none)")
                continue
            self.unknown_keys(body, STATE_KEYS, where)
            letter = self.optional(body, "letter", str, None, where)
            if letter and letter_dir_ok and not (letters_dir / letter).is_file():
                self.error(body, "letter", f"{where}.letter",
                           f"letter template {letter!r} not found in {letters_dir}")
            channels = self.channels(body, where, letter)
            pay_within = self.pay_within(body, where)
            final = self.optional(body, "final", bool, False, where)
            pause = self.optional(body, "pause", bool, False, where)
            if final and pause:
                self.error(body, "pause", f"{where}.pause", "a state cannot be both final and paused")
            kind = self.choice(body, "kind", f"{where}.kind", KINDS, None)
            label = self.optional(body, "label", str, None, where)
            approval = self.choice(body, "approval", f"{where}.approval", APPROVALS, "none") == "required"
            states[name] = StateSpec(name, letter, channels, pay_within, final, pause, label, kind,
                                     line_of(raw, name), approval, self.attach(body, where))
        return states

    def transitions(self, root: LocatedDict, states: dict[str, StateSpec]) -> list[TransitionSpec]:
        raw = root.get("transitions")
        if not isinstance(raw, LocatedList):
            self.error(root, "transitions" if "transitions" in root else None, "transitions",
                       "'transitions' must be a list")
            return []
        result: list[TransitionSpec] = []
        for index, body in enumerate(raw):
            where = f"transitions[{index}]"
            if not isinstance(body, LocatedDict):
                self.error(raw, index, where, "a transition must be a mapping")
                continue
            self.unknown_keys(body, TRANSITION_KEYS, where)
            trigger = self.required(body, "trigger", str, where)
            if isinstance(trigger, str) and (not trigger.isidentifier() or trigger.startswith("to_")):
                self.error(body, "trigger", f"{where}.trigger",
                           f"trigger {trigger!r} must be an identifier not starting with 'to_'")
            dest = self.required(body, "dest", str, where)
            if isinstance(dest, str) and states and dest not in states:
                self.error(body, "dest", f"{where}.dest", f"unknown state {dest!r}{_hint(dest, states)}")
            sources = self.sources(body, where, states, dest)
            after = self.delay(body, where)
            if after is not None and trigger in EVENT_TRIGGERS:
                self.error(body, "after", f"{where}.after",
                           f"'{trigger}' is fired by an event, not by time: remove 'after'")
            since = self.choice(body, "since", f"{where}.since", SINCE, "state_entered")
            when, unless = self.guard(body, "when", where), self.guard(body, "unless", where)
            result.append(TransitionSpec(trigger, sources, dest, after, since, when, unless,
                                         line_of(raw, index)))
        return result

    def graph(self, root: LocatedDict, states: dict[str, StateSpec], transitions: list[TransitionSpec],
              initial: str) -> None:
        """Reachability from the initial state, a path to an end, and states nothing timed leaves."""
        edges: dict[str, set[str]] = {name: set() for name in states}
        for spec in transitions:
            for source in spec.sources:
                if spec.dest in states:  # an unknown destination is reported already
                    edges[source].add(spec.dest)
        if "paid" in states and states["paid"].final and not any(t.trigger == "payment" for t in transitions):
            for name in states:  # the engine's built-in payment: a full payment ends in 'paid'
                edges[name].add("paid")
        seen, todo = {initial}, [initial]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        raw_states = root["states"]
        for name in states:
            if name not in seen:
                self.error(raw_states, name, f"states.{name}",
                           f"state {name!r} is unreachable from the initial state {initial!r}")
        if not any(states[name].final for name in seen):
            self.error(root, "initial", "initial", f"no path from {initial!r} to a final state")
        timed_out = {s for spec in transitions if spec.timed for s in spec.sources}
        for name, state in states.items():
            if not (state.final or state.pause) and name not in timed_out:
                self.warn(raw_states, name, f"states.{name}",
                          f"state {name!r} is not final and no timed transition leaves it: "
                          "cases stay there until an event moves them")

    # --- field readers: each records a located problem and returns a usable default ---

    def unknown_keys(self, body: LocatedDict, known: Iterable[str], where: str) -> None:
        for key in body:
            if key not in known:
                path = f"{where}.{key}" if where else str(key)
                self.error(body, key, path, f"unknown key {key!r}{_hint(key, known)}")

    def required(self, body: LocatedDict, key: str, kind: type, where: str = "") -> Any:
        path = f"{where}.{key}" if where else key
        if key not in body:
            self.error(body, None, path, f"missing required key {key!r}")
            return None
        return self.optional(body, key, kind, None, where)

    def optional(self, body: LocatedDict, key: str, kind: type, default: Any, where: str = "") -> Any:
        value = body.get(key, default)
        # bool is an int in Python; `version: true` is still a mistake.
        if key in body and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            path = f"{where}.{key}" if where else key
            self.error(body, key, path, f"{key!r} must be {_KIND_WORDS[kind]}, not {value!r}")
            return default
        return value

    def choice(self, body: LocatedDict, key: str, path: str, allowed: tuple[str, ...], default: Any) -> Any:
        value = body.get(key, default)
        if key in body and value not in allowed:
            self.error(body, key, path, f"{key!r} must be one of {', '.join(allowed)}, not {value!r}"
                       f"{_hint(value, allowed) if isinstance(value, str) else ''}")
            return default
        return value

    def channels(self, body: LocatedDict, where: str, letter: str | None) -> tuple[str, ...]:
        value = body.get("channel", "letter" if letter else "none")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(c, str) and c in CHANNELS for c in items):
            self.error(body, "channel", f"{where}.channel",
                       f"channel must be one of {', '.join(CHANNELS)} or a list of them, not {value!r}")
            return ()
        return tuple(c for c in items if c != "none")

    def attach(self, body: LocatedDict, where: str) -> tuple[str, ...]:
        value = body.get("attach", ["pdf"])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(a, str) and a in ATTACHMENTS for a in items):
            self.error(body, "attach", f"{where}.attach",
                       f"attach must be one of {', '.join(ATTACHMENTS)} or a list of them, not {value!r}")
            return ("pdf",)
        return tuple(dict.fromkeys(items))

    def pay_within(self, body: LocatedDict, where: str) -> int | None:
        if "pay_within" not in body:
            return None
        value = body["pay_within"]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        try:
            delay = parse_delay(value)
        except DelayError as exc:
            self.error(body, "pay_within", f"{where}.pay_within", str(exc))
            return None
        if delay.unit not in ("day", "week"):
            self.error(body, "pay_within", f"{where}.pay_within", "pay_within is counted in days or weeks")
            return None
        return delay.count * (7 if delay.unit == "week" else 1)

    def sources(self, body: LocatedDict, where: str, states: dict[str, StateSpec], dest: Any) -> tuple[str, ...]:
        value = body.get("source")
        if "source" not in body:
            self.error(body, None, f"{where}.source", "missing required key 'source'")
            return ()
        if value == "*":
            return tuple(name for name in states if name != dest)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            self.error(body, "source", f"{where}.source", "source must be a state, a list of states or '*'")
            return ()
        for source in items:
            if states and source not in states:
                self.error(body, "source", f"{where}.source", f"unknown state {source!r}{_hint(source, states)}")
        return tuple(s for s in items if s in states)

    def delay(self, body: LocatedDict, where: str) -> Delay | None:
        if "after" not in body:
            return None
        try:
            return parse_delay(body["after"])
        except DelayError as exc:
            self.error(body, "after", f"{where}.after", str(exc))
            return None

    def guard(self, body: LocatedDict, key: str, where: str) -> Guard | None:
        if key not in body:
            return None
        source = body[key]
        reasons = check_guard(source if isinstance(source, str) else "")
        if not isinstance(source, str):
            reasons = [f"a guard must be an expression string, not {source!r}"]
        for reason in reasons:
            self.error(body, key, f"{where}.{key}", reason)
        return None if reasons else compile_guard(source)


_KIND_WORDS = {str: "a string", int: "an integer", bool: "true or false"}


def _hint(word: Any, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
