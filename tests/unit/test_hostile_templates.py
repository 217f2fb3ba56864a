"""Hostile letter templates: each bound of the letters' sandbox and of .docx opening is a LetterError
naming the template (and the tag when there is one). Payloads stay small: a lowered limit proves a
cap, a zip bomb of 3 MB inflated (3 KB on disk) proves the ratio check."""

from __future__ import annotations

import io
import os
import re
import signal
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from engine.core.limits import Limits
from engine.letters import (
    CompiledTemplate,
    InvoiceLine,
    LetterError,
    build_context,
    make_environment,
    render_letter,
    render_plain,
    sample_letter_data,
)
from engine.letters import docxfile, sandbox
from engine.letters.check import check_email_templates, check_template
from engine.letters.email import render_email
from tests.support import PACK

CONTEXT = build_context(sample_letter_data())
SMALL = Limits(template_string=1_000, template_range=100)


def make_template(path: Path, *paragraphs: str) -> Path:
    """A DOCX with one paragraph per argument, after an untagged first one."""
    from docx import Document

    doc = Document()
    doc.add_paragraph("Madame, Monsieur,")
    for text in paragraphs:
        doc.add_paragraph(text)
    doc.save(str(path))
    return path


def render(path: Path, limits: Limits | None = None, *, fast: bool = True) -> bytes:
    if fast:
        return CompiledTemplate(path, limits=limits).render(CONTEXT)
    return render_plain(path, CONTEXT, make_environment(limits))


def refused(path: Path, limits: Limits | None = None, *, fast: bool = True) -> LetterError:
    with pytest.raises(LetterError) as caught:
        render(path, limits, fast=fast)
    error = caught.value
    assert error.template == path.name
    assert "limit exceeded" in error.message, error.message
    return error


# --- the sandbox ---


@pytest.mark.parametrize("fast", [True, False])
def test_range_is_capped(tmp_path: Path, fast: bool) -> None:
    path = make_template(tmp_path / "t.docx", "{% for i in range(101) %}{{ i }}{% endfor %}")
    error = refused(path, SMALL, fast=fast)
    assert error.tag == "{% for i in range(101) %}" and error.paragraph == 2
    assert "range() of 101 items" in error.message and "relance.toml limits: template_range = 100" in error.message
    render(make_template(tmp_path / "ok.docx", "{% for i in range(100) %}{{ i }}{% endfor %}"), SMALL, fast=fast)


def test_the_issue_s_hundred_thousand_squared_loop_is_refused_at_once(tmp_path: Path) -> None:
    path = make_template(tmp_path / "t.docx",
                         "{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}")
    assert "relance.toml limits: template_range = 10000" in refused(path).message


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("tag", [
    "{% for i in [1, 2, 3] %}{% endfor %}",  # a loop checks the clock at each item
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",  # calls do
    "{{ 2 + 2 }}",  # operators do
    "{{ 'x'|center(3) }}",  # guarded filters do
])
def test_a_letter_past_its_wall_clock_budget_is_refused_at_the_tag(tmp_path: Path, fast: bool, tag: str) -> None:
    """A budget of a nanosecond is spent by the first check: no timing, yet each check point is
    proven (a later one would name another place, or none)."""
    path = make_template(tmp_path / "slow.docx", tag)
    error = refused(path, Limits(template_seconds=1e-9), fast=fast)
    assert "relance.toml limits: template_seconds = 1e-09" in error.message
    assert (error.paragraph, error.tag) == (2, re.match(r"\{[{%].*?[}%]\}", tag).group(0))  # type: ignore[union-attr]
    render(path, fast=fast)  # the default budget is plenty


def test_the_output_itself_checks_the_budget(tmp_path: Path) -> None:
    """No loop, call or operator: the output batches still look at the clock."""
    path = make_template(tmp_path / "plain.docx", "Bonjour {{ debtor.name }}")
    assert "relance.toml limits: template_seconds" in refused(path, Limits(template_seconds=1e-9)).message


