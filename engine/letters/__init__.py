"""Word letters: the context a letter receives, safe and fast docxtpl rendering, template checks.

The names below are re-exported lazily (PEP 562): importing one module of this package (the
workspace reads ``engine.letters.context``) does not load docxtpl and lxml.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.letters.compiled import CompiledTemplate, render_plain
    from engine.letters.context import (
        Creditor,
        InvoiceLine,
        LetterData,
        NoticeFacts,
        Party,
        PastStep,
        build_context,
    )
    from engine.letters.sample import sample_letter_data
    from engine.letters.environment import LetterError, make_environment
    from engine.letters.render import compiled_template, render_letter, to_pdf

_EXPORTS = {
    "CompiledTemplate": "compiled", "render_plain": "compiled",
    "Creditor": "context", "InvoiceLine": "context", "LetterData": "context", "Party": "context",
    "PastStep": "context", "build_context": "context", "NoticeFacts": "context", "sample_letter_data": "sample",
    "LetterError": "environment", "make_environment": "environment",
    "compiled_template": "render", "render_letter": "render", "to_pdf": "render",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'engine.letters' has no attribute {name!r}")
    value = getattr(import_module(f"engine.letters.{module}"), name)
    globals()[name] = value
    return value
