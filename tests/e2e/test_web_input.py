"""The web app under input people really type and URLs people really edit: every mistake is a page or a
flash message in French that says what to fix, never a server error, and nothing is recorded from it."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.app import App
from engine.store.models import Case
from tests.e2e.web_client import client, open_app, sign_in
from tests.support import web_workspace

FLASH_ERROR = re.compile(r'<p class="flash error"[^>]*>(.*?)</p>', re.S)


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[App]:
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=3)
    app = open_app(root, database_url)
    yield app
    app.store.dispose()


def web(desk: App, role: str = "viewer") -> tuple[object, str]:
    """A client that answers a server error with a 500 page instead of raising, signed in as ``role``."""
    http = client(desk, raise_server_exceptions=False)
    return http, sign_in(http, role)


def _case_ids(desk: App) -> list[int]:
    with desk.session() as session:
        return list(session.scalars(select(Case.id).order_by(Case.id)))


def flash_error(text: str) -> str:
    found = FLASH_ERROR.search(text)
    assert found is not None, text[-500:]
    return html.unescape(found.group(1))


HAND_EDITED = [
    ("retard_min=%C2%B2", "Retard d'au moins"),  # "²": a digit to str.isdigit(), not to int()
    ("retard_min=99999999999999999999", "trop grand"),
    ("retard_min=40000", "de 0 à"),  # before 2000: no case is that late (the date went below year 1)
    ("par=0", "de 1 à 200"),  # a page of no rows said "no case matches"
    ("par=abc", "Dossiers par page"),
    ("apres=99999999999999999999", "repère de page"),  # no database id is that large
    ("tri=balance&apres=1~99999999999999999999", "repère de page"),
    ("tri=%27%3B--", "tri inconnu"),
    # An unknown state listed no case without a word; a check box or an order with another value than its
    # own was read as "not asked" and the list shown as if it had been.
    ("etat=nope", "État inconnu « nope » : les états connus sont due (Facture échue), reminder1 (Première relance)"),
    ("clos=oui", "Dossiers clos : « oui » n'est pas une valeur de ce filtre"),
    ("pour_moi=2", "Pour moi : « 2 » n'est pas une valeur de ce filtre"),
    ("ordre=up", "Ordre : « up » inconnu"),
]


def test_a_hand_edited_list_url_is_a_400_that_says_which_field(desk: App) -> None:
    http, _ = web(desk)
    for query, said in HAND_EDITED:
        answer = http.get("/cases?" + query)
        assert answer.status_code == 400, (query, answer.text[-300:])
        assert said in flash_error(answer.text), query
    assert http.get("/cases?apres=2147483647").status_code == 200  # the largest id there can be
    assert http.get("/cases?apres=2147483648").status_code == 400
    assert len(re.findall(r'<a href="/cases/\d+">', http.get("/cases?retard_min=0&par=200").text)) == 3
    assert http.get("/cases?etat=reminder1&clos=1&ordre=desc&pour_moi=").status_code == 200  # the form's own values
    answer = http.get("/tasks?toutes=oui")
    assert answer.status_code == 400 and "Toutes les tâches : « oui »" in flash_error(answer.text)
    assert http.get("/tasks?toutes=1").status_code == 200


def test_a_number_in_a_url_larger_than_any_id_is_a_404_like_any_missing_case(desk: App) -> None:
    """Starlette's {n:int} took any digits, and PostgreSQL refused to compare a 32-bit id with them: a 500."""
    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    huge = "99999999999999999999"
    for url in (f"/cases/{huge}", "/cases/2147483648", f"/cases/{huge}/timeline", f"/cases/{case_id}/letters/{huge}",
                f"/cases/{case_id}/letters/{huge}/pdf", f"/workflows/fr-b2b-standard/v{huge}",
                f"/letters/relance_1.docx/v{huge}"):
        answer = http.get(url)
        assert answer.status_code == 404, (url, answer.text[-300:])
        assert "Introuvable" in answer.text
    for url in (f"/cases/{huge}/actions/note", f"/approvals/{huge}/approve", f"/tasks/{huge}/call"):
        assert http.post(url, data={"csrf": token, "reason": "x", "outcome": "reached"}).status_code == 404, url
    missing = http.get("/cases/2147483647")  # the largest id there can be: no such case
    assert missing.status_code == 404 and "aucun dossier n° 2147483647" in missing.text
    assert http.get(f"/cases/{case_id}").status_code == 200


def _events(desk: App, case_id: int) -> int:
    with desk.session() as session:
        return session.scalar(select(Case.event_count).where(Case.id == case_id)) or 0


