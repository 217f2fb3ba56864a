"""Reading a template's text: its parts (body, headers, footers), their paragraphs, and the problem
record every check returns. Shared by engine.letters.check (tags) and engine.letters.wording (words)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from docxtpl import DocxTemplate

# An element written empty (`<w:t xml:space="preserve"/>`, what docxtpl leaves of a control tag's run) opens
# nothing: taken for an opening tag, it would swallow the XML up to the next run's `</w:t>` as text.
PARAGRAPH = re.compile(r"<w:p(?:\s[^>]*)?(?<!/)>.*?</w:p>", re.DOTALL)
TEXT = re.compile(r"<w:t(?:\s[^>]*)?(?<!/)>(.*?)</w:t>", re.DOTALL)


@dataclass(frozen=True)
class LetterProblem:
    """One thing to fix in a template, located as precisely as we can."""

    template: str
    code: str  # syntax | unknown-variable | split-tag | broken-xml | render | forbidden-term | missing-mention
    message: str
    tag: str | None = None
    paragraph: int | None = None
    part: str | None = None  # "document", "header1.xml"...

    def __str__(self) -> str:
        where = self.template
        if self.part and self.part != "document":
            where += f" ({self.part})"
        if self.paragraph is not None:
            where += f", paragraph {self.paragraph}"
        if self.tag:
            where += f", tag {self.tag}"
        return f"{where}: {self.message}"


def template_paragraphs(tpl: DocxTemplate) -> list[tuple[str, int, str]]:
    """(part, paragraph number, visible text) for the body, headers and footers of a template."""
    result = []
    for part_name, raw in template_parts(tpl):
        for number, xml in enumerate(PARAGRAPH.findall(raw), start=1):
            result.append((part_name, number, paragraph_plain(xml)))
    return result


def template_parts(tpl: DocxTemplate) -> list[tuple[str, str]]:
    """(name, XML) of the body and of every header and footer, as docxtpl reads them."""
    parts = [("document", tpl.get_xml())]
    for uri in (DocxTemplate.HEADER_URI, DocxTemplate.FOOTER_URI):
        for _rel, part in tpl.get_headers_footers(uri):
            parts.append((part.partname.membername.rsplit("/", 1)[-1], tpl.get_part_xml(part)))
    return parts


def paragraph_plain(paragraph_xml: str) -> str:
    """The visible text of one paragraph's XML (its <w:t> runs joined, entities decoded)."""
    return "".join(TEXT.findall(paragraph_xml)).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
