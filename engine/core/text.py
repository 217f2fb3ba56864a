"""Which characters text typed by people may not carry, and how to show them when it does.

Control characters (C0, DEL, C1), the Unicode line and paragraph separators and the bidirectional
marks and overrides are invisible, yet they act: ESC starts ANSI and OSC sequences on a terminal
(colours, hyperlinks, window titles), BEL ends them, CR and backspace overwrite what was printed,
a newline forges a line, NUL truncates strings in C libraries and is refused by PostgreSQL, and a
right-to-left override makes a reader see another text than the one stored.

One definition serves both ends: the importer refuses cells holding any of them (engine.imports),
and what relance prints or exports writes them as visible escapes (engine.reports.terminal,
engine.reports.csvsafe) for text that reached the database another way (an older import, a
``--reason`` typed on the command line).
"""

from __future__ import annotations

import re

# C0 and C1 control characters, DEL, the Arabic letter mark, LRM/RLM, the line and paragraph
# separators, and the bidirectional embeddings, overrides and isolates.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def unsafe_characters(text: str) -> list[str]:
    """The characters of ``text`` that may not be stored (empty when the text is clean)."""
    return UNSAFE.findall(text)


def visible(char: str) -> str:
    """One character as a visible escape: ``\\x1b``, ``\\n``, ``\\u202e``."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: object, keep: str = "") -> str:
    """``text`` with each unsafe character written as its visible escape; ``keep`` names characters to
    leave as they are (a multi-line message keeps its own newlines)."""
    return UNSAFE.sub(lambda found: found.group() if found.group() in keep else visible(found.group()), str(text))


__all__ = ["UNSAFE", "inert", "unsafe_characters", "visible"]
