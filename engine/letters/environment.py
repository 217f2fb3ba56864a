"""The Jinja environment letters render in, and the error that names template and tag.

Templates are user-written: they render in an `ImmutableSandboxedEnvironment` (no `__class__`, no
`__globals__`, no calls to unsafe methods, none to a method changing a dict or list of the context) with
autoescape on, so `&`, `<` and quotes in data
come out literally instead of vanishing or corrupting the XML. `StrictUndefined` makes a
missing variable, and the sandbox's refusals, fail loudly instead of printing nothing. The
sandbox is bounded in size and time too (engine.letters.sandbox, engine.core.limits).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined
from jinja2.exceptions import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SecurityError

from engine.core.limits import Limits
from engine.errors import RelanceError
from engine.letters.reasons import french_reason
from engine.letters.sandbox import ForbiddenTag, LetterEnvironment, LimitExceeded

TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
XML_TAG = re.compile(r"<[^>]+>")
JINJA_FILENAME = "<template>"
# Statements that open a block closed by `end<statement>` (docxtpl's `{%p`, `{%tr`... are patched to `{%`).
_BLOCKS = frozenset({"for", "if", "macro", "call", "filter", "with", "autoescape", "block", "raw", "set"})
_STATEMENT = re.compile(r"\{%[-+]?\s*(\w+)")


class LetterError(RelanceError, TemplateError):
    """A letter template failed: which template, which tag, why; nothing was written.

    A jinja2 TemplateError too, so callers catching Jinja's errors (as docxtpl's users do) catch it."""

    # TemplateError.message is a read-only property giving the whole text (args[0]); here it is
    # the reason alone, without the template and tag, as the letter checks report it.
    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = value

    def __init__(self, template: str, tag: str | None, message: str, paragraph: int | None = None, *,
                 french: str | None = None):
        self.template = template
        self.tag = tag
        self.message = message
        self.paragraph = paragraph
        where = template
        if paragraph is not None:
            where += f", paragraph {paragraph}"
        if tag:
            where += f", tag {tag}"
        super().__init__(f"{where}: {message}")
        self.french = french  # the reason alone, in French, as ``message`` is in English

    def __reduce__(self) -> tuple[Any, ...]:
        # A renderer process sends the error back to the run (engine.cases.renderers): rebuilt from its parts,
        # as the default (the message alone) would not fit __init__.
        return _rebuilt, (type(self), self.template, self.tag, self.message, self.paragraph, self.french)


def _rebuilt(kind: type[LetterError], template: str, tag: str | None, message: str, paragraph: int | None,
             french: str | None) -> LetterError:
    return kind(template, tag, message, paragraph, french=french)


def make_environment(limits: Limits | None = None) -> LetterEnvironment:
    """A fresh sandboxed, autoescaping, strict environment for letter templates, bounded by `limits`
    (default: engine.core.limits.DEFAULT_LIMITS)."""
    return LetterEnvironment(limits, autoescape=True, undefined=StrictUndefined)


def letter_error(template: str | Path, exc: Exception, source: str | None) -> LetterError:
    """Turn a Jinja failure on a patched part `source` into a LetterError naming the tag."""
    name = Path(template).name
    lineno = error_line(exc, source)
    if isinstance(exc, LimitExceeded):
        reason = f"limit exceeded: {exc}"
    elif isinstance(exc, SecurityError):
        reason = f"forbidden by the sandbox: {exc}"
    elif isinstance(exc, ForbiddenTag):
        reason = exc.message or str(exc)
    elif isinstance(exc, UndefinedError):
        reason = f"unknown variable or attribute: {exc}"
    elif isinstance(exc, TemplateSyntaxError):
        reason = f"Jinja syntax error: {exc.message}"
    elif isinstance(exc, TemplateError):
        reason = str(exc)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    french = french_reason(exc)
    if source is None or lineno is None:
        return LetterError(name, None, reason, french=french)
    tag = _pick_tag(_line(source, lineno), str(exc))
    if (opened := _unclosed(exc, source)) is not None:
        tag = opened[1]
        reason += f" (the {{% {tag_word(tag)} %}} opened here is never closed)"
        french = f"{french} (le {{% {tag_word(tag)} %}} ouvert ici n'est jamais fermé)" if french else french
    # render_xml_part puts each <w:p> on its own line: line 1 is what precedes the first one.
    paragraph = lineno - 1 if lineno > 1 else None
    return LetterError(name, tag, reason, paragraph, french=french)


def paragraph_text(xml_line: str) -> str:
    """The visible text of one line of part XML (tags removed, entities kept short)."""
    text = XML_TAG.sub("", xml_line)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def iter_tags(text: str) -> Iterator[str]:
    """Every Jinja tag `{{ }}`, `{% %}`, `{# #}` in `text`, in order."""
    return (m.group(0) for m in TAG.finditer(text))


def error_line(exc: Exception, source: str | None) -> int | None:
    """The template line a Jinja failure is about. Jinja reports a block never closed at the part's last
    line, an innocent tag far below: the line that opened the block is where the user must add its end."""
    if (opened := _unclosed(exc, source)) is not None:
        return opened[0]
    return getattr(exc, "lineno", None) or template_line(exc.__traceback__)


def _unclosed(exc: Exception, source: str | None) -> tuple[int, str] | None:
    if source is None or not isinstance(exc, TemplateSyntaxError):
        return None
    return unclosed_block(source) if "Unexpected end of template" in (exc.message or "") else None


def tag_word(tag: str) -> str:
    """The statement of a `{% … %}` tag (`for` for `{%tr for inv in invoices %}`); "" for any other tag."""
    match = _STATEMENT.match(tag)
    return match.group(1) if match else ""


def unclosed_block(source: str) -> tuple[int, str] | None:
    """The line and tag of the innermost block `source` opens and never closes (`{% for %}` without its
    `{% endfor %}`), None when every block is closed."""
    opened: list[tuple[int, str, str]] = []
    for number, line in enumerate(source.splitlines(), start=1):
        for tag in iter_tags(paragraph_text(line)):
            word = tag_word(tag)
            if word in _BLOCKS and not (word == "set" and "=" in tag):  # `{% set x = 1 %}` has no end tag
                opened.append((number, tag, word))
            elif word.startswith("end") and opened and opened[-1][2] == word[3:]:
                opened.pop()
    return (opened[-1][0], opened[-1][1]) if opened else None


def template_line(tb: TracebackType | None) -> int | None:
    """The template line of the innermost template frame (Jinja rewrites tracebacks so); None outside one."""
    lineno = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == JINJA_FILENAME:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def _line(source: str, lineno: int) -> str:
    lines = source.splitlines()
    return lines[lineno - 1] if 0 < lineno <= len(lines) else ""


def _pick_tag(line: str, message: str) -> str | None:
    """The tag of `line` the error message is about, else the first tag of the line."""
    tags = list(iter_tags(XML_TAG.sub("", line)))
    if not tags:
        return None
    names = re.findall(r"'([^']+)'", message)
    for name in names:
        for tag in tags:
            if name in tag:
                return tag
    return tags[0]