def test_a_control_or_invisible_character_in_a_field_or_a_url_is_refused_and_nothing_recorded(desk: App) -> None:
    """NUL reached PostgreSQL (a 500 for a filter, a search, a sign-in, a payment's reference), and a note with
    ESC or a right-to-left override went into the timeline, where a reader sees another text than the one kept."""
    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    before = _events(desk, case_id)
    for action, data in (("note", {"reason": "a\x00b"}), ("note", {"reason": "appelé \x1b[2J"}),
                         ("hold", {"reason": "gel \u202etnemessiaper"}),
                         ("pay", {"amount": "10", "reference": "VIR\x00"}), ("jump", {"dest": "litigation\x00",
                                                                                       "reason": "r"})):
        answer = http.post(f"/cases/{case_id}/actions/{action}", data={"csrf": token, **data})
        assert answer.status_code == 400, (action, answer.text[-300:])
        said = flash_error(answer.text)
        assert "caractère de contrôle ou invisible" in said and "« " in said, said
    assert _events(desk, case_id) == before
    for url in ("/cases?debiteur=a%00", "/cases?etat=%00", "/find?ref=F%00", "/workflows/a%00/v1"):
        answer = http.get(url)
        assert answer.status_code == 400 and "caractère de contrôle" in flash_error(answer.text), url
    assert http.post(f"/tasks/{case_id}/call", data={"csrf": token, "outcome": "reached",
                                                     "reason": "\x07"}).status_code == 400
    anonymous = client(desk, raise_server_exceptions=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"', anonymous.get("/login").text)
    assert csrf is not None
    answer = anonymous.post("/login", data={"csrf": csrf.group(1), "name": "leg\x00al", "password": "x"})
    assert answer.status_code == 400
    assert http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "reason": "appelé, « rappeler » — ok"}
                     ).status_code == 303  # accents, guillemets and dashes are text, not control characters
    assert _events(desk, case_id) == before + 1


def test_a_field_too_long_is_named_by_its_label_and_nothing_recorded(desk: App) -> None:
    """A 2,001-character note was refused as « reason: 2000 caractères au plus »: the form's HTML name."""
    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    before = _events(desk, case_id)
    seen = _forms(http, case_id)
    http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "seen": seen["note"], "reason": "x" * 2001})
    said = flash_error(http.get(f"/cases/{case_id}").text)
    assert said.endswith("motif : 2001 caractères, 2000 au plus"), said
    assert "reason" not in said
    assert _events(desk, case_id) == before


