"""docxtpl's own test corpus, rendered by plain docxtpl and by CompiledTemplate: same parts, same rels.

The cases are the scripts of docxtpl's tests/ folder (tests/fixtures/docxtpl/README.txt names the
commit), each a template and the context its script renders it with. Both sides render in the
letters' environment (sandboxed, autoescaping, strict), so a difference is the renderer's.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unicodedata import name as unicode_name

import pytest
from docx.shared import Inches, Mm
from docxtpl import DocxTemplate, InlineImage, Listing, R, RichText, RichTextParagraph
from jinja2 import TemplateError
from lxml import etree

from engine.errors import RelanceError
from engine.letters import CompiledTemplate, LetterError, make_environment
from engine.letters.sandbox import LetterEnvironment
from tests.support import TESTS

CORPUS = TESTS / "fixtures" / "docxtpl"
#: Builds a case's context: the DocxTemplate images and sub-documents belong to, and the function
#: that makes a hyperlink's relationship id (docxtpl's or CompiledTemplate's build_url_id).
Context = Callable[[DocxTemplate, Callable[[str], str]], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """One render of the corpus: a script's template and context."""

    id: str
    template: str
    context: Context
    #: Filters the script adds to its Jinja environment.
    filters: dict[str, Callable[..., Any]] = field(default_factory=dict)
    #: How many renders of one template the script makes in a row (multi_rendering).
    times: int = 1
    #: True when the context needs docxcompose (Subdoc), an optional docxtpl dependency.
    subdoc: bool = False
    #: False when the script's environment prints an unknown variable as nothing (Jinja's default).
    strict: bool = True