@pytest.mark.parametrize(
    "tag",
    [
        "{{ 'x' * 1001 }}",
        "{{ 3 * ['x'] * 400 }}",
        "{{ ('x' * 600) + ('y' * 600) }}",
        "{{ ('x' * 600) ~ ('y' * 600) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(12) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{{ 'x'|center(2000) }}",
        "{{ 'x'.center(2000) }}",
        "{{ 'x'.zfill(2000) }}",
        "{{ 'x'|indent(2000, true) }}",
        "{{ '%2000d' % 1 }}",
        "{{ '%2000d'|format(1) }}",
        "{{ '{:>2000}'.format(1) }}",
        "{{ '{:{w}}'.format(1, w=2000) }}",
        "{{ ['x' * 600, 'y' * 600]|join }}",
        "{{ ['x' * 600, 'y' * 600]|map('upper')|join }}",  # an iterator, counted while it is read
        "{{ (['x' * 500] * 3)|length }}",  # three references, yet 1,500 characters once printed
        "{{ ','.join(['x' * 500] * 3) }}",
        "{{ ('x' * 500)|replace('x', 'yyy') }}",
        "{{ ('x' * 500).replace('x', 'yyy') }}",
        "{{ ('a\tb' * 10).expandtabs(200) }}",
        "{{ ('x' * 500).translate({120: 'yyy'}) }}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(12) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l|length }}",
        "{% set ns = namespace(x=3) %}{% for i in range(20) %}{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x > 0 }}",
        "{{ 7 ** 20000 > 0 }}",
        "{{ lipsum(100) }}",
        "{{ [1]|slice(101)|list|length }}",
        "{{ [1, 2]|batch(2000, 0)|list|length }}",
        "{{ [[1]]|sum(start=[]) }}",
    ],
)
def test_every_way_to_grow_a_value_is_bounded(tmp_path: Path, tag: str) -> None:
    """Each of these builds a few thousand characters (items, bits): refused under a limit of 1,000."""
    path = make_template(tmp_path / "grow.docx", f"Texte {tag} fin")
    error = refused(path, SMALL)
    assert error.paragraph == 2 and error.tag is not None


class Recording(str):
    """A string that notes which of its methods ran: a size foreseen is refused before the call."""

    calls: list[str] = []

    def center(self, *args: Any) -> str:  # type: ignore[override]
        Recording.calls.append("center")
        return str.center(self, *args)

    def zfill(self, *args: Any) -> str:  # type: ignore[override]
        Recording.calls.append("zfill")
        return str.zfill(self, *args)

    def replace(self, *args: Any) -> str:  # type: ignore[override]
        Recording.calls.append("replace")
        return str.replace(self, *args)

    def join(self, *args: Any) -> str:  # type: ignore[override]
        Recording.calls.append("join")
        return str.join(self, *args)

    def translate(self, *args: Any) -> str:  # type: ignore[override]
        Recording.calls.append("translate")
        return str.translate(self, *args)

    def expandtabs(self, *args: Any) -> str:  # type: ignore[override]
        Recording.calls.append("expandtabs")
        return str.expandtabs(self, *args)


@pytest.mark.parametrize("tag", ["{{ s.center(2000) }}", "{{ s.zfill(2000) }}", "{{ s.replace('x', 'yyyy') }}",
                                 "{{ s.join(['a' * 300] * 5) }}", "{{ s.translate({120: 'yyyy'}) }}",
                                 "{{ s.expandtabs(2000) }}"])
def test_string_methods_are_refused_before_they_run(tmp_path: Path, tag: str) -> None:
    """A method whose result would pass the limit never runs (the result's own check comes too late
    for `'x'.center(10**12)`)."""
    Recording.calls = []
    path = make_template(tmp_path / "method.docx", tag)
    context = {**CONTEXT, "s": Recording("x\t" * 300)}
    with pytest.raises(LetterError, match="limit exceeded"):
        CompiledTemplate(path, limits=SMALL).render(context)
    assert Recording.calls == []


def test_lipsum_is_refused_before_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(sandbox, "generate_lorem_ipsum", lambda *args: calls.append(1) or "")
    path = make_template(tmp_path / "lipsum.docx", "{{ lipsum(100) }}")
    refused(path, SMALL)
    assert calls == []


def test_memory_grown_while_rendering_is_the_last_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What no size check foresees (a filter mapped over many references to one big string) is caught
    by the process's growth; here the memory reading is simulated, growing 1 MB a look."""
    readings = iter(range(0, 10**12, 1_000_000))
    monkeypatch.setattr(sandbox, "memory_in_use", lambda: next(readings))
    path = make_template(tmp_path / "memory.docx", "{% for i in range(1000) %}{{ i }}{% endfor %}")
    error = refused(path, Limits(template_memory=5_000_000))
    assert "took more than 5 MB of memory" in error.message and error.tag == "{% for i in range(1000) %}"
    render(path, Limits(template_memory=10**12))