def _held_writer(desk: App):  # type: ignore[no-untyped-def]
    """Another process's connection to the workspace's SQLite file holding the write lock, as a run does."""
    import sqlite3

    other = sqlite3.connect(desk.store.url.database, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE cases SET next_check_at = next_check_at")
    return other


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_action_during_a_run_on_sqlite_waits_its_turn_then_is_recorded(desk: App) -> None:
    """Begun as a reader, the action's unit of work failed at once on its first write while a run wrote (SQLite
    does not wait to upgrade a read transaction): a 500. Begun IMMEDIATE, it waits for the run's commit."""
    import threading

    http, token = web(desk, "collector")
    case_id = _case_ids(desk)[0]
    before = _events(desk, case_id)
    other = _held_writer(desk)
    release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    release.start()
    try:
        answer = http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "reason": "appelé pendant le run"})
    finally:
        release.join()
        other.close()
    assert answer.status_code == 303
    assert "Note enregistré(e)" in http.get(f"/cases/{case_id}").text
    assert _events(desk, case_id) == before + 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_action_behind_a_run_longer_than_the_busy_timeout_says_so_and_records_nothing(
        desk: App, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.store.database

    monkeypatch.setattr(engine.store.database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    impatient = open_app(desk.workspace.root, desk.workspace.database_url)  # its connections wait 0.3 s
    try:
        http, token = web(impatient, "legal")
        case_id = _case_ids(desk)[0]
        before = _events(desk, case_id)
        other = _held_writer(desk)
        try:
            for url, data, said in ((f"/cases/{case_id}/actions/note", {"reason": "pendant le run"}, "Note"),
                                    (f"/approvals/{case_id}/approve", {}, "Validation"),
                                    (f"/tasks/{case_id}/call", {"outcome": "reached"}, "Appel")):
                answer = http.post(url, data={"csrf": token, **data})
                assert answer.status_code == 303
                message = flash_error(http.get(answer.headers["location"]).text)
                assert message.startswith(said + " non enregistré") and "base de données est occupée" in message
            admin, admin_token = web(impatient, "admin")
            answer = admin.post("/users", data={"csrf": admin_token, "action": "add", "name": "nina",
                                                "role": "viewer", "password": "nina-pass-1"})
            assert answer.status_code == 303
            assert "base de données est occupée" in flash_error(admin.get("/users").text)
        finally:
            other.close()
        assert _events(desk, case_id) == before
    finally:
        impatient.store.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_simultaneous_actions_on_one_case_are_each_recorded_or_refused_in_words(desk: App) -> None:
    """On PostgreSQL two actions on one case at once both read the same end of its timeline; the second to
    commit broke the unique (case, seq) key: a 500. It is now refused in words, and the chain stays whole."""
    import threading

    from engine.store.timeline import verify

    case_id = _case_ids(desk)[0]
    before = _events(desk, case_id)
    statuses: list[int] = []
    flashes: list[str] = []

    def collector(number: int) -> None:
        http, token = web(desk, "collector")
        for attempt in range(4):
            answer = http.post(f"/cases/{case_id}/actions/note",
                               data={"csrf": token, "reason": f"note {number}.{attempt}"})
            statuses.append(answer.status_code)
            shown = re.search(r'<p class="flash (\w+)"[^>]*>(.*?)</p>', http.get(f"/cases/{case_id}").text, re.S)
            assert shown is not None
            flashes.append(html.unescape(shown.group(2)))

    threads = [threading.Thread(target=collector, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) == {303}
    recorded = [text for text in flashes if text.startswith("Note enregistré(e)")]
    refused = [text for text in flashes if "modifié au même moment" in text]
    assert len(recorded) + len(refused) == 16
    assert _events(desk, case_id) == before + len(recorded)
    with desk.session() as session:
        assert verify(session, desk.workspace.output_dir) == []  # every chain whole, every letter as written


SEEN = re.compile(r'id="form-(\w+)".*?name="seen" value="(\d+)"', re.S)


def _forms(http, case_id: int) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each action form of the case page → the timeline length it was shown with (its hidden ``seen``)."""
    return dict(SEEN.findall(http.get(f"/cases/{case_id}").text))


def test_a_form_sent_twice_or_after_the_case_changed_records_nothing_the_second_time(desk: App) -> None:
    """Two identical POSTs (a double click, a reload) recorded the payment twice; a jump sent from a page
    that showed the case open reopened it after a colleague's payment had closed it."""
    from engine.store.models import Payment

    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    seen = _forms(http, case_id)
    payment = {"csrf": token, "seen": seen.get("pay", ""), "amount": "10,00", "reference": "VIR-1"}
    first = http.post(f"/cases/{case_id}/actions/pay", data=payment)
    assert first.status_code == 303 and "Paiement de 10,00" in http.get(f"/cases/{case_id}").text
    second = http.post(f"/cases/{case_id}/actions/pay", data=payment)
    assert second.status_code == 303
    said = http.get(f"/cases/{case_id}").text
    with desk.session() as session:
        assert session.scalars(select(Payment.reference).where(Payment.reference == "VIR-1")).all() == ["VIR-1"]
    said = flash_error(said)
    assert said.startswith("Paiement non enregistré(e) : le dossier a changé depuis l'affichage de la page"), said
    assert set(seen) >= {"pay", "note", "jump"} and len(set(seen.values())) == 1  # every form of the page

    shown = _forms(http, case_id)  # the page as legal sees it now: open, a reminder
    colleague, colleague_token = web(desk, "collector")
    assert colleague.post(f"/cases/{case_id}/actions/pay", data={"csrf": colleague_token, "amount": "90,00",
                                                                  "seen": shown["pay"]}).status_code == 303
    with desk.session() as session:
        assert session.scalar(select(Case.closed).where(Case.id == case_id))  # paid in full, closed
    before = _events(desk, case_id)
    http.post(f"/cases/{case_id}/actions/jump", data={"csrf": token, "seen": shown["jump"], "dest": "reminder2",
                                                      "reason": "relancer"})
    assert "le dossier a changé" in flash_error(http.get(f"/cases/{case_id}").text)
    assert _events(desk, case_id) == before
    with desk.session() as session:
        assert session.scalar(select(Case.closed).where(Case.id == case_id))  # not reopened by a stale page
    assert http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "seen": "x1", "reason": "r"}
                     ).status_code == 303
    assert "formulaire altéré" in flash_error(http.get(f"/cases/{case_id}").text)


def test_an_action_dated_after_today_is_refused_and_nothing_recorded(desk: App) -> None:
    """A payment "received" next year (a mistyped year in the date field) was recorded as such, and a jump
    dated in the future wrote a letter with that date; the timeline records what happened, on its day."""
    from tests.support import WEB_AS_OF

    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    before = _events(desk, case_id)
    tomorrow = WEB_AS_OF.replace(day=WEB_AS_OF.day + 1).isoformat()
    for action, data in (("pay", {"amount": "10"}), ("note", {"reason": "appelé"}),
                         ("jump", {"dest": "reminder2", "reason": "r"}), ("hold", {"reason": "r"})):
        http.post(f"/cases/{case_id}/actions/{action}", data={"csrf": token, "on": tomorrow, **data})
        said = flash_error(http.get(f"/cases/{case_id}").text)
        assert "est après aujourd'hui (20/01/2025)" in said, (action, said)
    for url, data, queue in ((f"/tasks/{case_id}/call", {"outcome": "reached"}, "/tasks"),
                             (f"/approvals/{case_id}/approve", {}, "/approvals")):
        http.post(url, data={"csrf": token, "on": "2052-01-20", **data})
        assert "est après aujourd'hui" in flash_error(http.get(queue).text)
    assert _events(desk, case_id) == before
    assert 'max="2025-01-20"' in http.get(f"/cases/{case_id}").text  # the browser's date picker says so first
    http.post(f"/cases/{case_id}/actions/note", data={"csrf": token, "on": WEB_AS_OF.isoformat(), "reason": "ok"})
    assert _events(desk, case_id) == before + 1


def test_a_payment_above_what_the_case_owed_says_the_excess_is_the_debtors_credit(desk: App) -> None:
    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    seen = _forms(http, case_id)
    answer = http.post(f"/cases/{case_id}/actions/pay",
                       data={"csrf": token, "seen": seen.get("pay", ""), "amount": "100 000,00"})
    assert answer.status_code == 303
    page = html.unescape(http.get(f"/cases/{case_id}").text)
    said = re.search(r"Paiement de 100\s000,00\s€ enregistré[^<]*", page)
    assert said is not None, page[-800:]
    assert "au-delà du dû du dossier" in said.group(0) and "gardés en crédit du débiteur" in said.group(0)


def test_a_refusal_from_the_engine_reads_in_french(desk: App) -> None:
    """The web app's messages are French: an amount that is not one, or a dispute dated before the step it
    follows, was refused in the engine's English inside a French sentence."""
    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    before = _events(desk, case_id)
    seen = _forms(http, case_id)
    http.post(f"/cases/{case_id}/actions/pay", data={"csrf": token, "seen": seen["pay"], "amount": "douze"})
    said = flash_error(http.get(f"/cases/{case_id}").text)
    assert said == "Paiement non enregistré(e) : « douze » n'est pas un montant (écrivez 1234.56 ou 1 234,56)", said
    http.post(f"/cases/{case_id}/actions/dispute",
              data={"csrf": token, "seen": seen["dispute"], "reason": "conteste", "on": "2020-01-01"})
    said = flash_error(http.get(f"/cases/{case_id}").text)
    assert "contestation datée du 01/01/2020 : le dossier est entré dans l'état" in said, said
    assert _events(desk, case_id) == before


def test_every_error_page_a_mistyped_url_or_a_broken_form_gets_reads_in_french(desk: App) -> None:
    """An amount or a date typed in a list's or the report's URL, a letter or a template version that does not
    exist, an address that matches no page, a form too large to read: each page said why in English (the
    engine's message, or Starlette's "Not Found", "Too many fields...") although the engine had it in French."""
    http, token = web(desk, "legal")
    case_id = _case_ids(desk)[0]
    pages = {
        "/cases?montant_min=douze": "« douze » n'est pas un montant",
        "/cases?montant_min=99999999999999999": "est trop grand",
        "/report?date=hier": "« hier » n'est pas une date",
        "/report?date=31/02/2026": "cette date n'existe pas",
        f"/cases/{case_id}/letters/2147483647": "pas de courrier n° 2147483647 dans le dossier",
        f"/cases/{case_id}/letters/2147483647/pdf": "pas de courrier n° 2147483647 dans le dossier",
        "/letters/relance_1.docx/v7": "le modèle relance_1.docx n'a pas de version 7",
        "/no-such-page": "Aucune page à cette adresse.",
        f"/approvals/{case_id}/approve": "Cette adresse ne s'ouvre pas ainsi",
    }
    for url, said in pages.items():
        answer = http.get(url)
        assert 400 <= answer.status_code < 500, (url, answer.status_code)
        assert said in flash_error(answer.text), url
    crowded = http.post(f"/cases/{case_id}/actions/note",
                        data={"csrf": token, "reason": "x", **{f"champ{n}": "x" for n in range(60)}})
    assert crowded.status_code == 400
    assert flash_error(crowded.text).startswith("Formulaire illisible ou trop grand"), crowded.text[-300:]
