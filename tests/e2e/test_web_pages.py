"""The web app's pages do their work, over HTTP against a real workspace: the case list filters and pages,
a case's page shows the ledger's balances and the timeline, actions land in the timeline with who did
them, a letter template upload is checked like `relance letters check` and kept as a version.
The list and the case page run on SQLite and on PostgreSQL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.app import App
from engine.store.models import Case, Debtor, Event, TemplateVersion
from tests.e2e.web_client import client, edited, open_app, sign_in
from tests.support import HOSTILE_NAME, PACK, web_workspace

CASE_LINK = re.compile(r'<a href="/cases/(\d+)">([^<]+)</a>')


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[App]:
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=7)
    app = open_app(root, database_url)
    yield app
    app.store.dispose()


def listed(http, url: str) -> list[str]:
    answer = http.get(url)
    assert answer.status_code == 200, answer.text
    return [ref for _id, ref in CASE_LINK.findall(answer.text)]


def test_the_case_list_filters_sorts_and_pages_by_keyset(desk: App) -> None:
    http = client(desk)
    sign_in(http, "viewer")
    url = "/cases?par=3"
    pages = [listed(http, url)]
    while (marker := re.search(r'href="/cases(\?[^"]*)" id="next"', http.get(url).text)) is not None:
        url = "/cases" + marker.group(1).replace("&amp;", "&")
        pages.append(listed(http, url))
    seen = [ref for refs in pages for ref in refs]
    assert [len(refs) for refs in pages] == [3, 3, 1]
    assert len(set(seen)) == 7  # every case once, none twice
    back = re.search(r'href="/cases(\?[^"]*)" id="previous"', http.get(url).text)
    assert back is not None
    assert listed(http, "/cases" + back.group(1).replace("&amp;", "&")) == pages[1]
    by_balance = listed(http, "/cases?tri=balance&ordre=desc&par=3")
    assert by_balance == sorted(seen, key=lambda ref: -_balance_of(desk, ref))[:3]
    assert listed(http, "/cases?tri=balance&ordre=asc&par=3") == sorted(seen, key=lambda ref: _balance_of(desk, ref))[:3]
    with desk.session() as session:
        third = session.scalar(select(Case.ref).join(Debtor, Debtor.id == Case.debtor_id).where(Debtor.ref == "D000003"))
    assert listed(http, "/cases?debiteur=D000003") == [third]
    assert len(listed(http, "/cases?debiteur=client")) == 6  # "Client 1 SARL"...: a name prefix, any case
    assert len(listed(http, "/cases?debiteur=" + HOSTILE_NAME[:8])) == 1
    assert len(listed(http, "/cases?etat=reminder1")) == 7 and listed(http, "/cases?etat=formal_notice") == []
    assert listed(http, "/cases?montant_min=100000") == []
    assert len(listed(http, "/cases?montant_min=103")) == 4  # amounts 100, 101... 106 euros
    assert listed(http, "/cases?retard_min=365") == [] and len(listed(http, "/cases?retard_min=10")) == 7
    assert listed(http, "/cases?clos=1") == []
    assert http.get("/cases?apres=not-a-marker&tri=balance").status_code == 400


def _balance_of(desk: App, ref: str) -> float:
    with desk.session() as session:
        return float(session.scalar(select(Case.balance_seen).where(Case.ref == ref)) or 0)


def test_the_case_page_shows_balances_timeline_chain_and_letters(desk: App) -> None:
    with desk.session() as session:
        case_id, ref = session.execute(select(Case.id, Case.ref).join(Debtor, Debtor.id == Case.debtor_id)
                                       .where(Debtor.ref == "D000000")).one()
    http = client(desk)
    sign_in(http, "viewer")
    text = http.get(f"/cases/{case_id}").text
    assert ref in text and "Première relance" in text
    assert "Chaîne d'empreintes SHA-256 vérifiée : intacte" in text
    assert re.search(rf'href="/cases/{case_id}/letters/\d+"', text)
    assert "100,00\u00a0€" in text  # the invoice of D000000: 100 + 0 % 900 euros, formatted in French
    printable = http.get(f"/cases/{case_id}/timeline").text
    assert "Chronologie du dossier" in printable and ref in printable


def test_actions_land_in_the_timeline_with_who_and_move_the_case(desk: App) -> None:
    with desk.session() as session:
        case_id = session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1))
    http = client(desk)
    token = sign_in(http, "legal")
    for action, data in (("dispute", {"reason": "facture contestée"}), ("resolve", {"reason": "accord trouvé"}),
                         ("promise", {"until": "2025-02-15"}), ("note", {"reason": "appelé"}),
                         ("jump", {"dest": "formal_notice", "reason": "dossier sensible"})):
        answer = http.post(f"/cases/{case_id}/actions/{action}", data={"csrf": token, "on": "2025-01-20", **data})
        assert answer.status_code == 303
        assert "non enregistré(e) :" not in http.get(f"/cases/{case_id}").text, action  # the refusal flash
    with desk.session() as session:
        state, waiting = session.execute(select(Case.state, Case.awaiting_approval).where(Case.id == case_id)).one()
        kinds = session.execute(select(Event.kind, Event.actor).where(Event.case_id == case_id, Event.actor == "legal")
                                .order_by(Event.seq)).all()
    # The shipped policies want an approval before a formal notice: the jump is asked for, not taken
    # (approving it is tests/e2e/test_web_queues.py's).
    assert (state, waiting) == ("promised", "formal_notice")
    assert "attend une validation" in http.get(f"/cases/{case_id}").text
    assert [kind for kind, _ in kinds][:5] == ["dispute", "state_change", "resolve", "state_change", "promise"]
    bad = http.post(f"/cases/{case_id}/actions/pay", data={"csrf": token, "amount": "douze euros"})
    assert bad.status_code == 303
    assert "Paiement non enregistré" in http.get(f"/cases/{case_id}").text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_template_upload_is_checked_refused_with_its_problems_or_kept_as_a_version(desk: App) -> None:
    target = desk.workspace.letters_dir / "relance_1.docx"
    original = target.read_bytes()
    http = client(desk)
    token = sign_in(http, "legal")
    broken = edited(PACK / "relance_1.docx", "{{ case_ref }}", "{{ case_ref }")
    refused = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                        files={"file": ("relance_1.docx", broken, "application/octet-stream")})
    assert refused.status_code == 422
    assert "relance_1.docx refusé" in refused.text and "{{ case_ref }" in refused.text
    assert re.search(r"<td>\d+</td>", refused.text)  # the paragraph
    assert target.read_bytes() == original
    good = edited(PACK / "relance_1.docx", "{{ case_ref }}", "{{ case_ref }} ")
    kept = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                     files={"file": ("mine.docx", good, "application/octet-stream")})
    assert kept.status_code == 303
    assert target.read_bytes() == good
    with desk.session() as session:
        versions = session.execute(select(TemplateVersion.version, TemplateVersion.uploaded_by, TemplateVersion.content)
                                   .where(TemplateVersion.name == "relance_1.docx")
                                   .order_by(TemplateVersion.version)).all()
    assert [(v, by) for v, by, _ in versions] == [(1, None), (2, "legal")]
    assert versions[0][2] == original and versions[1][2] == good
    page = http.get("/letters").text
    assert "legal" in page and 'href="/letters/relance_1.docx/v1"' in page
    assert http.get("/letters/relance_1.docx/v1").content == original
    assert http.get("/letters/relance_1.docx").content == good


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_upload_that_fails_only_for_a_debtor_abroad_is_kept_with_a_warning_in_french(desk: App) -> None:
    """The hand-off with its court sentence unguarded renders for every debtor in France, not for one abroad:
    kept (the run fails such a case alone), and the team is told why, in French."""
    target = desk.workspace.letters_dir / "transmission_contentieux.docx"
    unguarded = edited(PACK / "transmission_contentieux.docx", "{%p if court %}", "{%p if true %}")
    http = client(desk)
    token = sign_in(http, "legal")
    kept = http.post("/letters/transmission_contentieux.docx/upload", data={"csrf": token},
                     files={"file": ("transmission_contentieux.docx", unguarded, "application/octet-stream")})
    assert kept.status_code == 303
    assert target.read_bytes() == unguarded
    page = http.get("/letters").text
    assert 'class="flash warning"' in page and "version 2 enregistrée" in page
    assert "Attention" in page and "Belgique" in page and "if court" in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_agencys_upload_is_checked_for_its_mentions_as_its_run_will_be(desk: App, tmp_path: Path) -> None:
    """When an agency writes the letters ([agency] in relance.toml), a template without the R124-4 mention is
    refused by the upload, as `letters check` and the run refuse it, instead of being kept and then refusing
    every run; the same file is kept by a creditor writing its own letters."""
    first = tmp_path / "relance_1.docx"
    first.write_bytes(edited(PACK / "relance_1.docx", ", société de recouvrement amiable, intervient", " intervient"))
    without_mention = edited(first, ", aux fins de recouvrement amiable de la créance", ", pour la créance")
    config = desk.workspace.root / "relance.toml"
    config.write_text(config.read_text(encoding="utf-8") + '\n[agency]\nname = "Recouvrement du Centre SARL"\n'
                      'postal_code = "63000"\ncity = "Clermont-Ferrand"\n', encoding="utf-8")
    agency_desk = open_app(desk.workspace.root, desk.workspace.database_url)
    try:
        http = client(agency_desk)
        token = sign_in(http, "legal")
        refused = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                            files={"file": ("relance_1.docx", without_mention, "application/octet-stream")})
        assert refused.status_code == 422 and "recouvrement amiable" in refused.text
    finally:
        agency_desk.store.dispose()
    http = client(desk)
    token = sign_in(http, "legal")
    kept = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                     files={"file": ("relance_1.docx", without_mention, "application/octet-stream")})
    assert kept.status_code == 303


def test_the_case_page_shows_when_each_event_was_recorded_on_the_teams_clock(desk: App) -> None:
    """Recorded instants are stored in UTC; the team reads them in Paris time (« 23/11/2026 à 15 h 05 »), not
    as « 23/11/2026 14:05 UTC »."""
    from datetime import timezone
    from zoneinfo import ZoneInfo

    with desk.session() as session:
        case_id, recorded = session.execute(select(Case.id, Event.recorded_at).join(Event, Event.case_id == Case.id)
                                            .order_by(Event.id).limit(1)).one()
    at = recorded.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Europe/Paris"))
    http = client(desk)
    sign_in(http, "viewer")
    text = http.get(f"/cases/{case_id}").text
    assert f"{at:%d/%m/%Y} à {at.hour} h {at:%M}" in text
    assert " UTC" not in text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("in_place", ["/dev/zero", "fifo"])
def test_an_upload_over_a_template_that_is_no_regular_file_is_refused_in_one_line(desk: App, in_place: str) -> None:
    """The first upload keeps the file in place as version 1: a symbolic link to /dev/zero or a FIFO put there
    while the app runs is refused with a message (read whole, it ate memory for ever, or waited for a writer),
    and nothing changes."""
    import os

    assert desk.workflows  # loaded when the app started, with the template a regular file then
    target = desk.workspace.letters_dir / "relance_1.docx"
    target.unlink()
    if in_place == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to(in_place)
    http = client(desk)
    token = sign_in(http, "legal")
    good = edited(PACK / "relance_1.docx", "{{ case_ref }}", "{{ case_ref }} ")
    answer = http.post("/letters/relance_1.docx/upload", data={"csrf": token},
                       files={"file": ("relance_1.docx", good, "application/octet-stream")})
    assert answer.status_code == 303
    shown = http.get("/letters").text
    assert "relance_1.docx" in shown and "ce n&#39;est pas un fichier ordinaire" in shown
    assert not target.is_file() and (target.is_symlink() or target.is_fifo())  # left as it was
    with desk.session() as session:
        assert session.scalars(select(TemplateVersion.version)).all() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_report_and_the_workflows_pages_show_the_reports_figures_and_diagrams(desk: App) -> None:
    from engine.reports.aging import aging
    from engine.reports.html import report_body
    from engine.reports.funnel import funnel
    from tests.support import WEB_AS_OF

    http = client(desk)
    sign_in(http, "viewer")
    report = http.get("/report").text
    flows = list({w.name: w for w in desk.workflows.values()}.values())
    with desk.session() as session:
        expected = report_body(aging(session, WEB_AS_OF), funnel(session, WEB_AS_OF, flows),
                               title=desk.workspace.creditor.name, as_of=WEB_AS_OF)
    assert expected in report  # the very page `relance report --html` draws, figures and all
    workflows = http.get("/workflows").text
    assert workflows.count("<svg") >= 2 and "Première relance" in workflows and "stateDiagram" in workflows
    assert re.search(r"<td class=\"num\">7</td>", workflows)  # 7 open cases on fr-b2b-standard v1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_report_page_shows_one_currency_at_a_time_and_refuses_an_unknown_one_in_french(desk: App) -> None:
    """The page only ever drew the euro figures: dollar receivables had no page (?devise=USD)."""
    from engine.reports.aging import aging
    from engine.reports.html import report_body
    from engine.reports.funnel import funnel
    from tests.support import WEB_AS_OF

    http = client(desk)
    sign_in(http, "viewer")
    page = http.get("/report", params={"devise": "usd"})
    flows = list({w.name: w for w in desk.workflows.values()}.values())
    with desk.session() as session:
        expected = report_body(aging(session, WEB_AS_OF, currency="USD"),
                               funnel(session, WEB_AS_OF, flows, currency="USD"),
                               title=desk.workspace.creditor.name, as_of=WEB_AS_OF)
    assert page.status_code == 200 and expected in page.text and 'name="devise" value="USD"' in page.text
    refused = http.get("/report", params={"devise": "ZZZ"})
    assert refused.status_code == 400 and "devise inconnue « ZZZ »" in refused.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_admin_adds_and_disables_users(desk: App) -> None:
    http = client(desk)
    token = sign_in(http, "admin")
    assert http.post("/users", data={"csrf": token, "action": "add", "name": "nina", "role": "collector",
                                     "password": "nina-pass-1"}).status_code == 303
    assert "nina" in http.get("/users").text
    other = client(desk)
    sign_in(other, "nina", "nina-pass-1")
    http.post("/users", data={"csrf": token, "action": "disable", "name": "nina"})
    assert other.get("/cases").status_code == 303


def test_an_action_dated_before_the_cases_last_event_is_refused_in_french_and_a_late_note_is_kept(desk: App) -> None:
    """A dispute or a jump dated before the case's last event would show the escalation going on after it:
    refused in one French line naming that event's date, nothing recorded. A note may tell of the past: kept,
    and the case page says its timeline is printed by the day things happened."""
    with desk.session() as session:
        case_id = session.scalar(select(Case.id).order_by(Case.id.desc()).limit(1))
    http = client(desk, today=lambda: date(2025, 1, 31))
    token = sign_in(http, "legal")
    assert http.post(f"/cases/{case_id}/actions/note",
                     data={"csrf": token, "on": "2025-01-25", "reason": "courrier reçu"}).status_code == 303
    with desk.session() as session:
        before = session.scalar(select(Case.event_count).where(Case.id == case_id))
    for action, data in (("dispute", {"reason": "facture contestée"}), ("jump", {"dest": "reminder2", "reason": "x"})):
        answer = http.post(f"/cases/{case_id}/actions/{action}", data={"csrf": token, "on": "2025-01-22", **data})
        assert answer.status_code == 303
        page = html.unescape(http.get(f"/cases/{case_id}").text)
        assert "ne peut pas être datée du 22/01/2025" in page and "est du 25/01/2025" in page, action
    late = http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "on": "2025-01-21", "reason": "appel du 21"})
    assert late.status_code == 303
    with desk.session() as session:
        kinds = session.scalars(select(Event.kind).where(Event.case_id == case_id, Event.seq > before)).all()
    assert kinds == ["note"]
    page = html.unescape(http.get(f"/cases/{case_id}").text)
    assert "Classement par date des faits" in page
    assert page.index("appel du 21") < page.index("courrier reçu")  # by the day it happened, not recording order
