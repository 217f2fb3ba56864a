"""A letter template compiled once and rendered for many cases, part-identical to docxtpl.

docxtpl's `render()` reopens the DOCX, re-patches and re-compiles every part and re-zips the
whole package on each call (22-38 ms a letter). Here the patching (docxtpl's own `patch_xml`)
and the Jinja compile happen once; a case renders only the parts that hold tags, with docxtpl's
own post-processing functions, and the other parts are copied as already-deflated bytes.
Contexts holding objects that add parts or relationships (InlineImage, Subdoc, hyperlinks made
with `build_url_id`) and templates with tags in footnotes or document properties go through
plain docxtpl instead.
Both paths open the file through engine.letters.docxfile (checked before anything inflates) and
render within the letter's limits (engine.letters.sandbox: sizes, and a wall-clock budget).
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections.abc import Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.oxml import serialize_part_xml
from docx.opc.part import XmlPart
from docx.oxml.ns import qn
from docxtpl import DocxTemplate, InlineImage, RichText, RichTextParagraph
from jinja2 import Environment, Template
from lxml import etree

from engine.core.limits import DEFAULT_LIMITS, Limits
from engine.letters.docxfile import open_template
from engine.letters.environment import LetterError, letter_error, make_environment
from engine.letters.package import Member, deflate, write_zip
from engine.letters.sandbox import letter_budget
from engine.letters.tables import fix_tables

FOOTNOTES = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
CORE_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
MARKERS = re.compile(r"\{[{%#]")
LISTING_CHARACTERS = "\t\a\n\f"
RELATIONSHIP_ID = re.compile(r'\br:id="([^"]*)"')
# Rendered headers and footers kept per template, with their part bytes and deflated member: a creditor's
# footer reads the same in every letter, and parsing, serializing and compressing it again as docxtpl does
# made a first reminder's render 16-21% slower (660-720 µs against 790-860). A bound, so varied texts never
# pile up.
KEPT_PARTS = 32
# Values that cannot add parts or relationships: no need to look inside.
PLAIN_TYPES = (str, int, float, bool, type(None), Decimal, date)
_PLAIN_EXACT = frozenset(PLAIN_TYPES)


@dataclass
class _TaggedPart:
    """A header or footer with tags: its patched source, compiled once."""

    rel_id: str
    member: str
    part: Any
    encoding: str
    source: str
    template: Template


class CompiledTemplate:
    """One DOCX template, patched and compiled once; `render(context)` gives a DOCX's bytes."""

    def __init__(self, path: str | Path, env: Environment | None = None, level: int = 6,
                 limits: Limits | None = None):
        self.path = Path(path)
        self.env = env if env is not None else make_environment(limits)
        #: The bounds of this template's renders: the environment's own when it has some.
        self.limits: Limits = getattr(self.env, "limits", None) or limits or DEFAULT_LIMITS
        self.level = level
        self._lock = threading.Lock()
        self._tpl = open_template(self.path, self.limits)
        self._tpl.render_init()
        docx = self._tpl.docx
        # The document part's relationships as loaded: build_url_id allocates ids after them.
        rels = docx.part.rels
        self._rel_ids = frozenset(rels)
        self._hyperlinks: dict[str, str] = {}
        for rel in rels.values():
            if rel.reltype == RT.HYPERLINK and rel.is_external:
                self._hyperlinks.setdefault(rel.target_ref, rel.rId)
        self._links = threading.local()
        #: Why every render goes through plain docxtpl, or None when the fast path is used.
        self.fallback_reason = self._template_fallback_reason()
        self._body_source = _as_lines(self._tpl.patch_xml(self._tpl.get_xml()))
        self._body = self._compile(self._body_source)
        self._tagged: list[_TaggedPart] = []
        self._kept: dict[tuple[str, str], Member] = {}  # (member, rendered XML) → its part, deflated
        if self.fallback_reason:
            return
        for uri in (DocxTemplate.HEADER_URI, DocxTemplate.FOOTER_URI):
            for rel_id, part in self._tpl.get_headers_footers(uri):
                self._prepare_header_footer(rel_id, part)
        # Untagged properties and footnotes: docxtpl still rewrites them, the same way each time.
        self._tpl.render_properties({}, self.env)
        self._tpl.render_footnotes({}, self.env)
        self._document_member = docx.part.partname.membername
        self._document_head, self._document_tail, self._body_open = _document_frame(docx._element)
        buffer = io.BytesIO()
        docx.save(buffer)
        with zipfile.ZipFile(buffer) as package:
            self._order = [info.filename for info in package.infolist()]
            tagged = {self._document_member} | {t.member for t in self._tagged}
            self._shared = {
                name: deflate(name, package.read(name), level)
                for name in self._order
                if name not in tagged
            }

    def build_url_id(self, url: str) -> str:
        """docxtpl's `build_url_id`: the relationship id of an external hyperlink to `url`, for
        `RichText.add(url_id=...)`; the relationship is in this thread's next render."""
        # docxtpl relates the URL to its document part, which its next render keeps and the one
        # after drops (it reloads the file). Shared between threads, the compiled template keeps
        # the links of each thread until its next render: never one letter's links in another.
        links: dict[str, str] = self._links.__dict__.setdefault("pending", {})
        rel_id = self._hyperlinks.get(url) or links.get(url)
        if rel_id is None:
            # python-docx's next id: the first free rIdN.
            taken = self._rel_ids | set(links.values())
            rel_id = next(f"rId{n}" for n in range(1, len(taken) + 2) if f"rId{n}" not in taken)
            links[url] = rel_id
        return rel_id

    def render(self, context: Mapping[str, Any]) -> bytes:
        """The DOCX bytes of one letter, within the letter's wall-clock budget."""
        links: dict[str, str] = self._links.__dict__.pop("pending", {})
        if self.fallback_reason or _needs_plain(context):
            return render_plain(self.path, context, self.env, links)
        with letter_budget(self.limits):
            rendered = self._render_members(context)
        return write_zip([rendered.get(name) or self._shared[name] for name in self._order])

    def _render_members(self, context: Mapping[str, Any]) -> dict[str, Member]:
        """The parts that hold tags, rendered and deflated: member name → member."""
        members = {self._document_member: deflate(self._document_member, self._render_document(context),
                                                  self.level)}
        for tagged in self._tagged:
            xml = self._run(tagged.template, tagged.source, context)
            key = (tagged.member, xml)
            member = self._kept.get(key)
            if member is None:
                member = deflate(tagged.member, self._part_bytes(tagged, xml), self.level)
                if len(self._kept) >= KEPT_PARTS:
                    self._kept.clear()
                self._kept[key] = member
            members[tagged.member] = member
        return members

    def render_parts(self, context: Mapping[str, Any]) -> dict[str, bytes]:
        """Only the parts that hold tags, rendered: member name → XML bytes."""
        parts = {self._document_member: self._render_document(context)}
        for tagged in self._tagged:
            parts[tagged.member] = self._part_bytes(tagged, self._run(tagged.template, tagged.source, context))
        return parts

    def _render_document(self, context: Mapping[str, Any]) -> bytes:
        """The document part rendered, as docxtpl serializes it."""
        tpl = self._tpl
        body_xml = self._run(self._body, self._body_source, context)
        # DocxTemplate.render parses the body, fixes tables, renumbers drawing ids and moves the
        # body into the document element, where lxml drops its now redundant namespace
        # declarations. Moving costs ~0.2 ms a table row; parsing the body inside the document
        # frame, its declarations removed, gives the same tree, hence the same bytes.
        opening = self._body_open.search(body_xml)
        if opening is not None and "xmlns" not in body_xml[opening.end():]:
            body_xml = body_xml[:opening.start()] + "<w:body>" + body_xml[opening.end():]
            with self._lock:
                tpl.docx_ids_index = 1000
                tree = fix_tables(tpl, self._document_head + body_xml + self._document_tail)
                if _may_hold_drawings(body_xml, self._document_head, self._document_tail):
                    tpl.fix_docpr_ids(tree)
        else:
            # A declaration inside the body (a template's local xmlns:wp14, say): when docxtpl moves
            # the body into the document, lxml rebinds such prefixes to the document's own
            # declarations. Only a real move does that, so here render as docxtpl does.
            with self._lock:
                tpl.docx_ids_index = 1000
                body = fix_tables(tpl, body_xml)
                if _may_hold_drawings(body_xml):
                    tpl.fix_docpr_ids(body)
            tree = etree.fromstring(self._document_head + "<w:body/>" + self._document_tail)
            tree.replace(tree.find(qn("w:body")), body)
        return serialize_part_xml(tree)

    @staticmethod
    def _part_bytes(tagged: _TaggedPart, xml: str) -> bytes:
        """A rendered header or footer as docxtpl stores it: parsed into its part, serialized again."""
        part = tagged.part
        return bytes(XmlPart.load(part.partname, part.content_type, xml.encode(tagged.encoding), part.package).blob)

    def _prepare_header_footer(self, rel_id: str, part: Any) -> None:
        tpl = self._tpl
        xml = tpl.get_part_xml(part)
        encoding = tpl.get_headers_footers_encoding(xml)
        source = _as_lines(tpl.patch_xml(xml))
        if MARKERS.search(source):
            self._tagged.append(
                _TaggedPart(rel_id, part.partname.membername, part, encoding, source,
                            self._compile(source))
            )
        else:
            # No tag: render once now, exactly as docxtpl would on every call.
            rendered = self._run(self._compile(source), source, {})
            tpl.map_headers_footers_xml(rel_id, rendered.encode(encoding))

    def _compile(self, source: str) -> Template:
        try:
            return self.env.from_string(source)
        except Exception as exc:
            raise letter_error(self.path, exc, source) from None

    def _run(self, template: Template, source: str, context: Mapping[str, Any]) -> str:
        """Render one part and apply docxtpl's post-processing (render_xml_part's second half)."""
        try:
            xml = template.render(context)
        except Exception as exc:
            raise letter_error(self.path, exc, source) from None
        xml = _join_paragraphs(xml)
        xml = (
            xml.replace("{_{", "{{").replace("}_}", "}}").replace("{_%", "{%").replace("%_}", "%}")
        )
        if not any(c in xml for c in LISTING_CHARACTERS):
            # resolve_listing only rewrites these characters: without them it returns its input.
            return xml
        return self._tpl.resolve_listing(xml)

    def _template_fallback_reason(self) -> str | None:
        docx = self._tpl.docx
        package = docx.part.package
        if not any(rel.reltype == RT.CORE_PROPERTIES for rel in package.rels.values()):
            return "no document properties part (docxtpl creates one stamped with the time)"
        properties = docx.core_properties
        for name in CORE_PROPERTIES:
            if MARKERS.search(getattr(properties, name) or ""):
                return f"tags in the document property {name!r}"
        for part in package.parts:
            if part.content_type == FOOTNOTES and MARKERS.search(part.blob.decode("utf-8")):
                return "tags in footnotes"
        return None


