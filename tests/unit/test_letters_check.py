"""`check_template` finds located problems in broken templates and none in the shipped pack."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

from engine.letters import CompiledTemplate
from engine.letters.check import (
    TemplateRefused, check_email_templates, check_folder, check_template, require_sound_template, template_kind,
)
from engine.letters.wording import rendered_text
from tests.support import PACK

GOOD = [
    "Réf. {{ case_ref }}",
    "{%tr for inv in invoices %}",
]


def save(path: Path, paragraphs: list[list[str] | str]) -> Path:
    """Each paragraph a string (one run) or a list of strings (one run each)."""
    doc = Document()
    for runs in paragraphs:
        p = doc.add_paragraph()
        for text in [runs] if isinstance(runs, str) else runs:
            p.add_run(text)
    doc.save(str(path))
    return path


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def test_shipped_pack_is_clean() -> None:
    assert check_folder(PACK) == []
    assert check_folder(PACK, agency=True) == []  # the CPCE R124-4 mentions, in agency mode


def test_agency_mode_requires_the_r124_4_mentions(tmp_path: Path) -> None:
    """A reminder that is fine for a creditor writing itself lacks what an agency's letter must say."""
    own = ["{%p for inv in invoices %}", "{{ inv.number }} {{ inv.amount }} {{ inv.due_date }}",
           "{%p endfor %}", "{{ total_outstanding }} {{ deadline }} {{ payment_reference }}"]
    path = save(tmp_path / "relance_1.docx", own)
    assert check_template(path) == []
    missing = " ".join(p.message for p in check_template(path, agency=True) if p.code == "missing-mention")
    assert "Agence Vidal Recouvrement SARL" in missing and "premier courrier" in missing
    assert "recouvrement amiable" in missing and "créancier" in missing


def test_a_formal_notice_without_its_itemised_statement_is_refused(tmp_path: Path) -> None:
    path = save(tmp_path / "mise_en_demeure.docx", [
        "Mise en demeure, lettre recommandée avec accusé de réception", "{%p for inv in invoices %}",
        "{{ inv.number }} {{ inv.amount }} {{ inv.due_date }}", "{%p endfor %}",
        "{{ total_outstanding }} {{ penalties }} {{ indemnity }} {{ interest }} {{ total_claim }} {{ deadline }}"])
    messages = " ".join(p.message for p in check_template(path))
    assert "décompte détaillé" in messages and "somme à parfaire" in messages


def test_kind_from_file_name() -> None:
    assert template_kind("relance_2.docx") == "reminder"
    assert template_kind("x/mise_en_demeure_b2c.docx") == "formal_notice"
    assert template_kind("transmission_contentieux.docx") == "litigation"
    assert template_kind("courrier.docx") is None


def test_syntax_error_located(tmp_path: Path) -> None:
    path = save(tmp_path / "lettre.docx", ["Bonjour", "{{ debtor.name }", "{% if is_b2b %}x{% endif %}"])
    problems = check_template(path)
    assert "syntax" in codes(problems)
    syntax = next(p for p in problems if p.code == "syntax")
    assert syntax.template == "lettre.docx"
    assert "lettre.docx" in str(syntax)


@pytest.mark.parametrize(("opening", "paragraphs"), [
    ("{% for inv in invoices %}", ["{% for inv in invoices %}{{ inv.number }}", "{{ case_ref }}", "{{ debtor.name }}"]),
    ("{% if is_b2b %}", ["{% if is_b2b %}{% for inv in invoices %}{% endfor %}", "{{ case_ref }}", "Fin"]),
])
def test_a_block_never_closed_is_named_where_it_opens(tmp_path: Path, opening: str, paragraphs: list[str]) -> None:
    """Jinja reports a missing end tag on the last line of the part: the check named the template's last,
    innocent tag (`{{ debtor.name }}`) instead of the `{% for %}` that lacks its `{% endfor %}`."""
    path = save(tmp_path / "lettre.docx", ["Bonjour", *paragraphs])
    [problem] = check_template(path)
    assert (problem.code, problem.tag, problem.paragraph) == ("syntax", opening, 2)
    assert "never closed" in problem.message


def test_an_e_mail_block_never_closed_is_named_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "default.txt").write_text(
        "Relance {{ case_ref }}\n{% for inv in invoices %}\n{{ inv.number }}\nBonjour\n{{ debtor.name }}\n",
        encoding="utf-8")
    [problem] = check_email_templates(tmp_path)
    assert problem.template == "email/default.txt:2" and problem.tag == "{% for inv in invoices %}"


def test_unknown_variable_named_with_its_tag(tmp_path: Path) -> None:
    path = save(tmp_path / "lettre.docx", ["a", "Montant : {{ montant_total }}", "{{ debtor.name }}"])
    [problem] = check_template(path)
    assert problem.code == "unknown-variable"
    assert problem.tag == "{{ montant_total }}" and problem.paragraph == 2


