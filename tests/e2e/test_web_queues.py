"""The approvals and tasks queues of the web app, the "needs me" filter and a letter shown as a PDF,
over HTTP against a real workspace (SQLite and PostgreSQL): each decision goes through engine.cases
with the signed-in user as ``by`` and lands in the timeline."""

from __future__ import annotations

import html
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.app import App
from engine.store.models import Case, Debtor, Document, Event, Task
from tests.e2e.test_web_pages import listed
from tests.e2e.web_client import client, open_app, sign_in
from tests.support import WEB_AS_OF, web_workspace

ON = WEB_AS_OF.isoformat()


@pytest.fixture
def desk(tmp_path: Path, database_url: str) -> Iterator[App]:
    root = web_workspace(tmp_path / "ws", database_url=database_url, cases=4)
    app = open_app(root, database_url)
    yield app
    app.store.dispose()


def _case(desk: App, index: int) -> tuple[int, str]:
    with desk.session() as session:
        return session.execute(select(Case.id, Case.ref).order_by(Case.id).offset(index).limit(1)).one()


def _ask_for_notice(http, token: str, case_id: int) -> None:
    """legal moves the case by hand to the formal notice: the shipped policies make that wait for approval."""
    answer = http.post(f"/cases/{case_id}/actions/jump",
                       data={"csrf": token, "on": ON, "dest": "formal_notice", "reason": "aucune réponse"})
    assert answer.status_code == 303


def test_a_step_waiting_for_approval_is_listed_then_approved_in_one_click(desk: App) -> None:
    case_id, ref = _case(desk, 1)
    legal = client(desk)
    token = sign_in(legal, "legal")
    _ask_for_notice(legal, token, case_id)
    queue = legal.get("/approvals").text
    assert f'id="approval-{case_id}"' in queue and ref in queue and "Mise en demeure" in queue

    collector = client(desk)
    collector_token = sign_in(collector, "collector")
    refused = collector.post(f"/approvals/{case_id}/approve", data={"csrf": collector_token})
    assert refused.status_code == 403  # approving is legal's
    assert legal.post(f"/approvals/{case_id}/approve", data={"reason": "ok"}).status_code == 403  # no CSRF token

    with desk.session() as session:
        letters_before = session.query(Document).filter(Document.case_id == case_id).count()
    answer = legal.post(f"/approvals/{case_id}/approve", data={"csrf": token, "reason": "dossier vu"})
    assert answer.status_code == 303 and answer.headers["location"] == "/approvals"
    assert "étape validée" in legal.get("/approvals").text
    with desk.session() as session:
        case = session.scalar(select(Case).where(Case.id == case_id))
        assert case is not None and case.state == "formal_notice" and case.awaiting_approval is None
        approved = session.scalar(select(Event).where(Event.case_id == case_id, Event.kind == "approved"))
        assert approved is not None and approved.actor == "legal"
        assert session.query(Document).filter(Document.case_id == case_id).count() == letters_before + 1
    assert f'id="approval-{case_id}"' not in legal.get("/approvals").text


def test_a_refusal_needs_a_reason_and_holds_the_case(desk: App) -> None:
    case_id, _ = _case(desk, 2)
    legal = client(desk)
    token = sign_in(legal, "legal")
    _ask_for_notice(legal, token, case_id)
    legal.post(f"/approvals/{case_id}/reject", data={"csrf": token, "reason": ""})
    assert "Refus non enregistré" in legal.get("/approvals").text
    legal.post(f"/approvals/{case_id}/reject", data={"csrf": token, "reason": "attendre le client"})
    with desk.session() as session:
        case = session.scalar(select(Case).where(Case.id == case_id))
        assert case is not None and case.on_hold and case.awaiting_approval is None and case.state != "formal_notice"
        rejected = session.scalar(select(Event).where(Event.case_id == case_id, Event.kind == "rejected"))
        assert rejected is not None and rejected.actor == "legal"


