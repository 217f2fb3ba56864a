"""A workflow file read into a frozen, validated Workflow, with every problem located (file:line: key).

`check_workflow` never raises for user mistakes: it returns every problem at once, errors and
warnings, so a policy author fixes them in one pass. `load_workflow` raises WorkflowError when
there is any error. The file format is described in workflows/README.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from engine.core.calendar import Delay, DelayError, check_country, resolve_subdivision
from engine.core.guards import Guard
from engine.core.limits import Limits
from engine.core.money import currency_code, letter_locale
from engine.core.yamlsource import (
    LocatedDict,
    LocatedList,
    YamlFileError,
    iter_duplicates,
    line_of,
    load_located,
    read_yaml_file,
)
from engine.core.workfields import (
    CHANNELS,
    FieldReader,
    Problem,
    TemplatePathError,
    cut,
    hint,
    template_path,
)
from engine.errors import RelanceError

__all__ = ["CHANNELS", "Problem", "TemplatePathError", "Workflow", "WorkflowError", "check_workflow",
           "load_workflow", "read_source", "template_path"]

TOP_KEYS = ("name", "version", "description", "locale", "currency", "calendar", "calendar_subdivision",
            "grouping", "letters", "initial", "states", "transitions")
STATE_KEYS = ("letter", "channel", "pay_within", "final", "pause", "label", "kind", "description", "approval", "attach")
TRANSITION_KEYS = ("trigger", "source", "dest", "after", "since", "when", "unless", "description")
KINDS = ("reminder", "formal_notice", "litigation")
GROUPINGS = ("debtor", "invoice")
SINCE = ("state_entered", "due_date", "notice_received")
APPROVALS = ("required", "none")
# Versions are stored in INTEGER columns (cases, kept texts): 32 bits in PostgreSQL, and a bigger
# number than SQLite's 64 bits stopped every run with an OverflowError once validate had said ok.
MAX_VERSION = 2**31 - 1
# Triggers fired by external events (Escalator.pay, dispute...). Every other trigger is timed: the run fires it.
EVENT_TRIGGERS = ("payment", "dispute", "resolve", "promise", "promise_lapsed", "hold", "resume")


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

    def next_state(self, name: str) -> StateSpec | None:
        """The state the case goes to next by the policy's delays, as a letter may announce it: the first
        timed transition's destination when every timed transition out of ``name`` leads to a state of the
        same kind (guards choose among them); None when they differ, or none leaves."""
        dests = [self.states[spec.dest] for spec in self.transitions
                 if spec.timed and name in spec.sources and spec.dest in self.states]
        if not dests or any(dest.kind != dests[0].kind for dest in dests):
            return None
        return dests[0]


def check_workflow(path: str | Path, *, limits: Limits | None = None) -> list[Problem]:
    """Every error and warning in the workflow file; never raises for the user's mistakes."""
    return _Reader(Path(path), None, limits).read()[1]


def load_workflow(path: str | Path, *, source: str | None = None, limits: Limits | None = None,
                  kept: int | None = None, letters: bool = True) -> Workflow:
    """The validated workflow; raises WorkflowError (with `.problems`) when the file has any error.

    `source`, when given, is the file's text as it was (a version kept in the database for the
    cases that started on it); `path` still anchors the letters folder and the messages. `kept`: the
    version whose kept text `source` is, named in the messages (its line numbers are that text's, not
    the file's of today). `letters=False`: the letter files are not looked for, only their names checked (a
    drawing of a kept version needs none, and its letters may be gone while its cases still run).
    `limits` bound what the file may cost (engine.core.limits; default: DEFAULT_LIMITS).
    """
    workflow, problems = _Reader(Path(path), source, limits, kept, letters).read()
    if workflow is None or any(p.severity == "error" for p in problems):
        raise WorkflowError(problems)
    return workflow


def read_source(path: str | Path, *, limits: Limits | None = None) -> str:
    """The text of the workflow file at `path`, read as check_workflow reads it (a regular file, within
    `limits`); raises WorkflowError, with the located reason, when it cannot be."""
    reader = _Reader(Path(path), None, limits)
    text = reader.text()
    if text is None:
        raise WorkflowError(reader.problems)
    return text