def test_the_issue_s_hundred_megabyte_string_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """Not folded while compiling (the template compiles), refused by the product's size when rendering."""
    path = make_template(tmp_path / "big.docx", "{{ 'x' * 100000000 }}")
    compiled = CompiledTemplate(path)
    with pytest.raises(LetterError) as caught:
        compiled.render(CONTEXT)
    assert "a string or list of 100,000,000 characters" in caught.value.message
    assert caught.value.tag == "{{ 'x' * 100000000 }}"


@pytest.mark.parametrize("fast", [True, False])
def test_a_part_s_output_is_capped_and_the_error_names_the_tag(tmp_path: Path, fast: bool) -> None:
    path = make_template(tmp_path / "long.docx", "{% for i in range(100) %}{{ 'x' * 500 }}{% endfor %}")
    error = refused(path, Limits(template_output=20_000), fast=fast)
    assert "the letter's text passes 20,000 characters" in error.message
    assert error.tag == "{% for i in range(100) %}" and error.paragraph == 2


def test_a_macro_may_print_more_than_a_string_may_hold(tmp_path: Path) -> None:
    """A macro's output is output (template_output), not a value built (template_string)."""
    path = make_template(tmp_path / "table.docx",
                         "{% macro rows() %}{% for i in range(30) %}{{ 'x' * 100 }}{% endfor %}{% endmacro %}{{ rows() }}")
    parts = CompiledTemplate(path, limits=Limits(template_string=1_000)).render_parts(CONTEXT)
    assert "x" * 3000 in parts["word/document.xml"].decode()


def test_macro_and_block_output_is_capped_too(tmp_path: Path) -> None:
    path = make_template(tmp_path / "macro.docx",
                         "{% macro m() %}{% for i in range(100) %}{{ 'x' * 500 }}{% endfor %}{% endmacro %}"
                         "{% set s = m() %}{{ s|length }}")
    assert "relance.toml limits: template_output = 20000" in refused(path, Limits(template_output=20_000)).message


def test_the_tags_of_a_part_are_counted_before_jinja_compiles_them(tmp_path: Path) -> None:
    """Compiling 100,000 tags took a minute and 1.3 GB: every compile (ours, docxtpl's, the checks')
    counts them first."""
    path = make_template(tmp_path / "relance_tags.docx", " ".join(f"{{{{ debtor.name }}}}{n}" for n in range(11)))
    limits = Limits(template_tags=10)
    with pytest.raises(LetterError, match="11 tags in one part"):
        CompiledTemplate(path, limits=limits)
    with pytest.raises(LetterError, match="relance.toml limits: template_tags = 10"):
        render_plain(path, CONTEXT, make_environment(limits))
    assert any("11 tags in one part" in p.message for p in check_template(path, limits=limits))
    CompiledTemplate(path, limits=Limits(template_tags=11)).render(CONTEXT)


def test_normal_letters_render_byte_for_byte_as_in_a_plain_sandbox() -> None:
    """The bounds only count: the shipped pack, with 100 invoice rows and a history, gives the very
    parts Jinja's own sandbox gives."""
    plain_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    rows = [InvoiceLine(f"FA-{n:04d}", date(2026, 1, 1) + timedelta(days=n), date(2026, 2, 1) + timedelta(days=n),
                        Decimal("1234.56"), Decimal("100"), Decimal("1134.56")) for n in range(100)]
    context = build_context(replace(sample_letter_data(), invoices=rows))
    for path in sorted(PACK.glob("*.docx")):
        bounded = CompiledTemplate(path).render_parts(context)
        plain = CompiledTemplate(path, plain_env).render_parts(context)
        assert bounded == plain, path.name


class _Mapping(dict):  # type: ignore[type-arg]
    extra = "an attribute of the class"