def _join_paragraphs(xml: str) -> str:
    """docxtpl's ``re.sub(r"\\n<w:p([ >])", r"<w:p\\1", xml)``: the line break Jinja leaves before a paragraph
    removed. Two plain replacements give the same text (neither can make a match for the other) in a tenth
    of the time: the template expansion ran in Python for every paragraph of every letter."""
    return xml.replace("\n<w:p ", "<w:p ").replace("\n<w:p>", "<w:p>")


def render_plain(path: str | Path, context: Mapping[str, Any], env: Environment,
                 links: Mapping[str, str] | None = None) -> bytes:
    """Plain docxtpl render+save, with errors turned into LetterError like the fast path.

    `links` (URL → relationship id, from CompiledTemplate.build_url_id) are related first."""
    limits = getattr(env, "limits", None) or DEFAULT_LIMITS
    tpl = _owner_template(context) or open_template(path, limits)
    _relate_links(tpl, Path(path).name, links or {}, _hyperlink_ids(context))
    try:
        with letter_budget(limits):
            tpl.render(dict(context), jinja_env=env)
    except Exception as exc:
        raise letter_error(path, exc, _failing_source(tpl)) from None
    buffer = io.BytesIO()
    tpl.save(buffer)
    return buffer.getvalue()


def _relate_links(tpl: DocxTemplate, name: str, links: Mapping[str, str], used: Iterable[str]) -> None:
    """Add the hyperlinks built for this render to `tpl`, and refuse a RichText whose link has none."""
    part = tpl.get_docx().part  # an InlineImage's template is loaded only when first needed
    for url, expected in links.items():
        rel_id = tpl.build_url_id(url)
        if rel_id != expected:  # the images' template had other links built on it first
            raise LetterError(name, None, f"the link to {url} has id {expected} here but {rel_id} in the "
                                          "template of the context's images: build links with one template")
    for rel_id in used:
        rel = part.rels.get(rel_id)
        if rel is None or rel.reltype != RT.HYPERLINK:
            # A dangling r:id makes Word refuse the letter: better no letter.
            raise LetterError(name, None, f"a RichText links to relationship {rel_id}, which this template "
                                          "lacks: build its url_id with CompiledTemplate.build_url_id")


