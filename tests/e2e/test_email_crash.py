"""Exactly one e-mail per step, against a real SMTP server (aiosmtpd on 127.0.0.1, started here), even when
the sender is killed: 200 due cases deliver 200 messages, each with its PDF and a Message-ID recorded in
the case's timeline; killing `relance run` (SIGKILL) while it commits, while it sends, and between the
server's acceptance and the record, then running again, still gives 200 distinct Message-IDs and no lost
step. RELANCE_EMAIL_CASES sets another size (the default is the acceptance test's 200)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.store.database import connect
from engine.store.events import EmailSent, read_event
from engine.store.models import Event, Outbox
from tests.smtp_server import SmtpSink, pdf_attachments, smtp_server, smtp_toml
from tests.support import DEBTORS_HEADER, INVOICES_HEADER

pytestmark = pytest.mark.slow

RELANCE = str(Path(sys.executable).parent / "relance")
CASES = int(os.environ.get("RELANCE_EMAIL_CASES", "200"))
AS_OF = "2025-01-20"  # ten days after every invoice fell due: each case takes reminder1 (e-mail and call)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("RELANCE_DATABASE_URL", "RELANCE_WORKSPACE")}


def workspace(tmp_path: Path, url: str, port: int) -> Path:
    root = tmp_path / "ws"
    subprocess.run([RELANCE, "init", str(root)], env=_env(), check=True, capture_output=True)
    (root / "relance.toml").write_text((root / "relance.toml").read_text(encoding="utf-8") + smtp_toml(port),
                                       encoding="utf-8")
    debtors, invoices = tmp_path / "debtors.csv", tmp_path / "invoices.csv"
    debtors.write_text(DEBTORS_HEADER + "".join(
        f"D{i:04d};b2b;Client {i} SARL;;{i} rue de la Paix;;75002;Paris;FR;compta{i}@client.example;01 02\n"
        for i in range(CASES)), encoding="utf-8")
    invoices.write_text(INVOICES_HEADER + "".join(f"F{i:04d};D{i:04d};2024-12-10;2025-01-10;{100 + i}.00;EUR\n"
                                                  for i in range(CASES)), encoding="utf-8")
    relance(root, url, "import", str(debtors), str(invoices))
    return root


def relance(root: Path, url: str, *args: str) -> str:
    done = subprocess.run([RELANCE, "--db", url, "--workspace", str(root), *args], env=_env(), capture_output=True,
                          text=True, timeout=1800)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def check_exactly_one_email_per_step(root: Path, url: str, sink: SmtpSink) -> None:
    ids = sink.message_ids
    assert len(ids) == CASES  # every step's e-mail arrived...
    for message in sink.messages:
        assert pdf_attachments(message) == ["01-reminder1.pdf"]  # ...with its letter as PDF
    store = connect(url)
    try:
        with store.session() as session:
            sent = [read_event(e.kind, e.payload) for e in session.scalars(select(Event).where(
                Event.kind == EmailSent.kind))]
            per_case = session.execute(select(Event.case_id, func.count()).where(Event.kind == EmailSent.kind)
                                       .group_by(Event.case_id)).all()
            statuses = session.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all()
            steps = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "state_change"))
    finally:
        store.dispose()
    assert len(per_case) == CASES and {count for _, count in per_case} == {1}  # recorded once per step
    assert {e.message_id for e in sent if isinstance(e, EmailSent)} == set(ids)
    assert dict(statuses) == {"sent": CASES} and steps == CASES  # no lost step, none taken twice
    report = json.loads(relance(root, url, "verify", "--json"))
    assert report["ok"], report["findings"][:5]


def test_a_run_over_the_due_cases_delivers_exactly_one_message_each(tmp_path: Path, database_url: str) -> None:
    with smtp_server() as sink:
        root = workspace(tmp_path, database_url, sink.port)
        totals = json.loads(relance(root, database_url, "run", "--as-of", AS_OF, "--json"))
        assert totals["emails"]["sent"] == CASES and totals["emails"]["pdf_processes"] == 1
        check_exactly_one_email_per_step(root, database_url, sink)
        assert max(sink.message_ids.values()) == 1


def test_killing_the_sender_at_three_points_still_sends_each_step_once(tmp_path: Path, database_url: str) -> None:
    with smtp_server() as sink:
        root = workspace(tmp_path, database_url, sink.port)
        moments: list[tuple[str, Callable[[], bool], Callable[[], None]]] = [
            # 1. while the steps commit, before any e-mail leaves
            ("committing", lambda: _outbox_rows(database_url) >= CASES // 4, lambda: None),
            # 2. between two e-mails, once a third of them went
            ("sending", lambda: len(sink.messages) >= CASES // 3, lambda: None),
            # 3. after the server took a message and before the sender recorded it
            ("unrecorded", sink.held.is_set, lambda: setattr(sink, "hold_at", len(sink.messages) + 5)),
        ]
        in_flight: set[str] = set()
        for name, moment, arm in moments:
            sink.release.clear()
            arm()
            process = subprocess.Popen([RELANCE, "--db", database_url, "--workspace", str(root), "run", "--as-of",
                                        AS_OF], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
            while process.poll() is None and not moment():
                time.sleep(0.02)
            assert process.poll() is None, f"the run ended before the moment {name!r}"
            os.killpg(process.pid, signal.SIGKILL)  # the run and its LibreOffice, if converting
            process.wait()
            if sink.messages:  # the message in flight, if any: the server has it, the record may not
                in_flight.add(str(sink.messages[-1]["Message-ID"]))
            held = str(sink.messages[-1]["Message-ID"]) if name == "unrecorded" else ""
            sink.hold_at = None
            sink.release.set()
        relance(root, database_url, "run", "--as-of", AS_OF)
        check_exactly_one_email_per_step(root, database_url, sink)
        # A message killed between acceptance and record went again, with the same Message-ID; only those.
        twice = {mid: count for mid, count in sink.message_ids.items() if count > 1}
        assert twice[held] == 2 and set(twice) <= in_flight and set(twice.values()) == {2}


def _outbox_rows(url: str) -> int:
    store = connect(url)
    try:
        with store.session() as session:
            return session.scalar(select(func.count()).select_from(Outbox)) or 0
    except Exception:  # the run may still be creating its first rows
        return 0
    finally:
        store.dispose()
