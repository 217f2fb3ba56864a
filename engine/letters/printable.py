"""What a letter's `{{ … }}` may print: values, never the sandbox's own objects.

`{{ range }}`, `{{ namespace }}`, `{{ cycler }}`, `{{ self }}` or `{{ loop }}` are no user data: printed,
they put a Python repr in a letter to a debtor (`<bound method LetterEnvironment._range of … at
0x7f…>`, the program's internals and memory addresses), and `relance letters check` passed them. The
environment's `finalize` runs on every printed value: data goes through unchanged, anything else is a
located error at its tag (engine.letters.environment.letter_error).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from jinja2.runtime import Undefined
from jinja2.sandbox import SecurityError

# What the letter context holds (engine.letters.context) and what expressions on it compute.
PRINTABLE = (str, int, float, Decimal, date, list, tuple, dict, type(None), Undefined)


def printable(value: Any) -> Any:
    """``value`` unchanged when it is data; SecurityError when it is a function or an object of Jinja's."""
    # An object that renders itself as markup (docxtpl's RichText, Listing, InlineImage) is content too.
    if isinstance(value, PRINTABLE) or hasattr(type(value), "__html__"):
        return value
    raise SecurityError(f"{{{{ … }}}} prints a {type(value).__name__}, not a value: a letter prints data only "
                        "(a variable of letters/README.md, or a computation on one)")
