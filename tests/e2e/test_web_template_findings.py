"""The template library speaks French: a refused upload lists each finding of `relance letters check` in French
(the team reads the page, the command line keeps its English), whatever found it — Jinja's parser, the
sandbox, the letters' limits, the wording rules or the Word package check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.app import App
from tests.e2e.web_client import client, edited, open_app, sign_in
from tests.support import PACK, web_workspace

PROBLEM_CELL = re.compile(r"<td><code>[^<]*</code></td><td>([^<]*)</td></tr>")
# Words of the English findings that a French sentence never holds.
ENGLISH = re.compile(r"\b(the|not|is|has|no|error|forbidden|unknown|limit|sample|cannot|tag|letter)\b")


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[App]:
    root = web_workspace(tmp_path / "ws", cases=1)
    app = open_app(root)
    yield app
    app.store.dispose()


def _edit(new: str) -> bytes:
    return edited(PACK / "relance_1.docx", "{{ case_ref }}", new)


@pytest.mark.parametrize(("content", "french"), [
    (lambda: _edit("{{ case_ref|nofilter }}"), "pas de filtre nommé « nofilter »"),
    (lambda: _edit("{{ creditor.nom }}"), "variable ou attribut inconnu : « nom »"),
    (lambda: _edit("{{ no_such_thing }}"), "pas de variable « no_such_thing »"),
    (lambda: _edit("{{ case_ref.__class__ }}"), "interdit par le bac à sable : l'attribut « __class__ »"),
    (lambda: _edit("{% for i in range(99999999) %}x{% endfor %}"), "limite dépassée : range() de 99999999"),
    (lambda: _edit("{% include 'other.docx' %}"), "la balise {% include %} est interdite"),
    (lambda: _edit("{{ case_ref }} huissier"), "« huissier » imite un acte de justice"),
    (lambda: _edit("{{ case_ref }"), "erreur de syntaxe Jinja : « } » inattendu"),
    (lambda: b"not a zip", "ce n'est pas un document Word (.docx)"),
], ids=["filter", "attribute", "variable", "sandbox", "limit", "include", "wording", "syntax", "not-docx"])
def test_a_refused_uploads_findings_are_said_in_french(desk: App, content, french: str) -> None:
    http = client(desk)
    token = sign_in(http, "legal")
    refused = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                        files={"file": ("relance_1.docx", content(), "application/octet-stream")})
    assert refused.status_code == 422
    findings = [cell.replace("&#39;", "'").replace("&#34;", '"') for cell in PROBLEM_CELL.findall(refused.text)]
    assert findings and any(french in finding for finding in findings), findings
    for finding in findings:
        assert not ENGLISH.search(finding), finding


def test_a_jinja_message_nobody_translated_is_said_less_precisely_but_in_french() -> None:
    """A syntax error Jinja words in a way we do not read still gets a French reason, never Jinja's English."""
    from jinja2 import TemplateSyntaxError

    from engine.letters.reasons import french_reason

    said = french_reason(TemplateSyntaxError("expected token 'end of print statement', got 'x'", 3))
    assert said.startswith("erreur de syntaxe Jinja") and "expected" not in said


def test_a_refusal_names_the_file_in_place_never_its_server_path(desk: App) -> None:
    """The file an upload replaces cannot be kept (here a FIFO put in its place): the page names it as the
    team knows it, never by where it lies on the server."""
    import html
    import os

    from engine.cases import templates
    from engine.web.library import distinct_workflows

    path = templates.template_files(distinct_workflows(desk))["relance_1.docx"]
    path.unlink()
    os.mkfifo(path)
    http = client(desk)
    token = sign_in(http, "legal")
    sent = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                     files={"file": ("relance_1.docx", (PACK / "relance_1.docx").read_bytes(), "application/octet-stream")})
    assert sent.status_code == 303
    shown = html.unescape(http.get("/letters").text)
    assert "le fichier en place, relance_1.docx, ne peut pas être gardé" in shown, shown[-800:]
    assert str(path.parent) not in shown and str(desk.workspace.root) not in shown


def test_no_web_message_carries_an_absolute_path() -> None:
    """The last guard of every flash message and error page: an engine message written for the command line
    keeps the file's name only; dates and the app's own addresses are left alone."""
    from engine.web.render import without_paths

    assert without_paths("voir /srv/relance/ws/letters/fr/relance_1.docx:12, tag x") == "voir relance_1.docx:12, tag x"
    assert without_paths("dans « /tmp/a/b/rates.csv » : 2026 S2") == "dans « rates.csv » : 2026 S2"
    for kept in ("le 25/11/2026 à 15 h 03", "ouvrez /cases/12", "https://example.fr/a/b/c", "1/2/3"):
        assert without_paths(kept) == kept


def test_the_rates_file_is_named_as_relance_toml_names_it(desk: App) -> None:
    """The rates warning of a web page names the workspace's own rates file by its [paths] setting."""
    from dataclasses import replace
    from types import SimpleNamespace

    root = desk.workspace.root.resolve()
    name = App.rates_name.fget  # type: ignore[attr-defined]
    assert name(SimpleNamespace(workspace=replace(desk.workspace, rates_path=root / "data" / "taux.csv"))) == (
        "data/taux.csv ([paths] rates de relance.toml)")
    assert name(SimpleNamespace(workspace=replace(desk.workspace, rates_path=Path("/srv/shared/taux.csv")))) == (
        "taux.csv ([paths] rates de relance.toml)")
    assert name(desk) == "le fichier de taux fourni avec relance (rates.csv)"
