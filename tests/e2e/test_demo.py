"""`relance demo` keeps its promises: run as a user runs it, it reaches every level that sends a
letter in both workflows, applies every scripted event to an open case, and leaves letters that
open in Word (python-docx here) addressed to the right debtor, with a record that verifies.

One demo run (about 10 s) serves every test of this module.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import docx
import pytest
from sqlalchemy import func, select

from engine.core.money import format_amount
from engine.core.workflow import load_workflow
from engine.store.database import connect
from engine.store.models import Case, Debtor, Document, Event
from tests.support import REPO

RELANCE = Path(sys.executable).parent / "relance"


@dataclass
class Demo:
    root: Path
    output: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("demo") / "relance-demo"
    env = {key: value for key, value in os.environ.items() if key not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
    done = subprocess.run([str(RELANCE), "demo", "--dir", str(root)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return Demo(root, done.stdout)


@pytest.fixture(scope="module")
def documents(demo: Demo) -> Iterator[list[tuple[str, str, str | None, str, str]]]:
    """(workflow, state, template, path, debtor name) of every letter the demo recorded."""
    store = connect(demo.root / "relance.sqlite")
    with store.session() as session:
        rows = session.execute(
            select(Case.workflow_name, Document.state, Document.template, Document.path, Debtor.name)
            .join(Case, Case.id == Document.case_id).join(Debtor, Debtor.id == Case.debtor_id)
        ).all()
    store.dispose()
    yield [tuple(row) for row in rows]  # type: ignore[misc]


def test_every_level_of_both_workflows_sends_its_letter(demo: Demo, documents: list[tuple]) -> None:
    expected = set()
    for name in ("fr-b2b.yaml", "fr-b2c.yaml"):
        workflow = load_workflow(demo.root / "workflows" / name)
        expected |= {(workflow.name, state, spec.letter) for state, spec in workflow.states.items() if spec.letter}
    assert len({workflow for workflow, _, _ in expected}) == 2 and len(expected) >= 10
    written = {(workflow, state, template) for workflow, state, template, _, _ in documents}
    assert expected <= written, sorted(expected - written)
    for _, _, template in expected:
        assert template in demo.output  # the summary's table lists each letter written


def test_every_scripted_event_lands_on_an_open_case(demo: Demo) -> None:
    with (REPO / "examples" / "events.csv").open(encoding="utf-8") as handle:
        events = list(csv.DictReader(handle, delimiter=";"))
    assert events
    assert "skipped" not in demo.output
    lines = [line.strip() for line in demo.output.splitlines()]
    for event in events:
        prefix = f"{event['event_date']}: {event['action']} on "
        assert any(line.startswith(prefix) and f"({event['debtor_ref']})" in line for line in lines), event


def test_letters_open_and_name_their_debtor(demo: Demo, documents: list[tuple]) -> None:
    checked = set()
    for workflow, state, template, path, debtor in documents:
        if (workflow, template) in checked:
            continue
        letter = docx.Document(str(demo.root / "output" / path))
        text = "\n".join(paragraph.text for paragraph in letter.paragraphs)
        text += "\n".join(cell.text for table in letter.tables for row in table.rows for cell in row.cells)
        assert debtor in text, (path, debtor)
        assert "{{" not in text and "{%" not in text, path  # no tag left unrendered
        checked.add((workflow, template))
    assert len(checked) >= 10


def test_the_demo_record_verifies(demo: Demo) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
    done = subprocess.run([str(RELANCE), "verify", "--json"], cwd=demo.root, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"ok": true' in done.stdout and '"orphans": []' in done.stdout


def test_the_demo_ends_with_the_command_that_serves_it_and_a_user_who_can_sign_in(demo: Demo) -> None:
    from engine.app import App
    from engine.cases.users import authenticate
    from engine.demo import DEMO_PASSWORD, DEMO_USER
    from engine.workspace import load_workspace

    last = demo.output.strip().splitlines()[-1]
    assert f"relance --workspace {demo.root.resolve()} serve" in last
    assert f"{DEMO_USER} / {DEMO_PASSWORD}" in last
    app = App.open(load_workspace(demo.root))
    assert authenticate(app, DEMO_USER, DEMO_PASSWORD) is not None
    assert authenticate(app, DEMO_USER, "wrong") is None
    app.store.dispose()


def test_the_demo_exercises_every_channel(demo: Demo) -> None:
    """E-mails through the file backend (one .eml per Message-ID recorded), calls with outcomes, approvals
    before each formal notice and hand-off, and one registered letter's receipt."""
    from engine.store.events import Approved, CallRecorded, EmailSent, NoticeReceived, read_event
    from engine.store.models import Event

    store = connect(demo.root / "relance.sqlite")
    with store.session() as session:
        found = [read_event(e.kind, e.payload) for e in session.scalars(select(Event).where(Event.kind.in_(
            (EmailSent.kind, CallRecorded.kind, Approved.kind, NoticeReceived.kind))))]
    store.dispose()
    sent = [e for e in found if isinstance(e, EmailSent)]
    emls = sorted((demo.root / "output" / "_mail").glob("*.eml"))
    assert sent and len(emls) == len(sent) == len({e.message_id for e in sent})
    assert {e.outcome for e in found if isinstance(e, CallRecorded)} >= {"reached", "no_answer", "wrong_number"}
    assert {e.state for e in found if isinstance(e, Approved)} == {"formal_notice", "litigation"}
    receipts = [e for e in found if isinstance(e, NoticeReceived)]
    assert receipts and "imported from tracking.csv" in demo.output  # the first came through the import
    assert "E-mails sent:" in demo.output and "Receipt:" in demo.output


def test_the_demo_recovers_what_the_report_recovers(demo: Demo) -> None:
    """The demo summed every payment event itself and printed 94 958,66 € "recovered by the escalation"
    where `relance report` for its last day said 93 982,35 €: money paid before its case opened counted."""
    store = connect(demo.root / "relance.sqlite")
    try:
        with store.session() as session:
            last_day = session.scalar(select(func.max(Event.occurred_on)))
    finally:
        store.dispose()
    env = {key: value for key, value in os.environ.items() if key not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}
    done = subprocess.run([str(RELANCE), "--workspace", str(demo.root), "report", "--json", "--as-of",
                           last_day.isoformat()], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    recovered = format_amount(Decimal(json.loads(done.stdout)["funnel"]["recovered"]))
    assert f"Recovered by the escalation: {recovered}" in demo.output