def test_dot_on_a_dict_answers_as_jinja_s_sandbox_does_by_its_short_way() -> None:
    """`a.b` on a plain dict takes the item without the failed getattr first (engine.letters.sandbox); the
    answers stay Jinja's: the item, dict's own method before an item of the same name, StrictUndefined for a
    missing key, a refusal for what is unsafe. A dict subclass goes the sandbox's own way."""
    bounded = make_environment()
    plain = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    context = {"a": {"b": "<b>", "items": "shadowed", "_hidden": 1}, "m": _Mapping(b=2)}
    source = "{{ a.b }}|{{ a._hidden }}|{{ a['items'] }}|{{ a.items() | list | length }}|{{ m.b }}|{{ m.extra }}"
    assert bounded.from_string(source).render(context) == plain.from_string(source).render(context) == (
        "&lt;b&gt;|1|shadowed|3|2|an attribute of the class")
    for source in ("{{ a.missing }}", "{{ a.__class__ }}", "{{ a.items.__self__ }}", "{{ m.__class__ }}"):
        failures = []
        for environment in (bounded, plain):
            with pytest.raises(Exception) as failed:
                environment.from_string(source).render(context)
            failures.append((type(failed.value), str(failed.value)))
        assert failures[0] == failures[1], source


# --- .docx files ---


def docx_bytes(**extra: bytes) -> bytes:
    """A real .docx (python-docx's default document with one tag), plus `extra` members."""
    from docx import Document

    buffer = io.BytesIO()
    doc = Document()
    doc.add_paragraph("Bonjour {{ debtor.name }}")
    doc.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        for info in source.infolist():
            package.writestr(info.filename, source.read(info.filename))
        for name, content in extra.items():
            package.writestr(name, content)
    return out.getvalue()


def zip_bomb(inflated: int = 3_000_000) -> bytes:
    """A .docx whose body is padded with `inflated` spaces: about 1,000 to 1 (3 KB on disk)."""
    from docx import Document

    buffer = io.BytesIO()
    Document().save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "word/document.xml":
                content = content.replace(b"<w:body>", b"<w:body>" + b" " * inflated, 1)
            package.writestr(info.filename, content)
    return out.getvalue()


def test_a_zip_bomb_is_refused_from_the_directory_before_anything_inflates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "relance_bomb.docx"
    path.write_bytes(zip_bomb())
    assert path.stat().st_size < 60_000

    def inflating(*args: object) -> None:
        raise AssertionError("a part was inflated before the directory was checked")

    monkeypatch.setattr(docxfile, "_check_inflates_as_declared", inflating)
    with pytest.raises(LetterError) as caught:
        docxfile.open_template(path)
    assert caught.value.template == "relance_bomb.docx"
    assert "part word/document.xml is compressed" in caught.value.message
    assert "relance.toml limits: docx_ratio = 100" in caught.value.message


@pytest.mark.parametrize(("limits", "words"), [
    (Limits(docx_part_bytes=1_000_000), "relance.toml limits: docx_part_bytes = 1000000"),
    (Limits(docx_total_bytes=1_000_000), "relance.toml limits: docx_total_bytes = 1000000"),
    (Limits(docx_members=5), "relance.toml limits: docx_members = 5"),
    (Limits(docx_bytes=1_000), "relance.toml limits: docx_bytes = 1000"),
])
def test_every_docx_bound_is_a_letter_error(tmp_path: Path, limits: Limits, words: str) -> None:
    path = tmp_path / "t.docx"
    path.write_bytes(zip_bomb())
    with pytest.raises(LetterError) as caught:
        docxfile.open_template(path, replace(limits, docx_ratio=10_000))
    assert words in caught.value.message