def test_call_tasks_are_listed_and_a_call_closes_or_moves_its_task(desk: App) -> None:
    promised_id, promised_ref = _case(desk, 1)
    silent_id, silent_ref = _case(desk, 2)
    http = client(desk)
    token = sign_in(http, "collector")
    queue = http.get("/tasks").text
    # The shipped B2B policy's first reminder asks for a call: one task per case, due the day of the run.
    assert promised_ref in queue and silent_ref in queue and "Appel" in queue
    until = (WEB_AS_OF + timedelta(days=10)).isoformat()
    http.post(f"/tasks/{promised_id}/call",
              data={"csrf": token, "outcome": "promise", "until": until, "reason": "paiera le 30"})
    http.post(f"/tasks/{silent_id}/call", data={"csrf": token, "outcome": "no_answer"})
    http.post(f"/tasks/{silent_id}/call", data={"csrf": token, "outcome": "teleport"})
    refused = html.unescape(http.get("/tasks").text)
    assert "Appel non enregistré" in refused  # an unknown outcome is refused, plainly, in French
    assert "issue d'appel inconnue « teleport » ; attendu : débiteur joint, pas de réponse" in refused
    today = http.get("/tasks").text
    assert promised_ref not in today and silent_ref not in today  # one done, one moved to tomorrow
    assert silent_ref in http.get("/tasks?toutes=1").text
    with desk.session() as session:
        state, promise = session.execute(select(Case.state, Case.promise_until).where(Case.id == promised_id)).one()
        assert state == "promised" and promise.isoformat() == until
        calls = session.execute(select(Event.actor).where(Event.case_id == promised_id,
                                                          Event.kind == "call_recorded")).scalars().all()
        assert calls == ["collector"]
        moved = session.scalar(select(Task.due_on).where(Task.case_id == silent_id, Task.done_on.is_(None)))
        assert moved == WEB_AS_OF + timedelta(days=1)


def test_a_call_form_sent_twice_records_one_call(desk: App) -> None:
    """A double click on « Enregistrer l'appel » recorded two calls, and « pas de réponse » moved the task two
    days on. The form carries the timeline's length the list showed: the second one records nothing."""
    import re

    case_id, ref = _case(desk, 2)
    http = client(desk)
    token = sign_in(http, "collector")
    queue = http.get("/tasks").text
    shown = re.search(rf'action="/tasks/{case_id}/call".*?name="seen" value="(\d+)"', queue, re.S)
    assert shown is not None and ref in queue
    form = {"csrf": token, "outcome": "no_answer", "seen": shown.group(1)}
    for _ in range(2):
        assert http.post(f"/tasks/{case_id}/call", data=form).status_code == 303
    assert "Appel non enregistré" in http.get("/tasks").text
    with desk.session() as session:
        calls = session.scalars(select(Event.id).where(Event.case_id == case_id, Event.kind == "call_recorded")).all()
        moved = session.scalar(select(Task.due_on).where(Task.case_id == case_id, Task.done_on.is_(None)))
    assert len(calls) == 1 and moved == WEB_AS_OF + timedelta(days=1)


def test_needs_me_lists_the_cases_waiting_for_what_my_role_does(desk: App) -> None:
    noticed_id, noticed_ref = _case(desk, 3)
    legal = client(desk)
    token = sign_in(legal, "legal")
    _ask_for_notice(legal, token, noticed_id)
    with desk.session() as session:  # every task done but one: collectors are needed by that case only
        for task in session.scalars(select(Task).where(Task.case_id != noticed_id - 1)):
            task.done_on = WEB_AS_OF
        tasked_ref = session.scalar(select(Case.ref).where(Case.id == noticed_id - 1))
    collector = client(desk)
    sign_in(collector, "collector")
    assert listed(collector, "/cases?pour_moi=1") == [tasked_ref]
    assert sorted(listed(legal, "/cases?pour_moi=1")) == sorted([tasked_ref, noticed_ref])
    viewer = client(desk)
    sign_in(viewer, "viewer")
    assert viewer.get("/cases?pour_moi=1").status_code == 400
    assert 'id="pour_moi"' not in viewer.get("/cases").text and 'id="pour_moi"' in collector.get("/cases").text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_letter_is_shown_as_a_pdf_made_from_its_checked_file(desk: App) -> None:
    if shutil.which("soffice") is None:
        pytest.fail("soffice (LibreOffice) is not installed: the PDF view needs it (.ci/run installs it)")
    case_id, _ = _case(desk, 0)
    with desk.session() as session:
        document_id = session.scalar(select(Document.id).where(Document.case_id == case_id))
    http = client(desk)
    sign_in(http, "viewer")
    assert f'href="/cases/{case_id}/letters/{document_id}/pdf"' in http.get(f"/cases/{case_id}").text
    shown = http.get(f"/cases/{case_id}/letters/{document_id}/pdf")
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline") and shown.content.startswith(b"%PDF")
    assert http.get(f"/cases/{case_id}/letters/{document_id + 999}/pdf").status_code == 404


