"""What a guard computes, worked out from the facts' types before it ever runs.

`balance > 'abc'` passes the whitelist (a fact, a comparison, a string) yet fails on every case of
every run. Reading the guard's syntax tree with the type of each fact (engine.core.guards.FACTS)
finds such mistakes when the workflow is validated. A node's type is the set of kinds it may have
(`promise_until` is a date or none): an operation is refused when no combination of kinds works,
so a guard that may fail only on some cases (none compared with a date) is left to the run, where
the failure names the workflow file, line and guard. Repeating a string or a list (`'a' * 10**9`)
and `%` formatting are refused whenever possible at all: their cost grows with a number.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

from jinja2 import nodes

Kinds = frozenset[str]

NUMBERS = frozenset({"int", "bool", "decimal", "float"})
ANY: Kinds = frozenset({"any"})
BOOL: Kinds = frozenset({"bool"})
FACT_KINDS: dict[str, Kinds] = {
    "balance": frozenset({"decimal"}),
    "principal": frozenset({"decimal"}),
    "paid": frozenset({"decimal"}),
    "noticed_balance": frozenset({"decimal"}),
    "currency": frozenset({"str"}),
    "days_to_prescription": frozenset({"int", "none"}),
    "days_overdue": frozenset({"int"}),
    "days_in_state": frozenset({"int"}),
    "invoice_count": frozenset({"int"}),
    "letters_sent": frozenset({"int"}),
    "debtor": frozenset({"debtor"}),
    "disputed": BOOL,
    "promise_until": frozenset({"date", "none"}),
    "today": frozenset({"date"}),
}
WORDS = {"int": "a whole number", "bool": "true/false", "decimal": "an amount", "float": "a decimal number",
         "str": "a string", "date": "a date", "none": "none", "list": "a list", "debtor": "the debtor",
         "days": "a number of days"}
_ARITHMETIC = {nodes.Add: "+", nodes.Sub: "-", nodes.Mul: "*", nodes.Div: "/", nodes.FloorDiv: "//",
               nodes.Mod: "%"}
_ORDERING = {"lt": "<", "gt": ">", "lteq": "<=", "gteq": ">="}


def guard_type_problems(expression: nodes.Node) -> list[str]:
    """Every operation of the expression that cannot work on the facts' types (empty when none)."""
    problems: list[str] = []
    _kinds(expression, problems)
    return problems


def _kinds(node: nodes.Node, problems: list[str]) -> Kinds:
    """The kinds `node` may evaluate to; records the operations that cannot work in `problems`."""
    if isinstance(node, nodes.Const):
        return frozenset({_kind_of(node.value)})
    if isinstance(node, nodes.Name):
        return FACT_KINDS.get(node.name, ANY)
    if isinstance(node, nodes.Getattr):
        return frozenset({"str"})  # debtor.kind, debtor.country (the whitelist refuses the rest)
    if isinstance(node, (nodes.Tuple, nodes.List)):
        for item in node.items:
            _kinds(item, problems)
        return frozenset({"list"})
    if isinstance(node, nodes.BinExpr) and type(node) in _ARITHMETIC:
        return _arithmetic(node, _ARITHMETIC[type(node)], problems)
    if isinstance(node, (nodes.Neg, nodes.Pos)):
        operand = _kinds(node.node, problems)
        if not _possible(operand, lambda k: k in NUMBERS or k == "days"):
            problems.append(f"a sign cannot apply to {_words(operand)}")
        return operand
    if isinstance(node, nodes.Compare):
        _compare(node, problems)
        return BOOL
    if isinstance(node, (nodes.And, nodes.Or)):
        return _kinds(node.left, problems) | _kinds(node.right, problems)
    if isinstance(node, nodes.Not):
        _kinds(node.node, problems)
        return BOOL
    if isinstance(node, nodes.CondExpr):
        _kinds(node.test, problems)
        otherwise = _kinds(node.expr2, problems) if node.expr2 is not None else ANY
        return _kinds(node.expr1, problems) | otherwise
    if isinstance(node, nodes.Filter):
        return _filter(node, problems)
    if isinstance(node, nodes.Test):
        _kinds(node.node, problems)
        for arg in node.args:
            _kinds(arg, problems)
        return BOOL
    return ANY