def test_a_directory_that_lies_about_a_part_s_size_is_refused(tmp_path: Path) -> None:
    """The part inflates to more than the directory says: found by inflating at most a chunk past it."""
    data = bytearray(docx_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as package:
        info = package.getinfo("word/document.xml")
    central = _central_entry(data, b"word/document.xml")
    struct.pack_into("<I", data, central + 24, info.file_size // 2)  # uncompressed size field
    path = tmp_path / "lying.docx"
    path.write_bytes(bytes(data))
    with pytest.raises(LetterError) as caught:
        docxfile.open_template(path)
    assert "part word/document.xml is damaged" in caught.value.message


def _central_entry(data: bytearray, name: bytes) -> int:
    """Offset of the central directory entry of member `name`."""
    offset = data.index(b"PK\x01\x02")
    while True:
        name_length, extra_length, comment_length = struct.unpack_from("<HHH", data, offset + 28)
        if data[offset + 46: offset + 46 + name_length] == name:
            return offset
        offset += 46 + name_length + extra_length + comment_length


@pytest.mark.parametrize(("content", "words"), [
    (b"PK\x03\x04 this is not really a zip" * 10, "not a ZIP package"),
    (b"{\\rtf1 a Word document saved as RTF}", "not a ZIP package"),
    (None, "cannot open as a Word document"),  # a ZIP, but no Word document inside
])
def test_a_corrupt_or_foreign_file_is_a_located_error_everywhere(tmp_path: Path, content: bytes | None,
                                                                 words: str) -> None:
    if content is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as package:
            package.writestr("readme.txt", "hello")
        content = buffer.getvalue()
    path = tmp_path / "relance_1.docx"
    path.write_bytes(content)
    problems = check_template(path)  # relance letters check, relance validate
    assert [(p.template, p.code) for p in problems] == [("relance_1.docx", "unreadable")]
    assert words in problems[0].message
    with pytest.raises(LetterError, match=words):  # a run loading the template
        render_letter(path, sample_letter_data(), tmp_path / "out" / "letter.docx")
    assert not (tmp_path / "out" / "letter.docx").exists()
    with pytest.raises(LetterError, match="cannot read the template"):
        render_letter(tmp_path / "missing.docx", sample_letter_data(), tmp_path / "out" / "letter.docx")


def with_doctype(path: Path, member: str, doctype: bytes, *, entity: bool = False, encoding: str = "utf-8",
                 at: int | None = None) -> Path:
    """``path``'s template with ``doctype`` put in part ``member`` after its XML declaration (``at``: after a
    comment as long as it takes to begin at that byte), with ``entity`` the entity &x; used in the body's
    text, the part saved in ``encoding``."""
    plain = make_template(path.with_name("plain.docx"), "Texte XXE[{{ case_ref }}] fin")
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == member:
                if at is not None:
                    doctype = b"<!--" + b"x" * (at - content.index(b"?>") - 2 - 7) + b"-->" + doctype
                content = content.replace(b"?>", b"?>" + doctype, 1)
                if entity:
                    content = content.replace(b"XXE[", b"XXE[&x;", 1)
                if encoding != "utf-8":
                    content = content.decode("utf-8").replace("UTF-8", encoding.upper(), 1).encode(encoding)
            target.writestr(info, content)
    return path


@pytest.mark.parametrize(("member", "doctype", "entity", "encoding", "at"), [
    ("word/document.xml", b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]>', True, "utf-8", None),
    ("word/document.xml", b'<!DOCTYPE d [<!ENTITY x "texte en plus">]>', True, "utf-8", None),
    ("word/document.xml", b"<!DOCTYPE d>", False, "utf-8", None),
    ("word/document.xml", b"<!DOCTYPE d>", False, "utf-16", None),
    ("word/document.xml", b"<!DOCTYPE d>", False, "utf-8", (1 << 16) - 4),  # across two inflated chunks
    ("[Content_Types].xml", b"<!DOCTYPE d>", False, "utf-8", None),
    ("word/_rels/document.xml.rels", b"<!DOCTYPE d>", False, "utf-8", None),
])
def test_a_doctype_is_refused_where_a_template_is_opened_so_by_check_and_run_alike(
        tmp_path: Path, member: str, doctype: bytes, entity: bool, encoding: str, at: int | None) -> None:
    """Word writes no DOCTYPE. One in any part was refused by `letters check` only when the text used an entity
    it declared, while a render read the same file and wrote the letter with the entity's text silently gone."""
    path = with_doctype(tmp_path / "relance_1.docx", member, doctype, entity=entity, encoding=encoding, at=at)
    if at is not None:
        with zipfile.ZipFile(path) as package:
            assert package.read(member).index(b"<!DOCTYPE") == at
    with pytest.raises(LetterError) as caught:
        docxfile.open_template(path)
    said = caught.value.message
    assert caught.value.template == "relance_1.docx" and member in said and "DOCTYPE" in said
    assert "save the document again from Word" in said
    assert [(p.code, p.message) for p in check_template(path)] == [("unreadable", said)]  # letters check, validate
    for fast in (True, False):  # the run's compiled render and its plain fallback
        with pytest.raises(LetterError) as rendering:
            render(path, fast=fast)
        assert rendering.value.message == said
    with pytest.raises(LetterError, match="DOCTYPE"):
        render_letter(path, sample_letter_data(), tmp_path / "out" / "letter.docx")
    assert not (tmp_path / "out" / "letter.docx").exists()


def test_letters_check_and_validate_refuse_a_zip_bomb_in_one_line(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli.main import cli

    monkeypatch.chdir(tmp_path)
    letters = tmp_path / "letters"
    letters.mkdir()
    (letters / "relance_1.docx").write_bytes(zip_bomb())
    env = {"RELANCE_WORKSPACE": None, "RELANCE_DATABASE_URL": None}
    result = CliRunner().invoke(cli, ["letters", "check", str(letters)], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: relance_1.docx: part word/document.xml is compressed")

    (tmp_path / "wf.yaml").write_text(
        "name: t\nversion: 1\nletters: letters\ninitial: due\nstates:\n  due: {}\n"
        "  reminder: {letter: relance_1.docx, kind: reminder}\n  paid: {final: true}\n"
        "transitions:\n  - {trigger: go, source: due, dest: reminder, after: 1 day}\n"
        "  - {trigger: go, source: reminder, dest: paid, after: 1 day}\n")
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "wf.yaml")], env=env)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert [line for line in result.output.splitlines() if line.startswith("error:")] == errors


# --- what a template may not change ---


MUTATIONS = [
    "{{ payee.update({'iban': 'HACKED'}) or '' }}",
    "{{ invoices.clear() }}",
    "{{ invoices.append(invoices[0]) }}",
    "{% set _ = debtor.pop('name') %}",
    "{{ creditor.setdefault('signatory', 'x') }}",
    "{% set l = [1] %}{% set _ = l.extend(l) %}",  # a list of the template's own: no exception to keep track of
]


def last_tag(source: str) -> str:
    """The last tag of ``source``: the one that changes something, in every MUTATIONS entry."""
    return re.findall(r"\{[{%].*?[}%]\}", source)[-1]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("tag", MUTATIONS)
def test_a_letter_cannot_change_the_context_the_e_mail_renders_from(tmp_path: Path, fast: bool, tag: str) -> None:
    """A case's letter and e-mail render from one context: a letter calling a dict's or a list's mutating
    method would rewrite what the e-mail says (the IBAN the debtor pays to). Refused at the tag, nothing changed."""
    context = build_context(sample_letter_data())
    before = repr(context)
    path = make_template(tmp_path / "relance_1.docx", f"Texte {tag} fin")
    with pytest.raises(LetterError) as caught:
        CompiledTemplate(path).render(context) if fast else render_plain(path, context, make_environment())
    assert caught.value.template == "relance_1.docx" and caught.value.paragraph == 2
    assert caught.value.tag == last_tag(tag)
    assert "forbidden by the sandbox" in caught.value.message
    assert repr(context) == before
    problems = check_template(path)  # `relance letters check`, and the run's check before any case opens
    assert [(p.code, p.tag) for p in problems] == [("render", last_tag(tag))]


@pytest.mark.parametrize("tag", MUTATIONS)
def test_an_e_mail_cannot_change_the_context_either(tmp_path: Path, tag: str) -> None:
    context = build_context(sample_letter_data())
    before = repr(context)
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "default.txt").write_text(f"Relance\n\n{tag}\n", encoding="utf-8")
    with pytest.raises(LetterError) as caught:
        render_email(tmp_path, "reminder1", context)
    assert caught.value.template.endswith("default.txt:3")
    assert caught.value.tag == last_tag(tag)
    assert "forbidden by the sandbox" in caught.value.message
    assert repr(context) == before
    assert [p.template for p in check_email_templates(tmp_path)] == ["email/default.txt:3"]