@pytest.mark.parametrize(("tag", "name", "code"), [
    ("{{ debtor.name|nosuchfilter }}", "filter", "syntax"),
    # In a condition Jinja leaves the name to render time (`x is defined and x is odd` style guards).
    ("{% if debtor.name|nosuchfilter %}x{% endif %}", "filter", "render"),
    ("{% if debtor.name is nosuchtest %}x{% endif %}", "test", "render"),
])
def test_an_unknown_filter_or_test_is_a_located_problem_not_a_traceback(tmp_path: Path, tag: str, name: str,
                                                                        code: str) -> None:
    """Jinja knows a filter's name only when it compiles: the check's look for unknown variables compiles
    the part, and an unknown filter there escaped as a TemplateAssertionError from `letters check` and `run`."""
    path = save(tmp_path / "relance_1.docx", ["Bonjour", f"Texte {tag} fin"])
    [problem] = check_template(path)
    first_tag = tag if tag.startswith("{{") else tag[:tag.index("%}") + 2]
    assert (problem.code, problem.template, problem.tag, problem.paragraph) == (code, "relance_1.docx", first_tag, 2)
    assert f"No {name} named 'nosuch{name}'" in problem.message
    with pytest.raises(TemplateRefused, match=f"nosuch{name}"):  # what a run asks before its first case
        require_sound_template(path)


@pytest.mark.parametrize("paragraph", [
    '{% if is_b2b %}{% set sep = " / " %}{{ debtor.name }}{{ sep }}{{ case_ref }}{% endif %}',
    "{% if is_b2b %}{% macro line(x) %}- {{ x }}{% endmacro %}{{ line(case_ref) }}{% endif %}",
    "{% for inv in invoices %}{% with n = inv.number %}{{ n }}{% endwith %}{% endfor %}",
])
def test_a_variable_the_template_sets_itself_is_not_an_unknown_variable(tmp_path: Path, paragraph: str) -> None:
    """Jinja's find_undeclared_variables names a variable set inside an `if` (it may not be set when the test
    fails): the check took it for a variable missing from the letter context and refused the template."""
    path = save(tmp_path / "lettre.docx", ["Bonjour", paragraph])
    assert check_template(path) == []


def test_a_variable_used_before_the_template_sets_it_is_still_refused(tmp_path: Path) -> None:
    """Not in the static look any more, but the trial render with the sample cases finds it, at its tag."""
    path = save(tmp_path / "lettre.docx", ["Bonjour", "{% if is_b2b %}{{ sep }}{% set sep = ' / ' %}{% endif %}"])
    [problem] = check_template(path)
    assert (problem.code, problem.tag, problem.paragraph) == ("render", "{{ sep }}", 2)


def test_an_xml_entity_is_not_reported_as_a_tag_split_by_word(tmp_path: Path) -> None:
    """Word never writes a DOCTYPE or an entity: one declared in the document (`<!ENTITY x SYSTEM
    "file:///etc/hostname">`, never resolved) was reported as 'a tag was split by Word editing'. Its DOCTYPE
    is refused where the template is opened (tests/unit/test_hostile_templates.py), for the run too."""
    import zipfile

    plain = save(tmp_path / "plain.docx", ["Bonjour", "Texte XXE[{{ case_ref }}] fin"])
    path = tmp_path / "lettre.docx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "word/document.xml":
                content = content.replace(b"?>", b'?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/hostname">]>', 1)
                content = content.replace(b"XXE[", b"XXE[&x;", 1)
            target.writestr(info, content)
    problems = check_template(path)
    assert [p.code for p in problems] == ["unreadable"]
    assert "split by Word" not in problems[0].message
    assert "DOCTYPE" in problems[0].message and "save the document again from Word" in problems[0].message


def test_tag_split_in_runs_is_repaired_by_docxtpl_so_not_reported(tmp_path: Path) -> None:
    path = save(tmp_path / "lettre.docx", [["{{ debtor", ".na", "me }}"], ["{", "{ case_ref }", "}"]])
    assert check_template(path) == []


def test_tag_split_across_paragraphs(tmp_path: Path) -> None:
    path = save(tmp_path / "lettre.docx", ["ok", "{% if is_b2b", "%}B2B{% endif %}"])
    problems = check_template(path)
    split = [p for p in problems if p.code == "split-tag"]
    assert split and split[0].paragraph == 2