class _Reader(FieldReader):
    """Reads one file, collecting problems instead of stopping at the first."""

    def __init__(self, path: Path, source: str | None = None, limits: Limits | None = None,
                 kept: int | None = None, letters: bool = True) -> None:
        super().__init__(str(path) if kept is None else f"{path} (version {kept}, as kept in the database)", limits)
        self.path = path
        self.source = source
        self.letters = letters  # whether the letter files must be there

    def text(self) -> str | None:
        """The file's text (engine.core.yamlsource.read_yaml_file); None once the reason is recorded."""
        try:
            return read_yaml_file(self.path, self.limits)
        except OSError as exc:
            self.problems.append(Problem("error", self.file, None, None, f"cannot read the file: {exc}"))
        except YamlFileError as exc:
            self.problems.append(Problem("error", self.file, exc.line, None, exc.problem))
        return None

    def read(self) -> tuple[Workflow | None, list[Problem]]:
        text = self.source if self.source is not None else self.text()
        if text is None:
            return None, self.problems
        try:
            root = load_located(text, self.limits)
        except YamlFileError as exc:
            self.problems.append(Problem("error", self.file, exc.line, None, exc.problem))
            return None, self.problems
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
        if not self.within_limits(root):
            return None
        self.unknown_keys(root, TOP_KEYS, "")
        name = self.required(root, "name", str)
        version = self.required(root, "version", int)
        if isinstance(version, int) and not 1 <= version <= MAX_VERSION:
            self.error(root, "version", "version", f"'version' must be between 1 and {MAX_VERSION}, "
                                                   f"not {cut(str(version))[1:-1]}")
        # Checked here, not when a letter is written: an unknown one would fail every case of the run.
        locale = self.checked(root, "locale", letter_locale, "fr_FR")
        currency = self.checked(root, "currency", currency_code, "EUR")
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
        letters_dir = self.letters_folder(root, self.optional(root, "letters", str, "."))
        states = self.states(root, letters_dir)
        transitions = self.transitions(root, states)
        initial = self.optional(root, "initial", str, None)  # a list is an error here, not a TypeError below
        if "initial" not in root:
            self.error(root, None, "initial", "missing required key 'initial' (the state a new case starts in)")
        elif initial is None:
            pass  # not a state name: reported
        elif initial not in states:
            self.error(root, "initial", "initial", f"unknown initial state {initial!r}{hint(initial, states)}")
        elif states:
            self.graph(root, states, transitions, initial)
        if letters_dir is None or any(p.severity == "error" for p in self.problems):
            return None
        return Workflow(
            name=name, version=version, locale=locale, currency=currency, calendar=calendar,
            calendar_subdivision=None if subdivision is None else str(subdivision), grouping=grouping,
            letters_dir=letters_dir, initial=str(initial), states=MappingProxyType(states),
            transitions=tuple(transitions), path=self.path.resolve(), digest=digest,
        )

    def letters_folder(self, root: LocatedDict, letters: str) -> Path | None:
        """The letters folder, resolved; None, after an error, for a name no folder can have."""
        where = "letters" if "letters" in root else None
        if "\0" in letters:  # the OS calls would raise ValueError, not say it is absent
            self.error(root, where, "letters", f"letters {letters!r} holds a NUL character: write a folder path")
            return None
        try:
            folder = (self.path.parent / letters).resolve()
            folder.is_dir()  # raises, rather than say no, on a name the system refuses (too long...)
        except OSError as exc:
            self.error(root, where, "letters", f"letters folder {cut(letters)} cannot be looked up: {exc.strerror}")
            return None
        return folder

    def within_limits(self, root: LocatedDict) -> bool:
        """Counts first: the engine builds states² moves, so a 10,000-state file is refused before any."""
        ok = True
        for key, limit in (("states", self.limits.states), ("transitions", self.limits.transitions)):
            value = root.get(key)
            if isinstance(value, (LocatedDict, LocatedList)) and len(value) > limit:
                self.error(root, key, key, f"{len(value):,} {key}: more than the limit of {limit} "
                                           f"({self.limits.describe(key)})")
                ok = False
        return ok

    def states(self, root: LocatedDict, letters_dir: Path | None) -> dict[str, StateSpec]:
        raw = root.get("states")
        if not isinstance(raw, LocatedDict) or not raw:
            self.error(root, "states" if "states" in root else None, "states",
                       "'states' must be a non-empty mapping of state names")
            return {}
        letter_dir_ok = self.letters and letters_dir is not None and letters_dir.is_dir()
        if self.letters and letters_dir is not None and not letter_dir_ok and any(isinstance(v, dict) and v.get("letter") for v in raw.values()):
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
            if letter:
                self.letter(body, f"{where}.letter", letters_dir if letter_dir_ok else None, letter)
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
            elif isinstance(trigger, str) and trigger not in EVENT_TRIGGERS and hint(trigger, EVENT_TRIGGERS):
                # `trigger: pay` is a timed step the run fires as soon as it is due (at once without `after`),
                # not the payment event: a typo would close or move every case on the next run.
                self.warn(body, "trigger", f"{where}.trigger",
                          f"{trigger!r} is a timed trigger, fired by the run when due, not by an event"
                          f"{hint(trigger, EVENT_TRIGGERS)}")
            dest = self.required(body, "dest", str, where)
            if isinstance(dest, str) and states and dest not in states:
                self.error(body, "dest", f"{where}.dest", f"unknown state {dest!r}{hint(dest, states)}")
            sources = self.sources(body, where, states, dest)
            if trigger not in EVENT_TRIGGERS and body.get("source") != "*":
                for source in sources:
                    if states[source].final or states[source].pause:
                        self.warn(body, "source", f"{where}.source",
                                  f"state {source!r} is {'final' if states[source].final else 'a pause'}: nothing "
                                  f"timed leaves it, so this timed transition never fires from there")
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
                self.error(body, "source", f"{where}.source", f"unknown state {source!r}{hint(source, states)}")
        return tuple(s for s in items if s in states)
