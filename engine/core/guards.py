"""Guard expressions: user-written conditions on a case, checked by walking their AST, run sandboxed.

A guard is untrusted text from a workflow file. It is parsed with Jinja, its syntax tree is checked
against a small whitelist (facts, constants, comparisons, arithmetic, `and`/`or`/`not`, a few
filters) and only then compiled with `SandboxedEnvironment.compile_expression`: a guard that reaches
for internals is refused before any of it runs, and the sandbox stays as a second wall.

Checking never evaluates the guard: its length and nesting are bounded (engine.core.limits) before
the recursive parser and compiler see it, the operations are type-checked against the facts
(engine.core.guardtypes), and `*` and `%` are intercepted, so Jinja's constant folding cannot
compute `'a' * 1000000000` while compiling. A guard that still fails on a case raises a GuardError
naming the workflow file, line and key, and the guard.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from engine.core.case import CaseState
from engine.core.guardtypes import guard_type_problems
from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.errors import RelanceError

# The facts a guard may read, with what they mean (the workflow reference lists the same).
FACTS: dict[str, str] = {
    "balance": "amount still owed (Decimal): principal - paid",
    "principal": "amount of the invoices in the case (Decimal)",
    "paid": "amount paid so far (Decimal)",
    "noticed_balance": "amount still owed on invoices a formal notice covered, time-barred ones excluded (Decimal)",
    "currency": "ISO 4217 code of the case's amounts (string, e.g. 'EUR', 'JPY'): "
                "amounts are in it, so a threshold written in euros needs `currency == 'EUR'`",
    "days_to_prescription": "days until the earliest prescription date of an invoice still owed "
                            "(int, negative once time-barred; none when nothing is owed)",
    "days_overdue": "calendar days since the earliest due date of an invoice still owed (int, negative before it)",
    "days_in_state": "calendar days since the case entered its current state (int)",
    "invoice_count": "number of invoices in the case (int)",
    "letters_sent": "letters emitted so far (int)",
    "debtor": "the debtor: debtor.kind ('b2b' | 'b2c') and debtor.country (ISO code)",
    "disputed": "whether the debt is disputed (bool)",
    "promise_until": "date the debtor promised to pay by, or none",
    "today": "the day of the run (date)",
}
DEBTOR_FIELDS = frozenset({"kind", "country"})
# Filters that only compute on a value; none of them reaches an object's internals.
SAFE_FILTERS = frozenset({"abs", "round", "int", "lower", "upper", "length"})
SAFE_TESTS = frozenset({"none", "defined", "number", "string", "even", "odd", "in"})
# Node types a guard may contain. Anything else (calls, subscripts, `**`, slices...) is refused.
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template, nodes.Output, nodes.Const, nodes.Name, nodes.Getattr, nodes.Compare,
    nodes.Operand, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub,
    nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.CondExpr, nodes.Tuple, nodes.List,
    nodes.Filter, nodes.Test,
)

_BRACKETS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


class _GuardEnvironment(SandboxedEnvironment):
    """The sandbox with `*` and `%` intercepted: never folded at compile time, and a string or list
    repeated or `%`-formatted at run time is refused (the type check refuses them first)."""

    intercepted_binops = frozenset({"*", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        sequences = (str, list, tuple)
        if (operator == "*" and (isinstance(left, sequences) or isinstance(right, sequences))) or (
            operator == "%" and isinstance(left, str)
        ):
            raise SecurityError(f"'{operator}' on a string or a list is not allowed in a guard")
        return super().call_binop(context, operator, left, right)


_ENV = _GuardEnvironment(undefined=StrictUndefined)


class GuardError(RelanceError, ValueError):
    """A guard that cannot be accepted (at load) or evaluated (at run), with the reason.

    At run time `where` is the guard's place in its workflow ("file:line: transitions[2].when")
    and `guard` its text, so the failing case's record says what to fix.
    """

    def __init__(self, message: str, *, where: str | None = None, guard: str | None = None) -> None:
        self.where = where
        self.guard = guard
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Guard:
    """A checked and compiled guard; call it with the facts of a case."""

    source: str
    names: frozenset[str]  # the facts it reads: only these are computed at run time
    _template: Any = field(repr=False, compare=False)  # the sandboxed template behind the expression
    where: str | None = field(default=None, compare=False)  # "file:line: key", for run-time errors

    def __call__(self, facts: Mapping[str, Any]) -> bool:
        # What TemplateExpression.__call__ does, minus copying the environment's globals into every
        # context (shared=True): a third of the cost, and guards may not read those globals anyway.
        try:
            context = self._template.new_context(facts, shared=True)
            for _ in self._template.root_render_func(context):
                pass
            return bool(context.vars["result"])
        except Exception as exc:  # a user expression failing on real data: say which and why
            raise GuardError(f"guard {self.source!r} failed: {_why(exc)}", where=self.where, guard=self.source) from exc


def _why(exc: Exception) -> str:
    """What went wrong, readable: Decimal signals print as "[<class 'decimal.DivisionByZero'>]" otherwise."""
    signals = {"DivisionByZero": "division by zero", "DivisionUndefined": "0 divided by 0",
               "InvalidOperation": "an operation with no result (such as 0 / 0)"}
    if type(exc).__name__ in signals:
        return f"{type(exc).__name__}: {signals[type(exc).__name__]}"
    return f"{type(exc).__name__}: {exc}"


def check_guard(source: str, limits: Limits | None = None) -> list[str]:
    """Every reason the guard is refused (empty when it is acceptable). Never executes it."""
    limits = limits or DEFAULT_LIMITS
    if not isinstance(source, str) or not source.strip():
        return ["a guard must be a non-empty expression string"]
    if len(source) > limits.guard_chars:
        return [f"the guard is {len(source):,} characters long, more than a condition needs "
                f"({limits.describe('guard_chars')})"]
    # Jinja parses recursively (about 14 frames a parenthesis): count brackets on the tokens first.
    if _bracket_depth(source) > limits.guard_depth:
        return [f"guard {_shown(source)} nests parentheses more than {limits.guard_depth} deep "
                f"({limits.describe('guard_depth')})"]
    try:
        # The closing braces on a line of their own: an error on that line is the guard ending too early.
        tree = _ENV.parse("{{ " + source + "\n}}")
    except TemplateSyntaxError as exc:
        return [f"syntax error in guard {source!r}: {_syntax_reason(exc, source)}"]
    except RecursionError:  # a long chain of unary operators: bounded by guard_chars, refused here
        return [f"guard {_shown(source)} nests too deeply ({limits.describe('guard_depth')})"]
    # Exactly one output of one expression: refuses `x }}{% ... %}{{ y` smuggling template code.
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        return [f"guard {source!r} must be a single expression"]
    expression = body[0].nodes[0]
    depth = _tree_depth(expression)
    if depth > limits.guard_depth:
        return [f"guard {_shown(source)} nests {depth} operations deep, more than {limits.guard_depth} "
                f"({limits.describe('guard_depth')})"]
    problems: list[str] = []
    _walk(expression, problems)
    # Types once the whitelist holds: a refused construct has no type worth reporting.
    return problems or guard_type_problems(expression)


def compile_guard(source: str, *, limits: Limits | None = None, where: str | None = None) -> Guard:
    """Check the guard's AST, then compile it in the sandbox; raises GuardError when refused.

    `where` ("file:line: key") is carried by the Guard into the errors it raises on a case.
    """
    problems = check_guard(source, limits)
    if problems:
        raise GuardError("; ".join(problems), where=where, guard=source if isinstance(source, str) else None)
    tree = _ENV.parse("{{ " + source + " }}")
    names = frozenset(n.name for n in tree.find_all(nodes.Name))
    expression = _ENV.compile_expression(source, undefined_to_none=False)
    return Guard(source=source, names=names, _template=expression._template, where=where)


def case_facts(case: CaseState, as_of: date, names: frozenset[str] | None = None) -> dict[str, Any]:
    """The facts of a case on a day; only `names` when given (the hot path computes what it reads)."""
    wanted = FACTS.keys() if names is None else names
    return {name: _FACT_READERS[name](case, as_of) for name in wanted}


def _syntax_reason(exc: TemplateSyntaxError, source: str) -> str:
    """Jinja's reason, except where it blames the '}}' relance wraps the guard in, a brace the author
    never typed ("unexpected '}', expected ')'"): that means the guard ends before it is complete."""
    if exc.lineno <= source.count("\n") + 1:
        return exc.message or "invalid syntax"
    expected = (exc.message or "").partition(", expected ")[2]
    return "the guard ends too early" + (f": expected {expected}" if expected else
                                         " (an operator without its right-hand side?)")


def _shown(source: str) -> str:
    """The guard quoted for a message, cut short: the message already says where it is."""
    return repr(source if len(source) <= 60 else source[:57] + "...")


def _bracket_depth(source: str) -> int:
    """How deep brackets nest, read from Jinja's (non-recursive) lexer; 0 when it cannot lex."""
    depth = deepest = 0
    try:
        for _line, kind, value in _ENV.lex("{{ " + source + " }}"):
            if kind == "operator" and value in _BRACKETS:
                depth += _BRACKETS[value]
                deepest = max(deepest, depth)
    except TemplateSyntaxError:
        return 0  # the parser reports the syntax error
    return deepest