def test_reading_dicts_and_lists_is_still_allowed(tmp_path: Path) -> None:
    path = make_template(tmp_path / "read.docx", "{{ payee.get('iban') }}|{{ invoices|length }}|"
                         "{{ debtor.keys()|list|length > 0 }}|{{ invoices.index(invoices[0]) }}|"
                         "{% set ns = namespace(n=0) %}{% for i in invoices %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}")
    text = CompiledTemplate(path).render_parts(CONTEXT)["word/document.xml"].decode()
    assert f"{CONTEXT['payee']['iban']}|{len(CONTEXT['invoices'])}|True|0|{len(CONTEXT['invoices'])}" in text


# --- one template, one file ---


LOADING = ["{% include 'relance_2.docx' %}", "{% import 'macros.txt' as m %}", "{% from 'macros.txt' import f %}",
           "{% extends 'base.txt' %}"]


@pytest.mark.parametrize("tag", LOADING)
def test_a_letter_may_not_include_import_or_extend_another_file(tmp_path: Path, tag: str) -> None:
    """Templates have no loader: the tag used to fail as a bare TypeError ('no loader for this environment'),
    at render time only. It is refused when the template compiles, and by the check, naming tag and why."""
    path = make_template(tmp_path / "relance_1.docx", f"Texte {tag} fin")
    with pytest.raises(LetterError) as caught:
        CompiledTemplate(path)
    assert (caught.value.template, caught.value.tag, caught.value.paragraph) == ("relance_1.docx", tag, 2)
    assert "not allowed in a template" in caught.value.message and "TypeError" not in caught.value.message
    [problem] = check_template(path)
    assert (problem.code, problem.tag, problem.paragraph) == ("syntax", tag, 2)
    assert "not allowed in a template" in problem.message


