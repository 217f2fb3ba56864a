"""Why a template failed, in French: the reason of a Jinja or sandbox error for the web app's team.

`letter_error` (engine.letters.environment) says the reason in English for the command line and asks here
for the French one. Our own errors (the sandbox's limits, a forbidden tag) carry their French text; Jinja's
own messages are English, so the few a team meets are read here (an unknown variable, filter or tag, an
unclosed tag, an attribute the sandbox refuses) and any other is said less precisely, never in English:
the tag and the paragraph the page shows beside the reason locate it all the same.
"""

from __future__ import annotations

import re

from jinja2.exceptions import TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SecurityError

from engine.letters.sandbox import ForbiddenTag
from engine.letters.sizes import LimitExceeded

QUOTED = r"'([^']{1,80})'"
# Jinja's syntax messages a template edited in Word gives, and what to tell the team.
SYNTAX = (
    (re.compile(rf"No filter named {QUOTED}"), "pas de filtre nommé « {0} » (voir letters/README.md)"),
    (re.compile(rf"No test named {QUOTED}"), "pas de test nommé « {0} » (voir letters/README.md)"),
    (re.compile(rf"Encountered unknown tag {QUOTED}"), "balise inconnue « {0} »"),
    (re.compile(rf"unexpected {QUOTED}"), "« {0} » inattendu : une balise est mal écrite ou mal fermée"),
    (re.compile(r"unexpected end of template", re.IGNORECASE),
     "fin du modèle inattendue : une balise {{% … %}} ouverte n'est pas fermée (endif, endfor…)"),
    (re.compile(r"unexpected char", re.IGNORECASE), "caractère inattendu dans la balise"),
)
UNDEFINED = (
    (re.compile(rf"has no attribute {QUOTED}"), "variable ou attribut inconnu : « {0} » (voir letters/README.md)"),
    (re.compile(rf"^{QUOTED} is undefined"), "variable inconnue : « {0} » (voir letters/README.md)"),
)
UNSAFE = re.compile(rf"access to attribute {QUOTED}")


def french_reason(exc: BaseException) -> str:
    """Why ``exc`` stopped a template, in French (what `letter_error` says in English)."""
    own = getattr(exc, "french", None)
    if isinstance(exc, LimitExceeded):
        return "limite dépassée : " + (own or "le modèle dépasse une des limites des courriers (relance.toml)")
    if isinstance(exc, ForbiddenTag):
        return own or "balise interdite dans un modèle de courrier"
    if isinstance(exc, SecurityError):
        unsafe = UNSAFE.search(str(exc))
        what = f"l'attribut « {unsafe.group(1)} »" if unsafe else "cette expression"
        return f"interdit par le bac à sable : {what} n'est pas accessible depuis un modèle de courrier"
    if isinstance(exc, UndefinedError):
        return _first(UNDEFINED, str(exc)) or "variable ou attribut inconnu (voir letters/README.md)"
    if isinstance(exc, TemplateSyntaxError):
        said = _first(SYNTAX, exc.message or "")
        return "erreur de syntaxe Jinja : " + (said or "retapez la balise telle que letters/README.md l'écrit")
    if isinstance(exc, TemplateError) and own:
        return own
    return "le modèle ne peut pas être rendu à cette balise : retapez-la telle que letters/README.md l'écrit"


def _first(patterns: tuple[tuple[re.Pattern[str], str], ...], message: str) -> str | None:
    for pattern, french in patterns:
        found = pattern.search(message)
        if found:
            return french.format(*found.groups())
    return None


__all__ = ["french_reason"]
