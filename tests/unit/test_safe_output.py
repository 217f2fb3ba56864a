"""What relance writes for people is inert (issue 12): CSV cells never run as formulas, user text never
acts as rich markup or terminal escapes."""

from __future__ import annotations

import csv
import io

import pytest
from rich.console import Console
from rich.table import Table

from engine.core.text import inert, unsafe_characters
from engine.reports import csvsafe
from engine.reports.terminal import cell, markup

HOSTILE_NAMES = [
    "Bad [/] close SARL",
    "[link=http://evil.example]Click[/link] SA",
    "[bold red]Shouting[/] SAS",
    "Evil \x1b]8;;http://evil.example\x07link\x1b]8;;\x07 SA",
    "Red \x1b[31mALERT\x1b[0m SARL",
    "Title \x1b]0;pwned\x07 SA",
    "Over\rwrite",
    "Right\u202eto left",
    "ends with a backslash \\",
]


@pytest.mark.parametrize("text", ["=1+1", "+33 1 23 45", "-2+3", "@SUM(A1)", "\t=1", "\r=1",
                                  '=HYPERLINK("http://evil.example","x")', "-", "+"])
def test_formula_cells_get_a_leading_quote(text: str) -> None:
    assert csvsafe.safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["-12.50", "-1 234,56", "+5", "1234.56", "Acme SARL", "", "a=b", "2025-01-01"])
def test_numbers_and_plain_text_stay_as_they_are(text: str) -> None:
    assert csvsafe.safe_cell(text) == text


def test_the_writer_neutralises_every_cell_and_makes_control_characters_visible() -> None:
    out = io.StringIO()
    csvsafe.writer(out, delimiter=";").writerow(["=cmd|' /C calc'!A0", -5, "Be\x00ta", "two\nlines", None])
    assert next(csv.reader(io.StringIO(out.getvalue()), delimiter=";")) == [
        "'=cmd|' /C calc'!A0", "-5", "Be\\x00ta", "two\nlines", ""]


def test_inert_makes_every_unsafe_character_visible_and_keeps_what_it_is_told() -> None:
    assert inert("a\x1b[31mb\x07\u202ec\nd") == "a\\x1b[31mb\\x07\\u202ec\\nd"
    assert inert("one\ntwo\x1b", keep="\n") == "one\ntwo\\x1b"
    assert unsafe_characters("Acme SARL — 1 234,56 €") == []


def _printed(*renderables: object) -> str:
    console = Console(file=io.StringIO(), width=200, force_terminal=True, color_system=None, highlight=False)
    for renderable in renderables:
        console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_user_text_prints_as_itself_in_markup_strings_and_table_cells(name: str) -> None:
    table = Table()
    table.add_column("debtor")
    table.add_row(cell(name))
    printed = _printed(f"[bold]debtor[/] {markup(name)}", table, cell(name))
    assert "\x1b" not in printed and "\x07" not in printed and "\r" not in printed and "\u202e" not in printed
    assert printed.count(inert(name)) == 3  # literally, brackets and all, in each of the three prints
    assert "\x1b]8;" not in printed  # no hyperlink escape from [link=...]
