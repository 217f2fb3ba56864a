"""Letters render in a sandbox with autoescape: data prints literally, hostile tags run nothing."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from engine.letters import (
    CompiledTemplate,
    LetterError,
    Party,
    build_context,
    make_environment,
    render_plain,
    sample_letter_data,
)


def make_template(path: Path, paragraphs: list[str], footer: str | None = None) -> Path:
    """A one-run-per-paragraph DOCX template."""
    from docx import Document

    doc = Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    if footer is not None:
        doc.sections[0].footer.paragraphs[0].text = footer
    doc.save(str(path))
    return path


def body_text(docx: bytes) -> str:
    from docx import Document

    return "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)


HOSTILE = 'Dupont & Fils <b>"SARL"</b> l\'Atelier ]]> &amp; {{ 7*7 }}'


@pytest.mark.parametrize("fast", [True, False])
def test_markup_characters_in_data_print_literally(tmp_path: Path, fast: bool) -> None:
    path = make_template(tmp_path / "t.docx", ["Client : {{ debtor.name }}"], footer="{{ debtor.name }}")
    letter = replace(sample_letter_data(), debtor=Party(HOSTILE, ("x",), "75001", "Paris"))
    ctx = build_context(letter)
    env = make_environment()
    docx = CompiledTemplate(path, env).render(ctx) if fast else render_plain(path, ctx, env)
    assert body_text(docx) == f"Client : {HOSTILE}"  # not re-evaluated, nothing dropped
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        footer = z.read("word/footer1.xml").decode()
    assert "Dupont &amp; Fils &lt;b&gt;" in footer


SSTI = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ debtor.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('touch /tmp/relance_pwned').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{% for c in ''.__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
]


@pytest.mark.parametrize("tag", SSTI)
def test_hostile_tags_fail_with_template_and_tag_named(tmp_path: Path, tag: str) -> None:
    marker = Path("/tmp/relance_pwned")
    marker.unlink(missing_ok=True)
    path = make_template(tmp_path / "evil.docx", ["Bonjour", f"Texte {tag} fin"])
    ctx = build_context(sample_letter_data())
    with pytest.raises(LetterError) as caught:
        CompiledTemplate(path).render(ctx)
    err = caught.value
    assert err.template == "evil.docx"
    assert err.tag is not None and "__" in err.tag
    assert err.paragraph == 2
    assert "evil.docx" in str(err)
    assert not marker.exists()


def test_plain_path_names_the_tag_too(tmp_path: Path) -> None:
    path = make_template(tmp_path / "evil.docx", ["{{ debtor.name }}", "{{ ''.__class__.__mro__ }}"])
    with pytest.raises(LetterError) as caught:
        render_plain(path, build_context(sample_letter_data()), make_environment())
    assert caught.value.tag == "{{ ''.__class__.__mro__ }}"
    assert "sandbox" in caught.value.message


def test_unknown_variable_is_an_error_not_an_empty_string(tmp_path: Path) -> None:
    path = make_template(tmp_path / "t.docx", ["Montant : {{ montant_du }}"])
    with pytest.raises(LetterError) as caught:
        CompiledTemplate(path).render(build_context(sample_letter_data()))
    assert caught.value.tag == "{{ montant_du }}"
    assert "montant_du" in caught.value.message


def test_syntax_error_is_located_at_compile_time(tmp_path: Path) -> None:
    path = make_template(tmp_path / "t.docx", ["ok", "ok", "{% if is_b2b %}sans fin"])
    with pytest.raises(LetterError) as caught:
        CompiledTemplate(path)
    assert caught.value.template == "t.docx"
    assert "syntax" in caught.value.message.lower()
