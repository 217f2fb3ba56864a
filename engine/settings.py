"""Typed reads of relance.toml: each value has the type its table says, or one line names the table and key.

TOML gives numbers, lists and tables as readily as text, and the workspace once turned what it got into
paths and letters as it came: `address_lines = "18 rue de la Roquette"` printed one character per line
in every letter's letterhead, `output = ["out"]` or `b2b = 3` stopped each command on a Python traceback,
and a misspelt key (`sirne`) or table (`[databse]`) was ignored, so a letter went out without the
creditor's SIREN. engine.workspace reads every setting through these functions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.errors import RelanceError

# Every table relance.toml may hold (engine.workspace reads each).
TABLES = ("database", "workflows", "paths", "limits", "smtp", "creditor", "counsel", "agency", "team")
# Keys of a party's table ([counsel]), then of a party that writes letters ([creditor], [agency]).
PARTY_KEYS = ("name", "address_lines", "address", "postal_code", "city", "country", "siren", "email", "phone")
SENDER_KEYS = (*PARTY_KEYS, "iban", "bic", "bank", "signatory", "signatory_title", "legal_form", "share_capital",
               "vat_number", "place", "rcs", "rcs_city")


class WorkspaceError(RelanceError):
    """A workspace that cannot be used as it is; the message says what to fix."""


def table(config: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    """The table ``name`` of relance.toml (empty when absent)."""
    section = config.get(name, {})
    if not isinstance(section, dict):
        raise WorkspaceError(f"{path}: [{name}] must be a table")
    return section


def known_keys(section: dict[str, Any], known: Iterable[str], path: Path, name: str | None) -> None:
    """Refuse a key ``known`` does not hold (a table when ``name`` is None), with a "did you mean"."""
    known = tuple(known)
    for key in section:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(known)})"
            what = f"[{name}] unknown key {key!r}" if name else f"unknown table or key {key!r}"
            raise WorkspaceError(f"{path}: {what}{hint}")


def text(section: dict[str, Any], key: str, path: Path, name: str) -> str | None:
    """The text of ``key`` (None when absent or empty); anything but text is refused."""
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise WorkspaceError(f"{path}: [{name}] {key} must be text in quotes ({key} = \"…\"), not {value!r}")
    return value


def text_list(section: dict[str, Any], key: str, path: Path, name: str) -> tuple[str, ...]:
    """A list of texts (``address_lines = ["…", "…"]``), empty when absent; a bare text is refused: it is
    not split into its characters."""
    value = section.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WorkspaceError(f"{path}: [{name}] {key} must be a list of texts ({key} = [\"…\", \"…\"]), "
                             f"not {value!r}")
    return tuple(item for item in value if item)
