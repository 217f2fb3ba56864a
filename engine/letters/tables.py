"""docxtpl's table fix (``DocxTemplate.fix_tables``), run only on a document whose tables need it.

After Jinja, docxtpl parses the body and evens each table's grid (``w:tblGrid``) with its rows: columns are
added when a row has more cells than the grid, removed when every row spans fewer. In almost every letter
(every shipped one) the grids are already even, and walking the cells in Python took 14% of the first
reminder's render and 24% of the formal notice's. Here two XPath expressions, evaluated by libxml2, tell
whether any table could change; when one could, or a table is odd in any way (no grid, a span that is not
a plain number), docxtpl's own fix runs on the XML instead, so the tree, and the letter's bytes, are the
ones docxtpl gives.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from docxtpl import DocxTemplate
from lxml import etree


def fix_tables(tpl: DocxTemplate, xml: str) -> Any:
    """The parsed part, as ``tpl.fix_tables(xml)`` returns it (same parser, same tree)."""
    tree = etree.fromstring(xml, parser=etree.XMLParser(recover=True))
    if tree is not None and _even(tree):
        return tree
    return tpl.fix_tables(xml)


def _even(tree: Any) -> bool:
    """True when docxtpl's fix would change no table of ``tree`` (False: let docxtpl decide, or fail).

    In docxtpl's terms, a table's rows are every ``w:tr`` below it (a nested table's too), a row's cells
    its ``w:tc`` children, and a cell spans the ``w:val`` of the first ``w:gridSpan`` of its first
    ``w:tcPr``, else 1."""
    namespace = tree.nsmap.get("w")
    if namespace is None:
        return False
    checks = _checks(namespace)
    row = f"{{{namespace}}}tr"
    for table in tree.iter(f"{{{namespace}}}tbl"):
        grid = table.find(f"{{{namespace}}}tblGrid")
        if grid is None:
            return False
        columns = len(grid.findall(f"{{{namespace}}}gridCol"))
        if checks.uneven_row(table, n=columns):
            return False
        # Without a row spanning the whole grid, docxtpl removes the columns no row reaches. The first row
        # nearly always does, so rows are asked one by one (one expression over all rows cost 9x more).
        if columns and not any(checks.row_span(each) >= columns for each in table.iter(row)):
            return False
    return True


class _Checks:
    def __init__(self, namespace: str) -> None:
        spans = "w:tc/w:tcPr[1]/w:gridSpan[1]"
        ns = {"w": namespace}
        # A row with more cells than the grid has columns (docxtpl adds columns), or with a span int() might
        # read differently from XPath's number(), or not at all (docxtpl decides).
        odd = "not(@w:val) or @w:val = '' or translate(@w:val, '0123456789', '') != ''"
        self.uneven_row = etree.XPath(f"boolean(.//w:tr[count(w:tc) > $n or {spans}[{odd}]])", namespaces=ns)
        self.row_span = etree.XPath(f"count(w:tc) + sum({spans}/@w:val) - count({spans})", namespaces=ns)


@cache
def _checks(namespace: str) -> _Checks:
    return _Checks(namespace)


__all__ = ["fix_tables"]
