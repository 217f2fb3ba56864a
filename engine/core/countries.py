"""Countries as people type them in an address, read as the ISO 3166 code relance stores.

Accounting exports write « France », « Royaume-Uni » or "Germany" as often as FR, GB or DE. Any of
these is read as its code, through Babel's names in French and English; an unknown name or a code that
is no country (ZZ, EU, XA) is refused, since the letter to a debtor abroad prints its country's name.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from babel import Locale

# Babel's two-letter territories that are not countries a letter can be sent to.
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"})
# Codes people write that ISO 3166 spells otherwise.
_ALIASES = {"UK": "GB"}


class CountryError(ValueError):
    """Text that names no country."""


def parse_country(text: str) -> str:
    """The ISO 3166 alpha-2 code of ``text``: a code (``fr``, ``GB``, ``UK``) or a country's name in French
    or English, case, accents and hyphens aside (« france », « Royaume Uni », "United Kingdom")."""
    wanted = text.strip()
    code = _ALIASES.get(wanted.upper(), wanted.upper())
    if code in _codes():
        return code
    found = _names().get(folded(wanted))
    if found is None:
        raise CountryError(f"not a country: {wanted!r} (write its code, e.g. FR, BE, GB, or its name, e.g. France)")
    return found


@cache
def _codes() -> frozenset[str]:
    territories = Locale("fr").territories  # the locale the letters load anyway
    return frozenset(code for code in territories
                     if isinstance(code, str) and len(code) == 2 and code.isalpha()) - _NOT_COUNTRIES


@cache
def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for language in ("en", "fr"):
        for code, name in Locale(language).territories.items():
            if isinstance(code, str) and code in _codes():
                names.setdefault(folded(name), code)
    return names


def folded(text: str) -> str:
    """Lower case, no accents, hyphens and apostrophes as spaces, single spaces: how a name is compared."""
    plain = "".join(char for char in unicodedata.normalize("NFKD", text) if not unicodedata.combining(char))
    for mark in "-‐–'’.":
        plain = plain.replace(mark, " ")
    return " ".join(plain.casefold().split())


__all__ = ["CountryError", "folded", "parse_country"]
