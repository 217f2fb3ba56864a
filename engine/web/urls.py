"""What a number in one of our URLs may be: ``{case_id:id}`` matches an id a row can have, and nothing larger.

Starlette's ``int`` takes any run of digits; past MAX_ID (Integer columns are 32-bit on PostgreSQL) the
database answered with an error, a server error for a mistyped URL. With ``id``, such a URL matches no
route: a 404 like any case that does not exist. Importing this module registers the convertor.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from engine.cases.lookup import MAX_ID


def at_most(limit: int) -> str:
    """A regular expression of the decimal numbers from 0 to ``limit``: any shorter run of digits, or as many
    digits as ``limit`` with a lower digit at some position after the same ones before it, or ``limit`` itself."""
    digits = str(limit)
    options = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for position, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - position - 1
            options.append(f"{digits[:position]}[0-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else ""))
    options.append(digits)
    return "(?:" + "|".join(options) + ")"


class IdConvertor(Convertor[int]):
    regex = at_most(MAX_ID)

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


ID = "id"
register_url_convertor(ID, IdConvertor())

__all__ = ["ID", "IdConvertor", "at_most"]
