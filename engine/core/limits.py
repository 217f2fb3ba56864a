"""The bounds on what a workflow file or a letter template may make relance do, in one place.

Policies and templates come from colleagues and downloads: a 400-byte YAML alias bomb, a guard
repeating a string a billion times or a template looping 1e5 × 1e5 times must be refused in
milliseconds with a located error, never run until the machine gives out. Every bound lives here
with a default generous for real policies and letters (the shipped ones use a small fraction);
a workspace may change them in a `[limits]` table of relance.toml (see workflows/README.md), and
whoever reads a file passes the `Limits` down explicitly: there is no global to forget to reset.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from engine.errors import RelanceError


class LimitsError(RelanceError):
    """A `[limits]` table that cannot be used (unknown key, value not a positive number)."""


@dataclass(frozen=True)
class Limits:
    """Every bound, with its default. Sizes are counted in bytes for files, characters for text."""

    # Workflow files (engine.core.yamlsource, engine.core.workflow)
    yaml_bytes: int = 250_000  # size of a workflow file (the shipped ones are about 5 KB)
    yaml_nodes: int = 20_000  # YAML nodes once aliases are expanded (an alias bomb blows this up)
    yaml_depth: int = 50  # nesting of mappings and lists
    states: int = 200  # states in a workflow (the engine builds states² built-in moves)
    transitions: int = 500  # transitions in a workflow
    # Guards (engine.core.guards)
    guard_chars: int = 500  # length of one guard expression
    guard_depth: int = 20  # nesting of parentheses, brackets and operators in one guard
    # Letter templates at render time (engine.letters.sandbox)
    template_tags: int = 2_000  # tags in one part of a template (compiling costs ~0.5 ms and 15 KB a tag)
    template_range: int = 10_000  # items of one range() in a template
    template_string: int = 1_000_000  # characters of one string (or items of one list) a template builds
    template_output: int = 10_000_000  # characters of one rendered part (the letter's body, a header...)
    template_seconds: float = 10.0  # wall-clock time to render one letter
    template_memory: int = 200_000_000  # bytes the process may grow by while one letter renders (Linux)
    # DOCX files (engine.letters.docxfile), checked before anything is decompressed
    docx_bytes: int = 20_000_000  # size of the .docx file
    docx_members: int = 1_000  # files inside the .docx package
    docx_part_bytes: int = 10_000_000  # one part, uncompressed
    docx_total_bytes: int = 50_000_000  # all parts, uncompressed
    docx_ratio: int = 100  # uncompressed / compressed size of a part bigger than 1 MB
    # E-mail templates (engine.letters.email)
    email_bytes: int = 1_000_000  # size of one e-mail template file (the shipped ones are under 2 KB)

    def describe(self, name: str, *, french: bool = False) -> str:
        """Where the bound is set and its value, for messages: `relance.toml limits: name = value`
        (no square brackets: the terminal printer would take `[limits]` for markup); in French for the web app."""
        where = "limites de relance.toml :" if french else "relance.toml limits:"
        return f"{where} {name} = {getattr(self, name)}"


DEFAULT_LIMITS = Limits()
LIMIT_NAMES = tuple(f.name for f in fields(Limits))


def limits_from_table(table: Mapping[str, Any] | None, where: str) -> Limits:
    """The defaults with the values of a `[limits]` table applied; `where` names the file in errors."""
    if not table:
        return DEFAULT_LIMITS
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in LIMIT_NAMES:
            close = difflib.get_close_matches(str(key), LIMIT_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(LIMIT_NAMES)})"
            raise LimitsError(f"{where}: [limits] unknown key {key!r}{hint}")
        seconds = key == "template_seconds"
        number_ok = isinstance(value, (int, float)) if seconds else isinstance(value, int)
        if isinstance(value, bool) or not number_ok or value <= 0:
            kind = "a positive number of seconds" if seconds else "a positive integer"
            raise LimitsError(f"{where}: [limits] {key} must be {kind}, not {value!r}")
        changes[key] = float(value) if seconds else value
    return replace(DEFAULT_LIMITS, **changes)
