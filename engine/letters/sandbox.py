"""The letters' sandbox: Jinja's ImmutableSandboxedEnvironment, bounded in size and time (engine.core.limits).

Immutable: a template reads its context, it never changes it. A case's letter and its e-mail render
from one context dict, so `{{ payee.update({'iban': 'X'}) }}` in a letter would rewrite the IBAN the
e-mail gives, and `{{ invoices.clear() }}` would empty the e-mail's table: the methods that change a
dict, a list or a set (update, pop, append, clear...) are refused like `__class__`, at the tag.

Jinja's sandbox stops a template from reaching Python's internals, not from using all the memory
or time there is: `{% for i in range(100000) %}{% for j in range(100000) %}` or `{{ 'x' * 10**8 }}`
are allowed by it. Here, on top of it:

- `range()` gives at most `template_range` items;
- a string or list built by `*`, `+`, `~`, `join`, `replace`, `center`, `format`, `%`, a method
  call... is refused past `template_string` characters (items), *before* it is built when its size
  can be foreseen, right after otherwise; integers past 15,000 bits (what Python will still print) too;
- one rendered part (the body, a header) is refused past `template_output` characters;
- every loop iteration, call, operator, filter and output batch checks the letter's wall-clock
  budget (`template_seconds`, see `letter_budget`): a template cannot spin for ever; every 32nd
  check also looks at how much the process grew since the letter began (`template_memory`, on
  Linux), the backstop for what the size checks cannot foresee (a filter mapped over a list
  holding one big string ten thousand times).

A template is one file: `include`, `import`, `from` and `extends`, which would load another one (and
had no loader to do it with: a bare TypeError at render time), are refused when the template compiles,
as a syntax error naming the tag (ForbiddenTag).

A template part with more than `template_tags` tags is refused before Jinja compiles it (compiling
100,000 tags takes a minute and 1.3 GB). Each refusal is a LimitExceeded raised from inside the template, so engine.letters.environment's
`letter_error` names the template and the tag. Constant folding is stopped for the guarded
operators and filters too, so a template is never made to compute `'x' * 10**9` while compiling.
Normal templates render exactly as before: the checks only count, they never change a value.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.letters.printable import printable
from engine.letters.sizes import (
    FILTER_CHECKS, INT_BITS, LimitExceeded, check_product, check_string_method, format_width, is_int,
)

LOOP_FILTER = "relance_ticking"  # wraps every `{% for %}`'s iterable (see _LetterCodeGenerator)
_BATCH = 32  # output chunks counted at a time: a batch of big chunks stays small
_MEMORY_EVERY = 32  # budget checks between two looks at the process's memory (5 µs each)
_budget = threading.local()  # .deadline, .limits, .ticks, .memory_at_start of the letter being rendered
_statm: tuple[int, int] | None = None  # (pid, fd) of /proc/self/statm, reopened after a fork
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_DICT_ATTRIBUTES = frozenset(dir(dict))  # what `a.b` reaches on a dict before its items


class ForbiddenTag(TemplateSyntaxError):
    """A tag letters may not use (include, import, from, extends); the message says why, ``french`` too."""

    def __init__(self, message: str, lineno: int, name: str | None = None, filename: str | None = None, *,
                 french: str | None = None) -> None:
        super().__init__(message, lineno, name, filename)
        self.french = french


_LOADING_TAGS = frozenset({"include", "import", "from", "extends"})


class _OneFile(Extension):
    """Refuse, while the template is parsed, the tags that load another template (see the module's docstring).

    At the token stream, so every parse is covered (compiling, docxtpl's render, the check's parse), and
    the refusal is a syntax error with its line, as any other."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        opening = False
        for token in stream:
            if opening and token.type == "name" and token.value in _LOADING_TAGS:
                raise ForbiddenTag(f"{{% {token.value} %}} is not allowed in a template: include, import and "
                                   "extends would read another file; copy the text into this one",
                                   token.lineno, stream.name, stream.filename,
                                   french=f"la balise {{% {token.value} %}} est interdite dans un modèle : include, "
                                   "import et extends liraient un autre fichier ; copiez-en le texte dans celui-ci")
            opening = token.type == "block_begin"
            yield token


@contextmanager
def letter_budget(limits: Limits) -> Iterator[None]:
    """The wall-clock and memory budget of one letter, for the calling thread (a nested call keeps the outer one)."""
    if getattr(_budget, "deadline", None) is not None:
        yield
        return
    _budget.limits, _budget.ticks, _budget.memory_at_start = limits, 0, memory_in_use()
    _budget.deadline = time.monotonic() + limits.template_seconds
    try:
        yield
    finally:
        _budget.deadline = None


def tick() -> None:
    """Refuse to go on when the letter being rendered is past its wall-clock (or memory) budget."""
    deadline = getattr(_budget, "deadline", None)
    if deadline is None:
        return
    limits = _budget.limits
    if time.monotonic() > deadline:
        raise LimitExceeded(f"the letter took more than {limits.template_seconds:g} s to render "
                            f"({limits.describe('template_seconds')})",
                            french=f"le courrier a mis plus de {limits.template_seconds:g} s à s'écrire "
                            f"({limits.describe('template_seconds', french=True)})")
    _budget.ticks += 1
    if _budget.ticks % _MEMORY_EVERY == 0 and _budget.memory_at_start is not None:
        grown = (memory_in_use() or 0) - _budget.memory_at_start
        if grown > limits.template_memory:
            raise LimitExceeded(f"rendering the letter took more than {limits.template_memory // 1_000_000} MB "
                                f"of memory ({limits.describe('template_memory')})",
                                french=f"le courrier a pris plus de {limits.template_memory // 1_000_000} Mo de "
                                f"mémoire ({limits.describe('template_memory', french=True)})")


def memory_in_use() -> int | None:
    """The process's resident memory in bytes (Linux /proc), None where it cannot be read."""
    global _statm
    try:
        if _statm is None or _statm[0] != os.getpid():
            _statm = (os.getpid(), os.open("/proc/self/statm", os.O_RDONLY))
        return int(os.pread(_statm[1], 100, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc (macOS), no pread (Windows)
        return None


class LetterEnvironment(ImmutableSandboxedEnvironment):
    """An ImmutableSandboxedEnvironment whose templates cannot exceed `limits` (see the module's docstring)."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, limits: Limits | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.add_extension(_OneFile)
        self.limits = limits or DEFAULT_LIMITS
        self.code_generator_class = _LetterCodeGenerator
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        self.finalize = printable  # a function or one of Jinja's objects is no text for a letter
        for name, original in list(self.filters.items()):  # every filter ticks; some check sizes first
            self.filters[name] = _checked_filter(original, FILTER_CHECKS.get(name), self)
        self.filters[LOOP_FILTER] = _ticking

    def preprocess(self, source: str, name: str | None = None, filename: str | None = None) -> str:
        """Every compile starts here (ours, docxtpl's, the checks'): count the tags before Jinja parses them."""
        tags = source.count("{{") + source.count("{%") + source.count("{#")
        if tags > self.limits.template_tags:
            raise LimitExceeded(f"{tags:,} tags in one part of the template, more than a letter needs "
                                f"({self.limits.describe('template_tags')})",
                                french=f"{tags} balises dans une partie du modèle, plus qu'il n'en faut à un "
                                f"courrier ({self.limits.describe('template_tags', french=True)})")
        return super().preprocess(source, name, filename)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``a.b`` on a plain dict without a method named ``b``: the item, as Jinja's sandbox gives it, but
        without first raising and catching the AttributeError that ``getattr(dict, b)`` costs (half the
        time of a letter's variable lookups). Anything else goes through the sandbox's own checks."""
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    # --- sizes ---

    def check_size(self, size: int, what: str = "a string or list") -> None:
        if size > self.limits.template_string:
            raise LimitExceeded(f"{what} of {size:,} characters or items is more than a letter needs "
                                f"({self.limits.describe('template_string')})",
                                french=f"un texte ou une liste de {size} caractères ou éléments, plus qu'il "
                                f"n'en faut à un courrier ({self.limits.describe('template_string', french=True)})")

    def check_format(self, fmt: str, values: Iterable[Any]) -> None:
        """A format string's widths and precisions, and the values a `*` or `{}` width may take."""
        widest = format_width(fmt)
        if widest is None:  # the width comes from the values
            widest = max((v for v in values if isinstance(v, int)), default=0)
        self.check_size(widest, "a formatted field")

    # --- what templates reach ---

    def _range(self, *args: int) -> range:
        items = range(*args)
        if len(items) > self.limits.template_range:
            raise LimitExceeded(f"range() of {len(items):,} items is more than a letter needs "
                                f"({self.limits.describe('template_range')})",
                                french=f"range() de {len(items)} éléments, plus qu'il n'en faut à un courrier "
                                f"({self.limits.describe('template_range', french=True)})")
        return items

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
        self.check_size(n * max * 12, "lipsum()")  # words are at most about 12 characters
        return generate_lorem_ipsum(n, html, min, max)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "*":
            check_product(self, left, right)
        elif operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            self.check_size(len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            self.check_format(left, right.values() if isinstance(right, dict) else
                              right if isinstance(right, tuple) else (right,))
        elif operator == "**" and is_int(left) and is_int(right) and right > 0 and abs(left) > 1:
            if abs(left).bit_length() * right > INT_BITS:
                raise LimitExceeded(f"'**' would build a number of more than {INT_BITS:,} bits",
                                    french=f"« ** » donnerait un nombre de plus de {INT_BITS} bits")
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        tick()
        target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format at attribute access
        owner, name = getattr(target, "__self__", None), getattr(target, "__name__", "")
        if isinstance(owner, str):
            check_string_method(self, owner, name, args, kwargs)
        result = super().call(context, obj, *args, **kwargs)
        if isinstance(owner, (list, dict, set)):
            self.check_size(len(owner), "a list or mapping grown by a method")  # `l.extend(l)` doubles
        # A macro's or a recursive loop's output was counted as output already (template_output).
        if isinstance(result, (str, list, tuple, dict)) and not isinstance(obj, (Macro, LoopContext)):
            self.check_size(len(result))
        return result

    def concat(self, parts: Iterable[str]) -> str:
        """Jinja's "".join of a template's output (and of macros, `set` blocks...), counted.

        The rendering generator is read in batches; past the limit the error is thrown into it, so
        it is raised at the template's current line and names the tag.
        """
        if isinstance(parts, list):
            self.check_output(sum(map(len, parts)))
            return "".join(parts)
        out: list[str] = []
        total = 0
        iterator = iter(parts)
        while batch := list(islice(iterator, _BATCH)):
            total += sum(map(len, batch))
            try:
                tick()
                self.check_output(total)
            except LimitExceeded as error:
                throw = getattr(iterator, "throw", None)
                if throw is not None:
                    throw(error)  # raised where the template stands: letter_error finds the tag
                raise
            out += batch
        return "".join(out)

    def check_output(self, total: int) -> None:
        if total > self.limits.template_output:
            raise LimitExceeded(f"the letter's text passes {self.limits.template_output:,} characters "
                                f"({self.limits.describe('template_output')})",
                                french=f"le texte du courrier dépasse {self.limits.template_output} caractères "
                                f"({self.limits.describe('template_output', french=True)})")

    def sized_parts(self, parts: tuple[Any, ...]) -> tuple[Any, ...]:
        """The operands of `~`, returned as they are once their joined length is known to fit."""
        tick()
        self.check_size(sum(len(p) if isinstance(p, str) else len(str(p)) for p in parts))
        return parts


class _LetterCodeGenerator(CodeGenerator):
    """Jinja's code generator with a budget check in every loop and a size check before every `~`."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno)
        super().visit_Template(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Jinja's own joins (markup_join escapes under autoescape), fed through sized_parts.
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"{join}(environment.sized_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


@pass_context
def _ticking(context: Context, iterable: Any) -> Iterator[Any]:
    """A loop's items, one budget check each (pass_context: never folded at compile time)."""
    for item in iterable:
        tick()
        yield item


def _checked_filter(original: Callable[..., Any], check: Callable[..., Any] | None,
                    env: LetterEnvironment) -> Callable[..., Any]:
    """`original` after a budget check and `check(env, value, *args, **kwargs)`, which returns the value
    to pass on (a consumed iterator comes back as a list); pass_context: never folded at compile time."""
    passed = getattr(getattr(original, "jinja_pass_arg", None), "name", None)

    @pass_context
    def checked(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        if check is not None:
            value = check(env, value, *args, **kwargs)
        if passed == "context":
            return original(context, value, *args, **kwargs)
        if passed == "eval_context":
            return original(context.eval_ctx, value, *args, **kwargs)
        if passed == "environment":
            return original(context.environment, value, *args, **kwargs)
        return original(value, *args, **kwargs)

    checked.__name__ = getattr(original, "__name__", "filter")
    return checked


__all__ = ["ForbiddenTag", "LetterEnvironment", "LimitExceeded", "letter_budget", "memory_in_use", "tick"]