def _tree_depth(root: nodes.Node) -> int:
    """Depth of the expression's syntax tree, walked without recursion."""
    deepest, todo = 0, [(root, 1)]
    while todo:
        node, depth = todo.pop()
        deepest = max(deepest, depth)
        todo.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _walk(node: nodes.Node, problems: list[str]) -> None:
    """Refuse every node outside the whitelist, naming what was refused."""
    if not isinstance(node, _ALLOWED_NODES):
        problems.append(f"{_describe(node)} is not allowed in a guard")
        return
    if isinstance(node, nodes.Name):
        if node.name not in FACTS:
            problems.append(f"unknown fact {node.name!r}{_did_you_mean(node.name, FACTS)}")
    elif isinstance(node, nodes.Getattr):
        target = node.node
        if node.attr.startswith("_"):
            problems.append(f"attribute {node.attr!r} is not allowed (internals are off limits)")
            return
        if not (isinstance(target, nodes.Name) and target.name == "debtor"):
            problems.append(f"attribute access '.{node.attr}' is only allowed on 'debtor'")
            return
        if node.attr not in DEBTOR_FIELDS:
            problems.append(f"unknown fact 'debtor.{node.attr}'{_did_you_mean(node.attr, DEBTOR_FIELDS)}")
        return
    elif isinstance(node, nodes.Filter) and node.name not in SAFE_FILTERS:
        problems.append(f"filter {node.name!r} is not allowed (allowed: {', '.join(sorted(SAFE_FILTERS))})")
        return
    elif isinstance(node, nodes.Test) and node.name not in SAFE_TESTS:
        problems.append(f"test {node.name!r} is not allowed (allowed: {', '.join(sorted(SAFE_TESTS))})")
        return
    elif isinstance(node, (nodes.Filter, nodes.Test)) and (node.kwargs or node.dyn_args or node.dyn_kwargs):
        problems.append(f"{node.name!r} takes only plain positional arguments in a guard")
        return
    for child in node.iter_child_nodes():
        _walk(child, problems)


def _describe(node: nodes.Node) -> str:
    kinds = {"Call": "a function call", "Getitem": "subscripting", "Pow": "'**'", "Slice": "slicing"}
    return kinds.get(type(node).__name__, f"'{type(node).__name__}'")


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(choices))})"


# One cheap reader per fact, so a guard reading two facts computes two, not eleven.
_FACT_READERS: dict[str, Any] = {
    "balance": lambda c, d: c.principal - c.paid,
    "principal": lambda c, d: c.principal,
    "paid": lambda c, d: c.paid,
    "noticed_balance": lambda c, d: c.noticed,
    "currency": lambda c, d: c.currency,
    "days_to_prescription": lambda c, d: None if c.prescription_on is None else (c.prescription_on - d).days,
    "days_overdue": lambda c, d: (d - c.due_date).days,
    "days_in_state": lambda c, d: (d - c.state_entered).days,
    "invoice_count": lambda c, d: c.invoice_count,
    "letters_sent": lambda c, d: c.letters_sent,
    "debtor": lambda c, d: {"kind": c.debtor_kind, "country": c.debtor_country},
    "disputed": lambda c, d: c.disputed,
    "promise_until": lambda c, d: c.promise_until,
    "today": lambda c, d: d,
}