def test_revision_mark_inside_tag_is_unrepairable(tmp_path: Path) -> None:
    doc = Document()
    doc.add_paragraph("ok")
    p = doc.add_paragraph()
    p.add_run("{{ debtor")
    second = p.add_run(".name }}")
    # Word's track changes wrap the second half in <w:ins>: docxtpl's repair then breaks the XML.
    ins = OxmlElement("w:ins")
    ins.set(qn("w:id"), "1")
    ins.set(qn("w:author"), "Avocat")
    second._r.addprevious(ins)
    ins.append(second._r)
    path = tmp_path / "lettre.docx"
    doc.save(str(path))
    problems = check_template(path)
    assert "broken-xml" in codes(problems)
    assert next(p for p in problems if p.code == "broken-xml").paragraph == 2


def test_sandbox_refusal_reported_by_trial_render(tmp_path: Path) -> None:
    path = save(tmp_path / "lettre.docx", ["{{ case_ref.__class__.__mro__ }}"])
    problems = check_template(path)
    assert codes(problems) == ["render"]
    assert problems[0].tag == "{{ case_ref.__class__.__mro__ }}"


def test_forbidden_terms_in_reminders_only(tmp_path: Path) -> None:
    text = ["{{ debtor.name }}", "Sans paiement, notre HUISSIER procédera à la saisie.",
            "Un Jugement sera rendu par le Tribunal."]
    reminder = check_template(save(tmp_path / "relance_1.docx", text))
    flagged = [p for p in reminder if p.code == "forbidden-term"]
    assert {p.paragraph for p in flagged} == {2, 3}
    assert any("huissier" in p.message for p in flagged)
    assert any("jugement" in p.message for p in flagged)
    formal = check_template(save(tmp_path / "mise_en_demeure.docx", text))
    assert "forbidden-term" not in codes(formal)


def test_accents_and_case_ignored_but_words_whole(tmp_path: Path) -> None:
    path = save(tmp_path / "relance_3.docx", ["EXECUTION FORCEE", "que vous jugerez utile"])
    flagged = [p for p in check_template(path) if p.code == "forbidden-term"]
    assert [p.paragraph for p in flagged] == [1]


def test_missing_mentions(tmp_path: Path) -> None:
    path = save(tmp_path / "mise_en_demeure.docx", ["{{ debtor.name }}", "Payez {{ total_outstanding }}."])
    missing = " ".join(p.message for p in check_template(path) if p.code == "missing-mention")
    for expected in ("mise en demeure", "numéro de chaque facture", "date limite", "pénalités",
                     "intérêts"):
        assert expected in missing
    assert "total restant dû" not in missing


def test_relance_2_must_recall_earlier_steps(tmp_path: Path) -> None:
    table_free = ["{%p for inv in invoices %}", "{{ inv.number }} {{ inv.amount }} {{ inv.due_date }}",
                  "{%p endfor %}", "{{ total_outstanding }} {{ deadline }} {{ payment_reference }}"]
    assert check_template(save(tmp_path / "relance_1.docx", table_free)) == []
    problems = check_template(save(tmp_path / "relance_2.docx", table_free))
    assert codes(problems) == ["missing-mention", "missing-mention"]
    assert "démarches précédentes" in problems[0].message


def test_folder_reports_missing_named_template(tmp_path: Path) -> None:
    [problem] = check_folder(tmp_path, templates=["relance_9.docx"])
    assert problem.code == "missing" and problem.template == "relance_9.docx"


def test_email_templates_are_checked_as_a_run_renders_them_each_problem_located(tmp_path: Path) -> None:
    """The e-mail templates beside the letters (email/*.txt, *.html) are user-written too: each is rendered with
    the sample case, within the limits; a problem names the file, its line and the tag."""
    folder = tmp_path / "email"
    folder.mkdir()
    (folder / "default.txt").write_text("Relance {{ letter_ref }}\n\nBonjour {{ debtor.nom }}\n", encoding="utf-8")
    (folder / "default.html").write_text("<p>{{ debtor.name }}</p>\n<p>{{ 'x' * 10**9 }}</p>", encoding="utf-8")
    (folder / "reminder1.txt").write_text("Relance {{ letter_ref }\n\nBonjour\n", encoding="utf-8")
    (folder / "reminder2.txt").write_text("{% if debtor.name == 'x' %}Relance{% endif %}\n", encoding="utf-8")
    (folder / "reminder3.txt").write_text("Relance {{ letter_ref }}\n\nBonjour {{ debtor.name }}\n", encoding="utf-8")
    found = {p.template: p for p in check_folder(tmp_path)}
    assert set(found) == {"email/default.txt:3", "email/default.html:2", "email/reminder1.txt:1", "email/reminder2.txt"}
    assert found["email/default.txt:3"].tag == "{{ debtor.nom }}" and "'nom'" in found["email/default.txt:3"].message
    assert found["email/default.html:2"].tag == "{{ 'x' * 10**9 }}"
    assert "template_string" in found["email/default.html:2"].message
    assert "syntax" in found["email/reminder1.txt:1"].message
    assert "subject" in found["email/reminder2.txt"].message


