"""What a filter, a string method or an operator of a letter template would build, checked against the letters'
limits (engine.core.limits) before it is built when its size can be foreseen: the size half of the sandbox
(engine.letters.sandbox), which calls these with its environment."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

from jinja2 import Environment
from jinja2.exceptions import TemplateRuntimeError
from jinja2.filters import make_attrgetter

from engine.core.limits import Limits


class SizedEnvironment(Protocol):
    """What these checks need of the sandbox's environment (engine.letters.sandbox.LetterEnvironment)."""

    limits: Limits

    def check_size(self, size: int, what: str = ...) -> None: ...

    def check_format(self, fmt: str, values: Iterable[Any]) -> None: ...


INT_BITS = 15_000  # Python refuses to print integers of more than 4,300 digits (about 14,300 bits)
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class LimitExceeded(TemplateRuntimeError):
    """A template went past one of the letters' limits; the message says which and how to change it,
    ``french`` the same for the web app's team."""

    def __init__(self, message: str, *, french: str | None = None) -> None:
        super().__init__(message)
        self.french = french


def _check_width(env: SizedEnvironment, value: Any, *args: Any, **kwargs: Any) -> Any:
    """center, indent, batch, tojson: every number they take is a width, a count or an indent."""
    for number in [*args, *kwargs.values()]:
        if is_int(number):
            env.check_size(int(number), "a width or count")
    return value


def _check_slices(env: SizedEnvironment, value: Any, slices: Any = 1, *args: Any, **kwargs: Any) -> Any:
    slices = kwargs.get("slices", slices)
    if is_int(slices) and slices > env.limits.template_range:
        raise LimitExceeded(f"slice() into {slices:,} parts ({env.limits.describe('template_range')})",
                            french=f"slice() en {slices} parties "
                            f"({env.limits.describe('template_range', french=True)})")
    return value


def _check_replace(env: SizedEnvironment, value: Any, old: Any = "", new: Any = "",
                   count: Any = None, **kwargs: Any) -> Any:
    if isinstance(value, str) and isinstance(old, str) and isinstance(new, str):
        env.check_size(_replaced_size(value, old, new, kwargs.get("count", count)))
    return value


def _check_join(env: SizedEnvironment, value: Any, d: Any = "", attribute: Any = None, **kwargs: Any) -> Any:
    """The joined length, counted while the items are read (an iterator is read once, into a list)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return value
    d, attribute = kwargs.get("d", d), kwargs.get("attribute", attribute)
    read = make_attrgetter(cast(Environment, env), attribute) if attribute is not None else None
    items: list[Any] = []
    total = 0
    for item in value:
        shown = read(item) if read is not None else item
        total += (len(shown) if isinstance(shown, str) else len(str(shown))) + (len(str(d)) if items else 0)
        env.check_size(total)
        items.append(item)
    return items


def _check_format(env: SizedEnvironment, value: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(value, str):
        env.check_format(value, [*args, *kwargs.values()])
    return value


def _check_sum(env: SizedEnvironment, value: Any, *args: Any, **kwargs: Any) -> Any:
    start = kwargs.get("start", args[1] if len(args) > 1 else 0)
    if not isinstance(start, (int, float)) and not hasattr(start, "as_integer_ratio"):
        raise LimitExceeded("sum() adds numbers only in a letter (it would copy lists over and over)",
                            french="sum() n'additionne que des nombres dans un courrier")
    return value


FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _check_width, "indent": _check_width, "batch": _check_width, "tojson": _check_width,
    "slice": _check_slices, "replace": _check_replace, "join": _check_join, "format": _check_format,
    "sum": _check_sum,
}


def check_string_method(env: SizedEnvironment, text: str, name: str, args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> None:
    """Foresee the size of a str method's result before it is built."""
    values = [*args, *kwargs.values()]
    if name in _WIDTH_METHODS and values and is_int(values[0]):
        env.check_size(int(values[0]), f"str.{name}()")
    elif name == "expandtabs" and values and is_int(values[0]):
        env.check_size(len(text) * max(int(values[0]), 1), "str.expandtabs()")
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        env.check_size(_replaced_size(text, args[0], args[1], args[2] if len(args) > 2 else None))
    elif name == "join" and values and isinstance(values[0], (list, tuple)):
        items = values[0]
        env.check_size(sum(len(v) if isinstance(v, str) else 0 for v in items)
                       + len(text) * max(len(items) - 1, 0))
    elif name in ("format", "format_map"):
        env.check_format(text, [v for v in values if not isinstance(v, dict)]
                         + [x for v in values if isinstance(v, dict) for x in v.values()])
    elif name == "translate" and values and isinstance(values[0], dict):
        longest = max((len(v) for v in values[0].values() if isinstance(v, str)), default=1)
        env.check_size(len(text) * longest, "str.translate()")


def check_product(env: SizedEnvironment, left: Any, right: Any) -> None:
    sequences = (str, list, tuple)
    if isinstance(right, sequences) and is_int(left):
        left, right = right, left
    if isinstance(left, sequences) and is_int(right):
        times = max(int(right), 0)
        env.check_size(len(left) * times)
        if not isinstance(left, str):  # `[big] * n` holds n references: what it will print is n × big
            env.check_size(sum(len(item) for item in left if isinstance(item, str)) * times)
    elif is_int(left) and is_int(right) and abs(left).bit_length() + abs(right).bit_length() > INT_BITS:
        raise LimitExceeded(f"'*' would build a number of more than {INT_BITS:,} bits",
                            french=f"« * » donnerait un nombre de plus de {INT_BITS} bits")


def _replaced_size(text: str, old: str, new: str, count: Any) -> int:
    hits = len(text) + 1 if old == "" else text.count(old)
    if is_int(count) and count >= 0:
        hits = min(hits, int(count))
    return len(text) + hits * max(len(new) - len(old), 0)


def format_width(fmt: str) -> int | None:
    """The widest width or precision a format string asks for; None when a value sets it (`*`, `{w}`)."""
    widest = 0
    for width, precision in _PERCENT.findall(fmt):
        for number in (width, precision):
            if number == "*":
                return None
            widest = max(widest, int(number or 0))
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return widest  # not a valid {} format: the call itself will say so
    for _literal, _field, spec, _conversion in fields:
        if spec:
            if "{" in spec:
                return None
            widest = max([widest, *(int(n) for n in re.findall(r"\d+", spec))])
    return widest


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


__all__ = ["FILTER_CHECKS", "INT_BITS", "LimitExceeded", "check_product", "check_string_method",
           "format_width", "is_int"]