def _document_frame(root: Any) -> tuple[str, str, re.Pattern[str]]:
    """The document element around its body, as text, and a pattern for the body's opening tag.

    The body docxtpl renders opens with every namespace declaration in scope; inside the
    document element they are redundant, and lxml drops them when it moves the body there.
    """
    frame = deepcopy(root)
    body = frame.find(qn("w:body"))
    frame.replace(body, etree.SubElement(frame, qn("w:body")))
    text = etree.tostring(frame, encoding="unicode")
    head, tail = text.split("<w:body/>", 1)
    return head, tail, re.compile(r"<w:body(?: xmlns(?::\w+)?=\"[^\"]*\")*>")


def _as_lines(patched: str) -> str:
    """One paragraph per line, as render_xml_part does before compiling (error lines = paragraphs)."""
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", patched)


def _may_hold_drawings(*xml: str) -> bool:
    """False when no ``wp:docPr`` can be in the XML (its name is nowhere in the text): docxtpl's
    fix_docpr_ids, an XPath search of the whole tree, would then change nothing."""
    return any("docPr" in text for text in xml)


def _needs_plain(context: Any) -> bool:
    """True when a context value would add parts or relationships to the package."""
    stack = [context]
    while stack:
        value = stack.pop()
        kind = type(value)
        # The exact types of a run's own context first: most of a letter's values, at a set lookup each.
        if kind in _PLAIN_EXACT:
            continue
        if kind is dict:
            stack.extend(value.values())
            continue
        if kind is list or kind is tuple:
            stack.extend(value)
            continue
        if isinstance(value, PLAIN_TYPES):
            continue
        # InlineImage and Subdoc both keep the DocxTemplate they belong to in `.tpl`.
        if isinstance(value, InlineImage) or hasattr(value, "tpl"):
            return True
        if RELATIONSHIP_ID.search(_rich_xml(value)):  # a hyperlink: its relationship must be added
            return True
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set)):
            stack.extend(value)
    return False


