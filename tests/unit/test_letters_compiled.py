"""The compiled path gives, part by part, the bytes plain docxtpl gives; files land atomically."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from docxtpl import DocxTemplate, InlineImage
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.letters import (
    CompiledTemplate,
    InvoiceLine,
    LetterError,
    Party,
    PastStep,
    build_context,
    make_environment,
    render_letter,
    render_plain,
    sample_letter_data,
)
from engine.letters.compiled import _join_paragraphs
from tests.support import PACK

LETTERS = sorted(PACK.glob("*.docx"))
ENV = make_environment()
COMPILED = {p.name: CompiledTemplate(p, ENV) for p in LETTERS}


def parts(docx: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        assert z.testzip() is None
        return {name: z.read(name) for name in z.namelist()}


def assert_same_parts(fast: bytes, plain: bytes) -> None:
    a, b = parts(fast), parts(plain)
    assert list(a) == list(b)
    for name in b:
        assert a[name] == b[name], name


def test_pack_is_complete_and_on_the_fast_path() -> None:
    assert [p.name for p in LETTERS] == [
        "mise_en_demeure.docx", "relance_1.docx", "relance_2.docx", "relance_3.docx",
        "transmission_contentieux.docx",
    ]
    assert all(c.fallback_reason is None for c in COMPILED.values())


@pytest.mark.parametrize("kind", ["b2b", "b2c", "agency"])
@pytest.mark.parametrize("path", LETTERS, ids=lambda p: p.stem)
def test_pack_identical_to_plain_docxtpl(path: Path, kind: str) -> None:
    ctx = build_context(sample_letter_data(kind))
    assert_same_parts(COMPILED[path.name].render(ctx), render_plain(path, ctx, ENV))


def test_a_footer_rendered_before_is_reused_and_one_that_changed_is_rendered_again(monkeypatch) -> None:
    """Headers and footers are kept by their rendered text: the same text gives the kept part without parsing
    it again, a new text is parsed, and the letters stay identical to plain docxtpl's."""
    from docx.opc.part import XmlPart

    from engine.letters import compiled

    template = CompiledTemplate(PACK / "relance_1.docx", ENV)
    assert [t.member for t in template._tagged] == ["word/footer1.xml"]  # the footer names the creditor
    base = sample_letter_data("b2b")
    first = build_context(base)
    renamed = build_context(replace(base, creditor=replace(base.creditor, name="Autre Créancier SARL")))
    kept = template.render(first)
    loads = []
    real_load = XmlPart.load
    monkeypatch.setattr(XmlPart, "load", classmethod(
        lambda cls, *args: loads.append(args[0]) or real_load.__func__(cls, *args)))
    again = template.render(first)
    assert loads == [] and again == kept
    changed = template.render(renamed)
    assert len(loads) == 1 and "Autre Créancier SARL".encode() in parts(changed)["word/footer1.xml"]
    assert_same_parts(changed, render_plain(PACK / "relance_1.docx", renamed, ENV))
    for n in range(compiled.KEPT_PARTS + 5):  # many creditors: the kept texts stay bounded
        template.render(build_context(replace(base, creditor=replace(base.creditor, name=f"C{n}"))))
    assert 0 < len(template._kept) <= compiled.KEPT_PARTS


text = st.lists(
    st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FFF)
    | st.sampled_from(["&", "<", ">", '"', "'", "{{", "}}", "{%", "%}", "\n", "\t", "]]>", "&amp;"]),
    max_size=12,
).map("".join)
money = st.decimals(min_value=0, max_value=Decimal("9999999.99"), places=2)
day = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
invoice = st.builds(InvoiceLine, text, day, day, money, money, money)
step = st.builds(PastStep, day, text, st.sampled_from(["letter", "email", "phone", "fax", "receipt"]), text)
party = st.builds(Party, text, st.lists(text, max_size=3).map(tuple), text, text,
                  siren=st.none() | text, email=st.none() | text, phone=st.none() | text)