def test_an_approval_whose_letter_rests_on_a_carried_forward_rate_says_so(desk: App) -> None:
    """The shipped rates file ends with 2026 S1: a notice dated in 2026 S2 computes B2B penalties on the last
    rate carried forward. The web app warns the team as `relance run` and `relance approve` do; a notice
    dated within the file says nothing."""
    for index, on, warned in ((0, ON, False), (2, "2026-07-10", True)):
        legal = client(desk, today=lambda: date.fromisoformat(on))  # an approval is dated today or before
        token = sign_in(legal, "legal")
        case_id, _ref = _case(desk, index)
        _ask_for_notice(legal, token, case_id)
        answer = legal.post(f"/approvals/{case_id}/approve", data={"csrf": token, "on": on})
        assert answer.status_code == 303
        page = legal.get("/approvals").text
        assert "étape validée" in page
        assert ("taux reconduits" in page and "2026 S2" in page) is warned, page
        # The rates file as the team knows it, never the server's path to it.
        assert desk.rates_file not in page and "/engine/core/data" not in page
        if warned:
            assert "le fichier de taux fourni avec relance (rates.csv) : 2026 S2" in html.unescape(page), page


def test_the_tasks_list_names_each_letter_sent_by_its_step_as_the_team_reads_it(desk: App) -> None:
    """A call's contacts so far named the letters by the workflow's internal state ("courrier reminder1"),
    the only English word of the row; the team reads the step's label, as the case page shows it."""
    _case_id, ref = _case(desk, 1)
    http = client(desk)
    sign_in(http, "collector")
    queue = html.unescape(http.get("/tasks").text)
    row = queue[queue.index(ref):]
    row = row[:row.index("</tr>")]
    assert "courrier Première relance (" in row, row
    assert "reminder1" not in row


def test_approving_a_case_paid_in_full_while_it_waited_is_refused_in_french_and_nothing_reads_validated(
        desk: App, tmp_path: Path) -> None:
    """The money came in (an import) while the formal notice waited: the approval, two days later, records the
    settlement with the payment's day and refuses the notice, in French; no « validé » anywhere, no letter."""
    case_id, ref = _case(desk, 0)
    legal = client(desk, today=lambda: WEB_AS_OF + timedelta(days=3))
    token = sign_in(legal, "legal")
    _ask_for_notice(legal, token, case_id)
    paid_on = WEB_AS_OF + timedelta(days=1)
    with desk.session() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.awaiting_approval == "formal_notice"
        debtor, owed = case.debtor.ref, sum(invoice.amount for invoice in case.invoices)
        letters_before = session.query(Document).filter(Document.case_id == case_id).count()
    payments = tmp_path / "payments.csv"
    payments.write_text(f"debtor_ref;payment_date;amount\n{debtor};{paid_on.isoformat()};{owed}\n", encoding="utf-8")
    desk.import_files([payments])

    answer = legal.post(f"/approvals/{case_id}/approve", data={"csrf": token, "reason": "vu"})
    assert answer.status_code == 303 and answer.headers["location"] == "/approvals"
    queue = html.unescape(legal.get("/approvals").text)
    said = queue.split('class="flash error"', 1)[1].split("</", 1)[0]
    assert "Validation non enregistrée : " in said, said
    assert f"le dossier {ref} est passé à « Soldée » le {paid_on:%d/%m/%Y}" in said, said
    assert "il n'y a plus rien à valider" in said
    assert "validée" not in queue and "validé " not in said and f'id="approval-{case_id}"' not in queue
    with desk.session() as session:
        case = session.get(Case, case_id)
        assert case is not None and (case.state, case.closed, case.awaiting_approval) == ("paid", True, None)
        assert case.closed_on == paid_on  # the payment's day, not the approval's
        kinds = session.scalars(select(Event.kind).where(Event.case_id == case_id)).all()
        assert "approved" not in kinds
        assert session.query(Document).filter(Document.case_id == case_id).count() == letters_before
    page = html.unescape(legal.get(f"/cases/{case_id}").text)
    assert "Soldée" in page and "validé" not in page


