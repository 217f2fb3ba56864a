"""User text (debtor names, refs, reasons, file names) made inert before a command prints it with rich.

The one owner of terminal escaping: every command and report that prints text it did not write
itself goes through ``markup()`` or ``cell()`` (``json_text()`` for ``--json``), so a debtor named
``Bad [/] close SARL`` or ``\\x1b]8;;http://evil\\x07ACME`` prints as those characters and nothing else.
Two things would otherwise make that text act:

- **rich markup**: ``[bold]``, ``[/]``, ``[link=…]`` inside a string given to ``console.print`` or to a
  table cell is interpreted (and a stray ``[/]`` raises MarkupError). ``markup()`` escapes the text
  for a string that mixes our markup with it; ``cell()`` wraps it in a ``Text``, which rich never parses.
- **control characters** (ESC, BEL, CR, bidi overrides...): both write them as visible escapes
  (engine.core.text owns which characters and how).

rich is imported inside the functions: the command line imports this module at start-up, before it
knows whether it will print anything.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from engine.core.text import UNSAFE, inert

if TYPE_CHECKING:
    from rich.text import Text


def markup(text: object) -> str:
    """User text to put inside a rich markup string: inert, and every ``[`` of a tag escaped."""
    from rich.markup import escape

    return escape(inert(text))


def cell(text: object, style: str = "") -> Text:
    """User text as a rich ``Text`` (never parsed as markup), for a table cell or a print."""
    from rich.text import Text

    return Text(inert("" if text is None else text), style=style)


def json_text(value: Any, **options: Any) -> str:
    """``value`` as the JSON a command prints (``options`` as for json.dumps): the same data once parsed,
    but every unsafe character written as a ``\\u`` escape, so a name piped to a terminal or a log cannot
    act there (json.dumps escapes C0 only: DEL, C1 and the bidi marks would pass raw)."""
    text = json.dumps(value, ensure_ascii=False, **options)
    # Raw C0 characters in that text can only be the newlines of ``indent``: json.dumps escapes them in strings.
    return UNSAFE.sub(lambda found: found.group() if found.group() == "\n" else f"\\u{ord(found.group()):04x}", text)


__all__ = ["cell", "inert", "json_text", "markup"]