@st.composite
def letters(draw):
    base = sample_letter_data(draw(st.sampled_from(["b2b", "b2c", "agency"])))
    return replace(
        base,
        debtor=draw(party),
        creditor=replace(base.creditor, name=draw(text), iban=draw(text), signatory=draw(text)),
        debtor_ref=draw(text), case_ref=draw(text), letter_ref=draw(text),
        invoices=draw(st.lists(invoice, max_size=200)),
        history=draw(st.lists(step, max_size=6)),
        pay_within_days=draw(st.none() | st.integers(0, 60)),
        penalties=draw(money), indemnity=draw(money), interest=draw(money),
        formal_notice_on=draw(st.none() | day),
        enclosures=tuple(draw(st.lists(text, max_size=2))),
        currency=draw(st.sampled_from(["EUR", "USD"])),
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(letter=letters(), name=st.sampled_from([p.name for p in LETTERS]))
def test_random_hostile_cases_identical_to_plain_docxtpl(letter, name: str) -> None:
    ctx = build_context(letter)
    assert_same_parts(COMPILED[name].render(ctx), render_plain(PACK / name, ctx, ENV))


@given(st.lists(st.sampled_from(["\n", "<w:p", " ", ">", "<w:pPr>", "x", "\n<w:p>", "\n<w:p "])).map("".join))
@example("<w:body>\n<w:p w:rsidR=\"1\">a</w:p>\n<w:p>b</w:p>\n<w:pPr/>\n\n<w:p >c</w:p></w:body>")
def test_paragraph_breaks_removed_as_docxtpl_does(xml: str) -> None:
    # docxtpl's own expression (render_xml_part), which _join_paragraphs replaces for speed.
    assert _join_paragraphs(xml) == re.sub(r"\n<w:p([ >])", r"<w:p\1", xml)


def test_row_loop_grows_with_invoices() -> None:
    many = [InvoiceLine(f"F-{n:04d}", date(2026, 1, 1), date(2026, 2, 1) + timedelta(days=n),
                        Decimal("10"), Decimal("0"), Decimal("10")) for n in range(150)]
    ctx = build_context(replace(sample_letter_data(), invoices=many))
    xml = parts(COMPILED["relance_2.docx"].render(ctx))["word/document.xml"].decode()
    assert all(f"F-{n:04d}" in xml for n in range(150))
    assert "1\u00a0500,00\u00a0€" in xml
    assert "{%" not in xml and "{{" not in xml


def test_render_letter_is_atomic_and_returns_sha256(tmp_path: Path) -> None:
    out = tmp_path / "out" / "letter.docx"
    digest = render_letter(PACK / "relance_1.docx", sample_letter_data(), out)
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()
    # Same case, same bytes: fixed zip timestamps make letters reproducible.
    assert render_letter(PACK / "relance_1.docx", sample_letter_data(), out) == digest
    assert [p.name for p in out.parent.iterdir()] == ["letter.docx"]


def test_failed_render_leaves_no_file(tmp_path: Path) -> None:
    from docx import Document

    bad = tmp_path / "bad.docx"
    doc = Document()
    doc.add_paragraph("{{ nothing_here.amount }}")
    doc.save(str(bad))
    out = tmp_path / "letters" / "x.docx"
    out.parent.mkdir()
    with pytest.raises(LetterError):
        render_letter(bad, sample_letter_data(), out)
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_edited_template_is_recompiled(tmp_path: Path) -> None:
    from docx import Document

    path = tmp_path / "t.docx"
    for version in ("un", "deux"):
        doc = Document()
        doc.add_paragraph(f"{version} {{{{ case_ref }}}}")
        doc.save(str(path))
        out = tmp_path / f"{version}.docx"
        render_letter(path, sample_letter_data(), out)
        assert f"{version} DOS-2026-0042" in Document(str(out)).paragraphs[0].text


def test_inline_image_falls_back_to_plain_docxtpl(tmp_path: Path) -> None:
    from docx import Document

    png = tmp_path / "logo.png"
    png.write_bytes(tiny_png())
    path = tmp_path / "img.docx"
    doc = Document()
    doc.add_paragraph("{{ logo }} {{ case_ref }}")
    doc.save(str(path))
    compiled = CompiledTemplate(path)
    tpl = DocxTemplate(str(path))
    ctx = dict(build_context(sample_letter_data()), logo=InlineImage(tpl, str(png)))
    out = parts(compiled.render(ctx))
    assert any(name.startswith("word/media/") for name in out)
    assert b"DOS-2026-0042" in out["word/document.xml"]


def test_pictures_in_the_template_are_renumbered_as_docxtpl_does(tmp_path: Path) -> None:
    """A logo in the letter's body (wp:docPr ids) stays on the fast path, its drawing ids renumbered
    exactly as docxtpl renumbers them; a template without pictures skips that search."""
    from docx import Document

    png = tmp_path / "logo.png"
    png.write_bytes(tiny_png())
    path = tmp_path / "logo.docx"
    doc = Document()
    doc.add_picture(str(png))
    doc.add_paragraph("{{ case_ref }}")
    doc.add_picture(str(png))
    doc.save(str(path))
    compiled = CompiledTemplate(path, ENV)
    assert compiled.fallback_reason is None
    ctx = build_context(sample_letter_data())
    fast = compiled.render(ctx)
    assert_same_parts(fast, render_plain(path, ctx, ENV))
    assert parts(fast)["word/document.xml"].count(b'id="100') == 2  # docxtpl's ids: 1001, 1002


def tiny_png() -> bytes:
    """A valid 1×1 white PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + chunk(b"IEND", b""))


def test_tags_in_document_properties_fall_back(tmp_path: Path) -> None:
    from docx import Document

    path = tmp_path / "p.docx"
    doc = Document()
    doc.core_properties.title = "Relance {{ case_ref }}"
    doc.add_paragraph("{{ case_ref }}")
    doc.save(str(path))
    compiled = CompiledTemplate(path)
    assert compiled.fallback_reason and "title" in compiled.fallback_reason
    ctx = build_context(sample_letter_data())
    assert_same_parts(compiled.render(ctx), render_plain(path, ctx, make_environment()))
    assert b"Relance DOS-2026-0042" in parts(compiled.render(ctx))["docProps/core.xml"]


def linked_template(tmp_path: Path) -> Path:
    from docx import Document

    path = tmp_path / "link.docx"
    doc = Document()
    doc.add_paragraph("{{r link }} {{ case_ref }}")
    doc.save(str(path))
    return path


def hyperlinks(docx: bytes) -> dict[str, str]:
    """rId → URL of the document part's external hyperlinks."""
    from lxml import etree

    rels = etree.fromstring(parts(docx)["word/_rels/document.xml.rels"])
    return {r.get("Id"): r.get("Target") for r in rels if r.get("Type", "").endswith("/hyperlink")}


def test_build_url_id_relates_the_link_as_docxtpl_does(tmp_path: Path) -> None:
    from docxtpl import RichText

    path = linked_template(tmp_path)
    compiled, tpl = CompiledTemplate(path, ENV), DocxTemplate(str(path))
    ours = RichText("payer", url_id=compiled.build_url_id("https://pay.example/1"))
    theirs = RichText("payer", url_id=tpl.build_url_id("https://pay.example/1"))
    assert compiled.build_url_id("https://pay.example/1") == tpl.build_url_id("https://pay.example/1")
    ctx = build_context(sample_letter_data())
    tpl.render(dict(ctx, link=theirs), jinja_env=ENV)
    buffer = io.BytesIO()
    tpl.save(buffer)
    letter = compiled.render(dict(ctx, link=ours))
    assert_same_parts(letter, buffer.getvalue())
    assert list(hyperlinks(letter).values()) == ["https://pay.example/1"]
    # Like docxtpl's next render, the next letter no longer holds that link.
    assert hyperlinks(compiled.render(dict(ctx, link=RichText("sans lien")))) == {}


def test_links_stay_in_the_thread_that_built_them(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from docxtpl import RichText

    compiled = CompiledTemplate(linked_template(tmp_path), ENV)
    ctx = build_context(sample_letter_data())

    def letter(url: str) -> dict[str, str]:
        return hyperlinks(compiled.render(dict(ctx, link=RichText("x", url_id=compiled.build_url_id(url)))))

    compiled.build_url_id("https://pay.example/other-thread-only")
    with ThreadPoolExecutor(1) as pool:
        assert list(pool.submit(letter, "https://pay.example/2").result().values()) == ["https://pay.example/2"]


def test_link_unknown_to_the_template_is_refused(tmp_path: Path) -> None:
    from docxtpl import RichText

    path = linked_template(tmp_path)
    foreign = DocxTemplate(str(path)).build_url_id("https://pay.example/3")  # not the template that renders
    with pytest.raises(LetterError, match="lacks"):
        CompiledTemplate(path, ENV).render(dict(build_context(sample_letter_data()),
                                                link=RichText("x", url_id=foreign)))


# LibreOffice, saving an .odt as .docx, relates docProps/core.xml under this type (lower-case "officedocument").
LIBREOFFICE_CORE_PROPERTIES = "http://schemas.openxmlformats.org/officedocument/2006/relationships/metadata/core-properties"


def libreoffice_template(tmp_path: Path) -> Path:
    """A pack letter whose package relates its properties as LibreOffice's ODT → DOCX export does."""
    source = PACK / "relance_1.docx"
    target = tmp_path / source.name
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename == "_rels/.rels":
                data = data.replace(b"http://schemas.openxmlformats.org/package/2006/relationships/metadata/"
                                    b"core-properties", LIBREOFFICE_CORE_PROPERTIES.encode())
                assert LIBREOFFICE_CORE_PROPERTIES.encode() in data
            copy.writestr(info, data)
    return target


@pytest.mark.parametrize("plain", [False, True])
def test_a_template_saved_by_libreoffice_from_odt_gives_letters_with_one_part_per_name(tmp_path: Path,
                                                                                       plain: bool) -> None:
    path = libreoffice_template(tmp_path)
    context = build_context(sample_letter_data("b2b"))
    docx = render_plain(path, context, ENV) if plain else CompiledTemplate(path, ENV).render(context)
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        names = z.namelist()
        assert sorted(names) == sorted(set(names))  # two parts of one name: Word says the file is damaged
        assert b"core-properties" in z.read("_rels/.rels")  # the template's properties, still related