def empty(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {}


def cellbg(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    rows = [("2015-03-10", RichText("Very critical alert", color="FF0000", bold=True), "CRITICAL", "FF0000"),
            ("2015-03-11", RichText("Just a warning"), "WARNING", "FFDD00"),
            ("2015-03-12", RichText("Information"), "INFO", "8888FF"),
            ("2015-03-13", RichText("Debug trace"), "DEBUG", "FF00FF")]
    return {"alerts": [{"date": d, "desc": desc, "type": t, "bg": bg} for d, desc, t, bg in rows]}


def dynamic_table(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {"col_labels": ["fruit", "vegetable", "stone", "thing"],
            "tbl_contents": [{"label": "yellow", "cols": ["banana", "capsicum", "pyrite", "taxi"]},
                             {"label": "red", "cols": ["apple", "tomato", "cinnabar", "doubledecker"]},
                             {"label": "green", "cols": ["guava", "cucumber", "aventurine", "card"]}]}


def escape(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {
        "myvar": R('"less than" must be escaped : <, this can be done with RichText() or R()'),
        "myescvar": 'It can be escaped with a "|e" jinja filter in the template too : < ',
        "nlnp": R("Here is a multiple\nlines\nstring\aand some\aother\aparagraphs", color="#ff00ff"),
        "mylisting": Listing("the listing\nwith\nsome\nlines\nand special chars : <>& ..."),
        "page_break": R("\f"),
        "new_listing": "\nThis is a new listing\nNow, does not require Listing() Object\nHere is a \t tab\a\n"
                       "Here is a new paragraph\a\nHere is a page break : \f\nThat's it\n",
        "some_html": "HTTP/1.1 200 OK\nServer: Apache-Coyote/1.1\nContent-Length: 9866\n\n<html>\n<head>\n"
                     "    <title>Struts Problem Report</title>\n    <style>\n    \tpre {\n\t    \tmargin: 0;\n"
                     "\t    }    \n    </style>\n</head>\n<body>\n...\n</body>\n</html>",
    }


def escape_auto(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {"nested_dict": {unicode_name(c): c for c in "<\"&'>"},
            "autoescape": 'Escaped "str & ing"!',
            "autoescape_unicode": "This is an escaped <unicode> example \u4f60 & \u6211",
            "iteritems": lambda x: x.items()}


def undeclared(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {"name": "John Doe", "age": 25, "email": "john@example.com", "is_student": True,
            "has_degree": True, "degree_field": "Computer Science", "skills": ["Python", "Django", "JavaScript"],
            "projects": [{"name": "Project A", "year": 2023, "description": "A great project"},
                         {"name": "Project B", "year": 2024, "description": "Another great project"}],
            "company_name": "Test Corp", "page_number": 1, "generation_date": "2024-01-15",
            "author": "Test Author"}


def header_footer(title: str, company: str, text: str) -> Context:
    def context(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
        sd = tpl.new_subdoc()
        sd.add_paragraph(text)
        return {"title": title, "company_name": company, "date": "2016-03-17", "mysubdoc": sd}
    return context


def header_footer_inline_image(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {"inline_image": InlineImage(tpl, str(CORPUS / "django.png"), height=Mm(10)),
            "images": [InlineImage(tpl, str(CORPUS / "python.png"), height=Mm(10)) for _ in range(3)]}


def inline_image(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    frameworks = [("django", "The web framework for perfectionists with deadlines"),
                  ("zope", "Zope is a leading Open Source Application Server and Content Management Framework"),
                  ("pyramid", "Pyramid is a lightweight Python web framework"),
                  ("bottle", "Bottle is a fast, simple and lightweight WSGI micro web-framework for Python"),
                  ("tornado", "Tornado is a Python web framework and asynchronous networking library.")]
    return {
        "myimage": InlineImage(tpl, str(CORPUS / "python_logo.png"), width=Mm(20)),
        "myimageratio": InlineImage(tpl, str(CORPUS / "python_jpeg.jpg"), width=Mm(30), height=Mm(60)),
        "frameworks": [{"image": InlineImage(tpl, str(CORPUS / f"{n}.png"), height=Mm(10)), "desc": d}
                       for n, d in frameworks],
    }


def module_execute(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    context: dict[str, Any] = json.loads((CORPUS / "module_execute.json").read_text())
    return context


def nested_for(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {"dishes": [{"name": "Pizza", "ingredients": ["bread", "tomato", "ham", "cheese"]},
                       {"name": "Hamburger", "ingredients": ["bread", "chopped steak", "cheese", "sauce"]},
                       {"name": "Apple pie", "ingredients": ["flour", "apples", "suggar", "quince jelly"]}],
            "authors": [{"name": "Saint-Exupery", "books": [{"title": "Le petit prince"}, {"title": "L'aviateur"},
                                                           {"title": "Vol de nuit"}]},
                        {"name": "Barjavel", "books": [{"title": "Ravage"}, {"title": "La nuit des temps"},
                                                       {"title": "Le grand secret"}]}]}


ITEMS = [{"desc": "Python interpreters", "qty": 2, "price": "FREE"},
         {"desc": "Django projects", "qty": 5403, "price": "FREE"},
         {"desc": "Guido", "qty": 1, "price": "100,000,000.00"}]


def order(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    return {"customer_name": "Eric", "items": ITEMS, "in_europe": True, "is_paid": False,
            "company_name": "The World Wide company", "total_price": "100,000,000.00"}


def richtext(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    rt = RichText()
    rt.add("a rich text", style="myrichtextstyle")
    rt.add(" with ")
    rt.add("some italic", italic=True)
    rt.add(" and ")
    rt.add("some violet", color="#ff00ff")
    rt.add(" and ")
    rt.add("some striked", strike=True)
    rt.add(" and ")
    rt.add("some Highlighted", highlight="#ffff00")
    rt.add(" and ")
    rt.add("some small", size=14)
    rt.add(" or ")
    rt.add("big", size=60)
    rt.add(" text.")
    rt.add("\nYou can add an hyperlink, here to ")
    rt.add("google", url_id=link("http://google.com"))
    rt.add("\nEt voilà ! ")
    rt.add("\n1st line\n2nd line\n3rd line")
    rt.add("\aA new paragraph : <cool>\a")
    rt.add("--- A page break here (see next page) ---\f")
    for ul in ["single", "double", "thick", "dotted", "dash", "dotDash", "dotDotDash", "wave"]:
        rt.add("\nUnderline : " + ul + " \n", underline=ul)
    rt.add("\nFonts :\n", underline=True)
    for font in ["Arial", "Courier New", "Times New Roman"]:
        rt.add(font + "\n", font=font)
    rt.add("\n\nHere some")
    rt.add("superscript", superscript=True)
    rt.add(" and some")
    rt.add("subscript", subscript=True)
    embedded = RichText("an example of ")
    embedded.add(rt)
    return {"example": embedded}


def richtext_paragraph(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    rtp = RichTextParagraph()
    for text, style in [("The rich text paragraph function allows paragraph styles", "myrichparastyle"),
                        ("Any built in paragraph style can be used", "IntenseQuote"),
                        ("or you can add your own", "createdStyle"), ("To use, just create a style", "normal"),
                        ("custom bullet\apoints", "SquareBullet"), ("Numbered Bullet Points", "BasicNumbered"),
                        ("and Alpha Bullet Points.", "alphaBracketNumbering"), ("You can", "normal"),
                        ("set the", "centerAlign"), ("text alignment", "rightAlign"),
                        ("tight spacing.\aNo space between paragraphs.", "TightLineSpacing"),
                        ("extra large spacing", "WideLineSpacing"), ("background colour", "LineShadingGreen")]:
        rtp.add(text, parastyle=style)
    rt = RichText()
    rt.add("This works with ")
    rt.add("Rich ", bold=True)
    rt.add("Text ", italic=True)
    rt.add("Strings", underline="single")
    rtp.add(rt, parastyle="SquareBullet")
    return {"example": rtp}


def subdoc(tpl: DocxTemplate, link: Callable[[str], str]) -> dict[str, Any]:
    sd = tpl.new_subdoc()
    p = sd.add_paragraph("It has been ")
    p.add_run("dynamically").style = "dynamic"
    p.add_run(" generated with ")
    p.add_run("python-docx").italic = True
    sd.add_heading("Heading, level 1", level=1)
    sd.add_paragraph("This is an Intense quote", style="IntenseQuote")
    sd.add_picture(str(CORPUS / "python_logo.png"), width=Inches(1.25))
    table = sd.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ["Qty", "Id", "Desc"]):
        cell.text = text
    return {"mysubdoc": sd}


def fixed(context: dict[str, Any]) -> Context:
    return lambda tpl, link: context


CASES = [
    Case("cellbg", "cellbg_tpl.docx", cellbg),
    Case("comments", "comments_tpl.docx", empty),
    Case("custom_jinja_filters", "custom_jinja_filters_tpl.docx",
         fixed({"base_value_string": " Hello", "base_value_float": 1.5}),
         filters={"my_filterA": lambda value, arg: value + " " + arg, "my_filterB": lambda value, arg: value + arg},
         strict=False),  # its footer shows {{ doc_no }}, which the script's context leaves out
    Case("doc_properties", "doc_properties_tpl.docx", fixed({"test": "HelloWorld"})),
    Case("dynamic_table", "dynamic_table_tpl.docx", dynamic_table),
    Case("embedded_embedded", "embedded_embedded_docx_tpl.docx", fixed({"name": "John Doe"})),
    # The script also swaps embedded files (replace_embedded): a template edit, not a context.
    Case("embedded_main", "embedded_main_tpl.docx", fixed({"name": "John Doe"})),
    Case("escape", "escape_tpl.docx", escape),
    Case("escape_auto", "escape_tpl_auto.docx", escape_auto),
    Case("footnotes", "footnotes_tpl.docx", fixed({"a_jinja_variable": "A Jinja variable!"})),
    Case("get_undeclared_variables", "get_undeclared_variables.docx", undeclared),
    Case("header_footer", "header_footer_tpl.docx", header_footer(
        "Header and footer test", "The World Wide company", "A sub-document"), subdoc=True),
    Case("header_footer_entities", "header_footer_entities_tpl.docx", fixed({"title": "Header and footer test"})),
    # The scripts also replace the header's picture (replace_media): a template edit, not a context.
    Case("header_footer_image", "header_footer_image_tpl.docx", fixed({"mycompany": "The World Wide company"})),
    Case("header_footer_inline_image", "header_footer_inline_image_tpl.docx", header_footer_inline_image),
    Case("header_footer_utf8", "header_footer_tpl_utf8.docx", header_footer(
        "헤더와 푸터", "세계적 회사", "A sub-document with utf-8 characters"), subdoc=True),
    Case("horizontal_merge", "horizontal_merge_tpl.docx", empty),
    Case("inline_image", "inline_image_tpl.docx", inline_image),
    Case("less_cells_after_loop", "less_cells_after_loop_tpl.docx", empty),
    Case("merge_paragraph", "merge_paragraph_tpl.docx", fixed({"living_in_town": True})),
    Case("module_execute", "module_execute_tpl.docx", module_execute),
    Case("multi_rendering", "multi_rendering_tpl.docx",
         fixed({"title": "Title ONE", "body": "This is the body for first document"}), times=3),
    Case("nested_for", "nested_for_tpl.docx", nested_for),
    Case("order", "order_tpl.docx", order),
    Case("preserve_spaces", "preserve_spaces_tpl.docx", fixed({"tag_1": "looking", "tag_2": "too"})),
    # The script also replaces a picture (replace_pic): a template edit, not a context.
    Case("replace_picture", "replace_picture_tpl.docx", empty),
    Case("richtext", "richtext_tpl.docx", richtext),
    Case("richtext_and_if", "richtext_and_if_tpl.docx", fixed({"foobar": RichText("Foobar!", color="ff0000")})),
    Case("richtext_eastAsia", "richtext_eastAsia_tpl.docx", fixed({
        "example": RichText("测试TEST", font="eastAsia:Microsoft YaHei"),
        "Chinese": RichText("测试TEST", font="eastAsia:微软雅黑"),
        "simsun": RichText("测试TEST", font="eastAsia:SimSun")})),
    Case("richtextparagraph", "richtext_paragraph_tpl.docx", richtext_paragraph),
    Case("subdoc", "subdoc_tpl.docx", subdoc, subdoc=True),
    Case("vertical_merge", "vertical_merge_tpl.docx",
         fixed({"items": ITEMS, "total_price": "100,000,000.00", "category": "Book"})),
    Case("vertical_merge_nested", "vertical_merge_nested_tpl.docx", empty),
    Case("word2016", "word2016_tpl.docx", fixed({
        "test_space": "          ", "test_tabs": 5 * "\t",
        "test_space_r": RichText("          "), "test_tabs_r": RichText(5 * "\t")})),
]


def environment(case: Case) -> LetterEnvironment:
    env = make_environment() if case.strict else LetterEnvironment(autoescape=True)
    env.filters.update(case.filters)
    return env


def canonical_parts(docx: bytes) -> dict[str, bytes]:
    """Every part of a package: XML parts (relationships included) in C14N, others as bytes."""
    with zipfile.ZipFile(io.BytesIO(docx)) as package:
        assert package.testzip() is None
        parts = {}
        for name in package.namelist():
            data = package.read(name)
            if name.endswith((".xml", ".rels")):
                data = etree.tostring(etree.fromstring(data), method="c14n")
            parts[name] = data
        return parts


def plain_render(case: Case, path: Path) -> bytes:
    """What the corpus script does: DocxTemplate(path), the context, render, save."""
    tpl = DocxTemplate(str(path))
    tpl.render(case.context(tpl, tpl.build_url_id), jinja_env=environment(case))
    buffer = io.BytesIO()
    tpl.save(buffer)
    return buffer.getvalue()


def compiled_render(case: Case, compiled: CompiledTemplate, path: Path) -> bytes:
    """The same context through CompiledTemplate: images and sub-documents still need a DocxTemplate."""
    return compiled.render(case.context(DocxTemplate(str(path)), compiled.build_url_id))


def differences(ours: bytes, theirs: bytes) -> list[str]:
    """The names of the parts that differ, or are in one package only."""
    a, b = canonical_parts(ours), canonical_parts(theirs)
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_corpus_case_identical_to_plain_docxtpl(case: Case) -> None:
    if case.subdoc:
        pytest.importorskip("docxcompose", reason="docxtpl's Subdoc needs docxcompose")
    path = CORPUS / case.template
    compiled = CompiledTemplate(path, environment(case))
    for _ in range(case.times):
        assert differences(compiled_render(case, compiled, path), plain_render(case, path)) == []


def test_comparison_sees_a_changed_part() -> None:
    """The comparison is not vacuous: one different word in one part is reported."""
    case = CASES[0]
    path = CORPUS / case.template
    theirs = plain_render(case, path)
    with zipfile.ZipFile(io.BytesIO(theirs)) as package:
        members = {name: package.read(name) for name in package.namelist()}
    members["word/document.xml"] = members["word/document.xml"].replace(b"CRITICAL", b"CRITICAL!", 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    assert differences(buffer.getvalue(), theirs) == ["word/document.xml"]


def test_template_error_is_a_jinja_template_error() -> None:
    """template_error.py catches jinja2's TemplateError: a LetterError must be one too."""
    path = CORPUS / "template_error_tpl.docx"
    with pytest.raises(TemplateError) as raised:
        CompiledTemplate(path).render({"test_variable": "test variable value"})
    error = raised.value
    assert isinstance(error, LetterError) and isinstance(error, RelanceError)
    assert (error.template, error.tag, error.paragraph) == ("template_error_tpl.docx", "{% endif %}", 5)
    # `message` stays the reason alone (TemplateError's would be the whole text).
    assert error.message == "Jinja syntax error: Encountered unknown tag 'endif'."
    assert str(error) == f"template_error_tpl.docx, paragraph 5, tag {{% endif %}}: {error.message}"