def test_a_case_paid_in_full_leaves_the_calls_queue(desk: App) -> None:
    """The first reminder's call, for a debtor who has since paid everything: calling would chase a settled
    debt. Its task leaves the queue (and the case's page) once the case is closed."""
    case_id, ref = _case(desk, 3)
    http = client(desk)
    token = sign_in(http, "collector")
    assert ref in http.get("/tasks").text
    with desk.session() as session:
        case = session.get(Case, case_id)
        assert case is not None
        owed = sum(invoice.amount for invoice in case.invoices)
    answer = http.post(f"/cases/{case_id}/actions/pay", data={"csrf": token, "amount": str(owed)})
    assert answer.status_code == 303
    page = html.unescape(http.get(f"/cases/{case_id}").text)
    assert "état : Soldée" in page and "appel à passer" not in page
    assert ref not in http.get("/tasks?toutes=1").text


def test_a_jump_that_waits_for_approval_says_so_rather_than_only_that_the_state_stays(desk: App) -> None:
    """The flash read « état : Première relance » alone: the team could not tell the jump was waiting for legal."""
    case_id, _ref = _case(desk, 2)
    legal = client(desk)
    token = sign_in(legal, "legal")
    answer = legal.post(f"/cases/{case_id}/actions/jump",
                        data={"csrf": token, "on": ON, "dest": "formal_notice", "reason": "aucune réponse"},
                        follow_redirects=True)
    said = html.unescape(answer.text)
    assert "le passage à « Mise en demeure » attend une validation" in said


def test_needs_me_lists_no_closed_case_as_the_task_queue_lists_no_closed_cases_task(desk: App) -> None:
    """A case paid in full is closed while its call task is still open: the task queue no longer lists it (a call
    would chase a settled debt), yet « pour moi » with « dossiers clos » ticked listed that case as needing me."""
    from engine.cases.actions import pay
    from engine.cases.desk import WritingDesk

    paid_id, paid_ref = _case(desk, 0)
    with desk.session() as session:
        owed = session.scalar(select(Case.balance_seen).where(Case.id == paid_id))
        assert session.scalar(select(Task.id).where(Task.case_id == paid_id, Task.done_on.is_(None))) is not None
    pay(WritingDesk(desk), paid_ref, owed, WEB_AS_OF, by="collector")
    with desk.session() as session:
        assert session.scalar(select(Case.closed).where(Case.id == paid_id)) is True
        assert session.scalar(select(Task.id).where(Task.case_id == paid_id, Task.done_on.is_(None))) is not None
    for role in ("collector", "legal"):
        http = client(desk)
        sign_in(http, role)
        assert paid_ref not in http.get("/tasks?toutes=1").text
        assert listed(http, "/cases?pour_moi=1&clos=1") == [], role
        assert paid_ref in listed(http, "/cases?clos=1")  # still listed among the closed cases
        assert len(listed(http, "/cases?pour_moi=1")) == 3  # the three open cases, each with its call due


def test_needs_me_lists_for_approval_only_what_the_approvals_queue_lists(desk: App) -> None:
    """A case waiting for approval whose debtor was then put on hold (do not chase) left the approvals queue but
    stayed in legal's « pour moi »: two lists of the same thing that disagreed. Both read one rule now."""
    from engine.cases.debtors import hold_debtor
    from engine.cases.desk import WritingDesk

    noticed_id, noticed_ref = _case(desk, 3)
    legal = client(desk)
    token = sign_in(legal, "legal")
    _ask_for_notice(legal, token, noticed_id)
    with desk.session() as session:  # no call due anywhere: « pour moi » is the approvals only
        for task in session.scalars(select(Task)):
            task.done_on = WEB_AS_OF
    assert listed(legal, "/cases?pour_moi=1") == [noticed_ref]
    assert f'id="approval-{noticed_id}"' in legal.get("/approvals").text
    with desk.session() as session:
        debtor_ref = session.scalar(select(Debtor.ref).join(Case, Case.debtor_id == Debtor.id)
                                    .where(Case.id == noticed_id))
    hold_debtor(WritingDesk(desk), debtor_ref, WEB_AS_OF, by="legal", reason="litige global")
    assert f'id="approval-{noticed_id}"' not in legal.get("/approvals").text
    assert listed(legal, "/cases?pour_moi=1") == []