@pytest.mark.parametrize("tag", [*LOADING, "{%- include 'default.txt' -%}"])
def test_an_e_mail_may_not_include_import_or_extend_another_file(tmp_path: Path, tag: str) -> None:
    """`{% include %}` in an e-mail template was a traceback from `letters check` and from the run."""
    from engine.letters.check import EmailTemplateRefused, require_sound_email_templates

    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "default.txt").write_text("Relance\n\nBonjour\n", encoding="utf-8")
    (tmp_path / "email" / "reminder1.txt").write_text(f"Relance\n\n{tag}\n", encoding="utf-8")
    with pytest.raises(LetterError) as caught:
        render_email(tmp_path, "reminder1", CONTEXT)
    assert caught.value.template.endswith("reminder1.txt:3") and caught.value.tag == tag
    assert "not allowed in a template" in caught.value.message
    [problem] = check_email_templates(tmp_path)
    assert problem.template == "email/reminder1.txt:3" and "not allowed in a template" in problem.message
    with pytest.raises(EmailTemplateRefused, match="not allowed in a template"):  # the run, before any case
        require_sound_email_templates(tmp_path, ["reminder1.txt"])


def test_letters_check_refuses_an_e_mail_include_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.cli.main import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "default.txt").write_text("Relance\n{% include 'default.html' %}\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["letters", "check", str(tmp_path)],
                                env={"RELANCE_WORKSPACE": None, "RELANCE_DATABASE_URL": None})
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: email/default.txt:2, tag {% include 'default.html' %}: ")


# --- template files that are no files ---


