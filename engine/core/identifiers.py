"""Identifiers on a party's record, checked where they come in: SIREN/SIRET and French postal codes.

A SIREN (9 digits) and a SIRET (SIREN + 5 digits of the establishment) carry a Luhn check digit: a typo
in one would print a wrong registry number on a formal notice. La Poste is the registry's one exception:
its establishments (SIREN 356000000) outnumber what a Luhn digit can tell apart, so INSEE gives its
SIRETs a sum of digits that is a multiple of 5 instead. A SIRET is read as the SIREN it starts with,
the number relance stores and prints.

A French postal code is 5 digits (overseas too: 971xx...). Excel reads a code column as numbers and
drops the leading zero of the Ain, Aisne, Allier... (01000 becomes 1000): such a code would misdirect a
registered letter, so it is refused with that cause named. Other countries keep their own formats.
"""

from __future__ import annotations

LA_POSTE_SIREN = "356000000"


class IdentifierError(ValueError):
    """Text that is not a valid SIREN/SIRET or postal code; the message says why."""


def siren_of(text: str) -> str:
    """The SIREN of ``text``: a SIREN, or a SIRET whose first 9 digits are read; spaces, dots and
    hyphens between digit groups ignored (``732 829 320``). IdentifierError says what is wrong."""
    digits = "".join(char for char in text.strip() if char not in " .-\u00a0\u202f")
    if not digits.isdigit() or len(digits) not in (9, 14):
        raise IdentifierError(f"a SIREN is 9 digits (a SIRET 14), got {text!r}")
    if len(digits) == 14 and not _siret_checks(digits):
        raise IdentifierError(f"not a valid SIRET: {text!r} (its check digit is wrong: a typo?)")
    siren = digits[:9]
    if not _luhn(siren):
        raise IdentifierError(f"not a valid SIREN: {text!r} (its check digit is wrong: a typo?)")
    return siren


def postal_code_of(text: str, country: str) -> str:
    """``text`` as the postal code of an address in ``country`` (ISO code); a French one must be 5 digits.
    Other countries' codes are kept as written (their formats are theirs)."""
    code = text.strip()
    if country != "FR":
        return code
    if code.isdigit() and len(code) == 4:
        raise IdentifierError(f"postal code must have 5 digits, got {text!r}; Excel may have dropped a leading "
                              f"zero (write 0{code}, and format the column as text)")
    if not (code.isdigit() and len(code) == 5):
        raise IdentifierError(f"a French postal code is 5 digits, got {text!r}")
    return code


def _siret_checks(siret: str) -> bool:
    if siret.startswith(LA_POSTE_SIREN):
        return _luhn(siret) or sum(int(digit) for digit in siret) % 5 == 0
    return _luhn(siret)


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


__all__ = ["LA_POSTE_SIREN", "IdentifierError", "postal_code_of", "siren_of"]