def test_the_text_the_checks_read_skips_the_empty_runs_a_control_tag_leaves(tmp_path: Path) -> None:
    """docxtpl leaves `<w:t xml:space="preserve"/>` where a `{% if %}` stood: it holds no text, and the text
    read after it is the next run's, not the XML in between (a mention split over runs is still found)."""
    path = save(tmp_path / "adresse.docx", [["London", "{% if country %}", ", ", "{{ country }}", "{% endif %}"],
                                            "Fin"])
    rendered = CompiledTemplate(path).render({"country": "ROYAUME-UNI"})
    with zipfile.ZipFile(io.BytesIO(rendered)) as package:
        assert '<w:t xml:space="preserve"/>' in package.read("word/document.xml").decode()
    assert rendered_text(rendered).splitlines() == ["London, ROYAUME-UNI", "Fin"]


def test_a_sentence_only_a_debtor_in_france_can_fill_is_a_warning_that_blocks_no_run(tmp_path: Path) -> None:
    """An older workspace's hand-off prints ``{{ court.name }}`` bare: it renders for every debtor in France and
    fails for one abroad, who has no French court. The check says so, as a warning: the run is not refused,
    since such a case fails alone and the others' letters go out."""
    (tmp_path / "bare").mkdir()
    (tmp_path / "guarded").mkdir()
    bare = save(tmp_path / "bare" / "lettre.docx", [
        "{{ debtor.name }}", "Juridiction : {{ court.name }} du domicile du débiteur."])
    problems = check_template(bare)
    assert [(p.code, p.severity, p.tag) for p in problems] == [("render-abroad", "warning", "{{ court.name }}")]
    assert "Belgium" in problems[0].message and "{%p if court %}" in problems[0].message
    assert "Belgique" in problems[0].in_french and "{%p if court %}" in problems[0].in_french
    require_sound_template(bare)  # no TemplateRefused

    guarded = save(tmp_path / "guarded" / "lettre.docx", [
        "{{ debtor.name }}", "{%p if court %}", "Juridiction : {{ court.name }}.", "{%p endif %}"])
    assert check_template(guarded) == []


@pytest.mark.parametrize(("paragraphs", "used", "set_tag"), [
    (["Bonjour", "{% if creditor.iban %}{% set pay_by = 'virement' %}{% endif %}", "Par {{ pay_by }}."],
     "{{ pay_by }}", "{% set pay_by = 'virement' %}"),
    # Set in two branches of three: the `else` that sets nothing is a path too.
    (["{% if is_b2b %}{% set pay_by = 'a' %}{% elif debtor.name %}{% set pay_by = 'b' %}{% endif %}",
      "{{ debtor.name }} : {{ pay_by|upper }}"], "{{ pay_by|upper }}", "{% set pay_by = 'a' %}"),
])
def test_a_variable_set_on_some_paths_only_is_flagged_though_the_sample_cases_take_that_path(
        tmp_path: Path, paragraphs: list[str], used: str, set_tag: str) -> None:
    """Every sample case has an IBAN and a name: the trial render set `pay_by` and passed, and a creditor
    without an IBAN (or a debtor without a name) would have had every letter fail at `{{ pay_by }}`."""
    path = save(tmp_path / "lettre.docx", paragraphs)
    [problem] = check_template(path)
    assert (problem.code, problem.severity, problem.tag, problem.paragraph) == (
        "maybe-unset", "warning", used, len(paragraphs))
    assert "'pay_by' is set only on some paths" in problem.message and set_tag in problem.message
    assert "pay_by" in problem.in_french
    require_sound_template(path)  # a warning: the run is not refused for it


@pytest.mark.parametrize("paragraph", [
    "{% if is_b2b %}{% set d = 'a' %}{% else %}{% set d = 'b' %}{% endif %}{{ d }}",
    "{% set d = '' %}{% if is_b2b %}{% set d = 'a' %}{% endif %}{{ d }}",
    "{% if is_b2b %}{% set d = 'a' %}{% endif %}{% if d is defined %}{{ d }}{% endif %}",
    "{% if is_b2b %}{% set d = 'a' %}{% endif %}{{ d|default('') }}",
    "{% if is_b2b %}{% set d = 'a' %}{{ d }}{% endif %}",
    "{% if is_b2b %}{% set case_ref = 'X' %}{% endif %}{{ case_ref }}",  # the context's own variable
    "{% for inv in invoices %}{% set n = inv.number %}{{ n }}{% endfor %}",
])
def test_a_variable_set_on_every_path_or_guarded_is_not_flagged(tmp_path: Path, paragraph: str) -> None:
    path = save(tmp_path / "lettre.docx", ["Bonjour", paragraph])
    assert check_template(path) == []