@pytest.fixture
def bounded() -> Iterator[None]:
    """A FIFO read waits for ever and /dev/zero never ends: should a regression read one, the test fails
    within seconds (SIGALRM) or at 1 GB more of address space (MemoryError), not with the machine."""
    if not hasattr(signal, "SIGALRM") or not hasattr(os, "mkfifo"):
        pytest.skip("POSIX only: FIFOs, /dev/zero and SIGALRM")
    import resource

    def timed_out(*args: object) -> None:
        raise TimeoutError("the template file was read as if it were a regular file")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    previous = signal.signal(signal.SIGALRM, timed_out)
    signal.alarm(20)
    resource.setrlimit(resource.RLIMIT_AS, (in_use + 1_000_000_000, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def not_a_file(path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    return path


@pytest.mark.parametrize(("kind", "words"), [("fifo", "a FIFO"), ("zero", "a character device"),
                                             ("folder", "a folder")])
def test_a_letter_template_that_is_no_regular_file_is_refused_before_it_is_opened(
        tmp_path: Path, bounded: None, kind: str, words: str) -> None:
    """A symlink to /dev/zero has a size of 0, so the size check passed it and it was read whole (all the
    memory there is); a FIFO made the check and the run wait for ever."""
    from engine.letters.check import checked_template

    path = not_a_file(tmp_path / "relance_1.docx", kind)
    with pytest.raises(LetterError) as caught:
        docxfile.open_template(path)
    assert caught.value.template == "relance_1.docx"
    assert f"not a regular file: {words}" in caught.value.message
    [problem] = checked_template(path, "reminder")  # the run's check, through its cache of sound templates
    assert problem.code == "unreadable" and f"not a regular file: {words}" in problem.message
    with pytest.raises(LetterError, match=words):
        render_letter(path, sample_letter_data(), tmp_path / "out.docx")


def test_a_symlink_to_a_regular_template_is_still_a_template(tmp_path: Path) -> None:
    real = make_template(tmp_path / "real.docx", "Bonjour {{ debtor.name }}")
    (tmp_path / "relance_1.docx").symlink_to(real)
    render(tmp_path / "relance_1.docx")


def test_a_template_is_read_at_most_one_byte_past_its_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size the file system gives is not trusted (a file may grow between the stat and the read, and
    /proc's files say 0 bytes whatever they hold): the read itself stops one byte past the limit."""
    maps = Path("/proc/self/maps")
    if not maps.is_file() or maps.stat().st_size != 0:
        pytest.skip("needs Linux's /proc, whose regular files have a size of 0")
    path = tmp_path / "relance_1.docx"
    path.symlink_to(maps)  # a few kilobytes, said to be empty
    asked: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: asked.append(n) or real_read(fd, n))
    with pytest.raises(LetterError, match=r"the file holds more than a letter template needs \(relance.toml limits: docx_bytes = 100\)"):
        docxfile.open_template(path, Limits(docx_bytes=100))
    assert 0 < sum(asked) <= 101


@pytest.mark.parametrize(("kind", "words"), [("fifo", "a FIFO"), ("zero", "a character device"),
                                             ("folder", "a folder")])
def test_an_e_mail_template_that_is_no_regular_file_is_refused_before_it_is_opened(
        tmp_path: Path, bounded: None, kind: str, words: str) -> None:
    from engine.letters.check import EmailTemplateRefused, require_sound_email_templates
    from engine.letters.email import email_files, render_email_part

    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "default.txt").write_text("Relance\n\nBonjour\n", encoding="utf-8")
    path = not_a_file(tmp_path / "email" / "reminder1.txt", kind)
    [problem] = check_email_templates(tmp_path)  # `relance letters check`
    assert problem.template == "email/reminder1.txt" and f"not a regular file: {words}" in problem.message
    with pytest.raises(LetterError, match=f"not a regular file: {words}"):
        render_email_part(path, CONTEXT)
    # The run's check before any case opens, on the files a reminder1 e-mail renders: this one, not the
    # default standing in for it unsaid.
    with pytest.raises(EmailTemplateRefused, match=f"not a regular file: {words}"):
        require_sound_email_templates(tmp_path, email_files(tmp_path, "reminder1"))
    with pytest.raises(LetterError, match=f"not a regular file: {words}"):
        render_email(tmp_path, "reminder1", CONTEXT)


def test_an_e_mail_template_is_bounded_in_size(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "default.txt").write_text("Relance\n\n" + "x" * 2_000, encoding="utf-8")
    with pytest.raises(LetterError, match="relance.toml limits: email_bytes = 1000"):
        render_email(tmp_path, "reminder1", CONTEXT, Limits(email_bytes=1_000))
    assert render_email(tmp_path, "reminder1", CONTEXT, Limits(email_bytes=2_010)).subject == "Relance"


@pytest.mark.parametrize("tag", ["{{ range }}", "{{ namespace }}", "{{ cycler }}", "{{ self }}", "{{ lipsum }}"])
@pytest.mark.parametrize("fast", [True, False])
def test_a_letter_prints_values_never_the_sandbox_s_objects(tmp_path: Path, tag: str, fast: bool) -> None:
    """`{{ range }}` printed `<bound method LetterEnvironment._range of <… object at 0x7f…>>` into the letter
    (the program's internals, to a debtor) and `relance letters check` passed it."""
    path = make_template(tmp_path / "relance_1.docx", f"Texte {tag} fin")
    with pytest.raises(LetterError) as caught:
        render(path, fast=fast)
    assert (caught.value.tag, caught.value.paragraph) == (tag, 2)
    assert "not a value" in caught.value.message
    [problem] = check_template(path)
    assert (problem.code, problem.tag) == ("render", tag)


def test_values_of_every_kind_still_print(tmp_path: Path) -> None:
    path = make_template(tmp_path / "lettre.docx", "{{ creditor.name }} {{ total_outstanding_value }} {{ as_of }}"
                         " {{ is_b2b }} {{ invoice_count }} {{ reminded_numbers }}")
    assert check_template(path) == []
    render(path)
