"""The table fix gives docxtpl's tree on any table, and skips docxtpl's walk only where it changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from docxtpl import DocxTemplate
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from engine.letters import CompiledTemplate, build_context, make_environment, sample_letter_data
from engine.letters.tables import fix_tables
from tests.support import PACK

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
TEMPLATE = DocxTemplate(PACK / "relance_1.docx")
# Spans docxtpl reads with int(): plain ones, and ones int() and XPath's number() read differently or not at all.
SPANS = ["1", "2", "3", "0", "02", "", "x", " 2", "1_0", "-1", "2.0", None]


@st.composite
def tables(draw: Any, depth: int = 0) -> str:
    columns = draw(st.integers(0, 4))
    widths = draw(st.lists(st.sampled_from(["1000", "2500", None]), min_size=columns, max_size=columns))
    grid = "".join(f'<w:gridCol w:w="{w}"/>' if w else "<w:gridCol/>" for w in widths)
    has_grid = draw(st.booleans()) if depth == 0 else True
    rows = []
    for _ in range(draw(st.integers(0, 3))):
        cells = []
        for _ in range(draw(st.integers(max(0, columns - 2), columns + 1))):
            span = draw(st.sampled_from(["none", *range(len(SPANS))]))
            properties = "" if span == "none" else (
                "<w:tcPr><w:gridSpan/></w:tcPr>" if SPANS[span] is None
                else f'<w:tcPr><w:gridSpan w:val="{SPANS[span]}"/></w:tcPr>')
            nested = draw(tables(depth + 1)) if depth < 1 and draw(st.integers(0, 5)) == 0 else ""
            cells.append(f"<w:tc>{properties}<w:p/>{nested}</w:tc>")
        rows.append(f"<w:tr>{'<w:trPr/>' if draw(st.booleans()) else ''}{''.join(cells)}</w:tr>")
    return f"<w:tbl>{f'<w:tblGrid>{grid}</w:tblGrid>' if has_grid else ''}{''.join(rows)}</w:tbl>"


def document(*body: str) -> str:
    return f'<w:document xmlns:w="{W}"><w:body>{"".join(body)}<w:p/></w:body></w:document>'


def docxtpl_outcome(xml: str) -> tuple[str, bytes | str]:
    try:
        return "tree", etree.tostring(TEMPLATE.fix_tables(xml))
    except Exception as exc:
        return "error", type(exc).__name__


def our_outcome(xml: str) -> tuple[str, bytes | str]:
    try:
        return "tree", etree.tostring(fix_tables(TEMPLATE, xml))
    except Exception as exc:
        return "error", type(exc).__name__


EVEN = '<w:tbl><w:tblGrid><w:gridCol w:w="1000"/><w:gridCol w:w="1000"/></w:tblGrid><w:tr><w:tc><w:p/></w:tc>' \
       '<w:tc><w:p/></w:tc></w:tr></w:tbl>'
WIDER = '<w:tbl><w:tblGrid><w:gridCol w:w="3000"/></w:tblGrid><w:tr><w:tc><w:p/></w:tc><w:tc><w:p/></w:tc>' \
        '</w:tr></w:tbl>'
NARROWER = '<w:tbl><w:tblGrid><w:gridCol w:w="1000"/><w:gridCol w:w="1000"/><w:gridCol w:w="1000"/></w:tblGrid>' \
           '<w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p/></w:tc></w:tr></w:tbl>'


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tables(), min_size=1, max_size=3))
@example([EVEN])
@example([EVEN, WIDER])
@example([NARROWER])
@example([EVEN.replace("<w:tc><w:p/>", '<w:tc><w:tcPr><w:gridSpan w:val="2.0"/></w:tcPr><w:p/>', 1)])
def test_same_tree_or_same_error_as_docxtpl(body: list[str]) -> None:
    xml = document(*body)
    assert our_outcome(xml) == docxtpl_outcome(xml)


@pytest.mark.parametrize("table", [WIDER, NARROWER])
def test_uneven_tables_get_docxtpls_fix(table: str) -> None:
    fixed = fix_tables(TEMPLATE, document(table))
    grid = fixed.find(f".//{{{W}}}tblGrid")
    assert len(grid) == 2  # one column added to the one, one removed from the three


def test_even_tables_skip_docxtpls_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped letter's tables are even: rendering them never runs docxtpl's cell-by-cell walk."""
    compiled = {path.name: CompiledTemplate(path, make_environment()) for path in sorted(PACK.glob("*.docx"))}
    context = build_context(sample_letter_data("b2b"))

    def walked(self: DocxTemplate, xml: str) -> Any:
        raise AssertionError("docxtpl's fix_tables ran")

    monkeypatch.setattr(DocxTemplate, "fix_tables", walked)
    for name, template in compiled.items():
        assert template.render(context).startswith(b"PK"), name
    with pytest.raises(AssertionError, match="fix_tables ran"):
        fix_tables(TEMPLATE, document(WIDER))