def _rich_xml(value: Any) -> str:
    """The XML a RichText or RichTextParagraph inserts ('' for anything else)."""
    xml = getattr(value, "xml", None) if isinstance(value, (RichText, RichTextParagraph)) else None
    return xml if isinstance(xml, str) else ""


def _hyperlink_ids(context: Any) -> set[str]:
    """The relationship ids the context's rich texts refer to."""
    ids: set[str] = set()
    stack = [context]
    while stack:
        value = stack.pop()
        ids.update(RELATIONSHIP_ID.findall(_rich_xml(value)))
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set)):
            stack.extend(value)
    return ids


def _owner_template(context: Any) -> DocxTemplate | None:
    """The DocxTemplate an InlineImage or Subdoc was made for: it must render them."""
    stack = [context]
    while stack:
        value = stack.pop()
        owner = getattr(value, "tpl", None)
        if isinstance(owner, DocxTemplate):
            return owner
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set)):
            stack.extend(value)
    return None


def _failing_source(tpl: DocxTemplate) -> str | None:
    """The patched source of the part docxtpl was rendering when it failed."""
    part = getattr(tpl, "current_rendering_part", None)
    if part is None:
        return None
    if part is tpl.docx.part:
        return _as_lines(tpl.patch_xml(tpl.get_xml()))
    try:
        return _as_lines(tpl.patch_xml(tpl.get_part_xml(part)))
    except Exception:  # a part we cannot re-read: report without a tag
        return None
