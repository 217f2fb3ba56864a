"""Variables a template sets on some paths only, then uses where that path may not have been taken.

``{% if case.x %}{% set deadline = ... %}{% endif %} ... {{ deadline }}`` renders for every case whose
``case.x`` is true and fails (StrictUndefined) for the others. The trial render of `letters check` takes
the sample cases' paths only, so it misses it whenever the samples set the variable: this walks the
template's Jinja tree, path by path, as Jinja scopes it.

Jinja's scopes, as the walk follows them: `if` opens none (a `set` in a branch is seen after the
`endif`); `for`, `with`, a `set` block, `filter` and `call` blocks and macros open one (what they set
stays inside). A variable is *surely set* after an `if` when every branch (the missing `else` too) set
it. A use guarded by ``is defined`` or passed through ``|default`` is not reported: it was written
for this very case. Names the letter context provides are never reported (a template may set such a
name in a branch to override the context's value).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from jinja2 import nodes

from engine.letters.environment import iter_tags, paragraph_text
from engine.letters.paragraphs import LetterProblem


@dataclass(frozen=True)
class MaybeUnset:
    """``name`` used at ``lineno`` (of the part's source) while only some paths set it, at ``set_lineno``."""

    name: str
    lineno: int
    set_lineno: int


def maybe_unset(template: nodes.Template, known: Iterable[str]) -> list[MaybeUnset]:
    """Each use of a template variable set on some paths only, first use per name, in template order."""
    walk = _Walk(frozenset(known), _guarded(template))
    walk.body(template.body, set(), {})
    return sorted(walk.found.values(), key=lambda found: (found.lineno, found.name))


def maybe_unset_problems(name: str, part_name: str, source: str, template: nodes.Template,
                         known: Iterable[str]) -> list[LetterProblem]:
    """`letters check`'s problems for ``maybe_unset`` in one part (``source``: one paragraph a line)."""
    return [_maybe_unset_problem(name, part_name, source, found) for found in maybe_unset(template, known)]


def _guarded(template: nodes.Template) -> frozenset[str]:
    """Names the template tests with ``is defined`` / ``is undefined`` or reads through ``default``."""
    names = set()
    for test in template.find_all(nodes.Test):
        if test.name in ("defined", "undefined") and isinstance(test.node, nodes.Name):
            names.add(test.node.name)
    for filter_ in template.find_all(nodes.Filter):
        if filter_.name in ("default", "d") and isinstance(filter_.node, nodes.Name):
            names.add(filter_.node.name)
    return frozenset(names)


class _Walk:
    """``sure``: names every path so far set; ``maybe``: name → line of a `set` some path so far took."""

    def __init__(self, known: frozenset[str], guarded: frozenset[str]) -> None:
        self.known = known
        self.guarded = guarded
        self.found: dict[str, MaybeUnset] = {}

    def body(self, statements: Iterable[nodes.Node], sure: set[str], maybe: dict[str, int]) -> None:
        for node in statements:
            self.statement(node, sure, maybe)

    def statement(self, node: nodes.Node, sure: set[str], maybe: dict[str, int]) -> None:
        if isinstance(node, nodes.If):
            self.reads(node.test, sure, maybe)
            branches: list[tuple[set[str], dict[str, int]]] = []
            paths: list[tuple[nodes.Node | None, list[nodes.Node]]] = [
                (None, node.body), *[(elif_.test, elif_.body) for elif_ in node.elif_], (None, node.else_)]
            for test, body in paths:
                branch_sure, branch_maybe = set(sure), dict(maybe)
                if test is not None:  # an elif: its test is read on the way
                    self.reads(test, branch_sure, branch_maybe)
                self.body(body, branch_sure, branch_maybe)
                branches.append((branch_sure, branch_maybe))
            # No `else`: its empty body is the last branch, which sets nothing.
            surely = set.intersection(*(found for found, _ in branches))  # each holds `sure` already
            sure.update(surely)
            for _, branch_maybe in branches:
                for name, line in branch_maybe.items():
                    maybe.setdefault(name, line)
        elif isinstance(node, nodes.Assign):
            self.reads(node.node, sure, maybe)
            self.store(node.target, node.lineno, sure, maybe)
        elif isinstance(node, nodes.AssignBlock):
            self.scoped(node.body, (), sure, maybe)
            self.store(node.target, node.lineno, sure, maybe)
        elif isinstance(node, nodes.For):
            self.reads(node.iter, sure, maybe)
            inner = {"loop"} | _stored(node.target)
            if node.test is not None:
                self.reads(node.test, sure | inner, maybe)
            self.scoped(node.body, inner, sure, maybe)
            self.scoped(node.else_, (), sure, maybe)
        elif isinstance(node, nodes.With):
            for value in node.values:
                self.reads(value, sure, maybe)
            self.scoped(node.body, set().union(*map(_stored, node.targets)), sure, maybe)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            # A macro's body runs where it is called, with what is set there: not walked.
            if isinstance(node, nodes.CallBlock):
                self.reads(node.call, sure, maybe)
            if isinstance(node, nodes.Macro):
                sure.add(node.name)
                maybe.pop(node.name, None)
        elif isinstance(node, nodes.FilterBlock):
            self.reads(node.filter, sure, maybe)
            self.scoped(node.body, (), sure, maybe)
        elif isinstance(node, (nodes.Scope, nodes.ScopedEvalContextModifier)):
            self.body(node.body, sure, maybe)
        else:  # Output, ExprStmt (`do`), and anything else: only reads
            for child in node.iter_child_nodes():
                if isinstance(child, nodes.Expr):
                    self.reads(child, sure, maybe)
                elif isinstance(child, nodes.Stmt):
                    self.statement(child, sure, maybe)
                elif isinstance(child, nodes.Node):  # a TemplateData, a Pair...
                    self.reads(child, sure, maybe)

    def scoped(self, statements: Iterable[nodes.Node], inner: Iterable[str], sure: set[str],
               maybe: dict[str, int]) -> None:
        """A block with its own scope: what it sets is not seen after it."""
        self.body(statements, sure | set(inner), dict(maybe))

    def store(self, target: nodes.Node, lineno: int, sure: set[str], maybe: dict[str, int]) -> None:
        for name in _stored(target):
            sure.add(name)
            maybe.setdefault(name, lineno)

    def reads(self, expression: nodes.Node, sure: set[str], maybe: dict[str, int]) -> None:
        names = [expression] if isinstance(expression, nodes.Name) else expression.find_all(nodes.Name)
        for name in names:
            if (name.ctx == "load" and name.name in maybe and name.name not in sure
                    and name.name not in self.known and name.name not in self.guarded
                    and name.name not in self.found):
                self.found[name.name] = MaybeUnset(name.name, name.lineno, maybe[name.name])


def _stored(target: nodes.Node) -> set[str]:
    """The names a `set`, `for` or `with` target binds (``a``, ``a, b``; not ``ns.attr``)."""
    return {name.name for name in target.find_all(nodes.Name) if name.ctx == "store"} | (
        {target.name} if isinstance(target, nodes.Name) and target.ctx == "store" else set())


def _maybe_unset_problem(name: str, part_name: str, source: str, found: MaybeUnset) -> LetterProblem:
    """A variable set on some paths only (engine.letters.paths): a warning, as a case that takes the other
    path fails alone (its letter names the tag) and the others' letters go out; the trial render with the
    sample cases could not tell, as they all took the path that sets it."""
    used, paragraph = _tag_on_line(source, found.lineno, found.name, setting=False)
    where_set, set_paragraph = _tag_on_line(source, found.set_lineno, found.name, setting=True)
    set_at = f"{where_set or 'a {% set %}'}" + (f" (paragraph {set_paragraph})" if set_paragraph else "")
    set_at_fr = f"{where_set or 'un {% set %}'}" + (f" (paragraphe {set_paragraph})" if set_paragraph else "")
    return LetterProblem(
        name, "maybe-unset",
        f"{found.name!r} is set only on some paths, by {set_at}, and used here: a case that does not take that "
        f"path has no {found.name!r} and its letter fails; set it before the {{% if %}} too "
        f"({{% set {found.name} = ... %}}) or write {{{{ {found.name}|default('') }}}}",
        used, paragraph, part_name, severity="warning",
        french=f"« {found.name} » n'est défini que dans certains cas, par {set_at_fr}, et utilisé ici : le courrier "
        f"d'un dossier qui ne passe pas par là échoue ; définissez-le aussi avant le {{% if %}} "
        f"({{% set {found.name} = ... %}}) ou écrivez {{{{ {found.name}|default('') }}}}",
    )


def _tag_on_line(source: str, lineno: int, variable: str, *, setting: bool) -> tuple[str | None, int | None]:
    """The tag of line ``lineno`` that sets ``variable`` (``setting``) or reads it, and its paragraph."""
    lines = source.splitlines()
    paragraph = lineno - 1 if lineno > 1 else None
    if not 0 < lineno <= len(lines):
        return None, paragraph
    word = re.compile(rf"(?<![\w.]){re.escape(variable)}(?!\w)")
    sets = re.compile(rf"^\{{%[-+]?\s*set\s+[\w\s,]*(?<![\w.]){re.escape(variable)}(?!\w)[\w\s,]*(=|%)")
    for tag in iter_tags(paragraph_text(lines[lineno - 1])):
        if word.search(tag) and bool(sets.search(tag)) == setting:
            return tag, paragraph
    return None, paragraph


__all__ = ["MaybeUnset", "maybe_unset", "maybe_unset_problems"]
