"""Reading a template's text: its parts (body, headers, footers), their paragraphs, and the problem
record every check returns. Shared by engine.letters.check (tags) and engine.letters.wording (words)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from docxtpl import DocxTemplate

# An element written empty (`<w:t xml:space="preserve"/>`, what docxtpl leaves of a control tag's run) opens
# nothing: taken for an opening tag, it would swallow the XML up to the next run's `</w:t>` as text.
PARAGRAPH = re.compile(r"<w:p(?:\s[^>]*)?(?<!/)>.*?</w:p>", re.DOTALL)
TEXT = re.compile(r"<w:t(?:\s[^>]*)?(?<!/)>(.*?)</w:t>", re.DOTALL)


# What each kind of problem is, in French, for a finding whose own reason was only said in English.
GENERIC_FRENCH = {
    "syntax": "erreur de syntaxe dans la balise : retapez-la telle que letters/README.md l'écrit",
    "unknown-variable": "variable inconnue des courriers (voir letters/README.md)",
    "split-tag": "une balise est coupée entre deux paragraphes : retapez-la entière sur une seule ligne",
    "broken-xml": "une mise en forme Word coupe cette balise : retapez-la",
    "render": "le modèle ne peut pas être rendu à cette balise",
    "maybe-unset": "variable définie dans certains cas seulement, utilisée ici : définissez-la aussi avant le {% if %}",
    "forbidden-term": "ce terme imite un acte de justice : interdit dans une lettre amiable",
    "missing-mention": "une mention obligatoire manque au courrier",
    "unreadable": "ce fichier n'est pas un document Word lisible : enregistrez-le depuis Word au format .docx",
    "missing": "modèle introuvable",
    "too-large": "le fichier dépasse la taille d'un modèle de courrier",
}


@dataclass(frozen=True)
class LetterProblem:
    """One thing to fix in a template, located as precisely as we can."""

    template: str
    code: str  # syntax | unknown-variable | maybe-unset | split-tag | broken-xml | render | forbidden-term | missing-mention
    message: str
    tag: str | None = None
    paragraph: int | None = None
    part: str | None = None  # "document", "header1.xml"...
    # The same reason in French, for the web app's team (the command line speaks English); None: not said yet.
    french: str | None = field(default=None, compare=False)
    # "warning": the template renders for most cases but not for some (a debtor abroad): said by the checks,
    # refused by none, since a run fails those cases one by one and writes everyone else's letters.
    severity: Literal["error", "warning"] = "error"

    @property
    def in_french(self) -> str:
        """The reason for the web app's team: ``french``, else what the kind of problem says, less precisely
        but never in English (the template, paragraph and tag shown beside it locate it all the same)."""
        return self.french or GENERIC_FRENCH.get(self.code, "problème dans ce modèle : voir `relance letters check`")

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
