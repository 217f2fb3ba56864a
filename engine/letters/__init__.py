"""Word letters: the context a letter receives, safe and fast docxtpl rendering, template checks."""

from engine.letters.compiled import CompiledTemplate, render_plain
from engine.letters.context import (
    Creditor,
    InvoiceLine,
    LetterData,
    Party,
    NoticeFacts,
    PastStep,
    build_context,
)
from engine.letters.sample import sample_letter_data
from engine.letters.environment import LetterError, make_environment
from engine.letters.render import compiled_template, render_letter, to_pdf

__all__ = [
    "CompiledTemplate",
    "Creditor",
    "InvoiceLine",
    "LetterData",
    "LetterError",
    "NoticeFacts",
    "Party",
    "PastStep",
    "build_context",
    "compiled_template",
    "make_environment",
    "render_letter",
    "render_plain",
    "sample_letter_data",
    "to_pdf",
]