def _arithmetic(node: nodes.BinExpr, symbol: str, problems: list[str]) -> Kinds:
    left, right = _kinds(node.left, problems), _kinds(node.right, problems)
    pairs = list(product(left, right))
    if symbol == "*" and any({"str", "list"} & {a, b} for a, b in pairs if "any" not in (a, b)):
        problems.append("repeating a string or a list with '*' is not allowed in a guard")
        return ANY
    if symbol == "%" and "str" in left:
        problems.append("'%' formatting of a string is not allowed in a guard")
        return ANY
    if symbol in ("/", "//", "%") and isinstance(node.right, nodes.Const) and node.right.value == 0:
        problems.append(f"'{symbol} 0' divides by zero")
        return ANY
    results = {_arithmetic_result(symbol, a, b) for a, b in pairs}
    if results == {None}:
        if {"decimal", "float"} <= left | right and not ({"int", "bool", "any"} & (left | right)):
            problems.append(f"'{symbol}' cannot mix an amount with a decimal literal: amounts are exact "
                            f"decimals (write 'balance * 3 / 2', not 'balance * 1.5')")
        else:
            problems.append(f"'{symbol}' cannot apply to {_words(left)} and {_words(right)}")
        return ANY
    return frozenset(r for r in results if r is not None)


def _arithmetic_result(symbol: str, a: str, b: str) -> str | None:
    """The kind of `a <symbol> b`, or None when Python would raise TypeError."""
    if "any" in (a, b):
        return "any"
    if a in NUMBERS and b in NUMBERS:
        if {a, b} == {"decimal", "float"}:
            return None  # Decimal and float do not mix in arithmetic
        if "decimal" in (a, b):
            return "decimal"
        return "float" if "float" in (a, b) or symbol == "/" else "int"
    if symbol == "+" and a == b and a in ("str", "list", "days"):
        return a
    if symbol == "-" and a == b == "date":
        return "days"
    if symbol in ("+", "-") and (a, b) == ("date", "days"):
        return "date"
    return None


def _compare(node: nodes.Compare, problems: list[str]) -> None:
    left = _kinds(node.expr, problems)
    for operand in node.ops:
        right = _kinds(operand.expr, problems)
        if operand.op in _ORDERING and not _possible_pair(left, right, _orderable):
            problems.append(f"'{_ORDERING[operand.op]}' cannot compare {_words(left)} with {_words(right)}: "
                            f"the guard would fail on every case")
        elif operand.op in ("eq", "ne") and not _possible_pair(left, right, _comparable):
            problems.append(f"'{'==' if operand.op == 'eq' else '!='}' compares {_words(left)} with "
                            f"{_words(right)}: the answer never depends on the case")
        elif operand.op in ("in", "notin") and not _possible_pair(left, right, _containable):
            problems.append(f"'{operand.op.replace('notin', 'not in')}' cannot look for {_words(left)} "
                            f"in {_words(right)}")
        left = right


def _filter(node: nodes.Filter, problems: list[str]) -> Kinds:
    value = _kinds(node.node, problems) if node.node is not None else ANY
    for arg in node.args:
        _kinds(arg, problems)
    if node.name in ("lower", "upper"):
        return frozenset({"str"})
    if node.name == "int":
        return frozenset({"int"})
    if node.name == "length":
        if not _possible(value, lambda k: k in ("str", "list", "debtor")):
            problems.append(f"'length' cannot measure {_words(value)}")
        return frozenset({"int"})
    if node.name in ("abs", "round"):
        if not _possible(value, lambda k: k in NUMBERS or (k == "days" and node.name == "abs")):
            problems.append(f"'{node.name}' cannot apply to {_words(value)}")
        return value
    return ANY


def _orderable(a: str, b: str) -> bool:
    return (a in NUMBERS and b in NUMBERS) or (a == b and a in ("str", "date", "days", "list"))


def _comparable(a: str, b: str) -> bool:
    return "none" in (a, b) or (a in NUMBERS and b in NUMBERS) or a == b


def _containable(a: str, b: str) -> bool:
    return b in ("list", "debtor") or (b == "str" and a == "str")


def _possible(kinds: Kinds, ok: Callable[[str], bool]) -> bool:
    return "any" in kinds or any(ok(k) for k in kinds)


def _possible_pair(left: Kinds, right: Kinds, ok: Callable[[str, str], bool]) -> bool:
    if "any" in left or "any" in right:
        return True
    return any(ok(a, b) for a, b in product(left, right))


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "none"
    return {int: "int", float: "float", str: "str"}.get(type(value), "any")


def _words(kinds: Kinds) -> str:
    return " or ".join(WORDS.get(k, k) for k in sorted(kinds))
